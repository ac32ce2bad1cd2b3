//! The load balancer data plane end to end (root only), with the real Linux fabric: a VPC
//! router namespace, two "instances" (namespaces running python's http.server answering with
//! their instance ids), a client namespace and a load balancer whose node is an ENI plugged
//! like a guest's, behind security groups (targets admit port 80 only from the load balancer's
//! group). Checks: health checks turn both targets healthy; requests spread over both; a path
//! rule forwards to one group; a fixed response answers; the DNS name resolves inside the VPC;
//! the client cannot bypass the load balancer; an internet-facing node's public address
//! (1:1 NAT on the VPC router, as the routing reconciler maps it) answers from the fabric's
//! public namespace; stopping one target's server turns it unhealthy
//! and every request goes to the other; a reload keeps an open connection; `remove` leaves no
//! namespace, process or link. Traffic stays inside namespaces created here.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kumo_driver_api::{
    AclRuleSpec, AclSpec, EniSpec, LbAction, LbAlgorithm, LbCondition, LbHealthCheck, LbListener,
    LbNode, LbProtocol, LbRule, LbSpec, LbStickiness, LbTarget, LbTargetGroup, LoadBalancerDriver,
    NetworkFabric, ObservedHealth, Peer, PortMatch, Protocol, PublicMapping, RouteSpec,
    RouteTarget, RoutingPolicy, SecurityGroupSpec, SecurityPolicy, SgRuleSpec, SubnetSpec,
    UnhealthyReason, VpcSpec,
};
use kumo_lb_haproxy::{HaproxyLb, HaproxyLbConfig};
use kumo_net_linux::{LinuxFabric, LinuxFabricConfig, cmd, netns};

const T: Duration = Duration::from_secs(20);
const LB_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 5);
const DNS_NAME: &str = "internal-web-1234567890.kumo-1.elb.kumo.internal";

fn skip_reason() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if !status
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
    {
        return Some("not root".into());
    }
    for tool in ["ip", "nft", "dnsmasq", "haproxy", "python3"] {
        if cmd::run("sh", &["-c", &format!("command -v {tool}")], None, T)
            .map(|o| !o.success)
            .unwrap_or(true)
        {
            return Some(format!(
                "{tool} not installed (drivers/lb-haproxy/setup-haproxy.sh, compat-tests/install-deps.sh)"
            ));
        }
    }
    None
}

/// Namespaces, servers and the fabric of one run; removed on drop.
struct Env {
    prefix: String,
    host_ns: String,
    fabric: LinuxFabric,
    lb: HaproxyLb,
    dir: tempfile::TempDir,
    namespaces: Vec<String>,
    servers: BTreeMap<String, Child>,
    vpc: String,
    lb_id: String,
    extra_lbs: Vec<String>,
}

impl Env {
    fn new() -> Env {
        let prefix = format!("klb{}", std::process::id() % 100_000);
        let host_ns = format!("{prefix}-host");
        let _ = cmd::run("ip", &["netns", "del", &host_ns], None, T);
        cmd::check("ip", &["netns", "add", &host_ns], T).expect("host namespace");
        let dir = tempfile::tempdir().expect("dir");
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod");
        let fabric = LinuxFabric::new(
            LinuxFabricConfig {
                host_netns: Some(host_ns.clone()),
                prefix: prefix.clone(),
                runtime_dir: dir.path().join("run"),
                ..LinuxFabricConfig::new(dir.path().join("state"))
            },
            None,
        )
        .expect("fabric");
        let lb = HaproxyLb::new(HaproxyLbConfig {
            host_netns: Some(host_ns.clone()),
            prefix: prefix.clone(),
            ..HaproxyLbConfig::new(dir.path().join("lb"))
        })
        .expect("lb driver");
        Env {
            vpc: format!("vpc-{prefix}"),
            lb_id: format!("{prefix}0lb"),
            extra_lbs: Vec::new(),
            prefix,
            host_ns: host_ns.clone(),
            fabric,
            lb,
            dir,
            namespaces: vec![host_ns],
            servers: BTreeMap::new(),
        }
    }

    fn eni(&self, name: &str, mac: &str, ip: Ipv4Addr, dns: &[&str]) -> EniSpec {
        EniSpec {
            eni_id: format!("eni-{}{name}", self.prefix),
            vpc_id: self.vpc.clone(),
            subnet_id: format!("subnet-{}", self.prefix),
            tap: format!("{}t{name}", self.prefix),
            mac: mac.into(),
            ip,
            prefix_len: 24,
            gateway: Ipv4Addr::new(10, 0, 1, 1),
            instance_id: None,
            dns_names: dns.iter().map(|d| (*d).to_owned()).collect(),
        }
    }

    /// A guest namespace with its address, plugged into the VPC.
    fn guest(&mut self, name: &str, mac: &str, ip: Ipv4Addr) -> (String, EniSpec) {
        let ns = format!("{}-{name}", self.prefix);
        cmd::check("ip", &["netns", "add", &ns], T).expect("guest namespace");
        self.namespaces.push(ns.clone());
        let spec = self.eni(name, mac, ip, &[]);
        cmd::check(
            "ip",
            &[
                "-n",
                &self.host_ns,
                "link",
                "add",
                &spec.tap,
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
        .expect("veth");
        for args in [
            vec!["link", "set", "eth0", "address", mac, "up"],
            vec!["link", "set", "lo", "up"],
            vec!["addr", "add", &format!("{ip}/24"), "dev", "eth0"],
            vec!["route", "add", "default", "via", "10.0.1.1"],
        ] {
            let mut full = vec!["-n", ns.as_str()];
            full.extend(args);
            cmd::check("ip", &full, T).expect("guest link");
        }
        self.fabric.plug(&spec).expect("plug guest");
        (ns, spec)
    }

    /// Serves `<dir>/index.html` (the instance id), `/health` and `/only-b/x` on port 80.
    fn serve(&mut self, ns: &str, ip: Ipv4Addr, instance: &str) {
        let root = self.dir.path().join(format!("www-{instance}"));
        std::fs::create_dir_all(root.join("only-b")).expect("www");
        std::fs::write(root.join("index.html"), instance).expect("index");
        std::fs::write(root.join("health"), "ok").expect("health");
        std::fs::write(root.join("only-b/x"), instance).expect("only-b");
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "python3", "-m", "http.server", "80"])
            .arg("--bind")
            .arg(ip.to_string())
            .arg("--directory")
            .arg(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("http.server");
        self.servers.insert(instance.to_owned(), child);
        // Serving before the load balancer's first check: a check that finds nothing counts
        // against the target, and on a loaded machine python takes a while to listen.
        let probe = format!(
            "import urllib.request; urllib.request.urlopen('http://{ip}/health', timeout=1).read()"
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while !Command::new("ip")
            .args(["netns", "exec", ns, "python3", "-c", &probe])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            assert!(
                Instant::now() < deadline,
                "{instance}'s server never listened"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop_server(&mut self, instance: &str) {
        if let Some(mut c) = self.servers.remove(instance) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for (_, mut c) in std::mem::take(&mut self.servers) {
            let _ = c.kill();
            let _ = c.wait();
        }
        for id in std::iter::once(&self.lb_id).chain(&self.extra_lbs) {
            if let Err(e) = self.lb.remove(id) {
                eprintln!("cleanup: lb remove {id}: {e}");
            }
        }
        if let Err(e) = self.fabric.remove_vpc(&self.vpc) {
            eprintln!("cleanup: remove_vpc: {e}");
        }
        if let Err(e) = self.fabric.remove_public_side() {
            eprintln!("cleanup: remove_public_side: {e}");
        }
        for ns in &self.namespaces {
            let _ = cmd::run("ip", &["netns", "del", ns], None, T);
        }
    }
}

/// One HTTP/1.0 GET from inside `ns`: `(status, body)`, `None` without a connection.
fn get(ns: &str, ip: Ipv4Addr, path: &str, host: &str) -> Option<(u16, String)> {
    exchange(ns, ip, path, host, "").map(|(status, _, body)| (status, body))
}

/// One HTTP/1.0 GET with `extra` header lines: `(status, head, body)`.
fn exchange(
    ns: &str,
    ip: Ipv4Addr,
    path: &str,
    host: &str,
    extra: &str,
) -> Option<(u16, String, String)> {
    let req = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n{extra}\r\n");
    netns::run_in(
        Some(ns),
        move || -> std::io::Result<(u16, String, String)> {
            let mut s = TcpStream::connect_timeout(
                &SocketAddr::V4(SocketAddrV4::new(ip, 80)),
                Duration::from_secs(2),
            )?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(req.as_bytes())?;
            let mut buf = String::new();
            s.read_to_string(&mut buf)?;
            let status = buf
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let (head, body) = buf.split_once("\r\n\r\n").unwrap_or((&buf, ""));
            Ok((status, head.to_owned(), body.to_owned()))
        },
    )
    .ok()
    .and_then(Result::ok)
}

/// Resolves `name` (A records) through the VPC's DNS from inside `ns`.
fn resolve(ns: &str, name: &str) -> Vec<Ipv4Addr> {
    let mut q: Vec<u8> = vec![0x4b, 0x55, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(u8::try_from(label.len()).expect("label"));
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    let qlen = q.len();
    netns::run_in(Some(ns), move || -> std::io::Result<Vec<Ipv4Addr>> {
        let s = UdpSocket::bind("0.0.0.0:0")?;
        s.set_read_timeout(Some(Duration::from_secs(3)))?;
        s.send_to(&q, "10.0.0.2:53")?;
        let mut buf = [0u8; 512];
        let n = s.recv(&mut buf)?;
        let answers = u16::from_be_bytes([buf[6], buf[7]]);
        let mut at = qlen;
        let mut out = Vec::new();
        for _ in 0..answers {
            // Name (a compression pointer), type, class, TTL, length, data.
            at += 2;
            let rtype = u16::from_be_bytes([buf[at], buf[at + 1]]);
            let len = usize::from(u16::from_be_bytes([buf[at + 8], buf[at + 9]]));
            at += 10;
            if rtype == 1 && len == 4 && at + 4 <= n {
                out.push(Ipv4Addr::new(
                    buf[at],
                    buf[at + 1],
                    buf[at + 2],
                    buf[at + 3],
                ));
            }
            at += len;
        }
        Ok(out)
    })
    .ok()
    .and_then(Result::ok)
    .unwrap_or_default()
}

fn rule(port: u16, peer: Peer) -> SgRuleSpec {
    SgRuleSpec {
        protocol: Protocol::Tcp,
        ports: PortMatch::Ports {
            from: port,
            to: port,
        },
        peer,
    }
}

fn all_out() -> SgRuleSpec {
    SgRuleSpec {
        protocol: Protocol::All,
        ports: PortMatch::Any,
        peer: Peer::Cidr("0.0.0.0/0".parse().expect("cidr")),
    }
}

fn health(
    obs: &[kumo_driver_api::TargetObservation],
    tg: &str,
    id: &str,
) -> Option<ObservedHealth> {
    obs.iter()
        .find(|o| o.target_group == tg && o.target_id == id)
        .map(|o| o.health.clone())
}

fn wait_health(
    env: &Env,
    tg: &str,
    id: &str,
    want: impl Fn(&ObservedHealth) -> bool,
) -> ObservedHealth {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let obs = env.lb.target_health(&env.lb_id).expect("target_health");
        if let Some(h) = health(&obs, tg, id)
            && want(&h)
        {
            return h;
        }
        assert!(
            Instant::now() < deadline,
            "{id} never reached the state: {obs:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn load_balancer_spreads_checks_health_and_follows_rules() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIPPED: load_balancer data plane: {why}");
        return;
    }
    let mut env = Env::new();
    let (vpc, subnet) = (env.vpc.clone(), format!("subnet-{}", env.prefix));
    env.fabric
        .ensure_vpc(&VpcSpec {
            vpc_id: vpc.clone(),
            cidrs: vec!["10.0.0.0/16".parse().expect("cidr")],
            dns: Ipv4Addr::new(10, 0, 0, 2),
            domain_name: "kumo-1.compute.internal".into(),
            enable_dns_support: true,
            vni: 1,
        })
        .expect("ensure_vpc");
    env.fabric
        .ensure_subnet(&SubnetSpec {
            subnet_id: subnet.clone(),
            vpc_id: vpc.clone(),
            cidr: "10.0.1.0/24".parse().expect("cidr"),
            gateway: Ipv4Addr::new(10, 0, 1, 1),
        })
        .expect("ensure_subnet");
    let (ta, tb, client) = (
        Ipv4Addr::new(10, 0, 1, 10),
        Ipv4Addr::new(10, 0, 1, 11),
        Ipv4Addr::new(10, 0, 1, 20),
    );
    let (ns_a, eni_a) = env.guest("a", "02:00:0a:00:01:0a", ta);
    let (ns_b, eni_b) = env.guest("b", "02:00:0a:00:01:0b", tb);
    let (ns_c, eni_c) = env.guest("c", "02:00:0a:00:01:14", client);
    env.serve(&ns_a, ta, "i-0000000a");
    env.serve(&ns_b, tb, "i-0000000b");

    // Security groups as AWS users write them: the load balancer open on 80, targets open on
    // 80 to the load balancer's group only.
    let lb_eni = env.eni("l", "02:00:0a:00:01:05", LB_IP, &[DNS_NAME]);
    let mut policy = SecurityPolicy::default();
    policy.groups.insert(
        "sg-lb".into(),
        SecurityGroupSpec {
            ingress: vec![rule(80, Peer::Cidr("0.0.0.0/0".parse().expect("cidr")))],
            egress: vec![all_out()],
            members: vec![LB_IP],
        },
    );
    policy.groups.insert(
        "sg-web".into(),
        SecurityGroupSpec {
            ingress: vec![rule(80, Peer::Group("sg-lb".into()))],
            egress: vec![all_out()],
            members: vec![ta, tb],
        },
    );
    policy.groups.insert(
        "sg-client".into(),
        SecurityGroupSpec {
            ingress: vec![],
            egress: vec![all_out()],
            members: vec![client],
        },
    );
    policy
        .enis
        .insert(lb_eni.eni_id.clone(), vec!["sg-lb".into()]);
    policy
        .enis
        .insert(eni_a.eni_id.clone(), vec!["sg-web".into()]);
    policy
        .enis
        .insert(eni_b.eni_id.clone(), vec!["sg-web".into()]);
    policy
        .enis
        .insert(eni_c.eni_id.clone(), vec!["sg-client".into()]);
    env.fabric.apply_security(&vpc, &policy).expect("security");

    let hc = LbHealthCheck {
        enabled: true,
        protocol: LbProtocol::Http,
        port: None,
        path: "/health".into(),
        // Lenient enough that a check delayed by a loaded machine (CI runs test binaries
        // beside each other) never flaps a live target: 3 misses of 2 s.
        interval_secs: 2,
        timeout_secs: 2,
        healthy_threshold: 2,
        unhealthy_threshold: 3,
        matcher: "200".into(),
    };
    let target = |id: &str, ip| LbTarget {
        id: id.into(),
        ip,
        port: 80,
    };
    let (tg_all, tg_b) = ("arn:tg/all".to_owned(), "arn:tg/b".to_owned());
    let mut spec = LbSpec {
        id: env.lb_id.clone(),
        vpc_id: vpc.clone(),
        application: true,
        nodes: vec![LbNode {
            eni_id: lb_eni.eni_id.clone(),
            tap: lb_eni.tap.clone(),
            mac: lb_eni.mac.clone(),
            ip: LB_IP,
            prefix_len: 24,
            gateway: Ipv4Addr::new(10, 0, 1, 1),
        }],
        listeners: vec![LbListener {
            port: 80,
            protocol: LbProtocol::Http,
            rules: vec![
                LbRule {
                    conditions: vec![LbCondition::PathPattern(vec!["/only-b/*".into()])],
                    action: LbAction::Forward(vec![(tg_b.clone(), 1)]),
                },
                LbRule {
                    conditions: vec![
                        LbCondition::PathPattern(vec!["/fixed".into()]),
                        LbCondition::HostHeader(vec!["*.example.com".into()]),
                    ],
                    action: LbAction::FixedResponse {
                        status: 418,
                        content_type: Some("text/plain".into()),
                        body: Some("short and stout".into()),
                    },
                },
                // A canary header, or `?target=b`, from the VPC's clients, for GETs: target b.
                LbRule {
                    conditions: vec![
                        LbCondition::HttpHeader {
                            name: "X-Canary".into(),
                            values: vec!["on*".into()],
                        },
                        LbCondition::HttpRequestMethod(vec!["GET".into()]),
                        LbCondition::SourceIp(vec!["10.0.0.0/16".into()]),
                    ],
                    action: LbAction::Forward(vec![(tg_b.clone(), 1)]),
                },
                LbRule {
                    conditions: vec![LbCondition::QueryString(vec![(
                        Some("target".into()),
                        "b".into(),
                    )])],
                    action: LbAction::Forward(vec![(tg_b.clone(), 1)]),
                },
                // Never from this client's address.
                LbRule {
                    conditions: vec![LbCondition::SourceIp(vec!["192.0.2.0/24".into()])],
                    action: LbAction::FixedResponse {
                        status: 403,
                        content_type: None,
                        body: None,
                    },
                },
                LbRule {
                    conditions: vec![],
                    action: LbAction::Forward(vec![(tg_all.clone(), 1)]),
                },
            ],
        }],
        target_groups: BTreeMap::from([
            (
                tg_all.clone(),
                LbTargetGroup {
                    protocol: LbProtocol::Http,
                    targets: vec![target("i-0000000a", ta), target("i-0000000b", tb)],
                    health: hc.clone(),
                    stickiness: Some(LbStickiness::LbCookie { duration_secs: 300 }),
                    algorithm: LbAlgorithm::RoundRobin,
                },
            ),
            (
                tg_b.clone(),
                LbTargetGroup {
                    protocol: LbProtocol::Http,
                    targets: vec![target("i-0000000b", tb)],
                    health: hc.clone(),
                    stickiness: None,
                    algorithm: LbAlgorithm::RoundRobin,
                },
            ),
        ]),
        idle_timeout_secs: 60,
    };
    env.lb.apply(&spec).expect("apply");
    env.fabric
        .plug(&lb_eni)
        .expect("plug the load balancer's node");
    assert_eq!(env.lb.list().expect("list"), vec![env.lb_id.clone()]);
    env.lb.apply(&spec).expect("apply again (unchanged)");

    for id in ["i-0000000a", "i-0000000b"] {
        let h = wait_health(&env, &tg_all, id, |h| *h == ObservedHealth::Healthy);
        eprintln!("{id}: {h:?}");
    }

    // Spread: round robin over both targets.
    let mut seen = BTreeSet::new();
    for _ in 0..20 {
        let (status, body) = get(&ns_c, LB_IP, "/", "web").expect("through the LB");
        assert_eq!(status, 200, "{body}");
        seen.insert(body);
    }
    assert_eq!(
        seen,
        BTreeSet::from(["i-0000000a".to_owned(), "i-0000000b".to_owned()]),
        "{:?}",
        env.lb.target_health(&env.lb_id)
    );
    // Stickiness (lb_cookie): a client presenting the AWSALB cookie it was given stays on
    // that target; a client without one is spread.
    let mut sticky = BTreeSet::new();
    for _ in 0..12 {
        let (status, head, body) = exchange(&ns_c, LB_IP, "/", "web", "").expect("through the LB");
        assert_eq!(status, 200, "{head}");
        let cookie = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .starts_with("set-cookie: awsalb=")
                    .then(|| {
                        l["set-cookie: ".len()..]
                            .split(';')
                            .next()
                            .map(str::to_owned)
                    })
            })
            .flatten()
            .unwrap_or_else(|| panic!("no AWSALB cookie: {head}"));
        assert!(head.contains("Max-Age=300"), "{head}");
        for _ in 0..5 {
            let (_, _, again) =
                exchange(&ns_c, LB_IP, "/", "web", &format!("Cookie: {cookie}\r\n"))
                    .expect("sticky request");
            assert_eq!(again, body, "{cookie} moved");
        }
        sticky.insert(body);
        if sticky.len() == 2 {
            break;
        }
    }
    assert_eq!(sticky.len(), 2, "new clients were not spread: {sticky:?}");
    // Header + method + source, and query-string rules: only target b.
    for _ in 0..4 {
        let (status, _, body) =
            exchange(&ns_c, LB_IP, "/", "web", "X-Canary: ONE\r\n").expect("header rule");
        assert_eq!((status, body.as_str()), (200, "i-0000000b"));
        let (status, _, body) =
            exchange(&ns_c, LB_IP, "/?x=1&target=B", "web", "").expect("query rule");
        assert_eq!((status, body.as_str()), (200, "i-0000000b"));
    }
    // Not a match: another header value, or `target` as part of another parameter.
    let mut others = BTreeSet::new();
    for _ in 0..8 {
        let (_, _, body) =
            exchange(&ns_c, LB_IP, "/?xtarget=b", "web", "X-Canary: off\r\n").expect("no rule");
        others.insert(body);
    }
    assert_eq!(others.len(), 2, "{others:?}");
    // Path rule: only target b.
    for _ in 0..4 {
        let (status, body) = get(&ns_c, LB_IP, "/only-b/x", "web").expect("path rule");
        assert_eq!((status, body.as_str()), (200, "i-0000000b"));
    }
    // Fixed response needs both conditions.
    let (status, body) = get(&ns_c, LB_IP, "/fixed", "www.example.com:80").expect("fixed");
    assert_eq!((status, body.as_str()), (418, "short and stout"));
    let (status, _) = get(&ns_c, LB_IP, "/fixed", "web").expect("not fixed");
    assert_eq!(
        status, 404,
        "the default rule forwards /fixed from another host"
    );

    // The DNS name resolves inside the VPC.
    assert_eq!(resolve(&ns_c, DNS_NAME), vec![LB_IP]);
    // Targets admit the load balancer only.
    assert_eq!(get(&ns_c, ta, "/", "web"), None, "client bypassed the LB");

    // Internet-facing: the node's public address, mapped 1:1 on the VPC router as an
    // instance's is, reaches the listener from the public namespace ("the internet"). The
    // DNAT keeps the outside client's address (the load balancer's group admits 0.0.0.0/0),
    // the node's replies go out through its subnet's router and leave with the public address
    // (else no connection), and the targets stay unreachable from outside.
    let lb_public = Ipv4Addr::new(198, 51, 100, 5);
    let mut routing = RoutingPolicy {
        internet_gateway: true,
        public_ips: vec![PublicMapping {
            public_ip: lb_public,
            private_ip: LB_IP,
        }],
        ..RoutingPolicy::default()
    };
    routing.subnets.insert(
        subnet.clone(),
        vec![
            RouteSpec {
                destination: "10.0.0.0/16".parse().expect("cidr"),
                target: RouteTarget::Local,
            },
            RouteSpec {
                destination: "0.0.0.0/0".parse().expect("cidr"),
                target: RouteTarget::InternetGateway,
            },
        ],
    );
    env.fabric.apply_routing(&vpc, &routing).expect("routing");
    // The subnet's network ACL, as the VPC's default one: everything in and out (until now
    // no traffic crossed the subnet's boundary).
    let any = |number| AclRuleSpec {
        number,
        allow: true,
        protocol: Protocol::All,
        ports: PortMatch::Any,
        cidr: "0.0.0.0/0".parse().expect("cidr"),
    };
    policy.acls.insert(
        subnet.clone(),
        AclSpec {
            inbound: vec![any(100)],
            outbound: vec![any(100)],
        },
    );
    env.fabric.apply_security(&vpc, &policy).expect("security");
    let public_ns = env.fabric.public_netns().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut from_outside = BTreeSet::new();
    while from_outside.len() < 2 && Instant::now() < deadline {
        match get(&public_ns, lb_public, "/", "web") {
            Some((200, body)) => {
                from_outside.insert(body);
            }
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
    assert_eq!(
        from_outside,
        BTreeSet::from(["i-0000000a".to_owned(), "i-0000000b".to_owned()]),
        "through the node's public address"
    );
    assert_eq!(
        get(&public_ns, LB_IP, "/", "web"),
        None,
        "private address from outside"
    );
    assert_eq!(get(&public_ns, ta, "/", "web"), None, "target from outside");

    // A connection open across a reload survives it.
    let mut held = netns::run_in(Some(&ns_c), || {
        TcpStream::connect_timeout(
            &SocketAddr::V4(SocketAddrV4::new(LB_IP, 80)),
            Duration::from_secs(2),
        )
    })
    .expect("netns")
    .expect("held connection");
    held.write_all(b"GET / HTTP/1.1\r\nHost: web\r\n")
        .expect("half a request");
    spec.idle_timeout_secs = 61;
    env.lb.apply(&spec).expect("reload");
    std::thread::sleep(Duration::from_millis(500));
    held.write_all(b"Connection: close\r\n\r\n")
        .expect("rest of the request");
    held.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut reply = String::new();
    held.read_to_string(&mut reply).expect("reply after reload");
    assert!(
        reply.starts_with("HTTP/1.0 200") && reply.contains("\r\n\r\ni-000000"),
        "{reply}"
    );

    // A network load balancer (TCP) in front of the same targets.
    let nlb_id = format!("{}1lb", env.prefix);
    env.extra_lbs.push(nlb_id.clone());
    let nlb_ip = Ipv4Addr::new(10, 0, 1, 6);
    let nlb_eni = env.eni("m", "02:00:0a:00:01:06", nlb_ip, &[]);
    policy
        .enis
        .insert(nlb_eni.eni_id.clone(), vec!["sg-lb".into()]);
    if let Some(g) = policy.groups.get_mut("sg-lb") {
        g.members.push(nlb_ip);
    }
    env.fabric.apply_security(&vpc, &policy).expect("security");
    let mut tcp_hc = hc.clone();
    tcp_hc.protocol = LbProtocol::Tcp;
    let nlb = LbSpec {
        id: nlb_id.clone(),
        application: false,
        nodes: vec![LbNode {
            eni_id: nlb_eni.eni_id.clone(),
            tap: nlb_eni.tap.clone(),
            mac: nlb_eni.mac.clone(),
            ip: nlb_ip,
            prefix_len: 24,
            gateway: Ipv4Addr::new(10, 0, 1, 1),
        }],
        listeners: vec![LbListener {
            port: 80,
            protocol: LbProtocol::Tcp,
            rules: vec![LbRule {
                conditions: vec![],
                action: LbAction::Forward(vec![(tg_all.clone(), 1)]),
            }],
        }],
        target_groups: BTreeMap::from([(
            tg_all.clone(),
            LbTargetGroup {
                protocol: LbProtocol::Tcp,
                targets: vec![target("i-0000000a", ta), target("i-0000000b", tb)],
                health: tcp_hc,
                stickiness: None,
                algorithm: LbAlgorithm::RoundRobin,
            },
        )]),
        ..spec.clone()
    };
    env.lb.apply(&nlb).expect("apply the NLB");
    env.fabric.plug(&nlb_eni).expect("plug the NLB's node");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut tcp_seen = BTreeSet::new();
    while tcp_seen.len() < 2 && Instant::now() < deadline {
        if let Some((200, body)) = get(&ns_c, nlb_ip, "/", "web") {
            tcp_seen.insert(body);
        } else {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    assert_eq!(tcp_seen.len(), 2, "{tcp_seen:?}");
    // A proxy that died is restarted by the next apply.
    let pid = std::fs::read_to_string(env.dir.path().join("lb").join(&nlb_id).join("haproxy.pid"))
        .expect("pid");
    cmd::check("kill", &["-KILL", pid.trim()], T).expect("kill");
    std::thread::sleep(Duration::from_millis(300));
    env.lb.apply(&nlb).expect("restart");
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(&ns_c, nlb_ip, "/", "web").is_none() {
        assert!(Instant::now() < deadline, "the NLB did not come back");
        std::thread::sleep(Duration::from_millis(200));
    }
    env.lb.remove(&nlb_id).expect("remove the NLB");

    // Stop a's server: a turns unhealthy and every request goes to b.
    env.stop_server("i-0000000a");
    let h = wait_health(&env, &tg_all, "i-0000000a", |h| {
        matches!(h, ObservedHealth::Unhealthy(_))
    });
    assert_eq!(
        h,
        ObservedHealth::Unhealthy(UnhealthyReason::FailedHealthChecks)
    );
    for _ in 0..6 {
        let (status, body) = get(&ns_c, LB_IP, "/", "web").expect("through the LB");
        assert_eq!((status, body.as_str()), (200, "i-0000000b"));
    }
    // Health survived the reload above: a new reload keeps a down.
    spec.idle_timeout_secs = 62;
    env.lb.apply(&spec).expect("reload");
    std::thread::sleep(Duration::from_millis(300));
    let obs = env.lb.target_health(&env.lb_id).expect("health");
    assert!(
        matches!(
            health(&obs, &tg_all, "i-0000000a"),
            Some(ObservedHealth::Unhealthy(_))
        ),
        "{obs:?}"
    );

    // Removal leaves nothing.
    let ns = env.lb.netns(&env.lb_id);
    env.lb.remove(&env.lb_id).expect("remove");
    assert!(!netns::exists(&ns));
    assert!(env.lb.list().expect("list").is_empty());
    let host_links = cmd::check(
        "ip",
        &["-n", &env.host_ns, "link", "show", "dev", &lb_eni.tap],
        T,
    );
    assert!(
        host_links.is_err(),
        "the node's host-side link is left: {host_links:?}"
    );
    assert!(
        get(&ns_c, LB_IP, "/", "web").is_none(),
        "a removed LB still answers"
    );
}
