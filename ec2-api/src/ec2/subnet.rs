//! `CreateSubnet`, `DescribeSubnets`, `DeleteSubnet`, `ModifySubnetAttribute`,
//! `CreateDefaultSubnet`.

use kumo_core::ec2::Fault;
use kumo_core::ec2::subnet::{Subnet, SubnetAttribute};

use super::common::{ops, query, required, tag_specs, tags_out, wenum};
use crate::dispatch::{Context, Handler};
use crate::error::QueryError;
use crate::generated::ec2 as wire;

pub(super) fn handler(action: &str) -> Option<Handler> {
    ops!(action;
        "CreateSubnet" => create_subnet,
        "DescribeSubnets" => describe_subnets,
        "DeleteSubnet" => delete_subnet,
        "ModifySubnetAttribute" => modify_subnet_attribute,
        "CreateDefaultSubnet" => create_default_subnet,
    )
}

fn subnet_out(s: &Subnet) -> wire::Subnet {
    wire::Subnet {
        assign_ipv6_address_on_creation: Some(false),
        availability_zone: Some(s.availability_zone.clone()),
        availability_zone_id: Some(s.availability_zone_id.clone()),
        available_ip_address_count: Some(i32::try_from(s.available_ip_count()).unwrap_or(i32::MAX)),
        block_public_access_states: Some(wire::BlockPublicAccessStates {
            internet_gateway_block_mode: Some(wire::BlockPublicAccessMode::Off),
        }),
        cidr_block: Some(s.cidr_block.clone()),
        default_for_az: Some(s.default_for_az),
        enable_dns64: Some(s.enable_dns64),
        ipv6_cidr_block_association_set: Some(Vec::new()),
        ipv6_native: Some(false),
        map_customer_owned_ip_on_launch: Some(false),
        map_public_ip_on_launch: Some(s.map_public_ip_on_launch),
        owner_id: Some(s.owner_id.clone()),
        private_dns_name_options_on_launch: Some(wire::PrivateDnsNameOptionsOnLaunch {
            enable_resource_name_dns_aaaa_record: Some(s.dns_aaaa_record_on_launch),
            enable_resource_name_dns_a_record: Some(s.dns_a_record_on_launch),
            hostname_type: wenum!(wire::HostnameType, &s.hostname_type),
        }),
        state: wenum!(wire::SubnetState, &s.state),
        subnet_arn: Some(s.arn.clone()),
        subnet_id: Some(s.id.clone()),
        tags: tags_out(&s.tags),
        vpc_id: Some(s.vpc_id.clone()),
        ..Default::default()
    }
}

fn create_subnet(
    ctx: &Context<'_>,
    req: wire::CreateSubnetRequest,
) -> Result<wire::CreateSubnetResult, QueryError> {
    if req.ipv6_cidr_block.is_some()
        || req.ipv6_native == Some(true)
        || req.ipv4_ipam_pool_id.is_some()
        || req.outpost_arn.is_some()
    {
        return Err(Fault::new(
            "UnsupportedOperation",
            "IPv6, IPAM pools and Outposts are not supported by this endpoint.",
        )
        .into());
    }
    let s = ctx.ec2()?.create_subnet(
        ctx.account(),
        &required(req.vpc_id, "VpcId")?,
        &required(req.cidr_block, "CidrBlock")?,
        req.availability_zone.as_deref(),
        req.availability_zone_id.as_deref(),
        tag_specs(req.tag_specifications, "subnet"),
    )?;
    Ok(wire::CreateSubnetResult {
        subnet: Some(subnet_out(&s)),
    })
}

fn create_default_subnet(
    ctx: &Context<'_>,
    req: wire::CreateDefaultSubnetRequest,
) -> Result<wire::CreateDefaultSubnetResult, QueryError> {
    let ec2 = ctx.ec2()?;
    let zone = match (req.availability_zone, req.availability_zone_id) {
        (Some(z), _) => z,
        (None, Some(id)) => ec2
            .zones()
            .into_iter()
            .find(|z| z.id == id)
            .map(|z| z.name)
            .ok_or_else(|| {
                Fault::invalid_value(format!(
                    "Value ({id}) for parameter availabilityZoneId is invalid."
                ))
            })?,
        (None, None) => return Err(Fault::missing("AvailabilityZone").into()),
    };
    let s = ec2.create_default_subnet(ctx.account(), &zone)?;
    Ok(wire::CreateDefaultSubnetResult {
        subnet: Some(subnet_out(&s)),
    })
}

fn describe_subnets(
    ctx: &Context<'_>,
    req: wire::DescribeSubnetsRequest,
) -> Result<wire::DescribeSubnetsResult, QueryError> {
    let page = ctx.ec2()?.describe_subnets(
        ctx.account(),
        &query(req.subnet_ids, req.filters, req.max_results, req.next_token),
    )?;
    Ok(wire::DescribeSubnetsResult {
        subnets: Some(page.items.iter().map(subnet_out).collect()),
        next_token: page.next_token,
    })
}

fn delete_subnet(ctx: &Context<'_>, req: wire::DeleteSubnetRequest) -> Result<bool, QueryError> {
    ctx.ec2()?
        .delete_subnet(ctx.account(), &required(req.subnet_id, "SubnetId")?)?;
    Ok(true)
}

fn modify_subnet_attribute(
    ctx: &Context<'_>,
    req: wire::ModifySubnetAttributeRequest,
) -> Result<bool, QueryError> {
    let id = required(req.subnet_id, "SubnetId")?;
    let b = |v: Option<wire::AttributeBooleanValue>| v.map(|v| v.value.unwrap_or(false));
    let mut changes = Vec::new();
    if let Some(v) = b(req.map_public_ip_on_launch) {
        changes.push(SubnetAttribute::MapPublicIpOnLaunch(v));
    }
    if let Some(v) = b(req.assign_ipv6_address_on_creation) {
        changes.push(SubnetAttribute::AssignIpv6AddressOnCreation(v));
    }
    if let Some(v) = b(req.enable_dns64) {
        changes.push(SubnetAttribute::EnableDns64(v));
    }
    if let Some(v) = b(req.enable_resource_name_dns_a_record_on_launch) {
        changes.push(SubnetAttribute::DnsARecordOnLaunch(v));
    }
    if let Some(v) = b(req.enable_resource_name_dns_aaaa_record_on_launch) {
        changes.push(SubnetAttribute::DnsAaaaRecordOnLaunch(v));
    }
    if let Some(v) = b(req.map_customer_owned_ip_on_launch) {
        changes.push(SubnetAttribute::MapCustomerOwnedIpOnLaunch(v));
    }
    if let Some(h) = req.private_dns_hostname_type_on_launch {
        changes.push(SubnetAttribute::HostnameType(h.as_str().to_owned()));
    }
    if req.enable_lni_at_device_index.is_some() || req.customer_owned_ipv4_pool.is_some() {
        return Err(Fault::new(
            "UnsupportedOperation",
            "Outpost subnet attributes are not supported by this endpoint.",
        )
        .into());
    }
    ctx.ec2()?
        .modify_subnet_attribute(ctx.account(), &id, &changes)?;
    Ok(true)
}
