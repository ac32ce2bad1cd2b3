//! The public side in the data plane, with simulated guests (root only): a client in the
//! public namespace reaches a mapped instance by its public address (1:1 NAT) and sees the
//! right source address on its outbound traffic; an unmapped instance is unreachable and
//! reaches out only through a NAT gateway route; re-mapping moves the traffic, to another VPC
//! too; a blackhole route drops; detaching the internet gateway cuts the VPC off. Traffic flows
//! only inside namespaces these tests create (the fabric's public namespace included).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, SocketAddrV4, TcpStream};
use std::time::{Duration, Instant};

use common::{Env, Server, Vpc, cidr, ip};
use kumo_driver_api::{
    NatGatewaySpec, NetworkFabric, PublicMapping, RouteSpec, RouteTarget, RoutingPolicy, VpcSpec,
};
use kumo_net_linux::netns;

const PORT: u16 = 7000;
const OUTSIDE: &str = "203.0.113.1";

/// A TCP server in a namespace answering each connection with `<tag>:<peer address>` (so a
/// client learns both who answered and which source address it arrived from).
fn serve(ns: &str, addr: &str, tag: &str) -> Server {
    let tag = tag.to_string();
    Server::start(ns, ip(addr), PORT, move |mut s, peer, _| {
        let _ = s.write_all(format!("{tag}:{}", peer.ip()).as_bytes());
    })
}

/// A new connection from `ns` to `addr:PORT`: the server's answer, `None` when none came.
fn probe(ns: &str, addr: &str) -> Option<String> {
    let addr = ip(addr);
    let mut s = netns::run_in(Some(ns), move || {
        TcpStream::connect_timeout(
            &SocketAddr::V4(SocketAddrV4::new(addr, PORT)),
            Duration::from_millis(700),
        )
    })
    .ok()?
    .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    (!buf.is_empty()).then_some(buf)
}

/// [`probe`] until it answers `want`, for at most 5 s (new links need a moment).
fn settle(ns: &str, addr: &str, want: &str) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let reply = probe(ns, addr);
        if reply.as_deref() == Some(want) || Instant::now() > deadline {
            return reply;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn route(d: &str, target: RouteTarget) -> RouteSpec {
    RouteSpec {
        destination: cidr(d),
        target,
    }
}

/// Removes the fabric's public namespace when the test ends, whatever happened.
struct PublicSide<'a>(&'a Env);

impl Drop for PublicSide<'_> {
    fn drop(&mut self) {
        let _ = self.0.fabric.remove_public_side();
    }
}

impl Vpc<'_> {
    fn route(&self, policy: &RoutingPolicy) -> Duration {
        let t = Instant::now();
        self.env
            .fabric
            .apply_routing(&self.id, policy)
            .expect("apply_routing");
        t.elapsed()
    }
}

fn mapping(public: &str, private: &str) -> PublicMapping {
    PublicMapping {
        public_ip: ip(public),
        private_ip: ip(private),
    }
}

#[test]
fn public_addresses_nat_gateways_and_route_targets() {
    if common::skipped("public_addresses_nat_gateways_and_route_targets") {
        return;
    }
    let env = Env::new("pub");
    let _public = PublicSide(&env);
    let p = env.prefix.clone();
    let vpc = Vpc::new(
        &env,
        &format!("vpc-{p}a"),
        &[
            ("subnet-pub", "10.0.1.0/24"),
            ("subnet-priv", "10.0.2.0/24"),
            ("subnet-dark", "10.0.3.0/24"),
        ],
    );
    let web1 = vpc.guest("web1", "subnet-pub", "10.0.1.10", "02:00:00:00:01:10");
    let web2 = vpc.guest("web2", "subnet-pub", "10.0.1.11", "02:00:00:00:01:11");
    let app = vpc.guest("app", "subnet-priv", "10.0.2.10", "02:00:00:00:02:10");
    let dark = vpc.guest("dark", "subnet-dark", "10.0.3.10", "02:00:00:00:03:10");
    let _servers = [
        serve(&web1, "10.0.1.10", "web1"),
        serve(&web2, "10.0.1.11", "web2"),
        serve(&app, "10.0.2.10", "app"),
    ];

    // No routing policy yet: the VPC reaches nothing outside itself, and has no public side.
    assert_eq!(
        settle(&app, "10.0.1.10", "web1:10.0.2.10").as_deref(),
        Some("web1:10.0.2.10")
    );
    let public = env.fabric.public_netns().to_string();
    assert!(!netns::exists(&public), "public side exists before any IGW");

    let local = route("10.0.0.0/16", RouteTarget::Local);
    let mut policy = RoutingPolicy {
        internet_gateway: true,
        ..RoutingPolicy::default()
    };
    policy.subnets.insert(
        "subnet-pub".into(),
        vec![
            local.clone(),
            route("0.0.0.0/0", RouteTarget::InternetGateway),
        ],
    );
    policy.subnets.insert(
        "subnet-priv".into(),
        vec![
            local.clone(),
            route("0.0.0.0/0", RouteTarget::NatGateway("nat-1".into())),
        ],
    );
    policy.subnets.insert(
        "subnet-dark".into(),
        vec![
            local,
            route("0.0.0.0/0", RouteTarget::InternetGateway),
            route("203.0.113.0/24", RouteTarget::Blackhole),
        ],
    );
    policy.public_ips = vec![
        mapping("198.51.100.10", "10.0.1.10"),
        mapping("198.51.100.30", "10.0.3.10"),
    ];
    policy.nat_gateways.insert(
        "nat-1".into(),
        NatGatewaySpec {
            subnet_id: "subnet-pub".into(),
            private_ip: ip("10.0.1.5"),
            public_ip: ip("198.51.100.20"),
        },
    );
    let took = vpc.route(&policy);
    eprintln!("apply_routing (first, builds the public side): {took:?}");
    assert!(netns::exists(&public));
    let _outside = serve(&public, OUTSIDE, "outside");

    // A client outside reaches web1 by its public address, from its own address.
    assert_eq!(
        settle(&public, "198.51.100.10", "web1:203.0.113.1").as_deref(),
        Some("web1:203.0.113.1")
    );
    // web1's outbound traffic leaves with its public address.
    assert_eq!(
        probe(&web1, OUTSIDE).as_deref(),
        Some("outside:198.51.100.10")
    );
    // web2 has no public address: unreachable from outside (by its private address too), and
    // its traffic to the internet gateway is dropped.
    assert_eq!(probe(&public, "10.0.1.11"), None);
    assert_eq!(probe(&web2, OUTSIDE), None);
    // app (private subnet) reaches out through the NAT gateway, with the gateway's address,
    // and cannot be reached by that address.
    assert_eq!(
        probe(&app, OUTSIDE).as_deref(),
        Some("outside:198.51.100.20")
    );
    assert_eq!(probe(&public, "198.51.100.20"), None);
    // dark has a public address but routes 203.0.113.0/24 to a blackhole: its outbound
    // connection is dropped, and so is the reply to an inbound one.
    assert_eq!(probe(&dark, OUTSIDE), None);
    // Inside the VPC, traffic stays local and private.
    assert_eq!(probe(&web2, "10.0.1.10").as_deref(), Some("web1:10.0.1.11"));
    // Hairpin: an instance reaches another's public address of its own VPC as from outside,
    // arriving with its own public address (or the NAT gateway's); one without a public
    // address in a public subnet has no way out and back in.
    assert_eq!(
        probe(&app, "198.51.100.10").as_deref(),
        Some("web1:198.51.100.20")
    );
    assert_eq!(
        probe(&web1, "198.51.100.10").as_deref(),
        Some("web1:198.51.100.10")
    );
    assert_eq!(probe(&web2, "198.51.100.10"), None);
    // Repeating the same policy is free and changes nothing.
    let again = vpc.route(&policy);
    eprintln!("apply_routing (unchanged): {again:?}");
    assert!(again < Duration::from_millis(50), "{again:?}");

    // A route to an ENI: 192.0.2.0/24 from the private subnet goes to rtr, an instance that
    // holds 192.0.2.1 itself. Its replies carry a source that is not its own address: dropped
    // while its source/destination check is on, delivered once it is off.
    let rtr = vpc.guest("rtr", "subnet-pub", "10.0.1.20", "02:00:00:00:01:20");
    kumo_net_linux::cmd::check(
        "ip",
        &["-n", &rtr, "addr", "add", "192.0.2.1/32", "dev", "lo"],
        common::T,
    )
    .expect("router address");
    let _rtr_server = serve(&rtr, "192.0.2.1", "rtr");
    let rtr_eni = format!("eni-{p}rtr");
    if let Some(routes) = policy.subnets.get_mut("subnet-priv") {
        routes.push(route(
            "192.0.2.0/24",
            RouteTarget::NetworkInterface(rtr_eni.clone()),
        ));
    }
    vpc.route(&policy);
    assert_eq!(probe(&app, "192.0.2.1"), None);
    policy.unchecked_enis.insert(rtr_eni);
    vpc.route(&policy);
    assert_eq!(
        settle(&app, "192.0.2.1", "rtr:10.0.2.10").as_deref(),
        Some("rtr:10.0.2.10")
    );

    // Re-mapping moves the address to web2: new connections reach web2, web2 leaves with it,
    // web1 no longer reaches out.
    policy.public_ips[0] = mapping("198.51.100.10", "10.0.1.11");
    let took = vpc.route(&policy);
    eprintln!("apply_routing (re-map): {took:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(
        probe(&public, "198.51.100.10").as_deref(),
        Some("web2:203.0.113.1")
    );
    assert_eq!(
        probe(&web2, OUTSIDE).as_deref(),
        Some("outside:198.51.100.10")
    );
    assert_eq!(probe(&web1, OUTSIDE), None);

    // Move the address to an instance of another VPC: the public side follows at once, and
    // the two VPCs reach each other by public addresses only.
    let other = Vpc::new(&env, &format!("vpc-{p}b"), &[("subnet-o", "10.0.1.0/24")]);
    let o1 = other.guest("o1", "subnet-o", "10.0.1.10", "02:00:00:00:0b:10");
    let _o1_server = serve(&o1, "10.0.1.10", "o1");
    policy
        .public_ips
        .retain(|m| m.public_ip != ip("198.51.100.10"));
    vpc.route(&policy);
    let mut other_policy = RoutingPolicy {
        internet_gateway: true,
        ..RoutingPolicy::default()
    };
    other_policy.subnets.insert(
        "subnet-o".into(),
        vec![route("0.0.0.0/0", RouteTarget::InternetGateway)],
    );
    other_policy.public_ips = vec![mapping("198.51.100.10", "10.0.1.10")];
    other.route(&other_policy);
    assert_eq!(
        probe(&public, "198.51.100.10").as_deref(),
        Some("o1:203.0.113.1")
    );
    // app in the first VPC reaches o1 by its public address through the NAT gateway.
    assert_eq!(
        probe(&app, "198.51.100.10").as_deref(),
        Some("o1:198.51.100.20")
    );

    // The public side lost (a host reboot, an operator): repeating the calls rebuilds it.
    kumo_net_linux::cmd::check("ip", &["netns", "del", &public], common::T).expect("del");
    env.fabric
        .ensure_vpc(&VpcSpec {
            vpc_id: other.id.clone(),
            cidrs: vec![cidr("10.0.0.0/16")],
            dns: ip("10.0.0.2"),
            domain_name: "kumo-1.compute.internal".into(),
            enable_dns_support: true,
            vni: 1,
        })
        .expect("ensure_vpc");
    let _outside = serve(&public, OUTSIDE, "outside");
    assert_eq!(
        settle(&public, "198.51.100.10", "o1:203.0.113.1").as_deref(),
        Some("o1:203.0.113.1")
    );
    assert_eq!(
        probe(&o1, OUTSIDE).as_deref(),
        Some("outside:198.51.100.10")
    );

    // Detaching the internet gateway cuts the first VPC off; the other keeps its side.
    policy.internet_gateway = false;
    vpc.route(&policy);
    assert_eq!(probe(&app, OUTSIDE), None);
    assert_eq!(probe(&public, "198.51.100.30"), None);
    assert_eq!(
        probe(&public, "198.51.100.10").as_deref(),
        Some("o1:203.0.113.1")
    );

    // Removing a VPC removes its uplink and public routes with it.
    env.fabric.remove_vpc(&other.id).expect("remove_vpc");
    let routes = kumo_net_linux::cmd::check("ip", &["-n", &public, "route", "show"], common::T)
        .expect("routes");
    assert!(!routes.contains("198.51.100.10"), "{routes}");
    let links = kumo_net_linux::cmd::check("ip", &["-n", &public, "link", "show"], common::T)
        .expect("links");
    assert!(!links.contains("uplink:"), "{links}");
}
