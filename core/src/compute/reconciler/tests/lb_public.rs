//! Internet-facing load balancers' public addresses: booked with the nodes, shown as AWS shows
//! them, mapped 1:1 by the routing policy like any interface's public IP (only in subnets
//! routing to an attached internet gateway), and given back when the load balancer goes; and
//! a network load balancer without security groups open to every client.

use std::net::Ipv4Addr;

use kumo_driver_api::{Peer, PublicMapping};

use crate::Error;
use crate::ec2::Ec2;
use crate::ec2::address::{AssociateAddress, GLOBAL, PublicIpPool};
use crate::ec2::network_interface::NetworkInterface;
use crate::ec2::route_table::RouteTarget;
use crate::elbv2::Elbv2;
use crate::elbv2::load_balancer::{CreateLoadBalancer, LoadBalancer, SubnetMapping};
use crate::elbv2::nodes::REQUESTER_ID;

use super::super::routing::vpc_routing;
use super::super::security::{OPEN_NODE_GROUP, vpc_policy};

const A: &str = "111111111111";

fn code(e: Error) -> &'static str {
    match e {
        Error::Fault(f) => f.code,
        other => panic!("not a fault: {other}"),
    }
}

/// Every address the shared public pool has handed out.
fn pool(ec2: &Ec2) -> Vec<Ipv4Addr> {
    ec2.store()
        .list::<PublicIpPool>(GLOBAL)
        .expect("pool")
        .into_iter()
        .flat_map(|p| p.allocated.into_keys())
        .collect()
}

fn nodes(ec2: &Ec2, lb: &LoadBalancer) -> Vec<NetworkInterface> {
    lb.subnets
        .iter()
        .map(|s| {
            let id = s.network_interface_id.as_deref().expect("node eni");
            ec2.store()
                .get::<NetworkInterface>(A, id)
                .expect("read")
                .expect("node")
        })
        .collect()
}

struct World {
    ec2: Ec2,
    elb: Elbv2,
    vpc: String,
    /// Routes 0.0.0.0/0 to the internet gateway.
    public: String,
    /// The main table: local only.
    private: String,
}

fn world() -> World {
    let ec2 = crate::ec2::testing::ec2();
    let vpc = ec2
        .create_vpc(A, "10.0.0.0/16", None, false, vec![])
        .expect("vpc");
    let public = ec2
        .create_subnet(A, &vpc.id, "10.0.1.0/24", Some("us-east-1a"), None, vec![])
        .expect("subnet");
    let private = ec2
        .create_subnet(A, &vpc.id, "10.0.2.0/24", Some("us-east-1b"), None, vec![])
        .expect("subnet");
    let igw = ec2.create_internet_gateway(A, vec![]).expect("igw");
    ec2.attach_internet_gateway(A, &igw.id, &vpc.id)
        .expect("attach");
    let rt = ec2.create_route_table(A, &vpc.id, vec![]).expect("rtb");
    ec2.create_route(A, &rt.id, "0.0.0.0/0", RouteTarget::Gateway(igw.id))
        .expect("route");
    ec2.associate_route_table(A, &rt.id, Some(&public.id), None)
        .expect("associate");
    World {
        elb: Elbv2::new(ec2.clone()),
        ec2,
        vpc: vpc.id,
        public: public.id,
        private: private.id,
    }
}

fn create(
    w: &World,
    name: &str,
    lb_type: &str,
    scheme: &str,
    mappings: Vec<SubnetMapping>,
) -> Result<LoadBalancer, Error> {
    w.elb.create_load_balancer(
        A,
        CreateLoadBalancer {
            name: name.into(),
            lb_type: Some(lb_type.into()),
            scheme: Some(scheme.into()),
            subnet_mappings: mappings,
            ..Default::default()
        },
    )
}

fn mapping(subnet: &str, allocation: Option<&str>) -> SubnetMapping {
    SubnetMapping {
        subnet_id: subnet.into(),
        allocation_id: allocation.map(str::to_owned),
        ..SubnetMapping::default()
    }
}

#[test]
fn internet_facing_nodes_get_public_addresses_mapped_and_released() {
    let w = world();
    let both = vec![mapping(&w.public, None), mapping(&w.private, None)];

    let lb = create(&w, "web", "application", "internet-facing", both.clone()).expect("alb");
    let web = nodes(&w.ec2, &lb);
    let publics: Vec<Ipv4Addr> = web
        .iter()
        .map(|e| {
            e.public_ip
                .as_deref()
                .expect("public ip")
                .parse()
                .expect("ip")
        })
        .collect();
    assert!(
        web.iter()
            .all(|e| e.requester_id.as_deref() == Some(REQUESTER_ID))
    );
    let mut booked = pool(&w.ec2);
    booked.sort();
    let mut want = publics.clone();
    want.sort();
    assert_eq!(
        booked, want,
        "each node's address is booked in the shared pool"
    );

    // Internal: private addresses only.
    let internal = create(&w, "inside", "application", "internal", both).expect("internal");
    assert!(
        nodes(&w.ec2, &internal)
            .iter()
            .all(|e| e.public_ip.is_none())
    );
    assert_eq!(pool(&w.ec2).len(), 2);

    // DescribeNetworkInterfaces' association: the pool address, owned by amazon-elb.
    let views = w.ec2.public_ips_of_enis(A, &web).expect("views");
    assert_eq!(views.len(), 2);
    assert!(
        views
            .iter()
            .all(|v| v.ip_owner_id == REQUESTER_ID && v.allocation_id.is_none())
    );

    // Routing maps only the node in the subnet that routes to the internet gateway.
    let p = vpc_routing(w.ec2.store(), A, &w.vpc).expect("policy");
    let node_public = web.iter().find(|e| e.subnet_id == w.public).expect("node");
    assert_eq!(
        p.public_ips,
        vec![PublicMapping {
            public_ip: node_public
                .public_ip
                .as_deref()
                .expect("ip")
                .parse()
                .expect("ip"),
            private_ip: node_public.private_ip.parse().expect("ip"),
        }]
    );

    // A node's address is not the caller's to take: EIPs cannot be pointed at a node.
    let eip = w.ec2.allocate_address(A, None, vec![]).expect("eip");
    assert!(
        !publics.contains(&eip.public_ip.parse().expect("ip")),
        "no double assignment"
    );
    let err = w
        .ec2
        .associate_address(
            A,
            &AssociateAddress {
                allocation_id: Some(&eip.id),
                network_interface_id: Some(&node_public.id),
                ..AssociateAddress::default()
            },
        )
        .expect_err("managed interface");
    assert_eq!(code(err), "AuthFailure");

    // Deleting returns the addresses to the pool.
    w.elb.delete_load_balancer(A, &lb.id).expect("delete");
    w.elb.delete_load_balancer(A, &internal.id).expect("delete");
    assert_eq!(
        pool(&w.ec2),
        vec![eip.public_ip.parse::<Ipv4Addr>().expect("ip")]
    );
    let p = vpc_routing(w.ec2.store(), A, &w.vpc).expect("policy");
    assert!(p.public_ips.is_empty());
}

#[test]
fn network_load_balancer_nodes_take_the_mapped_elastic_ips() {
    let w = world();
    let eip = w.ec2.allocate_address(A, None, vec![]).expect("eip");

    // Elastic IPs: internet-facing network load balancers only; the account's; free.
    let err = create(
        &w,
        "a",
        "application",
        "internet-facing",
        vec![mapping(&w.public, Some(&eip.id)), mapping(&w.private, None)],
    )
    .expect_err("alb");
    assert_eq!(code(err), "InvalidConfigurationRequest");
    let err = create(
        &w,
        "n",
        "network",
        "internal",
        vec![mapping(&w.public, Some(&eip.id))],
    )
    .expect_err("internal");
    assert_eq!(code(err), "InvalidConfigurationRequest");
    let err = create(
        &w,
        "n",
        "network",
        "internet-facing",
        vec![mapping(&w.public, Some("eipalloc-0123456789abcdef0"))],
    )
    .expect_err("unknown");
    assert_eq!(code(err), "AllocationIdNotFound");

    let nlb = create(
        &w,
        "n",
        "network",
        "internet-facing",
        vec![mapping(&w.public, Some(&eip.id)), mapping(&w.private, None)],
    )
    .expect("nlb");
    let zone = nlb
        .subnets
        .iter()
        .find(|s| s.subnet_id == w.public)
        .expect("zone");
    assert_eq!(zone.elastic_ip.as_deref(), Some(eip.public_ip.as_str()));
    let node = nodes(&w.ec2, &nlb)
        .into_iter()
        .find(|e| e.subnet_id == w.public)
        .expect("node");
    assert_eq!(node.public_ip, None, "the Elastic IP, not a pool address");
    let held = &w
        .ec2
        .describe_addresses(A, std::slice::from_ref(&eip.id), &[], &[])
        .expect("eip")[0];
    let assoc = held.association.as_ref().expect("associated");
    assert_eq!(
        assoc.network_interface_id.as_deref(),
        Some(node.id.as_str())
    );
    let views = w
        .ec2
        .public_ips_of_enis(A, std::slice::from_ref(&node))
        .expect("views");
    assert_eq!(views[0].allocation_id.as_deref(), Some(eip.id.as_str()));
    assert_eq!(views[0].ip_owner_id, A);

    // Nobody else may take it, nor disassociate or release it while the node holds it.
    let err = create(
        &w,
        "m",
        "network",
        "internet-facing",
        vec![mapping(&w.public, Some(&eip.id))],
    )
    .expect_err("in use");
    assert_eq!(code(err), "InvalidConfigurationRequest");
    assert_eq!(
        code(
            w.ec2
                .disassociate_address(A, Some(&assoc.id), None)
                .expect_err("held")
        ),
        "AuthFailure"
    );
    assert_eq!(
        code(
            w.ec2
                .release_address(A, Some(&eip.id), None)
                .expect_err("held")
        ),
        "InvalidIPAddress.InUse"
    );

    let p = vpc_routing(w.ec2.store(), A, &w.vpc).expect("policy");
    assert_eq!(
        p.public_ips,
        vec![PublicMapping {
            public_ip: eip.public_ip.parse().expect("ip"),
            private_ip: node.private_ip.parse().expect("ip"),
        }]
    );

    // Deleting the load balancer frees the Elastic IP (still the account's) and the pool
    // address of its other node.
    w.elb.delete_load_balancer(A, &nlb.id).expect("delete");
    let after = &w
        .ec2
        .describe_addresses(A, std::slice::from_ref(&eip.id), &[], &[])
        .expect("eip")[0];
    assert!(after.association.is_none());
    assert_eq!(
        pool(&w.ec2),
        vec![eip.public_ip.parse::<Ipv4Addr>().expect("ip")]
    );
    w.ec2
        .release_address(A, Some(&eip.id), None)
        .expect("release");
    assert!(pool(&w.ec2).is_empty());
}

#[test]
fn network_load_balancers_without_groups_admit_every_client() {
    let w = world();
    let nlb = create(
        &w,
        "open",
        "network",
        "internet-facing",
        vec![mapping(&w.public, None)],
    )
    .expect("nlb");
    assert!(nlb.security_groups.is_empty());
    let alb = create(
        &w,
        "web",
        "application",
        "internet-facing",
        vec![mapping(&w.public, None), mapping(&w.private, None)],
    )
    .expect("alb");
    let p = vpc_policy(w.ec2.store(), A, &w.vpc).expect("policy");
    let node = &nodes(&w.ec2, &nlb)[0];
    assert_eq!(p.enis[&node.id], vec![OPEN_NODE_GROUP.to_owned()]);
    let open = &p.groups[OPEN_NODE_GROUP];
    assert_eq!(
        open.members,
        vec![node.private_ip.parse::<Ipv4Addr>().expect("ip")]
    );
    assert_eq!(open.ingress.len(), 1);
    assert_eq!(
        open.ingress[0].peer,
        Peer::Cidr("0.0.0.0/0".parse().expect("cidr"))
    );
    // An application load balancer's nodes keep their groups only.
    for e in nodes(&w.ec2, &alb) {
        assert_eq!(p.enis[&e.id], alb.security_groups);
    }
    w.elb.delete_load_balancer(A, &nlb.id).expect("delete");
    let p = vpc_policy(w.ec2.store(), A, &w.vpc).expect("policy");
    assert!(!p.groups.contains_key(OPEN_NODE_GROUP));
}
