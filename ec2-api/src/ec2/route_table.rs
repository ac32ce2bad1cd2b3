//! `CreateRouteTable`, `DescribeRouteTables`, `DeleteRouteTable`, `CreateRoute`,
//! `ReplaceRoute`, `DeleteRoute`, `AssociateRouteTable`, `DisassociateRouteTable`,
//! `ReplaceRouteTableAssociation`.

use kumo_core::ec2::Fault;
use kumo_core::ec2::route_table::{RouteTable, RouteTarget};

use super::common::{ops, query, required, tag_specs, tags_out, wenum};
use crate::dispatch::{Context, Handler};
use crate::error::QueryError;
use crate::generated::ec2 as wire;

pub(super) fn handler(action: &str) -> Option<Handler> {
    ops!(action;
        "CreateRouteTable" => create_route_table,
        "DescribeRouteTables" => describe_route_tables,
        "DeleteRouteTable" => delete_route_table,
        "CreateRoute" => create_route,
        "ReplaceRoute" => replace_route,
        "DeleteRoute" => delete_route,
        "AssociateRouteTable" => associate_route_table,
        "DisassociateRouteTable" => disassociate_route_table,
        "ReplaceRouteTableAssociation" => replace_route_table_association,
    )
}

fn associated() -> Option<wire::RouteTableAssociationState> {
    Some(wire::RouteTableAssociationState {
        state: Some(wire::RouteTableAssociationStateCode::Associated),
        status_message: None,
    })
}

fn rt_out(r: &RouteTable) -> wire::RouteTable {
    wire::RouteTable {
        associations: Some(
            r.associations
                .iter()
                .map(|a| wire::RouteTableAssociation {
                    association_state: associated(),
                    gateway_id: a.gateway_id.clone(),
                    main: Some(a.main),
                    public_ipv4_pool: None,
                    route_table_association_id: Some(a.id.clone()),
                    route_table_id: Some(r.id.clone()),
                    subnet_id: a.subnet_id.clone(),
                })
                .collect(),
        ),
        owner_id: Some(r.owner_id.clone()),
        propagating_vgws: Some(Vec::new()),
        route_table_id: Some(r.id.clone()),
        routes: Some(
            r.routes
                .iter()
                .map(|x| {
                    let mut w = wire::Route {
                        destination_cidr_block: Some(x.destination_cidr_block.clone()),
                        origin: wenum!(wire::RouteOrigin, &x.origin),
                        state: wenum!(wire::RouteState, &x.state),
                        ..Default::default()
                    };
                    match &x.target {
                        RouteTarget::Local => w.gateway_id = Some("local".into()),
                        RouteTarget::Gateway(g) => w.gateway_id = Some(g.clone()),
                        RouteTarget::NatGateway(n) => w.nat_gateway_id = Some(n.clone()),
                        RouteTarget::NetworkInterface(n) => {
                            w.network_interface_id = Some(n.clone())
                        }
                        RouteTarget::Instance(i) => {
                            w.instance_id = Some(i.clone());
                            w.instance_owner_id = Some(r.owner_id.clone());
                        }
                    }
                    w
                })
                .collect(),
        ),
        tags: tags_out(&r.tags),
        vpc_id: Some(r.vpc_id.clone()),
    }
}

fn create_route_table(
    ctx: &Context<'_>,
    req: wire::CreateRouteTableRequest,
) -> Result<wire::CreateRouteTableResult, QueryError> {
    let r = ctx.ec2()?.create_route_table(
        ctx.account(),
        &required(req.vpc_id, "VpcId")?,
        tag_specs(req.tag_specifications, "route-table"),
    )?;
    Ok(wire::CreateRouteTableResult {
        client_token: req.client_token,
        route_table: Some(rt_out(&r)),
    })
}

fn describe_route_tables(
    ctx: &Context<'_>,
    req: wire::DescribeRouteTablesRequest,
) -> Result<wire::DescribeRouteTablesResult, QueryError> {
    let page = ctx.ec2()?.describe_route_tables(
        ctx.account(),
        &query(
            req.route_table_ids,
            req.filters,
            req.max_results,
            req.next_token,
        ),
    )?;
    Ok(wire::DescribeRouteTablesResult {
        route_tables: Some(page.items.iter().map(rt_out).collect()),
        next_token: page.next_token,
    })
}

fn delete_route_table(
    ctx: &Context<'_>,
    req: wire::DeleteRouteTableRequest,
) -> Result<bool, QueryError> {
    ctx.ec2()?.delete_route_table(
        ctx.account(),
        &required(req.route_table_id, "RouteTableId")?,
    )?;
    Ok(true)
}

fn unsupported_destination(
    ipv6: Option<&String>,
    prefix_list: Option<&String>,
) -> Result<(), Fault> {
    if ipv6.is_some() || prefix_list.is_some() {
        return Err(Fault::new(
            "UnsupportedOperation",
            "IPv6 and prefix-list destinations are not supported by this endpoint.",
        ));
    }
    Ok(())
}

fn create_route(
    ctx: &Context<'_>,
    req: wire::CreateRouteRequest,
) -> Result<wire::CreateRouteResult, QueryError> {
    unsupported_destination(
        req.destination_ipv6_cidr_block.as_ref(),
        req.destination_prefix_list_id.as_ref(),
    )?;
    let target = RouteTarget::choose(&[
        ("gatewayId", req.gateway_id),
        ("natGatewayId", req.nat_gateway_id),
        ("networkInterfaceId", req.network_interface_id),
        ("instanceId", req.instance_id),
        ("vpcPeeringConnectionId", req.vpc_peering_connection_id),
        ("transitGatewayId", req.transit_gateway_id),
        (
            "egressOnlyInternetGatewayId",
            req.egress_only_internet_gateway_id,
        ),
        ("carrierGatewayId", req.carrier_gateway_id),
        ("localGatewayId", req.local_gateway_id),
        ("vpcEndpointId", req.vpc_endpoint_id),
        ("coreNetworkArn", req.core_network_arn),
    ])?;
    ctx.ec2()?.create_route(
        ctx.account(),
        &required(req.route_table_id, "RouteTableId")?,
        &required(req.destination_cidr_block, "DestinationCidrBlock")?,
        target,
    )?;
    Ok(wire::CreateRouteResult {
        r#return: Some(true),
    })
}

fn replace_route(ctx: &Context<'_>, req: wire::ReplaceRouteRequest) -> Result<bool, QueryError> {
    unsupported_destination(
        req.destination_ipv6_cidr_block.as_ref(),
        req.destination_prefix_list_id.as_ref(),
    )?;
    let local = (req.local_target == Some(true)).then(|| "local".to_owned());
    let target = RouteTarget::choose(&[
        ("gatewayId", req.gateway_id.or(local)),
        ("natGatewayId", req.nat_gateway_id),
        ("networkInterfaceId", req.network_interface_id),
        ("instanceId", req.instance_id),
        ("vpcPeeringConnectionId", req.vpc_peering_connection_id),
        ("transitGatewayId", req.transit_gateway_id),
        (
            "egressOnlyInternetGatewayId",
            req.egress_only_internet_gateway_id,
        ),
        ("carrierGatewayId", req.carrier_gateway_id),
        ("localGatewayId", req.local_gateway_id),
        ("vpcEndpointId", req.vpc_endpoint_id),
        ("coreNetworkArn", req.core_network_arn),
    ])?;
    ctx.ec2()?.replace_route(
        ctx.account(),
        &required(req.route_table_id, "RouteTableId")?,
        &required(req.destination_cidr_block, "DestinationCidrBlock")?,
        target,
    )?;
    Ok(true)
}

fn delete_route(ctx: &Context<'_>, req: wire::DeleteRouteRequest) -> Result<bool, QueryError> {
    unsupported_destination(
        req.destination_ipv6_cidr_block.as_ref(),
        req.destination_prefix_list_id.as_ref(),
    )?;
    ctx.ec2()?.delete_route(
        ctx.account(),
        &required(req.route_table_id, "RouteTableId")?,
        &required(req.destination_cidr_block, "DestinationCidrBlock")?,
    )?;
    Ok(true)
}

fn associate_route_table(
    ctx: &Context<'_>,
    req: wire::AssociateRouteTableRequest,
) -> Result<wire::AssociateRouteTableResult, QueryError> {
    let id = ctx.ec2()?.associate_route_table(
        ctx.account(),
        &required(req.route_table_id, "RouteTableId")?,
        req.subnet_id.as_deref(),
        req.gateway_id.as_deref(),
    )?;
    Ok(wire::AssociateRouteTableResult {
        association_id: Some(id),
        association_state: associated(),
    })
}

fn disassociate_route_table(
    ctx: &Context<'_>,
    req: wire::DisassociateRouteTableRequest,
) -> Result<bool, QueryError> {
    ctx.ec2()?.disassociate_route_table(
        ctx.account(),
        &required(req.association_id, "AssociationId")?,
    )?;
    Ok(true)
}

fn replace_route_table_association(
    ctx: &Context<'_>,
    req: wire::ReplaceRouteTableAssociationRequest,
) -> Result<wire::ReplaceRouteTableAssociationResult, QueryError> {
    let id = ctx.ec2()?.replace_route_table_association(
        ctx.account(),
        &required(req.association_id, "AssociationId")?,
        &required(req.route_table_id, "RouteTableId")?,
    )?;
    Ok(wire::ReplaceRouteTableAssociationResult {
        association_state: associated(),
        new_association_id: Some(id),
    })
}
