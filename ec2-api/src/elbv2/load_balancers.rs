//! `CreateLoadBalancer`, `DescribeLoadBalancers`, `DeleteLoadBalancer`, the attribute calls,
//! `SetSecurityGroups`, `SetSubnets`, `SetIpAddressType`, `DescribeCapacityReservation`.

use kumo_core::elbv2::load_balancer::{CreateLoadBalancer, LbSubnet, LoadBalancer, SubnetMapping};

use super::common::{elbv2, enum_str, pairs_in, required, tags_in, time_of, wire_enum};
use crate::dispatch::{Context, Handler};
use crate::ec2::common::ops;
use crate::error::QueryError;
use crate::generated::elbv2 as wire;

pub(super) fn handler(action: &str) -> Option<Handler> {
    ops!(action;
        "CreateLoadBalancer" => create_load_balancer,
        "DescribeLoadBalancers" => describe_load_balancers,
        "DeleteLoadBalancer" => delete_load_balancer,
        "DescribeLoadBalancerAttributes" => describe_load_balancer_attributes,
        "ModifyLoadBalancerAttributes" => modify_load_balancer_attributes,
        "SetSecurityGroups" => set_security_groups,
        "SetSubnets" => set_subnets,
        "SetIpAddressType" => set_ip_address_type,
        "DescribeCapacityReservation" => describe_capacity_reservation,
    )
}

/// A zone's `LoadBalancerAddresses`, as AWS lists them: the static addresses a subnet mapping
/// asked for (an Elastic IP with its allocation, or a fixed private address); a node's
/// automatic addresses are not listed (an internet-facing network load balancer without
/// Elastic IPs answers an empty list).
fn addresses_out(s: &LbSubnet) -> Vec<wire::LoadBalancerAddress> {
    let mut out = Vec::new();
    if let Some(ip) = &s.elastic_ip {
        out.push(wire::LoadBalancerAddress {
            ip_address: Some(ip.clone()),
            allocation_id: s.allocation_id.clone(),
            ..Default::default()
        });
    }
    if let Some(ip) = &s.private_ipv4 {
        out.push(wire::LoadBalancerAddress {
            private_i_pv4_address: Some(ip.clone()),
            ..Default::default()
        });
    }
    out
}

fn zones_out(subnets: &[LbSubnet]) -> Vec<wire::AvailabilityZone> {
    subnets
        .iter()
        .map(|s| wire::AvailabilityZone {
            subnet_id: Some(s.subnet_id.clone()),
            zone_name: Some(s.zone_name.clone()),
            load_balancer_addresses: Some(addresses_out(s)),
            ..Default::default()
        })
        .collect()
}

pub(super) fn lb_out(lb: LoadBalancer) -> wire::LoadBalancer {
    wire::LoadBalancer {
        availability_zones: Some(zones_out(&lb.subnets)),
        canonical_hosted_zone_id: Some(lb.canonical_hosted_zone_id),
        created_time: time_of(lb.created_ms),
        dns_name: Some(lb.dns_name),
        enforce_security_group_inbound_rules_on_private_link_traffic: lb
            .enforce_private_link_inbound,
        ip_address_type: wire_enum(&lb.ip_address_type),
        load_balancer_arn: Some(lb.id),
        load_balancer_name: Some(lb.name),
        scheme: wire_enum(&lb.scheme),
        security_groups: (lb.lb_type == "application" || !lb.security_groups.is_empty())
            .then_some(lb.security_groups),
        state: Some(wire::LoadBalancerState {
            code: wire_enum(&lb.state),
            reason: None,
        }),
        r#type: wire_enum(&lb.lb_type),
        vpc_id: Some(lb.vpc_id),
        ..Default::default()
    }
}

fn mappings_in(m: Option<Vec<wire::SubnetMapping>>) -> Vec<SubnetMapping> {
    m.unwrap_or_default()
        .into_iter()
        .map(|m| SubnetMapping {
            subnet_id: m.subnet_id.unwrap_or_default(),
            allocation_id: m.allocation_id,
            private_ipv4: m.private_i_pv4_address,
            ipv6: m.i_pv6_address,
        })
        .collect()
}

fn attrs_out(pairs: Vec<(String, String)>) -> Vec<wire::LoadBalancerAttribute> {
    pairs
        .into_iter()
        .map(|(k, v)| wire::LoadBalancerAttribute {
            key: Some(k),
            value: Some(v),
        })
        .collect()
}

fn create_load_balancer(
    ctx: &Context<'_>,
    req: wire::CreateLoadBalancerInput,
) -> Result<wire::CreateLoadBalancerOutput, QueryError> {
    if req.customer_owned_ipv4_pool.is_some() || req.ipam_pools.is_some() {
        return Err(QueryError::client(
            "InvalidConfigurationRequest",
            "Customer-owned and IPAM address pools are not supported by this Kumo endpoint",
        ));
    }
    let lb = elbv2(ctx)?.create_load_balancer(
        ctx.account(),
        CreateLoadBalancer {
            name: required(req.name, "Name")?,
            lb_type: req.r#type.map(|t| enum_str(&t)),
            scheme: req.scheme.map(|s| enum_str(&s)),
            subnets: req.subnets.unwrap_or_default(),
            subnet_mappings: mappings_in(req.subnet_mappings),
            security_groups: req.security_groups,
            ip_address_type: req.ip_address_type.map(|t| enum_str(&t)),
            tags: tags_in(req.tags),
        },
    )?;
    Ok(wire::CreateLoadBalancerOutput {
        load_balancers: Some(vec![lb_out(lb)]),
    })
}

fn describe_load_balancers(
    ctx: &Context<'_>,
    req: wire::DescribeLoadBalancersInput,
) -> Result<wire::DescribeLoadBalancersOutput, QueryError> {
    let page = elbv2(ctx)?.describe_load_balancers(
        ctx.account(),
        &req.load_balancer_arns.unwrap_or_default(),
        &req.names.unwrap_or_default(),
        req.marker.as_deref(),
        req.page_size,
    )?;
    Ok(wire::DescribeLoadBalancersOutput {
        load_balancers: Some(page.items.into_iter().map(lb_out).collect()),
        next_marker: page.next_token,
    })
}

fn delete_load_balancer(
    ctx: &Context<'_>,
    req: wire::DeleteLoadBalancerInput,
) -> Result<wire::DeleteLoadBalancerOutput, QueryError> {
    elbv2(ctx)?.delete_load_balancer(
        ctx.account(),
        &required(req.load_balancer_arn, "LoadBalancerArn")?,
    )?;
    Ok(wire::DeleteLoadBalancerOutput {})
}

fn describe_load_balancer_attributes(
    ctx: &Context<'_>,
    req: wire::DescribeLoadBalancerAttributesInput,
) -> Result<wire::DescribeLoadBalancerAttributesOutput, QueryError> {
    let pairs = elbv2(ctx)?.load_balancer_attributes(
        ctx.account(),
        &required(req.load_balancer_arn, "LoadBalancerArn")?,
    )?;
    Ok(wire::DescribeLoadBalancerAttributesOutput {
        attributes: Some(attrs_out(pairs)),
    })
}

fn modify_load_balancer_attributes(
    ctx: &Context<'_>,
    req: wire::ModifyLoadBalancerAttributesInput,
) -> Result<wire::ModifyLoadBalancerAttributesOutput, QueryError> {
    let changes = pairs_in(req.attributes, |a| (a.key, a.value));
    let pairs = elbv2(ctx)?.modify_load_balancer_attributes(
        ctx.account(),
        &required(req.load_balancer_arn, "LoadBalancerArn")?,
        &changes,
    )?;
    Ok(wire::ModifyLoadBalancerAttributesOutput {
        attributes: Some(attrs_out(pairs)),
    })
}

fn set_security_groups(
    ctx: &Context<'_>,
    req: wire::SetSecurityGroupsInput,
) -> Result<wire::SetSecurityGroupsOutput, QueryError> {
    let enforce = req
        .enforce_security_group_inbound_rules_on_private_link_traffic
        .map(|e| enum_str(&e));
    let lb = elbv2(ctx)?.set_security_groups(
        ctx.account(),
        &required(req.load_balancer_arn, "LoadBalancerArn")?,
        &required(req.security_groups, "SecurityGroups")?,
        enforce.as_deref(),
    )?;
    Ok(wire::SetSecurityGroupsOutput {
        enforce_security_group_inbound_rules_on_private_link_traffic: lb
            .enforce_private_link_inbound
            .as_deref()
            .and_then(wire_enum),
        security_group_ids: Some(lb.security_groups),
    })
}

fn set_subnets(
    ctx: &Context<'_>,
    req: wire::SetSubnetsInput,
) -> Result<wire::SetSubnetsOutput, QueryError> {
    let ip = req.ip_address_type.map(|t| enum_str(&t));
    let lb = elbv2(ctx)?.set_subnets(
        ctx.account(),
        &required(req.load_balancer_arn, "LoadBalancerArn")?,
        &req.subnets.unwrap_or_default(),
        &mappings_in(req.subnet_mappings),
        ip.as_deref(),
    )?;
    Ok(wire::SetSubnetsOutput {
        availability_zones: Some(zones_out(&lb.subnets)),
        ip_address_type: wire_enum(&lb.ip_address_type),
        enable_prefix_for_ipv6_source_nat: None,
    })
}

fn set_ip_address_type(
    ctx: &Context<'_>,
    req: wire::SetIpAddressTypeInput,
) -> Result<wire::SetIpAddressTypeOutput, QueryError> {
    let ip = enum_str(&required(req.ip_address_type, "IpAddressType")?);
    let out = elbv2(ctx)?.set_ip_address_type(
        ctx.account(),
        &required(req.load_balancer_arn, "LoadBalancerArn")?,
        &ip,
    )?;
    Ok(wire::SetIpAddressTypeOutput {
        ip_address_type: wire_enum(&out),
    })
}

/// No capacity is ever reserved on Kumo: the load balancer must exist, and the answer is an
/// empty reservation (what AWS answers for a load balancer without one).
fn describe_capacity_reservation(
    ctx: &Context<'_>,
    req: wire::DescribeCapacityReservationInput,
) -> Result<wire::DescribeCapacityReservationOutput, QueryError> {
    elbv2(ctx)?.load_balancer(
        ctx.account(),
        &required(req.load_balancer_arn, "LoadBalancerArn")?,
    )?;
    Ok(wire::DescribeCapacityReservationOutput {
        capacity_reservation_state: Some(Vec::new()),
        ..Default::default()
    })
}
