//! Benchmark (root only, ignored by default): TCP throughput and connection rate between two
//! simulated guests in one VPC, through the VPC router, with security groups of 100 rules
//! each versus the same path with no rules, measured in the same run.
//!
//! ```text
//! cargo test -p kumo-net-linux --test sg_bench -- --ignored --nocapture
//! ```
//!
//! (`SG_BENCH_ROUNDS`, default 5, and `SG_BENCH_SECONDS`, default 2, per measurement; the
//! work is the kernel's, so the debug build measures the same path as `--release`.)
//!
//! Three VPCs, identical but for their policy, each with a client and a server guest in
//! different subnets (so every packet is routed and crosses both subnets' ACLs):
//! * `none`: no policy (unfiltered, anti-spoofing only);
//! * `1 rule`: one group each, one allow rule (plus the default ACL);
//! * `100 rules`: 100 ingress rules in the server's group and 100 egress rules in the
//!   client's, the allowing one last (99 CIDR/port rules that do not match are evaluated
//!   first for every new connection).
//!
//! * `2 hosts`: no policy, the client and the server on two simulated hosts joined by an
//!   underlay veth (MTU 1550), so every packet crosses the VPC's VXLAN tunnel and two routers.
//!
//! Rounds alternate the VPCs so drift on a shared machine hits them alike; medians reported.
//! Traffic flows only inside namespaces this benchmark creates.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Env, Vpc};
use kumo_driver_api::{
    AclRuleSpec, AclSpec, EniSpec, NetworkFabric, Peer, PortMatch, Protocol, RemoteEni,
    RoutingPolicy, SecurityGroupSpec, SecurityPolicy, SgRuleSpec, SubnetSpec, VpcSpec,
};
use kumo_net_linux::netns;

const THROUGHPUT_PORT: u16 = 5001;
const RATE_PORT: u16 = 5002;
fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v| *v > 0)
        .unwrap_or(default)
}

fn seconds() -> u64 {
    env_or("SG_BENCH_SECONDS", 2).min(60)
}

fn cidr(s: &str) -> kumo_driver_api::Ipv4Cidr {
    s.parse().expect("cidr")
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("ip")
}

struct Servers {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    ns: String,
    addr: Ipv4Addr,
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // The accepting threads block: one connection each wakes them to see the flag.
        let addr = self.addr;
        let _ = netns::run_in(Some(&self.ns), move || {
            for port in [THROUGHPUT_PORT, RATE_PORT] {
                let _ = TcpStream::connect_timeout(
                    &SocketAddr::V4(SocketAddrV4::new(addr, port)),
                    Duration::from_secs(1),
                )
                .map(|mut s| s.write_all(b"x"));
            }
        });
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn bind(ns: &str, addr: Ipv4Addr, port: u16) -> TcpListener {
    netns::run_in(Some(ns), move || TcpListener::bind((addr, port)))
        .expect("namespace")
        .expect("bind")
}

/// A sink (reads until EOF) and an echo-one-byte-and-close server in `ns`.
fn servers(ns: &str, addr: Ipv4Addr) -> Servers {
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    let sink = bind(ns, addr, THROUGHPUT_PORT);
    let flag = stop.clone();
    threads.push(std::thread::spawn(move || {
        while !flag.load(Ordering::Relaxed) {
            match sink.accept() {
                Ok((mut s, _)) => {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut buf = vec![0u8; 1 << 16];
                    while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }));
    let echo = bind(ns, addr, RATE_PORT);
    let flag = stop.clone();
    threads.push(std::thread::spawn(move || {
        while !flag.load(Ordering::Relaxed) {
            match echo.accept() {
                Ok((mut s, _)) => {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                    let mut b = [0u8; 1];
                    if s.read_exact(&mut b).is_ok() {
                        let _ = s.write_all(&b);
                    }
                }
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    }));
    Servers {
        stop,
        threads,
        ns: ns.to_string(),
        addr,
    }
}

/// Gbit/s of one TCP stream from `ns` to `addr` for `SG_BENCH_SECONDS`.
fn throughput(ns: &str, addr: Ipv4Addr) -> f64 {
    netns::run_in(Some(ns), move || {
        let mut s = TcpStream::connect_timeout(
            &SocketAddr::V4(SocketAddrV4::new(addr, THROUGHPUT_PORT)),
            Duration::from_secs(2),
        )
        .expect("connect");
        let buf = vec![0x5au8; 1 << 17];
        let started = Instant::now();
        let mut sent = 0u64;
        while started.elapsed() < Duration::from_secs(seconds()) {
            s.write_all(&buf).expect("send");
            sent += buf.len() as u64;
        }
        let secs = started.elapsed().as_secs_f64();
        sent as f64 * 8.0 / secs / 1e9
    })
    .expect("namespace")
}

/// New connections per second from `ns` to `addr` (connect, one byte each way, reset), for
/// `SG_BENCH_SECONDS`.
fn connection_rate(ns: &str, addr: Ipv4Addr) -> f64 {
    netns::run_in(Some(ns), move || {
        let done = AtomicU64::new(0);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(seconds()) {
            let mut s = TcpStream::connect_timeout(
                &SocketAddr::V4(SocketAddrV4::new(addr, RATE_PORT)),
                Duration::from_secs(2),
            )
            .expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(2)))
                .expect("timeout");
            s.write_all(b"x").expect("send");
            let mut b = [0u8; 1];
            s.read_exact(&mut b).expect("echo");
            // Close with a reset: no TIME_WAIT, so tens of thousands of connections from one
            // address to one port never wait for a 4-tuple to be reusable.
            socket2::SockRef::from(&s)
                .set_linger(Some(Duration::ZERO))
                .expect("linger");
            done.fetch_add(1, Ordering::Relaxed);
        }
        done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
    })
    .expect("namespace")
}

fn rule(port: u16, c: &str) -> SgRuleSpec {
    SgRuleSpec {
        protocol: Protocol::Tcp,
        ports: PortMatch::Ports {
            from: port,
            to: port,
        },
        peer: Peer::Cidr(cidr(c)),
    }
}

/// `n` rules of which only the last admits the benchmark's traffic.
fn rules(n: usize) -> Vec<SgRuleSpec> {
    let mut v: Vec<SgRuleSpec> = (0..n.saturating_sub(1))
        .map(|i| {
            let i = u16::try_from(i).expect("small");
            rule(10_000 + i, &format!("192.168.{}.0/24", i % 250))
        })
        .collect();
    v.push(SgRuleSpec {
        protocol: Protocol::Tcp,
        ports: PortMatch::Ports {
            from: THROUGHPUT_PORT,
            to: RATE_PORT,
        },
        peer: Peer::Cidr(cidr("10.0.0.0/16")),
    });
    v
}

fn policy(client_eni: &str, server_eni: &str, subnets: &[&str], n: usize) -> SecurityPolicy {
    let mut p = SecurityPolicy::default();
    p.groups.insert(
        "sg-client".into(),
        SecurityGroupSpec {
            ingress: vec![],
            egress: rules(n),
            members: vec![ip("10.0.1.10")],
        },
    );
    p.groups.insert(
        "sg-server".into(),
        SecurityGroupSpec {
            ingress: rules(n),
            egress: vec![],
            members: vec![ip("10.0.2.10")],
        },
    );
    p.enis.insert(client_eni.into(), vec!["sg-client".into()]);
    p.enis.insert(server_eni.into(), vec!["sg-server".into()]);
    let all = AclRuleSpec {
        number: 100,
        allow: true,
        protocol: Protocol::All,
        ports: PortMatch::Any,
        cidr: cidr("0.0.0.0/0"),
    };
    for s in subnets {
        p.acls.insert(
            (*s).into(),
            AclSpec {
                inbound: vec![all.clone()],
                outbound: vec![all.clone()],
            },
        );
    }
    p
}

struct Path {
    name: &'static str,
    client: String,
    server: Ipv4Addr,
    _servers: Servers,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[test]
#[ignore = "benchmark: cargo test -p kumo-net-linux --test sg_bench -- --ignored --nocapture"]
fn security_group_rules_cost() {
    if common::skipped("security_group_rules_cost") {
        return;
    }
    let env = common::host_on_underlay("bn", "10.255.0.1");
    let far = common::host_on_underlay("bm", "10.255.0.2");
    common::join_underlay(&env, &far);
    let p = env.prefix.clone();
    let mut paths = Vec::new();
    for (k, (name, rules)) in [
        ("none", None),
        ("1 rule", Some(1)),
        ("100 rules", Some(100)),
    ]
    .into_iter()
    .enumerate()
    {
        let vpc = format!("vpc-{p}{k}");
        let (s1, s2) = (format!("subnet-{p}{k}a"), format!("subnet-{p}{k}b"));
        env.track_vpc(&vpc);
        env.fabric
            .ensure_vpc(&VpcSpec {
                vpc_id: vpc.clone(),
                cidrs: vec![cidr("10.0.0.0/16")],
                dns: ip("10.0.0.2"),
                domain_name: "kumo-1.compute.internal".into(),
                enable_dns_support: true,
                vni: 4200 + u32::try_from(k).expect("small"),
            })
            .expect("vpc");
        let mut guests = Vec::new();
        for (g, subnet, c, addr) in [
            ("c", &s1, "10.0.1.0/24", "10.0.1.10"),
            ("s", &s2, "10.0.2.0/24", "10.0.2.10"),
        ] {
            let c = cidr(c);
            let gw = c.nth(1).expect("gw");
            env.fabric
                .ensure_subnet(&SubnetSpec {
                    subnet_id: subnet.clone(),
                    vpc_id: vpc.clone(),
                    cidr: c,
                    gateway: gw,
                })
                .expect("subnet");
            let tap = format!("{p}{k}{g}");
            let mac = format!("02:00:00:00:0{k}:0{}", if g == "c" { 1 } else { 2 });
            let ns = env.guest(&format!("{k}{g}"), &tap, &mac);
            let eni = format!("eni-{p}{k}{g}");
            env.fabric
                .plug(&EniSpec {
                    eni_id: eni.clone(),
                    vpc_id: vpc.clone(),
                    subnet_id: subnet.clone(),
                    tap,
                    mac,
                    ip: ip(addr),
                    prefix_len: 24,
                    gateway: gw,
                    instance_id: None,
                    dns_names: Vec::new(),
                })
                .expect("plug");
            env.static_ip(&ns, addr, &gw.to_string());
            guests.push((ns, eni));
        }
        if let Some(n) = rules {
            env.fabric
                .apply_security(&vpc, &policy(&guests[0].1, &guests[1].1, &[&s1, &s2], n))
                .expect("policy");
        }
        let servers = servers(&guests[1].0, ip("10.0.2.10"));
        paths.push(Path {
            name,
            client: guests[0].0.clone(),
            server: ip("10.0.2.10"),
            _servers: servers,
        });
    }
    // One VPC on two hosts, no policy: the client here, the server on the other host, so
    // every packet crosses the VXLAN tunnel (to compare with `none`, the same path within one
    // host).
    let vpc = format!("vpc-{p}3");
    let subnets = [("subnet-a", "10.0.1.0/24"), ("subnet-b", "10.0.2.0/24")];
    let here = Vpc::with_vni(&env, &vpc, 4300, &subnets);
    let there = Vpc::with_vni(&far, &vpc, 4300, &subnets);
    let client = here.guest("3c", "subnet-a", "10.0.1.10", "02:00:00:00:03:01");
    let server = there.guest("3s", "subnet-b", "10.0.2.10", "02:00:00:00:03:02");
    let remote = |env: &Env, name: &str, subnet: &str, addr: &str, host: &str| RemoteEni {
        eni_id: format!("eni-{}{name}", env.prefix),
        subnet_id: subnet.into(),
        ip: ip(addr),
        host: ip(host),
        dns_names: Vec::new(),
    };
    for (fabric, r) in [
        (
            &env.fabric,
            remote(&far, "3s", "subnet-b", "10.0.2.10", "10.255.0.2"),
        ),
        (
            &far.fabric,
            remote(&env, "3c", "subnet-a", "10.0.1.10", "10.255.0.1"),
        ),
    ] {
        fabric
            .apply_routing(
                &vpc,
                &RoutingPolicy {
                    remote_enis: vec![r],
                    ..Default::default()
                },
            )
            .expect("routing");
    }
    paths.push(Path {
        name: "2 hosts",
        client,
        server: ip("10.0.2.10"),
        _servers: servers(&server, ip("10.0.2.10")),
    });
    // New links need a moment; then one warm-up exchange per path.
    for path in &paths {
        let deadline = Instant::now() + Duration::from_secs(10);
        let (ns, addr) = (path.client.clone(), path.server);
        while netns::run_in(Some(&ns), move || {
            TcpStream::connect_timeout(
                &SocketAddr::V4(SocketAddrV4::new(addr, RATE_PORT)),
                Duration::from_millis(500),
            )
            .map(|mut s| s.write_all(b"x"))
        })
        .map(|r| r.is_err())
        .unwrap_or(true)
        {
            assert!(Instant::now() < deadline, "{} never connected", path.name);
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    // The rules are in the kernel: count the server group's ingress chain.
    let listed = kumo_net_linux::cmd::check(
        "ip",
        &[
            "netns",
            "exec",
            &env.fabric.vpc_netns(&format!("vpc-{p}2")),
            "nft",
            "list",
            "chain",
            "inet",
            "kumo",
            "gi_sg_server",
        ],
        common::T,
    )
    .expect("nft list");
    let in_kernel = listed.lines().filter(|l| l.contains("accept")).count();
    eprintln!("100 rules: the server group's ingress chain holds {in_kernel} rules");
    assert_eq!(in_kernel, 100);
    let rounds = usize::try_from(env_or("SG_BENCH_ROUNDS", 5).min(50)).unwrap_or(5);
    let mut results: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); paths.len()];
    for round in 0..rounds {
        for (i, path) in paths.iter().enumerate() {
            let t = throughput(&path.client, path.server);
            let r = connection_rate(&path.client, path.server);
            eprintln!(
                "round {round} {:>9}: {t:6.2} Gbit/s, {r:8.0} connections/s",
                path.name
            );
            results[i].0.push(t);
            results[i].1.push(r);
        }
    }
    let summary: Vec<(f64, f64)> = results
        .into_iter()
        .map(|(t, r)| (median(t), median(r)))
        .collect();
    eprintln!("\nmedians over {rounds} rounds of {} s:", seconds());
    for (path, (t, r)) in paths.iter().zip(&summary) {
        eprintln!(
            "{:>9}: {t:6.2} Gbit/s ({:5.1}% of none), {r:8.0} connections/s ({:5.1}% of none)",
            path.name,
            100.0 * t / summary[0].0,
            100.0 * r / summary[0].1
        );
    }
    assert!(summary.iter().all(|(t, r)| *t > 0.0 && *r > 0.0));
}
