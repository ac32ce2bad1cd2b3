//! A load balancer's nodes: one ENI per subnet, as AWS gives each load balancer an interface
//! in each of its subnets (`DescribeNetworkInterfaces` shows them with the description
//! `ELB app/<name>/<id>` and the load balancer's security groups).
//!
//! Why ENI records: the address is booked in the subnet's address book (no instance can get
//! it; `DeleteSubnet` and `DeleteSecurityGroup` see the dependency), and the security
//! reconciler puts the node into the VPC's policy like any interface — so a target's rule
//! naming the load balancer's group matches the node's address — with no special case. The
//! data-plane reconciler plugs the ENIs and runs the proxy behind them.
//!
//! Public addresses: a node of an `internet-facing` load balancer gets a public IPv4 address,
//! as AWS gives each node of such a load balancer one (`Association.IpOwnerId: amazon-elb` in
//! `DescribeNetworkInterfaces`): an Elastic IP when the subnet mapping names one
//! (`SubnetMappings[].AllocationId`, network load balancers), else an address from the public
//! pool taken exactly like an instance's launch-time public IP
//! ([`address::allocate_public_ip`], on the interface record). Both are booked in the same
//! transaction as the node, and [`network_interface::delete_eni`] gives them back (returns the
//! pool address, disassociates the Elastic IP), so a crash can neither leak nor double-assign
//! one. The routing reconciler then maps them 1:1 like any interface's public address — only
//! while the VPC has an internet gateway and the node's subnet routes to it. Internal load
//! balancers' nodes have private addresses only.
//!
//! [`sync`] runs inside every transaction that creates a load balancer or changes its subnets
//! or groups; [`release`] inside the deleting one.

use crate::Error;
use crate::ec2::address::{self, Address};
use crate::ec2::cidr::Cidr;
use crate::ec2::network_interface::{self, GroupRef, NetworkInterface};
use crate::ec2::security_group::SecurityGroup;
use crate::ec2::store::Txn;
use crate::ec2::subnet::Subnet;
use crate::ids;

use super::load_balancer::{LbSubnet, LoadBalancer};

/// The `RequesterId` of the nodes' interfaces and the `IpOwnerId` of their public addresses.
pub const REQUESTER_ID: &str = "amazon-elb";

/// `app/<name>/<id>` (or `net/…`): the ARN's resource part after `loadbalancer/`.
#[must_use]
pub fn short_name(lb: &LoadBalancer) -> String {
    lb.id
        .split_once(":loadbalancer/")
        .map(|(_, rest)| rest.to_owned())
        .unwrap_or_else(|| lb.name.clone())
}

/// The id the data plane names things by: the ARN's last part (hex).
#[must_use]
pub fn data_plane_id(lb: &LoadBalancer) -> String {
    lb.id.rsplit('/').next().unwrap_or_default().to_owned()
}

fn group_refs(t: &Txn<'_>, account: &str, lb: &LoadBalancer) -> Vec<GroupRef> {
    lb.security_groups
        .iter()
        .map(|id| GroupRef {
            id: id.clone(),
            name: t
                .get::<SecurityGroup>(account, id)
                .map(|g| g.name)
                .unwrap_or_default(),
        })
        .collect()
}

/// Gives every subnet of `lb` its node ENI (reusing those of `previous` subnets kept), deletes
/// the ENIs of subnets it left, and sets every node's groups to the load balancer's. Nodes of
/// an internet-facing load balancer get their public address: the mapping's Elastic IP, else
/// one from `pool`.
pub(super) fn sync(
    t: &mut Txn<'_>,
    account: &str,
    region: &str,
    pool: Cidr,
    lb: &mut LoadBalancer,
    previous: &[LbSubnet],
) -> Result<(), Error> {
    let internet_facing = lb.scheme == "internet-facing";
    let groups = group_refs(t, account, lb);
    let description = format!("ELB {}", short_name(lb));
    let interface_type = if lb.is_application() {
        "interface"
    } else {
        "network_load_balancer"
    };
    for s in &mut lb.subnets {
        if s.network_interface_id.is_none() {
            s.network_interface_id = previous
                .iter()
                .find(|p| p.subnet_id == s.subnet_id)
                .and_then(|p| p.network_interface_id.clone());
        }
        if let Some(id) = &s.network_interface_id
            && let Some(mut eni) = t.get::<NetworkInterface>(account, id)
        {
            let mut changed = eni.groups != groups;
            eni.groups = groups.clone();
            // A node recorded before nodes were marked and had public addresses gets both.
            if eni.requester_id.is_none() {
                eni.requester_id = Some(REQUESTER_ID.into());
                changed = true;
            }
            if internet_facing && eni.public_ip.is_none() && s.allocation_id.is_none() {
                eni.public_ip = Some(address::allocate_public_ip(t, account, pool)?.to_string());
                changed = true;
            }
            if changed {
                t.put(account, eni);
            }
            continue;
        }
        let Some(subnet) = t.get::<Subnet>(account, &s.subnet_id) else {
            continue;
        };
        let ip = network_interface::allocate_ip(t, account, &subnet, s.private_ipv4.as_deref())?;
        let public_ip = if internet_facing && s.allocation_id.is_none() {
            Some(address::allocate_public_ip(t, account, pool)?.to_string())
        } else {
            None
        };
        let eni = NetworkInterface {
            id: ids::resource_id("eni"),
            subnet_id: subnet.id.clone(),
            vpc_id: subnet.vpc_id.clone(),
            availability_zone: subnet.availability_zone.clone(),
            mac_address: network_interface::new_mac(),
            private_dns_name: network_interface::private_dns_name(&ip, region),
            private_ip: ip,
            public_ip,
            description: description.clone(),
            groups: groups.clone(),
            source_dest_check: true,
            status: "in-use".into(),
            interface_type: interface_type.into(),
            attachment: None,
            requester_id: Some(REQUESTER_ID.into()),
            tags: Vec::new(),
        };
        if let Some(allocation) = &s.allocation_id {
            // Checked free by `load_balancer::resolve_subnets` in this transaction.
            let mut eip = address::address_in(t, account, allocation)?;
            address::bind_to_interface(&mut eip, &eni.id, &eni.private_ip);
            s.elastic_ip = Some(eip.public_ip.clone());
            t.put(account, eip);
        }
        s.network_interface_id = Some(eni.id.clone());
        t.put(account, eni);
    }
    for p in previous {
        if let Some(id) = &p.network_interface_id
            && !lb
                .subnets
                .iter()
                .any(|s| s.network_interface_id.as_ref() == Some(id))
        {
            network_interface::delete_eni(t, account, id);
        }
    }
    Ok(())
}

/// Whether the Elastic IP `a` is held by a load balancer's node (`DisassociateAddress` and
/// `AssociateAddress` may not move it; `ReleaseAddress` already refuses associated ones).
pub(crate) fn holds_address(t: &Txn<'_>, account: &str, a: &Address) -> bool {
    a.association
        .as_ref()
        .and_then(|x| x.network_interface_id.as_deref())
        .and_then(|eni| t.get::<NetworkInterface>(account, eni))
        .is_some_and(|eni| eni.requester_id.as_deref() == Some(REQUESTER_ID))
}

/// Deletes the nodes' ENIs (the load balancer is being deleted).
pub(super) fn release(t: &mut Txn<'_>, account: &str, lb: &LoadBalancer) {
    for s in &lb.subnets {
        if let Some(id) = &s.network_interface_id {
            network_interface::delete_eni(t, account, id);
        }
    }
}
