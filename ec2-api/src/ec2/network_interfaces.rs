//! `DescribeNetworkInterfaces` (Terraform lists a subnet's and a security group's interfaces
//! before deleting them).

use kumo_core::ec2::instance::PublicIpView;
use kumo_core::ec2::network_interface::NetworkInterface;

use super::common::{en, ops, query, tags_out, ts};
use crate::dispatch::{Context, Handler};
use crate::error::QueryError;
use crate::generated::ec2 as wire;

pub(super) fn handler(action: &str) -> Option<Handler> {
    ops!(action;
        "DescribeNetworkInterfaces" => describe_network_interfaces,
    )
}

fn eni_out(
    e: &NetworkInterface,
    public: Option<&PublicIpView>,
    owner: &str,
) -> wire::NetworkInterface {
    let association = public.map(|p| wire::NetworkInterfaceAssociation {
        allocation_id: p.allocation_id.clone(),
        association_id: p.association_id.clone(),
        ip_owner_id: Some(p.ip_owner_id.clone()),
        public_dns_name: Some(String::new()),
        public_ip: Some(p.public_ip.clone()),
        ..Default::default()
    });
    wire::NetworkInterface {
        association: association.clone(),
        attachment: e
            .attachment
            .as_ref()
            .map(|a| wire::NetworkInterfaceAttachment {
                attach_time: ts(a.attach_time_ms),
                attachment_id: Some(a.id.clone()),
                delete_on_termination: Some(a.delete_on_termination),
                device_index: i32::try_from(a.device_index).ok(),
                instance_id: Some(a.instance_id.clone()),
                instance_owner_id: Some(owner.to_owned()),
                network_card_index: Some(0),
                status: en(&a.status),
                ..Default::default()
            }),
        availability_zone: Some(e.availability_zone.clone()),
        description: Some(e.description.clone()),
        groups: Some(
            e.groups
                .iter()
                .map(|g| wire::GroupIdentifier {
                    group_id: Some(g.id.clone()),
                    group_name: Some(g.name.clone()),
                })
                .collect(),
        ),
        interface_type: en(&e.interface_type),
        ipv6_addresses: Some(Vec::new()),
        mac_address: Some(e.mac_address.clone()),
        network_interface_id: Some(e.id.clone()),
        owner_id: Some(owner.to_owned()),
        private_dns_name: Some(e.private_dns_name.clone()),
        private_ip_address: Some(e.private_ip.clone()),
        private_ip_addresses: Some(vec![wire::NetworkInterfacePrivateIpAddress {
            association,
            primary: Some(true),
            private_dns_name: Some(e.private_dns_name.clone()),
            private_ip_address: Some(e.private_ip.clone()),
        }]),
        requester_id: e.requester_id.clone(),
        requester_managed: Some(e.requester_id.is_some()),
        source_dest_check: Some(e.source_dest_check),
        status: en(&e.status),
        subnet_id: Some(e.subnet_id.clone()),
        tag_set: tags_out(&e.tags),
        vpc_id: Some(e.vpc_id.clone()),
        ..Default::default()
    }
}

fn describe_network_interfaces(
    ctx: &Context<'_>,
    req: wire::DescribeNetworkInterfacesRequest,
) -> Result<wire::DescribeNetworkInterfacesResult, QueryError> {
    let q = query(
        req.network_interface_ids,
        req.filters,
        req.max_results,
        req.next_token,
    );
    let ec2 = ctx.ec2()?;
    let page = ec2.describe_network_interfaces(ctx.account(), &q)?;
    let public = ec2.public_ips_of_enis(ctx.account(), &page.items)?;
    Ok(wire::DescribeNetworkInterfacesResult {
        network_interfaces: Some(
            page.items
                .iter()
                .map(|e| {
                    let p = public.iter().find(|p| p.network_interface_id == e.id);
                    eni_out(e, p, ctx.account())
                })
                .collect(),
        ),
        next_token: page.next_token,
    })
}
