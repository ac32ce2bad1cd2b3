//! `CreateNatGateway`, `DescribeNatGateways`, `DeleteNatGateway`.

use kumo_core::ec2::nat_gateway::NatGateway;

use super::common::{ops, query, required, tag_specs, tags_out, wenum};
use crate::dispatch::{Context, Handler};
use crate::error::QueryError;
use crate::generated::ec2 as wire;

pub(super) fn handler(action: &str) -> Option<Handler> {
    ops!(action;
        "CreateNatGateway" => create_nat_gateway,
        "DescribeNatGateways" => describe_nat_gateways,
        "DeleteNatGateway" => delete_nat_gateway,
    )
}

fn ts(secs: i64) -> Option<crate::query::Timestamp> {
    time::OffsetDateTime::from_unix_timestamp(secs).ok()
}

fn nat_out(n: &NatGateway) -> wire::NatGateway {
    wire::NatGateway {
        connectivity_type: wenum!(wire::ConnectivityType, &n.connectivity_type),
        create_time: ts(n.create_time),
        delete_time: n.delete_time.and_then(ts),
        nat_gateway_addresses: Some(vec![wire::NatGatewayAddress {
            allocation_id: n.allocation_id.clone(),
            association_id: n.association_id.clone(),
            is_primary: Some(true),
            network_interface_id: Some(n.network_interface_id.clone()),
            private_ip: Some(n.private_ip.clone()),
            public_ip: n.public_ip.clone(),
            status: Some(if n.state == "deleted" {
                wire::NatGatewayAddressStatus::Disassociating
            } else {
                wire::NatGatewayAddressStatus::Succeeded
            }),
            ..Default::default()
        }]),
        nat_gateway_id: Some(n.id.clone()),
        state: wenum!(wire::NatGatewayState, &n.state),
        subnet_id: Some(n.subnet_id.clone()),
        tags: tags_out(&n.tags),
        vpc_id: Some(n.vpc_id.clone()),
        ..Default::default()
    }
}

fn create_nat_gateway(
    ctx: &Context<'_>,
    req: wire::CreateNatGatewayRequest,
) -> Result<wire::CreateNatGatewayResult, QueryError> {
    let n = ctx.ec2()?.create_nat_gateway(
        ctx.account(),
        &required(req.subnet_id, "SubnetId")?,
        req.allocation_id.as_deref(),
        req.connectivity_type.map(|c| c.as_str()),
        req.private_ip_address.as_deref(),
        tag_specs(req.tag_specifications, "natgateway"),
    )?;
    Ok(wire::CreateNatGatewayResult {
        client_token: req.client_token,
        nat_gateway: Some(nat_out(&n)),
    })
}

fn describe_nat_gateways(
    ctx: &Context<'_>,
    req: wire::DescribeNatGatewaysRequest,
) -> Result<wire::DescribeNatGatewaysResult, QueryError> {
    let page = ctx.ec2()?.describe_nat_gateways(
        ctx.account(),
        &query(
            req.nat_gateway_ids,
            req.filter,
            req.max_results,
            req.next_token,
        ),
    )?;
    Ok(wire::DescribeNatGatewaysResult {
        nat_gateways: Some(page.items.iter().map(nat_out).collect()),
        next_token: page.next_token,
    })
}

fn delete_nat_gateway(
    ctx: &Context<'_>,
    req: wire::DeleteNatGatewayRequest,
) -> Result<wire::DeleteNatGatewayResult, QueryError> {
    let n = ctx.ec2()?.delete_nat_gateway(
        ctx.account(),
        &required(req.nat_gateway_id, "NatGatewayId")?,
    )?;
    Ok(wire::DeleteNatGatewayResult {
        nat_gateway_id: Some(n.id),
    })
}
