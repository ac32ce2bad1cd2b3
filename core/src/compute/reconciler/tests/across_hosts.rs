//! A VPC across two hosts with fabrics of their own: each fabric's routing policy lists the
//! VPC's ENIs on the other host (`remote_enis`) with that host's underlay address, never its
//! own, and follows launches and terminations on the other host within a second.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kumo_driver_api::{RemoteEni, RoutingPolicy};

use super::{ACCT, FakeFabric, FakeHv, run, setup};
use crate::compute::reconciler::{Compute, ComputeConfig};
use crate::ec2::Ec2;

const VPC: &str = "vpc-00000000000000001";
const U1: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
const U2: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);

struct Site {
    ec2: Ec2,
    hosts: [(Compute, Arc<FakeFabric>); 2],
}

/// Host `host-1` (primary, underlay U1) and `h2` (underlay U2), each with its own fake fabric.
fn two_hosts(u1: Option<Ipv4Addr>, u2: Option<Ipv4Addr>) -> Site {
    let (ec2, hv, blocks, _) = setup(false);
    let hv2 = Arc::new(FakeHv::default());
    let host = |id: &str, hv: &Arc<FakeHv>, primary, underlay| {
        let fabric = Arc::new(FakeFabric::new(hv.clone()));
        let compute = Compute::new(
            ec2.clone(),
            hv.clone(),
            blocks.clone(),
            ComputeConfig {
                host_id: id.into(),
                primary,
                underlay,
                stop_timeout: Duration::from_millis(0),
                max_vcpus_per_account: 6,
                interval: Duration::from_secs(30),
                ..ComputeConfig::default()
            },
        )
        .expect("host")
        .with_network(fabric.clone());
        (compute, fabric)
    };
    let hosts = [host("host-1", &hv, true, u1), host("h2", &hv2, false, u2)];
    Site { ec2, hosts }
}

fn policy(f: &FakeFabric) -> Option<RoutingPolicy> {
    f.routing.lock().expect("lock").get(VPC).cloned()
}

fn remote_ids(f: &FakeFabric) -> Vec<String> {
    policy(f)
        .map(|p| p.remote_enis.into_iter().map(|e| e.eni_id).collect())
        .unwrap_or_default()
}

/// The remote ENI entry the other hosts must get for instance `id`, placed on host `at`.
fn entry(ec2: &Ec2, id: &str, at: Ipv4Addr) -> RemoteEni {
    let i = ec2.instance(ACCT, id).expect("instance");
    let eni = ec2
        .store()
        .get::<crate::ec2::network_interface::NetworkInterface>(ACCT, &i.network_interfaces[0])
        .expect("store")
        .expect("eni");
    RemoteEni {
        eni_id: eni.id,
        subnet_id: eni.subnet_id,
        ip: eni.private_ip.parse().expect("ip"),
        host: at,
        dns_names: Vec::new(),
    }
}

fn wait_until(what: &str, f: impl Fn() -> bool) -> Duration {
    let started = Instant::now();
    while !f() {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{what}: not within a second"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    started.elapsed()
}

#[test]
fn each_fabric_lists_the_other_hosts_enis_and_follows_launches_and_terminations() {
    let Site { ec2, hosts } = two_hosts(Some(U1), Some(U2));
    let [(c1, f1), (c2, f2)] = &hosts;
    // The scheduler spreads: one instance per host.
    let ids = run(&ec2, 2).expect("run");
    let host_of = |id: &str| ec2.instance(ACCT, id).expect("i").host;
    let (i1, i2) = if host_of(&ids[0]) == "host-1" {
        (ids[0].clone(), ids[1].clone())
    } else {
        (ids[1].clone(), ids[0].clone())
    };
    assert_eq!(
        (host_of(&i1).as_str(), host_of(&i2).as_str()),
        ("host-1", "h2")
    );
    c1.reconcile_once();
    c2.reconcile_once();
    c1.reconcile_routing();
    c2.reconcile_routing();
    let (e1, e2) = (entry(&ec2, &i1, U1), entry(&ec2, &i2, U2));
    assert_eq!(policy(f1).expect("f1 policy").remote_enis, vec![e2.clone()]);
    assert_eq!(policy(f2).expect("f2 policy").remote_enis, vec![e1.clone()]);
    // The rest of the policy is the VPC's whole, the same on both.
    let strip = |mut p: RoutingPolicy| {
        p.remote_enis.clear();
        p
    };
    assert_eq!(
        strip(policy(f1).expect("p1")),
        strip(policy(f2).expect("p2"))
    );

    // With the loops running, a launch on one host and terminations reach the other's fabric
    // within a second.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    {
        let _guard = rt.enter();
        let _l1 = c1.spawn_reconciler();
        let _l2 = c2.spawn_reconciler();
    }
    std::thread::sleep(Duration::from_millis(300));
    let i3 = run(&ec2, 1).expect("run")[0].clone();
    let (on, other, at) = if host_of(&i3) == "host-1" {
        (f1, f2, U1)
    } else {
        (f2, f1, U2)
    };
    let e3 = entry(&ec2, &i3, at);
    let took = wait_until("a launch on the other host", || {
        policy(other).is_some_and(|p| p.remote_enis.contains(&e3))
    });
    eprintln!("a launch reached the other host's fabric after {took:?}");
    assert!(!remote_ids(on).contains(&e3.eni_id), "never its own ENI");

    ec2.terminate_instances(ACCT, &[i2.clone(), i3.clone()])
        .expect("terminate");
    let took = wait_until("terminations", || {
        let r1 = remote_ids(f1);
        let r2 = remote_ids(f2);
        !r1.contains(&e2.eni_id) && !r1.contains(&e3.eni_id) && !r2.contains(&e3.eni_id)
    });
    eprintln!("terminations reached the other host's fabric after {took:?}");
    assert_eq!(remote_ids(f2), vec![e1.eni_id.clone()]);
    assert!(remote_ids(f1).is_empty());
    c1.shutdown();
    c2.shutdown();
}

#[test]
fn hosts_sharing_a_fabric_or_without_underlay_get_no_tunnel() {
    // Both without an underlay: one shared fabric (today's single host), nothing remote.
    let Site { ec2, hosts } = two_hosts(None, None);
    let [(_, f1), (_, f2)] = &hosts;
    run(&ec2, 2).expect("run");
    for (c, _) in &hosts {
        c.reconcile_once();
        c.reconcile_routing();
    }
    assert!(remote_ids(f1).is_empty() && remote_ids(f2).is_empty());

    // Only the second host has an underlay: the fabrics differ, but no tunnel reaches across;
    // the ENIs are left out (and logged), never routed to a wrong host.
    let Site { ec2, hosts } = two_hosts(None, Some(U2));
    let [(_, f1), (_, f2)] = &hosts;
    run(&ec2, 2).expect("run");
    for (c, _) in &hosts {
        c.reconcile_once();
        c.reconcile_routing();
    }
    assert!(remote_ids(f1).is_empty() && remote_ids(f2).is_empty());
    let fabrics = super::super::remote::Fabrics::of(&ec2).expect("fabrics");
    let r = super::super::remote::remote_enis(&ec2, ACCT, VPC, Some(U2), &fabrics).expect("remote");
    assert!(r.enis.is_empty());
    assert_eq!(r.unreachable.len(), 1, "{r:?}");
}

#[test]
fn load_balancer_nodes_live_on_the_primary_hosts_fabric() {
    let Site { ec2, hosts } = two_hosts(Some(U1), Some(U2));
    let [(c1, f1), (c2, f2)] = &hosts;
    // The fixture's VPC record lists no blocks; give it its primary one so a subnet fits.
    ec2.store()
        .transaction(|t| {
            let mut v = t.get::<crate::ec2::vpc::Vpc>(ACCT, VPC).expect("vpc");
            v.cidr_associations = vec![crate::ec2::vpc::CidrAssociation {
                association_id: "vpc-cidr-assoc-1".into(),
                cidr_block: v.cidr_block.clone(),
                state: "associated".into(),
            }];
            t.put(ACCT, v);
            Ok(())
        })
        .expect("vpc blocks");
    let second = ec2
        .create_subnet(ACCT, VPC, "10.0.9.0/24", Some("us-east-1b"), None, vec![])
        .expect("subnet");
    let lb = crate::elbv2::Elbv2::new(ec2.clone())
        .create_load_balancer(
            ACCT,
            crate::elbv2::load_balancer::CreateLoadBalancer {
                name: "web".into(),
                scheme: Some("internal".into()),
                subnets: vec!["subnet-00000000000000001".into(), second.id],
                ..Default::default()
            },
        )
        .expect("lb");
    let nodes: Vec<String> = lb
        .subnets
        .iter()
        .filter_map(|s| s.network_interface_id.clone())
        .collect();
    assert_eq!(nodes.len(), 2);
    // An instance on each host puts the VPC on both fabrics.
    run(&ec2, 2).expect("run");
    for c in [c1, c2] {
        c.reconcile_once();
        c.reconcile_routing();
    }
    let p2 = policy(f2).expect("f2 policy");
    for n in &nodes {
        let e = p2
            .remote_enis
            .iter()
            .find(|e| &e.eni_id == n)
            .expect("node listed on the secondary host");
        assert_eq!(e.host, U1);
        assert_eq!(e.dns_names, vec![lb.dns_name.to_ascii_lowercase()]);
    }
    assert!(
        remote_ids(f1).iter().all(|id| !nodes.contains(id)),
        "the primary holds the nodes itself"
    );
}

#[test]
fn a_registered_host_not_driven_now_is_known_by_its_record() {
    use crate::compute::hosts::{HostFabric, LocalHost, NewHost};
    use crate::ec2::instance::Instance;

    let Site { ec2, hosts } = two_hosts(Some(U1), Some(U2));
    let [(c1, f1), _] = &hosts;
    let u3 = Ipv4Addr::new(10, 99, 0, 3);
    ec2.add_host(
        &NewHost {
            name: "h3",
            uri: "qemu:///h3",
            zone: "us-east-1a",
            fabric: Some(&HostFabric {
                netns: "ns3".into(),
                underlay: u3,
            }),
        },
        &LocalHost {
            name: "host-1",
            underlay: Some(U1),
        },
    )
    .expect("h3");
    let ids = run(&ec2, 2).expect("run");
    c1.reconcile_once();
    // Move the instance that is not on host-1 to h3 (unreachable at start-up, say: recorded,
    // not in the registry).
    let moved = ids
        .iter()
        .find(|i| ec2.instance(ACCT, i).expect("i").host != "host-1")
        .expect("one elsewhere")
        .clone();
    ec2.store()
        .transaction(|t| {
            let mut i = t.get::<Instance>(ACCT, &moved).expect("instance");
            i.host = "h3".into();
            t.put(ACCT, i);
            Ok(())
        })
        .expect("move");
    c1.reconcile_routing();
    assert_eq!(
        policy(f1).expect("policy").remote_enis,
        vec![entry(&ec2, &moved, u3)]
    );
}
