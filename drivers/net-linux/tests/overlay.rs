//! One VPC across two hosts (root only): two fabrics, each with its own host namespace standing
//! for a machine, joined by an underlay link; guests on both reach each other through the
//! VPC's VXLAN tunnel, within a subnet and across subnets; security groups (a rule naming a
//! group whose member is on the other host) and network ACLs still decide; a second VPC with
//! the same CIDR on the same two hosts stays apart; a remote ENI that leaves the policy is
//! unreachable at once; removing the VPC leaves no tunnel behind. Traffic flows only inside
//! namespaces this test creates.

mod common;

use common::{Env, Vpc, cidr, ip, tcp_echo};
use kumo_driver_api::{
    AclRuleSpec, AclSpec, NetworkFabric, Peer, PortMatch, Protocol, RemoteEni, RoutingPolicy,
    SecurityGroupSpec, SecurityPolicy, SgRuleSpec,
};
use kumo_net_linux::cmd;

const T: std::time::Duration = std::time::Duration::from_secs(10);
const H1: &str = "10.255.0.1";
const H2: &str = "10.255.0.2";

fn remote(env: &Env, name: &str, subnet: &str, addr: &str, host: &str) -> RemoteEni {
    RemoteEni {
        eni_id: format!("eni-{}{name}", env.prefix),
        subnet_id: subnet.into(),
        ip: ip(addr),
        host: ip(host),
        dns_names: Vec::new(),
    }
}

fn routing(remote_enis: Vec<RemoteEni>) -> RoutingPolicy {
    RoutingPolicy {
        remote_enis,
        ..Default::default()
    }
}

fn allow_all(number: u16) -> AclRuleSpec {
    AclRuleSpec {
        number,
        allow: true,
        protocol: Protocol::All,
        ports: PortMatch::Any,
        cidr: cidr("0.0.0.0/0"),
    }
}

/// Groups: `sg-web` (B and C) admits TCP 7000 from `sg-client` (A) only; both may send
/// anything. ACLs: subnet-a open; subnet-b's inbound denies TCP 7000 from subnet-a when
/// `deny_b` (rule 50), else open.
fn security(h1: &Env, h2: &Env, deny_b: bool) -> SecurityPolicy {
    let egress = vec![SgRuleSpec {
        protocol: Protocol::All,
        ports: PortMatch::Any,
        peer: Peer::Cidr(cidr("0.0.0.0/0")),
    }];
    let mut p = SecurityPolicy::default();
    p.groups.insert(
        "sg-web".into(),
        SecurityGroupSpec {
            ingress: vec![SgRuleSpec {
                protocol: Protocol::Tcp,
                ports: PortMatch::Ports {
                    from: 7000,
                    to: 7000,
                },
                peer: Peer::Group("sg-client".into()),
            }],
            egress: egress.clone(),
            members: vec![ip("10.0.1.20"), ip("10.0.2.30")],
        },
    );
    p.groups.insert(
        "sg-client".into(),
        SecurityGroupSpec {
            ingress: Vec::new(),
            egress,
            members: vec![ip("10.0.1.10")],
        },
    );
    for (env, name, group) in [
        (h1, "a", "sg-client"),
        (h1, "d", "sg-web"),
        (h2, "b", "sg-web"),
        (h2, "c", "sg-web"),
    ] {
        p.enis
            .insert(format!("eni-{}{name}", env.prefix), vec![group.into()]);
    }
    let open = AclSpec {
        inbound: vec![allow_all(100)],
        outbound: vec![allow_all(100)],
    };
    let mut b = open.clone();
    if deny_b {
        b.inbound.insert(
            0,
            AclRuleSpec {
                number: 50,
                allow: false,
                protocol: Protocol::Tcp,
                ports: PortMatch::Ports {
                    from: 7000,
                    to: 7000,
                },
                cidr: cidr("10.0.1.0/24"),
            },
        );
    }
    p.acls.insert("subnet-a".into(), open);
    p.acls.insert("subnet-b".into(), b);
    p
}

/// What `ip -d -j link show overlay` says in a namespace, `None` without the link.
fn overlay(ns: &str) -> Option<serde_json::Value> {
    let out = cmd::run(
        "ip",
        &["-n", ns, "-d", "-s", "-j", "link", "show", "dev", "overlay"],
        None,
        T,
    )
    .ok()?;
    if !out.success {
        return None;
    }
    serde_json::from_str::<serde_json::Value>(&out.stdout)
        .ok()?
        .get(0)
        .cloned()
}

#[test]
fn one_vpc_spans_two_hosts_through_its_tunnel() {
    if common::skipped("one_vpc_spans_two_hosts_through_its_tunnel") {
        return;
    }
    let h1 = common::host_on_underlay("o1", H1);
    let h2 = common::host_on_underlay("o2", H2);
    common::join_underlay(&h1, &h2);
    let subnets = [("subnet-a", "10.0.1.0/24"), ("subnet-b", "10.0.2.0/24")];
    let vpc_id = "vpc-0verlay0000000001";
    let v1 = Vpc::with_vni(&h1, vpc_id, 4100, &subnets);
    let v2 = Vpc::with_vni(&h2, vpc_id, 4100, &subnets);
    let a = v1.guest("a", "subnet-a", "10.0.1.10", "02:00:00:00:01:0a");
    let d = v1.guest("d", "subnet-a", "10.0.1.40", "02:00:00:00:01:0d");
    let b = v2.guest("b", "subnet-a", "10.0.1.20", "02:00:00:00:01:0b");
    let c = v2.guest("c", "subnet-b", "10.0.2.30", "02:00:00:00:01:0c");

    // Each router has its tunnel, VNI and underlay address as configured, in the VPC namespace.
    for (env, local) in [(&h1, H1), (&h2, H2)] {
        let link = overlay(&env.fabric.vpc_netns(vpc_id)).expect("an overlay link");
        let info = &link["linkinfo"]["info_data"];
        assert_eq!(info["id"], 4100, "{link}");
        assert_eq!(info["local"], local, "{link}");
        assert_eq!(info["port"], 4789, "{link}");
        assert_eq!(
            link["address"],
            kumo_net_linux::overlay_mac(4100, ip(local)),
            "{link}"
        );
    }

    // Until the routers learn where the other ENIs are, nothing crosses.
    assert_eq!(tcp_echo(&b, &a, "10.0.1.20", None), None);
    // The guest forgets its failed address resolution (a real one retries after a while).
    cmd::check("ip", &["-n", &a, "neigh", "flush", "dev", "eth0"], T).expect("flush");

    let to_h2 = vec![
        remote(&h2, "b", "subnet-a", "10.0.1.20", H2),
        remote(&h2, "c", "subnet-b", "10.0.2.30", H2),
    ];
    let to_h1 = vec![
        remote(&h1, "a", "subnet-a", "10.0.1.10", H1),
        remote(&h1, "d", "subnet-a", "10.0.1.40", H1),
    ];
    h1.fabric
        .apply_routing(vpc_id, &routing(to_h2.clone()))
        .expect("routing h1");
    h2.fabric
        .apply_routing(vpc_id, &routing(to_h1.clone()))
        .expect("routing h2");

    // Unfiltered: within a subnet and across subnets, both ways.
    assert_eq!(tcp_echo(&b, &a, "10.0.1.20", None).as_deref(), Some("pong"));
    assert_eq!(tcp_echo(&c, &a, "10.0.2.30", None).as_deref(), Some("pong"));
    assert_eq!(tcp_echo(&a, &c, "10.0.1.10", None).as_deref(), Some("pong"));
    let rx = overlay(&h2.fabric.vpc_netns(vpc_id)).expect("overlay")["stats64"]["rx"]["packets"]
        .as_u64()
        .expect("rx packets");
    assert!(rx >= 3, "h2's tunnel received {rx} packets");
    // A spoofed source from a guest never enters the tunnel: anti-spoofing on the sender's
    // router (D pretends to be A).
    common::static_extra(&d, "10.0.1.10");
    assert_eq!(tcp_echo(&b, &d, "10.0.1.20", Some("10.0.1.10")), None);

    // Security groups: B admits A (a member of sg-client, on the other host), not D.
    for env in [&h1, &h2] {
        env.fabric
            .apply_security(vpc_id, &security(&h1, &h2, false))
            .expect("security");
    }
    assert_eq!(tcp_echo(&b, &a, "10.0.1.20", None).as_deref(), Some("pong"));
    assert_eq!(tcp_echo(&c, &a, "10.0.2.30", None).as_deref(), Some("pong"));
    assert_eq!(tcp_echo(&b, &d, "10.0.1.20", None), None, "D is no client");
    // A admits nothing (the replies A got above were return traffic).
    assert_eq!(
        tcp_echo(&a, &b, "10.0.1.10", None),
        None,
        "A admits nothing"
    );

    // Network ACLs: subnet-b's inbound deny applies across hosts; subnet-a's own traffic is
    // not subject to ACLs.
    for env in [&h1, &h2] {
        env.fabric
            .apply_security(vpc_id, &security(&h1, &h2, true))
            .expect("security");
    }
    assert_eq!(tcp_echo(&c, &a, "10.0.2.30", None), None, "ACL deny");
    assert_eq!(tcp_echo(&b, &a, "10.0.1.20", None).as_deref(), Some("pong"));

    // A second VPC with the same CIDR on the same hosts: its own tunnel, no crossing.
    let other_id = "vpc-0verlay0000000002";
    let o1 = Vpc::with_vni(&h1, other_id, 4200, &subnets);
    let o2 = Vpc::with_vni(&h2, other_id, 4200, &subnets);
    let a2 = o1.guest("a2", "subnet-a", "10.0.1.10", "02:00:00:00:02:0a");
    let b2 = o2.guest("b2", "subnet-a", "10.0.1.20", "02:00:00:00:02:0b");
    h1.fabric
        .apply_routing(
            other_id,
            &routing(vec![remote(&h2, "b2", "subnet-a", "10.0.1.20", H2)]),
        )
        .expect("routing");
    h2.fabric
        .apply_routing(
            other_id,
            &routing(vec![remote(&h1, "a2", "subnet-a", "10.0.1.10", H1)]),
        )
        .expect("routing");
    assert_eq!(
        tcp_echo(&b2, &a2, "10.0.1.20", None).as_deref(),
        Some("pong")
    );
    assert_eq!(
        tcp_echo(&b2, &a, "10.0.1.20", None),
        None,
        "A reaches its own VPC's 10.0.1.20 only"
    );

    // An ENI that left the policy (its instance stopped) is unreachable at once, and its
    // route, neighbour and forwarding entries are gone.
    h1.fabric
        .apply_routing(vpc_id, &routing(vec![to_h2[1].clone()]))
        .expect("routing");
    assert_eq!(tcp_echo(&b, &a, "10.0.1.20", None), None);
    let ns1 = h1.fabric.vpc_netns(vpc_id);
    let routes =
        cmd::check("ip", &["-n", &ns1, "route", "show", "dev", "overlay"], T).expect("routes");
    assert_eq!(routes.trim(), "10.0.2.30 scope link", "{routes}");

    // Removing the VPC removes the tunnel; nothing is left in the host namespace.
    h1.fabric.remove_vpc(vpc_id).expect("remove");
    assert!(overlay(&ns1).is_none());
    let links = common::links(&h1.host_ns);
    assert!(!links.contains("kx"), "{links}");
    drop((v1, v2, o1, o2));
}
