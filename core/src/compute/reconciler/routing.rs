//! The reconciler's routing side: each VPC's route tables and public side, resolved from the
//! records into the fabric's [`RoutingPolicy`] and applied whole — the same pattern, for the
//! same reasons, as [`super::security`] (recompute from committed records after any change, in
//! a loop of its own woken by the store, so that `AssociateAddress` or `CreateRoute` reaches
//! the kernel within one pass plus a few tool runs).
//!
//! Resolution, as AWS reports route states: a route to an internet gateway is live only while
//! that gateway is attached to the route's VPC; to a NAT gateway only while it is not deleted,
//! is public with an elastic IP and the VPC has an internet gateway (a NAT gateway's traffic
//! leaves through it); to an interface or instance only while it exists in the VPC (an
//! instance by its primary interface); everything else is a blackhole. `pending` NAT gateways
//! already forward: the data plane is ready at once, the state is what the API reports. A NAT
//! gateway then forwards by its own subnet's table: only destinations that table sends to the
//! internet gateway get through (one in a private subnet forwards nothing).
//!
//! Public addresses (1:1 NAT) are listed only when the VPC has an internet gateway, for ENIs
//! whose subnet routes somewhere through it — a *public subnet*, AWS's term; an elastic IP
//! associated with an interface wins over the public IP it got at launch (AWS releases the
//! latter). Only primary private addresses are mapped (the fabric routes one per ENI).
//! ENIs with the source/destination check disabled are listed, so that an instance acting as
//! a router (a route's target) may forward traffic that is not its own.
//!
//! Across hosts: the policy a host's fabric gets also lists the VPC's ENIs plugged on other
//! hosts' fabrics (`remote_enis`, see [`super::remote`]); the loop is woken by instance and ENI
//! commits from every host, so an instance placed, started or terminated on one host reaches
//! the other hosts' fabrics within a pass. Everything else in the policy (public mappings
//! included) is the VPC's whole; each fabric applies what concerns its own ENIs.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use kumo_driver_api::{
    Ipv4Cidr, NatGatewaySpec, PublicMapping, RouteSpec, RouteTarget as Target, RoutingPolicy,
};

use super::network::cidr4;
use super::remote::{Fabrics, remote_enis};
use super::{Compute, WorldError};
use crate::compute::hosts::HostRecord;
use crate::ec2::address::Address;
use crate::ec2::instance::{Instance, InstanceState};
use crate::ec2::internet_gateway::InternetGateway;
use crate::ec2::model::Record;
use crate::ec2::nat_gateway::NatGateway;
use crate::ec2::network_interface::NetworkInterface;
use crate::ec2::route_table::{RouteTable, RouteTarget};
use crate::ec2::store::ResourceStore;
use crate::ec2::subnet::Subnet;
use crate::ec2::vpc::Vpc;
use crate::elbv2::load_balancer::LoadBalancer;

/// The record kinds whose changes can change a VPC's routing (hosts: where ENIs are).
pub(super) const WATCHED: [&str; 10] = [
    RouteTable::KIND,
    InternetGateway::KIND,
    NatGateway::KIND,
    Address::KIND,
    NetworkInterface::KIND,
    Instance::KIND,
    Subnet::KIND,
    Vpc::KIND,
    HostRecord::KIND,
    LoadBalancer::KIND,
];

/// The routing of one VPC from the records.
pub(super) fn vpc_routing(
    store: &ResourceStore,
    account: &str,
    vpc_id: &str,
) -> Result<RoutingPolicy, WorldError> {
    let igw = store
        .list::<InternetGateway>(account)?
        .into_iter()
        .find(|g| g.attached_to(vpc_id))
        .map(|g| g.id);
    let enis: BTreeMap<String, NetworkInterface> = store
        .list::<NetworkInterface>(account)?
        .into_iter()
        .filter(|e| e.vpc_id == vpc_id)
        .map(|e| (e.id.clone(), e))
        .collect();
    let mut policy = RoutingPolicy {
        internet_gateway: igw.is_some(),
        unchecked_enis: enis
            .values()
            .filter(|e| !e.source_dest_check)
            .map(|e| e.id.clone())
            .collect(),
        ..RoutingPolicy::default()
    };
    if igw.is_some() {
        for n in store.list::<NatGateway>(account)? {
            let usable = n.vpc_id == vpc_id
                && n.connectivity_type == "public"
                && matches!(n.state.as_str(), "pending" | "available");
            let public = n.public_ip.as_deref().and_then(|p| p.parse().ok());
            if let (true, Some(public_ip), Ok(private_ip)) = (usable, public, n.private_ip.parse())
            {
                policy.nat_gateways.insert(
                    n.id.clone(),
                    NatGatewaySpec {
                        subnet_id: n.subnet_id.clone(),
                        private_ip,
                        public_ip,
                    },
                );
            }
        }
    }
    let resolve = |target: &RouteTarget| -> Target {
        match target {
            RouteTarget::Local => Target::Local,
            RouteTarget::Gateway(id) if igw.as_deref() == Some(id.as_str()) => {
                Target::InternetGateway
            }
            RouteTarget::NatGateway(id) if policy.nat_gateways.contains_key(id) => {
                Target::NatGateway(id.clone())
            }
            RouteTarget::NetworkInterface(id) if enis.contains_key(id) => {
                Target::NetworkInterface(id.clone())
            }
            RouteTarget::Instance(id) => store
                .get::<Instance>(account, id)
                .ok()
                .flatten()
                .filter(|i| !matches!(i.state, InstanceState::Terminated))
                .and_then(|i| i.network_interfaces.first().cloned())
                .filter(|e| enis.contains_key(e))
                .map_or(Target::Blackhole, Target::NetworkInterface),
            _ => Target::Blackhole,
        }
    };
    let tables: Vec<RouteTable> = store
        .list::<RouteTable>(account)?
        .into_iter()
        .filter(|t| t.vpc_id == vpc_id)
        .collect();
    let main = tables.iter().find(|t| t.is_main());
    let mut public_subnets: BTreeSet<String> = BTreeSet::new();
    for s in store.list::<Subnet>(account)? {
        if s.vpc_id != vpc_id {
            continue;
        }
        // Every subnet uses one table: its explicit association's, else the main one.
        let Some(table) = tables
            .iter()
            .find(|t| {
                t.associations
                    .iter()
                    .any(|a| a.subnet_id.as_deref() == Some(s.id.as_str()))
            })
            .or(main)
        else {
            continue;
        };
        let routes: Vec<RouteSpec> = table
            .routes
            .iter()
            .filter_map(|r| {
                Some(RouteSpec {
                    destination: cidr4(&r.destination_cidr_block)?,
                    target: resolve(&r.target),
                })
            })
            .collect();
        if routes.iter().any(|r| r.target == Target::InternetGateway) {
            public_subnets.insert(s.id.clone());
        }
        policy.subnets.insert(s.id.clone(), routes);
    }
    nat_follows_its_subnet(&mut policy);
    if igw.is_some() {
        let addresses = store.list::<Address>(account)?;
        let mut elastic: BTreeMap<&str, Ipv4Addr> = BTreeMap::new();
        for a in &addresses {
            if let (Some(eni), Ok(ip)) = (
                a.association
                    .as_ref()
                    .and_then(|x| x.network_interface_id.as_deref()),
                a.public_ip.parse::<Ipv4Addr>(),
            ) {
                elastic.insert(eni, ip);
            }
        }
        for (id, e) in &enis {
            if !public_subnets.contains(&e.subnet_id) {
                continue;
            }
            let public = elastic
                .get(id.as_str())
                .copied()
                .or_else(|| e.public_ip.as_deref().and_then(|p| p.parse().ok()));
            if let (Some(public_ip), Ok(private_ip)) = (public, e.private_ip.parse()) {
                policy.public_ips.push(PublicMapping {
                    public_ip,
                    private_ip,
                });
            }
        }
        policy.public_ips.sort();
    }
    Ok(policy)
}

/// A NAT gateway forwards by its own subnet's route table: traffic routed to it for a
/// destination reaches the internet only if that table's most specific route covering the
/// destination goes to the internet gateway (a NAT gateway in a private subnet reaches
/// nothing); other such routes become blackholes.
fn nat_follows_its_subnet(policy: &mut RoutingPolicy) {
    let onward = |nat: &str, dst: &Ipv4Cidr| -> bool {
        let Some(table) = policy
            .nat_gateways
            .get(nat)
            .and_then(|n| policy.subnets.get(&n.subnet_id))
        else {
            return false;
        };
        table
            .iter()
            .filter(|r| {
                r.destination.prefix_len <= dst.prefix_len && r.destination.contains(dst.addr)
            })
            .max_by_key(|r| r.destination.prefix_len)
            .is_some_and(|r| r.target == Target::InternetGateway)
    };
    let dead: Vec<(String, usize)> = policy
        .subnets
        .iter()
        .flat_map(|(s, routes)| {
            routes
                .iter()
                .enumerate()
                .filter_map(move |(i, r)| match &r.target {
                    Target::NatGateway(nat) if !onward(nat, &r.destination) => Some((s.clone(), i)),
                    _ => None,
                })
        })
        .collect();
    for (s, i) in dead {
        if let Some(r) = policy.subnets.get_mut(&s).and_then(|t| t.get_mut(i)) {
            r.target = Target::Blackhole;
        }
    }
}

impl Compute {
    /// Applies the routing of every VPC this host's fabric has (a no-op without a fabric).
    /// Failures are per VPC. ENIs on other hosts' fabrics that this one cannot reach (no
    /// underlay on one side) are logged once per pass.
    pub fn reconcile_routing(&self) {
        // The hosts are the same for every VPC of the pass.
        let fabrics = match Fabrics::of(&self.ec2) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(error = %e, "routing pass: the hosts could not be read");
                return;
            }
        };
        let unreachable = std::sync::Mutex::new(Vec::new());
        self.for_each_fabric_vpc("routing", |account, vpc_id| {
            let lost = self.apply_routing_of(account, vpc_id, &fabrics)?;
            if let Ok(mut u) = unreachable.lock() {
                u.extend(lost);
            }
            Ok(())
        });
        let unreachable = unreachable.into_inner().unwrap_or_default();
        if !unreachable.is_empty() {
            tracing::warn!(
                host = %self.config.host_id,
                underlay = ?self.config.underlay,
                enis = %unreachable.join(","),
                "ENIs on other hosts' network fabrics are unreachable from this host's: a tunnel needs an underlay address on both ([network] underlay_address, kumo host add --underlay)"
            );
        }
    }

    /// Computes and applies one VPC's routing.
    pub(super) fn apply_routing(&self, account: &str, vpc_id: &str) -> Result<(), WorldError> {
        self.apply_routing_of(account, vpc_id, &Fabrics::of(&self.ec2)?)
            .map(drop)
    }

    /// Computes and applies one VPC's routing; returns the ENIs on other fabrics left out
    /// because no tunnel reaches them.
    fn apply_routing_of(
        &self,
        account: &str,
        vpc_id: &str,
        fabrics: &Fabrics,
    ) -> Result<Vec<String>, WorldError> {
        let Some(fabric) = &self.network else {
            return Ok(Vec::new());
        };
        let mut policy = vpc_routing(self.ec2.store(), account, vpc_id)?;
        let remote = remote_enis(&self.ec2, account, vpc_id, self.config.underlay, fabrics)?;
        policy.remote_enis = remote.enis;
        fabric.apply_routing(vpc_id, &policy)?;
        Ok(remote.unreachable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ec2::address::AssociateAddress;
    use crate::ec2::network_interface::new_attached;

    const A: &str = "111111111111";

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().expect("ip")
    }

    fn route(d: &str, target: Target) -> RouteSpec {
        RouteSpec {
            destination: d.parse().expect("cidr"),
            target,
        }
    }

    fn map(public: &str, private: &str) -> PublicMapping {
        PublicMapping {
            public_ip: ip(public),
            private_ip: ip(private),
        }
    }

    #[test]
    fn routes_public_addresses_and_nat_gateways_from_the_records() {
        let ec2 = crate::ec2::testing::ec2();
        let store = ec2.store();
        let vpc = ec2
            .create_vpc(A, "10.0.0.0/16", None, false, vec![])
            .expect("vpc");
        let public = ec2
            .create_subnet(A, &vpc.id, "10.0.1.0/24", None, None, vec![])
            .expect("subnet");
        let private = ec2
            .create_subnet(A, &vpc.id, "10.0.2.0/24", None, None, vec![])
            .expect("subnet");
        let eni = |subnet, addr: &str, public_ip: Option<&str>| {
            let mut e = new_attached(subnet, "us-east-1", addr.into(), vec![], "i-1", 0, 0);
            e.public_ip = public_ip.map(str::to_owned);
            store
                .transaction(|t| {
                    t.put(A, e.clone());
                    Ok(())
                })
                .expect("eni");
            e.id
        };
        let web1 = eni(&public, "10.0.1.10", None);
        let web2 = eni(&public, "10.0.1.11", Some("198.51.100.77"));
        store
            .transaction(|t| {
                let mut e = t.get::<NetworkInterface>(A, &web1).expect("eni");
                e.source_dest_check = false;
                t.put(A, e);
                Ok(())
            })
            .expect("unchecked");
        let _app = eni(&private, "10.0.2.10", Some("198.51.100.78"));

        // No internet gateway: only local routes, no public side.
        let p = vpc_routing(store, A, &vpc.id).expect("policy");
        assert!(!p.internet_gateway);
        assert_eq!(
            p.subnets[&public.id],
            vec![route("10.0.0.0/16", Target::Local)]
        );
        assert!(p.public_ips.is_empty() && p.nat_gateways.is_empty());
        assert_eq!(p.unchecked_enis, BTreeSet::from([web1.clone()]));

        let igw = ec2.create_internet_gateway(A, vec![]).expect("igw");
        ec2.attach_internet_gateway(A, &igw.id, &vpc.id)
            .expect("attach");
        let rt = ec2.create_route_table(A, &vpc.id, vec![]).expect("rtb");
        ec2.create_route(A, &rt.id, "0.0.0.0/0", RouteTarget::Gateway(igw.id.clone()))
            .expect("route");
        ec2.create_route(
            A,
            &rt.id,
            "192.0.2.0/24",
            RouteTarget::NetworkInterface(web1.clone()),
        )
        .expect("route");
        ec2.associate_route_table(A, &rt.id, Some(&public.id), None)
            .expect("associate");
        let eip = ec2.allocate_address(A, None, vec![]).expect("eip");
        ec2.associate_address(
            A,
            &AssociateAddress {
                allocation_id: Some(&eip.id),
                network_interface_id: Some(&web1),
                ..AssociateAddress::default()
            },
        )
        .expect("associate address");
        let nat_eip = ec2.allocate_address(A, None, vec![]).expect("eip");
        let nat = ec2
            .create_nat_gateway(A, &public.id, Some(&nat_eip.id), None, None, vec![])
            .expect("nat");
        ec2.create_route(
            A,
            &vpc.main_route_table_id,
            "0.0.0.0/0",
            RouteTarget::NatGateway(nat.id.clone()),
        )
        .expect("route");

        let p = vpc_routing(store, A, &vpc.id).expect("policy");
        assert!(p.internet_gateway);
        assert_eq!(
            p.subnets[&public.id],
            vec![
                route("10.0.0.0/16", Target::Local),
                route("0.0.0.0/0", Target::InternetGateway),
                route("192.0.2.0/24", Target::NetworkInterface(web1.clone())),
            ]
        );
        // The private subnet uses the main table: out through the NAT gateway.
        assert_eq!(
            p.subnets[&private.id],
            vec![
                route("10.0.0.0/16", Target::Local),
                route("0.0.0.0/0", Target::NatGateway(nat.id.clone())),
            ]
        );
        assert_eq!(
            p.nat_gateways[&nat.id],
            NatGatewaySpec {
                subnet_id: public.id.clone(),
                private_ip: ip(&nat.private_ip),
                public_ip: ip(&nat_eip.public_ip),
            }
        );
        // Mapped: the EIP and the launch-time public IP of the public subnet's ENIs; the
        // private subnet's ENI is not reachable from outside, whatever its record says.
        let mut want = vec![
            map(&eip.public_ip, "10.0.1.10"),
            map("198.51.100.77", "10.0.1.11"),
        ];
        want.sort();
        assert_eq!(p.public_ips, want);

        // Re-association moves the EIP; it wins over web2's launch-time address.
        ec2.associate_address(
            A,
            &AssociateAddress {
                allocation_id: Some(&eip.id),
                network_interface_id: Some(&web2),
                allow_reassociation: true,
                ..AssociateAddress::default()
            },
        )
        .expect("re-associate");
        let p = vpc_routing(store, A, &vpc.id).expect("policy");
        assert_eq!(p.public_ips, vec![map(&eip.public_ip, "10.0.1.11")]);

        // A NAT gateway in the private subnet forwards by that subnet's table, whose way out
        // is another NAT gateway, not the internet gateway: nothing gets through it.
        let inner_eip = ec2.allocate_address(A, None, vec![]).expect("eip");
        let inner = ec2
            .create_nat_gateway(A, &private.id, Some(&inner_eip.id), None, None, vec![])
            .expect("nat");
        ec2.create_route(
            A,
            &rt.id,
            "203.0.113.0/24",
            RouteTarget::NatGateway(inner.id.clone()),
        )
        .expect("route");
        let p = vpc_routing(store, A, &vpc.id).expect("policy");
        assert_eq!(
            p.subnets[&public.id][3],
            route("203.0.113.0/24", Target::Blackhole)
        );
        assert_eq!(
            p.subnets[&private.id][1].target,
            Target::NatGateway(nat.id.clone())
        );
        ec2.delete_route(A, &rt.id, "203.0.113.0/24")
            .expect("delete route");

        // A deleted NAT gateway and a detached internet gateway leave blackholes.
        ec2.delete_nat_gateway(A, &nat.id).expect("delete nat");
        let p = vpc_routing(store, A, &vpc.id).expect("policy");
        assert_eq!(p.subnets[&private.id][1].target, Target::Blackhole);
        ec2.detach_internet_gateway(A, &igw.id, &vpc.id)
            .expect("detach");
        let p = vpc_routing(store, A, &vpc.id).expect("policy");
        assert!(!p.internet_gateway);
        assert_eq!(p.subnets[&public.id][1].target, Target::Blackhole);
        assert!(p.public_ips.is_empty() && p.nat_gateways.is_empty());
    }
}
