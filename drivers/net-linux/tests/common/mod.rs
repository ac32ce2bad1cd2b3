//! Shared set-up of the root integration tests: a per-run prefix, a test "host" namespace that
//! stands in for libvirtd's, simulated guests (a namespace each, joined by a veth whose host end
//! carries the tap's name) and cleanup guards. Traffic only flows inside namespaces created here.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kumo_driver_api::{
    EniSpec, InstanceMetadata, InterfaceMetadata, MetadataSource, NetworkFabric as _, SubnetSpec,
    VpcSpec,
};
use kumo_net_linux::{LinuxFabric, LinuxFabricConfig, cmd, netns};

pub const T: Duration = Duration::from_secs(20);

/// Why the data-plane tests cannot run here, if they cannot.
pub fn skip_reason() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    if !root {
        return Some("not root".into());
    }
    for tool in ["ip", "nft", "dnsmasq"] {
        if cmd::run("sh", &["-c", &format!("command -v {tool}")], None, T)
            .map(|o| !o.success)
            .unwrap_or(true)
        {
            return Some(format!(
                "{tool} not installed (compat-tests/install-deps.sh installs it)"
            ));
        }
    }
    static PROBES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let probe = format!("kprobe{}-{n}", std::process::id());
    match cmd::run("ip", &["netns", "add", &probe], None, T) {
        Ok(o) if o.success => {
            let _ = cmd::run("ip", &["netns", "del", &probe], None, T);
            None
        }
        _ => Some("`ip netns add` does not work here".into()),
    }
}

/// Prints SKIPPED and returns true when the tests cannot run.
pub fn skipped(test: &str) -> bool {
    match skip_reason() {
        Some(why) => {
            eprintln!("SKIPPED: {test}: {why}");
            true
        }
        None => false,
    }
}

/// Metadata for the tests, by ENI.
#[derive(Default)]
pub struct Source(pub Mutex<HashMap<String, InstanceMetadata>>);

impl MetadataSource for Source {
    fn lookup(&self, eni_id: &str) -> Option<InstanceMetadata> {
        self.0.lock().expect("lock").get(eni_id).cloned()
    }
}

pub fn metadata(
    instance_id: &str,
    eni_id: &str,
    vpc_id: &str,
    ip: &str,
    mac: &str,
    v2_required: bool,
) -> InstanceMetadata {
    InstanceMetadata {
        instance_id: instance_id.into(),
        account_id: "123456789012".into(),
        image_id: "ami-0123456789abcdef0".into(),
        instance_type: "t3.micro".into(),
        architecture: "x86_64".into(),
        region: "kumo-1".into(),
        availability_zone: "kumo-1a".into(),
        reservation_id: "r-0test".into(),
        launch_time: "2026-11-25T01:00:00Z".into(),
        local_hostname: format!("ip-{}.kumo-1.compute.internal", ip.replace('.', "-")),
        local_ipv4: ip.into(),
        mac: mac.into(),
        interfaces: vec![InterfaceMetadata {
            eni_id: eni_id.into(),
            mac: mac.into(),
            local_ipv4s: vec![ip.into()],
            vpc_id: vpc_id.into(),
            ..Default::default()
        }],
        http_endpoint_enabled: true,
        http_tokens_required: v2_required,
        http_put_response_hop_limit: 1,
        services_domain: "amazonaws.com".into(),
        ..Default::default()
    }
}

/// One test run's namespaces and fabric; everything is removed on drop.
pub struct Env {
    pub prefix: String,
    pub host_ns: String,
    pub fabric: LinuxFabric,
    pub source: Arc<Source>,
    pub runtime: tokio::runtime::Runtime,
    pub state: tempfile::TempDir,
    namespaces: Mutex<Vec<String>>,
    vpcs: Mutex<Vec<String>>,
}

impl Env {
    pub fn new(tag: &str) -> Env {
        Self::with_config(tag, |_| {})
    }

    /// An environment whose fabric configuration `adjust` changes first.
    pub fn with_config(tag: &str, adjust: impl FnOnce(&mut LinuxFabricConfig)) -> Env {
        let prefix = format!("kt{tag}{}", std::process::id() % 100_000);
        let host_ns = format!("{prefix}-host");
        let _ = cmd::run("ip", &["netns", "del", &host_ns], None, T);
        cmd::check("ip", &["netns", "add", &host_ns], T).expect("host namespace");
        cmd::check("ip", &["-n", &host_ns, "link", "set", "lo", "up"], T).expect("lo up");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let source = Arc::new(Source::default());
        let imds = kumo_net_linux::Imds::new(source.clone(), runtime.handle().clone());
        let state = tempfile::tempdir().expect("state dir");
        let mut cfg = LinuxFabricConfig {
            host_netns: Some(host_ns.clone()),
            prefix: prefix.clone(),
            runtime_dir: state.path().join("run"),
            ..LinuxFabricConfig::new(state.path().join("state"))
        };
        adjust(&mut cfg);
        // The dnsmasq user must reach its files: open up the (0700) temporary directory.
        std::fs::set_permissions(
            state.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod");
        let fabric = LinuxFabric::new(cfg, Some(imds)).expect("fabric");
        Env {
            prefix,
            host_ns: host_ns.clone(),
            fabric,
            source,
            runtime,
            state,
            namespaces: Mutex::new(vec![host_ns]),
            vpcs: Mutex::new(Vec::new()),
        }
    }

    /// Whether dnsmasq is meant to drop root (the `dnsmasq` user exists).
    pub fn fabric_drops_privileges(&self) -> bool {
        LinuxFabricConfig::new("/unused").dhcp_user.is_some()
    }

    /// The directory of a VPC's dnsmasq files.
    pub fn runtime(&self, vpc_id: &str) -> std::path::PathBuf {
        self.state.path().join("run").join(vpc_id)
    }

    /// Remembers a VPC for cleanup.
    pub fn track_vpc(&self, vpc_id: &str) {
        self.vpcs.lock().expect("lock").push(vpc_id.into());
    }

    /// A simulated guest: namespace `PREFIX-NAME` with `eth0` (MAC `mac`) whose peer in the host
    /// namespace is named `tap`, as libvirt would name the guest's tap.
    pub fn guest(&self, name: &str, tap: &str, mac: &str) -> String {
        let ns = format!("{}-{name}", self.prefix);
        cmd::check("ip", &["netns", "add", &ns], T).expect("guest namespace");
        self.namespaces.lock().expect("lock").push(ns.clone());
        cmd::check(
            "ip",
            &[
                "-n",
                &self.host_ns,
                "link",
                "add",
                tap,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                &ns,
            ],
            T,
        )
        .expect("tap veth");
        cmd::check(
            "ip",
            &["-n", &ns, "link", "set", "eth0", "address", mac, "up"],
            T,
        )
        .expect("guest eth0");
        cmd::check("ip", &["-n", &ns, "link", "set", "lo", "up"], T).expect("guest lo");
        ns
    }

    /// Runs busybox udhcpc in the guest; returns the lease it applied (`ip=… router=… dns=…`).
    pub fn dhcp(&self, guest_ns: &str) -> Result<String, String> {
        let dir = self.state.path();
        let script = dir.join("udhcpc.sh");
        std::fs::write(
            &script,
            "#!/bin/sh\ncase \"$1\" in bound|renew)\n  ip addr add \"$ip/$mask\" dev \"$interface\"\n  for r in $router; do ip route replace default via \"$r\" dev \"$interface\"; break; done\n  echo \"ip=$ip mask=$mask router=$router dns=$dns domain=$domain hostname=$hostname\" > \"$LEASE_OUT\" ;;\nesac\nexit 0\n",
        )
        .map_err(|e| e.to_string())?;
        cmd::check("chmod", &["+x", &script.display().to_string()], T)
            .map_err(|e| e.to_string())?;
        let out = dir.join(format!("{guest_ns}.lease"));
        let env = format!("LEASE_OUT={}", out.display());
        let script = script.display().to_string();
        let r = cmd::run(
            "ip",
            &[
                "netns", "exec", guest_ns, "env", &env, "busybox", "udhcpc", "-i", "eth0", "-f",
                "-q", "-n", "-t", "6", "-T", "1", "-s", &script,
            ],
            None,
            T,
        )
        .map_err(|e| e.to_string())?;
        std::fs::read_to_string(&out)
            .map(|s| s.trim().to_string())
            .map_err(|_| format!("no lease: {} {}", r.stdout, r.stderr))
    }

    /// Gives the guest an address by hand (when busybox is missing).
    pub fn static_ip(&self, guest_ns: &str, ip: &str, gw: &str) {
        cmd::check(
            "ip",
            &[
                "-n",
                guest_ns,
                "addr",
                "add",
                &format!("{ip}/24"),
                "dev",
                "eth0",
            ],
            T,
        )
        .expect("addr");
        cmd::check(
            "ip",
            &["-n", guest_ns, "route", "add", "default", "via", gw],
            T,
        )
        .expect("route");
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        use kumo_driver_api::NetworkFabric;
        for vpc in self.vpcs.lock().map(|v| v.clone()).unwrap_or_default() {
            if let Err(e) = self.fabric.remove_vpc(&vpc) {
                eprintln!("cleanup: remove_vpc {vpc}: {e}");
            }
        }
        for ns in self
            .namespaces
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default()
        {
            let _ = cmd::run("ip", &["netns", "pids", &ns], None, T).map(|o| {
                for pid in o.stdout.split_whitespace() {
                    let _ = cmd::run("kill", &[pid], None, T);
                }
            });
            let _ = cmd::run("ip", &["netns", "del", &ns], None, T);
        }
    }
}

pub fn has_busybox() -> bool {
    cmd::run("busybox", &["udhcpc", "--help"], None, T).is_ok()
}

/// One HTTP exchange from inside `ns` to the metadata service, optionally from source address
/// `src`; `None` when no connection could be made.
pub fn http(ns: &str, request: &str, src: Option<Ipv4Addr>) -> Option<(u16, String)> {
    let request = request.to_string();
    netns::run_in(Some(ns), move || -> std::io::Result<(u16, String)> {
        use socket2::{Domain, Protocol, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        if let Some(src) = src {
            s.bind(&SocketAddr::V4(SocketAddrV4::new(src, 0)).into())?;
        }
        s.connect_timeout(
            &SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(169, 254, 169, 254), 80)).into(),
            Duration::from_secs(2),
        )?;
        let mut s: std::net::TcpStream = s.into();
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(request.as_bytes())?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf)?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Ok((status, body))
    })
    .ok()?
    .ok()
}

pub fn get(path: &str, token: Option<&str>) -> String {
    let token = token
        .map(|t| format!("X-aws-ec2-metadata-token: {t}\r\n"))
        .unwrap_or_default();
    format!("GET {path} HTTP/1.1\r\nHost: 169.254.169.254\r\n{token}Connection: close\r\n\r\n")
}

pub fn put_token(ttl: u32, extra: &str) -> String {
    format!(
        "PUT /latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\nX-aws-ec2-metadata-token-ttl-seconds: {ttl}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
}

/// Whether any process's command line mentions `needle`.
pub fn process_mentions(needle: &str) -> bool {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .bytes()
                        .all(|b| b.is_ascii_digit())
                })
                .any(|e| {
                    std::fs::read(e.path().join("cmdline"))
                        .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
                })
        })
        .unwrap_or(false)
}

pub fn links(ns: &str) -> String {
    cmd::check("ip", &["-n", ns, "-br", "link"], T).unwrap_or_default()
}

pub fn exists(path: &Path) -> bool {
    path.exists()
}

/// Adds a second address to the guest's eth0 (to try spoofing).
pub fn static_extra(guest_ns: &str, ip: &str) {
    cmd::check(
        "ip",
        &[
            "-n",
            guest_ns,
            "addr",
            "add",
            &format!("{ip}/32"),
            "dev",
            "eth0",
        ],
        T,
    )
    .expect("extra addr");
}

/// Listens on `server_ip:7000` in `server_ns`, connects from `client_ns` (optionally from
/// `src`), and returns what the server answered (`pong`), `None` if no connection was made.
pub fn tcp_echo(
    server_ns: &str,
    client_ns: &str,
    server_ip: &str,
    src: Option<&str>,
) -> Option<String> {
    let ip: Ipv4Addr = server_ip.parse().ok()?;
    let listener = netns::run_in(Some(server_ns), move || {
        std::net::TcpListener::bind((ip, 7000))
    })
    .ok()?
    .ok()?;
    listener.set_nonblocking(false).ok()?;
    let server = std::thread::spawn(move || {
        // Bounded: the client side gives up within seconds, after which one accept suffices.
        if let Ok((mut s, _)) = listener.accept() {
            let _ = s.write_all(b"pong");
        }
    });
    let src: Option<Ipv4Addr> = src.and_then(|s| s.parse().ok());
    let reply = netns::run_in(Some(client_ns), move || -> std::io::Result<String> {
        use socket2::{Domain, Protocol, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        if let Some(src) = src {
            s.bind(&SocketAddr::V4(SocketAddrV4::new(src, 0)).into())?;
        }
        s.connect_timeout(
            &SocketAddr::V4(SocketAddrV4::new(ip, 7000)).into(),
            Duration::from_secs(2),
        )?;
        let mut s: std::net::TcpStream = s.into();
        s.set_read_timeout(Some(Duration::from_secs(3)))?;
        let mut buf = String::new();
        s.read_to_string(&mut buf)?;
        Ok(buf)
    })
    .ok()
    .and_then(|r| r.ok());
    if reply.is_none() {
        // Unblock the accepting thread with a local connection inside the server namespace.
        let _ = netns::run_in(Some(server_ns), move || {
            std::net::TcpStream::connect_timeout(
                &SocketAddr::V4(SocketAddrV4::new(ip, 7000)),
                Duration::from_secs(1),
            )
        });
    }
    let _ = server.join();
    reply
}

/// Counts, inside a guest, packets from the metadata service that arrive with IP TTL 1.
pub fn count_ttl1(guest_ns: &str) {
    let script = "table inet probe {\n counter ttl1 { }\n chain input {\n  type filter hook input priority 0; policy accept;\n  ip saddr 169.254.169.254 tcp sport 80 ip ttl 1 counter name \"ttl1\"\n }\n}\n";
    let out = cmd::run(
        "ip",
        &["netns", "exec", guest_ns, "nft", "-f", "-"],
        Some(script),
        T,
    )
    .expect("nft");
    assert!(out.success, "{}", out.stderr);
}

/// What [`count_ttl1`] counted so far.
pub fn ttl1_packets(guest_ns: &str) -> u64 {
    let out = cmd::check(
        "ip",
        &[
            "netns", "exec", guest_ns, "nft", "list", "counter", "inet", "probe", "ttl1",
        ],
        T,
    )
    .expect("nft list");
    out.split_whitespace()
        .skip_while(|w| *w != "packets")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("packet count")
}

pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("ip")
}

pub fn cidr(s: &str) -> kumo_driver_api::Ipv4Cidr {
    s.parse().expect("cidr")
}

/// A VPC of the fabric under test, with its subnets (`(id, cidr)`), whose simulated guests
/// plug ENIs named `eni-<prefix><name>`.
pub struct Vpc<'a> {
    pub env: &'a Env,
    pub id: String,
}

impl<'a> Vpc<'a> {
    pub fn new(env: &'a Env, id: &str, subnets: &[(&str, &str)]) -> Self {
        Self::with_vni(env, id, 1, subnets)
    }

    /// A VPC whose tunnel between hosts uses `vni`.
    pub fn with_vni(env: &'a Env, id: &str, vni: u32, subnets: &[(&str, &str)]) -> Self {
        env.track_vpc(id);
        env.fabric
            .ensure_vpc(&VpcSpec {
                vpc_id: id.into(),
                cidrs: vec![cidr("10.0.0.0/16")],
                dns: ip("10.0.0.2"),
                domain_name: "kumo-1.compute.internal".into(),
                enable_dns_support: true,
                vni,
            })
            .expect("ensure_vpc");
        for (subnet, c) in subnets {
            let c = cidr(c);
            env.fabric
                .ensure_subnet(&SubnetSpec {
                    subnet_id: (*subnet).into(),
                    vpc_id: id.into(),
                    cidr: c,
                    gateway: c.nth(1).expect("gateway"),
                })
                .expect("ensure_subnet");
        }
        Vpc { env, id: id.into() }
    }

    /// A simulated guest `name` with ENI `eni-<prefix><name>` at `addr` in `subnet`
    /// (`10.0.N.0/24`); returns its namespace.
    pub fn guest(&self, name: &str, subnet: &str, addr: &str, mac: &str) -> String {
        let p = &self.env.prefix;
        let tap = format!("{p}{name}");
        let ns = self.env.guest(name, &tap, mac);
        let a = ip(addr);
        let gw = Ipv4Addr::new(a.octets()[0], a.octets()[1], a.octets()[2], 1);
        self.env
            .fabric
            .plug(&EniSpec {
                eni_id: format!("eni-{p}{name}"),
                vpc_id: self.id.clone(),
                subnet_id: subnet.into(),
                tap,
                mac: mac.into(),
                ip: a,
                prefix_len: 24,
                gateway: gw,
                instance_id: None,
                dns_names: Vec::new(),
            })
            .expect("plug");
        self.env.static_ip(&ns, addr, &gw.to_string());
        ns
    }
}

/// A simulated host whose fabric has the underlay address `underlay`.
pub fn host_on_underlay(tag: &str, underlay: &str) -> Env {
    let addr: Ipv4Addr = underlay.parse().expect("underlay");
    Env::with_config(tag, |cfg| cfg.underlay = Some(addr))
}

/// The underlay between two simulated hosts: a veth between their host namespaces
/// (10.255.0.1/24 and 10.255.0.2/24), MTU 1550 (VXLAN adds 50 bytes).
pub fn join_underlay(h1: &Env, h2: &Env) {
    let (l1, l2) = (format!("{}u", h1.prefix), format!("{}u", h2.prefix));
    for args in [
        vec![
            "-n",
            &h1.host_ns,
            "link",
            "add",
            &l1,
            "mtu",
            "1550",
            "type",
            "veth",
            "peer",
            "name",
            &l2,
            "mtu",
            "1550",
            "netns",
            &h2.host_ns,
        ],
        vec![
            "-n",
            &h1.host_ns,
            "addr",
            "add",
            "10.255.0.1/24",
            "dev",
            &l1,
        ],
        vec![
            "-n",
            &h2.host_ns,
            "addr",
            "add",
            "10.255.0.2/24",
            "dev",
            &l2,
        ],
        vec!["-n", &h1.host_ns, "link", "set", &l1, "up"],
        vec!["-n", &h2.host_ns, "link", "set", &l2, "up"],
    ] {
        cmd::check("ip", &args, T).expect("underlay");
    }
}

/// A TCP server on `addr:port` inside `ns` until dropped: `serve` handles each accepted
/// connection (blocking, on the accepting thread; a handler that lives on spawns its own and
/// watches the flag, which is set when the server stops).
pub struct Server {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub fn start(
        ns: &str,
        addr: Ipv4Addr,
        port: u16,
        serve: impl Fn(std::net::TcpStream, SocketAddr, &Arc<std::sync::atomic::AtomicBool>)
        + Send
        + 'static,
    ) -> Server {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = netns::run_in(Some(ns), move || std::net::TcpListener::bind((addr, port)))
            .expect("enter namespace")
            .expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, peer)) => {
                        let _ = s.set_nonblocking(false);
                        serve(s, peer, &flag);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Server {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
