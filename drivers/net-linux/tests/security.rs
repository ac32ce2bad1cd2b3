//! Security groups and network ACLs in the data plane, with simulated guests (root only):
//! allow by CIDR and by group reference, membership changes, removal cutting new connections
//! at once while established ones (and return traffic) keep flowing, the default egress rule,
//! a NACL deny overriding a group's allow, and two VPCs with the same CIDR isolated.
//! Traffic flows only inside namespaces these tests create.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, SocketAddrV4, TcpStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{Env, Server, Vpc, cidr, ip};
use kumo_driver_api::{
    AclRuleSpec, AclSpec, NetworkFabric, Peer, PortMatch, Protocol, SecurityGroupSpec,
    SecurityPolicy, SgRuleSpec,
};
use kumo_net_linux::netns;

const PORT: u16 = 7000;

/// A TCP server in a namespace: answers every line with `<tag>:<line>` until dropped.
fn serve(ns: &str, addr: &str, tag: &str) -> Server {
    let tag = tag.to_string();
    Server::start(ns, ip(addr), PORT, move |mut s, _, stop| {
        let (tag, flag) = (tag.clone(), stop.clone());
        std::thread::spawn(move || {
            let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
            let mut buf = [0u8; 256];
            while !flag.load(Ordering::Relaxed) {
                match s.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        let line = String::from_utf8_lossy(&buf[..n]);
                        let reply = format!("{tag}:{}", line.trim());
                        if s.write_all(reply.as_bytes()).is_err() {
                            break;
                        }
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => break,
                }
            }
        });
    })
}

/// Opens a connection from `ns` to `addr:PORT` (1 s deadline), `None` when none was made.
fn connect(ns: &str, addr: &str) -> Option<TcpStream> {
    let addr = ip(addr);
    let s = netns::run_in(Some(ns), move || {
        TcpStream::connect_timeout(
            &SocketAddr::V4(SocketAddrV4::new(addr, PORT)),
            Duration::from_secs(1),
        )
    })
    .ok()?
    .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    Some(s)
}

/// Sends a line on an open connection and returns the answer.
fn exchange(s: &mut TcpStream, line: &str) -> Option<String> {
    s.write_all(line.as_bytes()).ok()?;
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).ok()?;
    (n > 0).then(|| String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// The kernel handle of a chain of the VPC table (changes when the table is rewritten).
fn chain_handle(router_ns: &str, chain: &str) -> String {
    let out = kumo_net_linux::cmd::check(
        "ip",
        &[
            "netns", "exec", router_ns, "nft", "-a", "list", "chain", "inet", "kumo", chain,
        ],
        common::T,
    )
    .expect("nft list chain");
    out.lines()
        .find(|l| l.contains(&format!("chain {chain} ")))
        .and_then(|l| l.split("# handle ").nth(1))
        .map(|h| h.trim().to_string())
        .expect("chain handle")
}

/// Whether one ping from `ns` to `to` is answered (busybox ping).
fn ping(ns: &str, to: &str) -> bool {
    kumo_net_linux::cmd::run(
        "ip",
        &[
            "netns", "exec", ns, "busybox", "ping", "-c", "1", "-W", "1", to,
        ],
        None,
        common::T,
    )
    .map(|o| o.success)
    .unwrap_or(false)
}

/// [`probe`] until it answers (new links need a moment), for at most 10 s.
fn settle(ns: &str, addr: &str) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = probe(ns, addr);
        if reply.is_some() || Instant::now() > deadline {
            return reply;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A new connection's answer, `None` when the connection was not made or not answered.
fn probe(ns: &str, addr: &str) -> Option<String> {
    exchange(&mut connect(ns, addr)?, "hi")
}

fn tcp(port: u16, peer: Peer) -> SgRuleSpec {
    SgRuleSpec {
        protocol: Protocol::Tcp,
        ports: PortMatch::Ports {
            from: port,
            to: port,
        },
        peer,
    }
}

fn all_to(c: &str) -> SgRuleSpec {
    SgRuleSpec {
        protocol: Protocol::All,
        ports: PortMatch::Any,
        peer: Peer::Cidr(cidr(c)),
    }
}

/// A group with AWS's default egress rule.
fn group(members: &[&str], ingress: Vec<SgRuleSpec>) -> SecurityGroupSpec {
    SecurityGroupSpec {
        ingress,
        egress: vec![all_to("0.0.0.0/0")],
        members: members.iter().map(|m| ip(m)).collect(),
    }
}

/// The default network ACL: rule 100 allows everything both ways.
fn default_acl() -> AclSpec {
    let all = AclRuleSpec {
        number: 100,
        allow: true,
        protocol: Protocol::All,
        ports: PortMatch::Any,
        cidr: cidr("0.0.0.0/0"),
    };
    AclSpec {
        inbound: vec![all.clone()],
        outbound: vec![all],
    }
}

impl Vpc<'_> {
    fn eni(&self, name: &str) -> String {
        format!("eni-{}{name}", self.env.prefix)
    }

    /// Applies `policy` and returns how long the fabric took.
    fn apply(&self, policy: &SecurityPolicy) -> Duration {
        let started = Instant::now();
        self.env
            .fabric
            .apply_security(&self.id, policy)
            .expect("apply_security");
        started.elapsed()
    }
}

#[test]
fn security_groups_and_network_acls() {
    if common::skipped("security_groups_and_network_acls") {
        return;
    }
    let env = Env::new("sg");
    let p = env.prefix.clone();
    let (sa, sb) = (format!("subnet-{p}a"), format!("subnet-{p}b"));
    let vpc = Vpc::new(
        &env,
        &format!("vpc-{p}"),
        &[(&sa, "10.0.1.0/24"), (&sb, "10.0.2.0/24")],
    );
    // A and C in subnet a, B (the server) in subnet b.
    let ga = vpc.guest("a", &sa, "10.0.1.10", "02:00:0a:00:01:0a");
    let gc = vpc.guest("c", &sa, "10.0.1.11", "02:00:0a:00:01:0b");
    let gb = vpc.guest("b", &sb, "10.0.2.10", "02:00:0a:00:02:0a");
    let _server_b = serve(&gb, "10.0.2.10", "b");
    let _server_a = serve(&ga, "10.0.1.10", "a");

    // Without a policy the router forwards everything (before issue 6; anti-spoofing only).
    // New links take a moment to pass traffic.
    assert_eq!(settle(&ga, "10.0.2.10").as_deref(), Some("b:hi"));
    assert_eq!(settle(&gc, "10.0.2.10").as_deref(), Some("b:hi"));
    assert_eq!(settle(&gb, "10.0.1.10").as_deref(), Some("a:hi"));

    let mut policy = SecurityPolicy::default();
    policy
        .groups
        .insert("sg-a".into(), group(&["10.0.1.10"], vec![]));
    policy
        .groups
        .insert("sg-c".into(), group(&["10.0.1.11"], vec![]));
    policy
        .groups
        .insert("sg-b".into(), group(&["10.0.2.10"], vec![]));
    policy.enis.insert(vpc.eni("a"), vec!["sg-a".into()]);
    policy.enis.insert(vpc.eni("c"), vec!["sg-c".into()]);
    policy.enis.insert(vpc.eni("b"), vec!["sg-b".into()]);
    policy.acls.insert(sa.clone(), default_acl());
    policy.acls.insert(sb.clone(), default_acl());
    let took = vpc.apply(&policy);
    eprintln!("policy applied in {took:?}");
    assert_eq!(
        probe(&ga, "10.0.2.10"),
        None,
        "no ingress rule: nothing reaches B"
    );

    // Allowed by CIDR: A's address only. A's group has no ingress rule, yet the answers
    // (return traffic of A's outbound connection) pass.
    policy
        .groups
        .get_mut("sg-b")
        .expect("sg-b")
        .ingress
        .push(tcp(PORT, Peer::Cidr(cidr("10.0.1.10/32"))));
    let took = vpc.apply(&policy);
    assert_eq!(
        probe(&ga, "10.0.2.10").as_deref(),
        Some("b:hi"),
        "after {took:?}"
    );
    assert_eq!(probe(&gc, "10.0.2.10"), None, "C is outside the CIDR");
    assert_eq!(probe(&gb, "10.0.1.10"), None, "A admits nothing inbound");
    eprintln!("allow by CIDR: applied in {took:?}");

    // Allowed by group reference instead; then C joins sg-a (a membership change only).
    policy.groups.get_mut("sg-b").expect("sg-b").ingress =
        vec![tcp(PORT, Peer::Group("sg-a".into()))];
    let took = vpc.apply(&policy);
    assert_eq!(
        probe(&ga, "10.0.2.10").as_deref(),
        Some("b:hi"),
        "after {took:?}"
    );
    assert_eq!(probe(&gc, "10.0.2.10"), None, "C is not in sg-a");
    policy
        .enis
        .insert(vpc.eni("c"), vec!["sg-c".into(), "sg-a".into()]);
    policy
        .groups
        .get_mut("sg-a")
        .expect("sg-a")
        .members
        .push(ip("10.0.1.11"));
    let took = vpc.apply(&policy);
    assert_eq!(
        probe(&gc, "10.0.2.10").as_deref(),
        Some("b:hi"),
        "after {took:?}"
    );
    eprintln!("allow by group reference: membership change applied in {took:?}");
    // A membership-only change rewrites the set, not the chains (their handles stay).
    let router = env.fabric.vpc_netns(&vpc.id);
    let before = chain_handle(&router, "gi_sg_b");
    policy
        .groups
        .get_mut("sg-a")
        .expect("sg-a")
        .members
        .retain(|m| *m != ip("10.0.1.11"));
    let took = vpc.apply(&policy);
    assert_eq!(probe(&gc, "10.0.2.10"), None, "C left sg-a ({took:?})");
    assert_eq!(
        chain_handle(&router, "gi_sg_b"),
        before,
        "no chain was rewritten"
    );
    eprintln!("membership change as a set update: applied in {took:?}");

    // Removing the rule cuts new connections at once; an established one keeps working
    // (stateful), both ways.
    let mut open = connect(&ga, "10.0.2.10").expect("connection before the revoke");
    assert_eq!(exchange(&mut open, "one").as_deref(), Some("b:one"));
    policy.groups.get_mut("sg-b").expect("sg-b").ingress.clear();
    let took = vpc.apply(&policy);
    let refused_at = Instant::now();
    assert_eq!(
        probe(&ga, "10.0.2.10"),
        None,
        "new connection after the revoke"
    );
    eprintln!(
        "revoke: applied in {took:?}; the first new connection after it was refused (probe gave up after {:?})",
        refused_at.elapsed()
    );
    assert!(took < Duration::from_secs(1), "revoke took {took:?}");
    assert_eq!(
        exchange(&mut open, "two").as_deref(),
        Some("b:two"),
        "established connection survives"
    );

    if common::has_busybox() {
        // ICMP by type: echo requests from subnet a (the replies are return traffic).
        assert!(!ping(&ga, "10.0.2.10"), "no ICMP rule");
        policy
            .groups
            .get_mut("sg-b")
            .expect("sg-b")
            .ingress
            .push(SgRuleSpec {
                protocol: Protocol::Icmp,
                ports: PortMatch::Icmp {
                    icmp_type: 8,
                    code: None,
                },
                peer: Peer::Cidr(cidr("10.0.1.0/24")),
            });
        vpc.apply(&policy);
        assert!(ping(&ga, "10.0.2.10"), "echo request allowed");
        assert_eq!(probe(&ga, "10.0.2.10"), None, "ICMP only, not TCP");
        policy.groups.get_mut("sg-b").expect("sg-b").ingress.clear();
    } else {
        eprintln!(
            "SKIPPED: ICMP rule check: busybox (ping) not installed (compat-tests/install-deps.sh installs it)"
        );
    }

    // The default egress rule: without it B's group cannot open connections even where the
    // receiver admits them; with it, it can.
    policy
        .groups
        .get_mut("sg-a")
        .expect("sg-a")
        .ingress
        .push(tcp(PORT, Peer::Cidr(cidr("10.0.0.0/16"))));
    policy.groups.get_mut("sg-b").expect("sg-b").egress.clear();
    vpc.apply(&policy);
    assert_eq!(probe(&gb, "10.0.1.10"), None, "B has no egress rule");
    policy.groups.get_mut("sg-b").expect("sg-b").egress = vec![all_to("0.0.0.0/0")];
    vpc.apply(&policy);
    assert_eq!(probe(&gb, "10.0.1.10").as_deref(), Some("a:hi"));

    // A NACL deny overrides a group's allow: subnet b's inbound rule 50 denies TCP 7000 from
    // subnet a; rule 100 still allows the rest.
    policy.groups.get_mut("sg-b").expect("sg-b").ingress =
        vec![tcp(PORT, Peer::Cidr(cidr("0.0.0.0/0")))];
    vpc.apply(&policy);
    assert_eq!(probe(&ga, "10.0.2.10").as_deref(), Some("b:hi"));
    let mut established = connect(&ga, "10.0.2.10").expect("connection before the deny");
    policy
        .acls
        .get_mut(&sb)
        .expect("acl b")
        .inbound
        .push(AclRuleSpec {
            number: 50,
            allow: false,
            protocol: Protocol::Tcp,
            ports: PortMatch::Ports {
                from: PORT,
                to: PORT,
            },
            cidr: cidr("10.0.1.0/24"),
        });
    let took = vpc.apply(&policy);
    assert_eq!(probe(&ga, "10.0.2.10"), None, "NACL deny ({took:?})");
    assert_eq!(
        exchange(&mut established, "x"),
        None,
        "NACLs are stateless: even an established connection is cut"
    );
    // B → A still works: rule 50 matches destination port 7000, and A's replies enter
    // subnet b towards B's ephemeral port (rule 100 allows them).
    assert_eq!(probe(&gb, "10.0.1.10").as_deref(), Some("a:hi"));
    // Rule numbers order the evaluation: an allow numbered 40 wins over the deny at 50.
    policy
        .acls
        .get_mut(&sb)
        .expect("acl b")
        .inbound
        .push(AclRuleSpec {
            number: 40,
            allow: true,
            protocol: Protocol::All,
            ports: PortMatch::Any,
            cidr: cidr("10.0.1.10/32"),
        });
    vpc.apply(&policy);
    assert_eq!(
        probe(&ga, "10.0.2.10").as_deref(),
        Some("b:hi"),
        "rule 40 first"
    );
    // A subnet's custom ACL without rules denies everything crossing its boundary, but not
    // traffic inside the subnet (A → C).
    let _server_c = serve(&gc, "10.0.1.11", "c");
    policy
        .groups
        .get_mut("sg-c")
        .expect("sg-c")
        .ingress
        .push(tcp(PORT, Peer::Cidr(cidr("10.0.0.0/16"))));
    policy.acls.insert(sa.clone(), AclSpec::default());
    vpc.apply(&policy);
    assert_eq!(probe(&ga, "10.0.2.10"), None, "subnet a's ACL denies all");
    assert_eq!(
        probe(&ga, "10.0.1.11").as_deref(),
        Some("c:hi"),
        "same subnet"
    );
}

#[test]
fn two_vpcs_with_the_same_cidr_are_isolated_under_open_groups() {
    if common::skipped("two_vpcs_with_the_same_cidr_are_isolated_under_open_groups") {
        return;
    }
    if !common::has_busybox() {
        eprintln!(
            "SKIPPED: two_vpcs_with_the_same_cidr_are_isolated_under_open_groups: busybox (ping) not installed (compat-tests/install-deps.sh installs it)"
        );
        return;
    }
    let env = Env::new("iso");
    let p = env.prefix.clone();
    let (s1, s2) = (format!("subnet-{p}1"), format!("subnet-{p}2"));
    let v1 = Vpc::new(&env, &format!("vpc-{p}1"), &[(&s1, "10.0.1.0/24")]);
    let v2 = Vpc::new(&env, &format!("vpc-{p}2"), &[(&s2, "10.0.1.0/24")]);
    // VPC 1: A (.10) and C (.11); VPC 2: B with C's address, and D with A's.
    let ga = v1.guest("a", &s1, "10.0.1.10", "02:00:0a:00:01:0a");
    let gc = v1.guest("c", &s1, "10.0.1.11", "02:00:0a:00:01:0b");
    let gb = v2.guest("b", &s2, "10.0.1.11", "02:00:0a:00:01:0c");
    let gd = v2.guest("d", &s2, "10.0.1.10", "02:00:0a:00:01:0d");
    let _c = serve(&gc, "10.0.1.11", "c");
    let _b = serve(&gb, "10.0.1.11", "b");
    // Everything allowed by the groups, in both VPCs.
    for (vpc, subnet, names) in [(&v1, &s1, ["a", "c"]), (&v2, &s2, ["b", "d"])] {
        let mut policy = SecurityPolicy::default();
        policy.groups.insert(
            "sg-open".into(),
            group(&["10.0.1.10", "10.0.1.11"], vec![all_to("0.0.0.0/0")]),
        );
        for n in names {
            policy.enis.insert(vpc.eni(n), vec!["sg-open".into()]);
        }
        policy.acls.insert(subnet.clone(), default_acl());
        vpc.apply(&policy);
    }
    // The same address answers from inside each VPC with that VPC's guest.
    assert_eq!(settle(&ga, "10.0.1.11").as_deref(), Some("c:hi"));
    assert_eq!(settle(&gd, "10.0.1.11").as_deref(), Some("b:hi"));
    // Nothing of VPC 2 is reachable from VPC 1: a ping of any other address fails.
    assert!(ping(&ga, "10.0.1.11"), "A pings C");
    assert!(!ping(&ga, "10.0.1.12"), "no such guest in VPC 1");
    assert!(!ping(&ga, "10.0.2.10"), "no route out of VPC 1");
}
