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
//! [`sync`] runs inside every transaction that creates a load balancer or changes its subnets
//! or groups; [`release`] inside the deleting one.

use crate::Error;
use crate::ec2::network_interface::{self, GroupRef, NetworkInterface};
use crate::ec2::security_group::SecurityGroup;
use crate::ec2::store::Txn;
use crate::ec2::subnet::Subnet;
use crate::ids;

use super::load_balancer::{LbSubnet, LoadBalancer};

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
/// the ENIs of subnets it left, and sets every node's groups to the load balancer's.
pub(super) fn sync(
    t: &mut Txn<'_>,
    account: &str,
    region: &str,
    lb: &mut LoadBalancer,
    previous: &[LbSubnet],
) -> Result<(), Error> {
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
            if eni.groups != groups {
                eni.groups = groups.clone();
                t.put(account, eni);
            }
            continue;
        }
        let Some(subnet) = t.get::<Subnet>(account, &s.subnet_id) else {
            continue;
        };
        let ip = network_interface::allocate_ip(t, account, &subnet, s.private_ipv4.as_deref())?;
        let eni = NetworkInterface {
            id: ids::resource_id("eni"),
            subnet_id: subnet.id.clone(),
            vpc_id: subnet.vpc_id.clone(),
            availability_zone: subnet.availability_zone.clone(),
            mac_address: network_interface::new_mac(),
            private_dns_name: network_interface::private_dns_name(&ip, region),
            private_ip: ip,
            public_ip: None,
            description: description.clone(),
            groups: groups.clone(),
            source_dest_check: true,
            status: "in-use".into(),
            interface_type: interface_type.into(),
            attachment: None,
            tags: Vec::new(),
        };
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

/// Deletes the nodes' ENIs (the load balancer is being deleted).
pub(super) fn release(t: &mut Txn<'_>, account: &str, lb: &LoadBalancer) {
    for s in &lb.subnets {
        if let Some(id) = &s.network_interface_id {
            network_interface::delete_eni(t, account, id);
        }
    }
}
