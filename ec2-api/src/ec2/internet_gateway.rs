//! `CreateInternetGateway`, `DescribeInternetGateways`, `AttachInternetGateway`,
//! `DetachInternetGateway`, `DeleteInternetGateway`.

use kumo_core::ec2::internet_gateway::InternetGateway;

use super::common::{ops, query, required, rewrite_member, tag_specs, tags_out};
use crate::dispatch::{Context, Handler, typed};
use crate::error::QueryError;
use crate::generated::ec2 as wire;

pub(super) fn handler(action: &str) -> Option<Handler> {
    if action == "DescribeInternetGateways" {
        return Some(describe_node);
    }
    ops!(action;
        "CreateInternetGateway" => create_internet_gateway,
        "AttachInternetGateway" => attach_internet_gateway,
        "DetachInternetGateway" => detach_internet_gateway,
        "DeleteInternetGateway" => delete_internet_gateway,
    )
}

/// The attachment state marker: the model's enum lacks `available`, which AWS (and the
/// Terraform provider's attach waiter) use for an attached internet gateway; the value is
/// written as `attached` and rewritten on the way out.
fn igw_out(g: &InternetGateway) -> wire::InternetGateway {
    wire::InternetGateway {
        attachments: Some(
            g.attachments
                .iter()
                .map(|a| wire::InternetGatewayAttachment {
                    state: Some(wire::AttachmentStatus::Attached),
                    vpc_id: Some(a.vpc_id.clone()),
                })
                .collect(),
        ),
        internet_gateway_id: Some(g.id.clone()),
        owner_id: Some(g.owner_id.clone()),
        tags: tags_out(&g.tags),
    }
}

fn describe_node(
    ctx: &Context<'_>,
    input: crate::query::Node,
) -> Result<crate::query::Node, QueryError> {
    let mut out = typed(input, |i| describe_internet_gateways(ctx, i))?;
    rewrite_member(
        &mut out,
        &wire::S_DESCRIBE_INTERNET_GATEWAYS_RESULT,
        "InternetGatewayAttachment",
        "State",
        &|v| (v == "attached").then(|| "available".to_owned()),
    );
    Ok(out)
}

fn create_internet_gateway(
    ctx: &Context<'_>,
    req: wire::CreateInternetGatewayRequest,
) -> Result<wire::CreateInternetGatewayResult, QueryError> {
    let g = ctx.ec2()?.create_internet_gateway(
        ctx.account(),
        tag_specs(req.tag_specifications, "internet-gateway"),
    )?;
    Ok(wire::CreateInternetGatewayResult {
        internet_gateway: Some(igw_out(&g)),
    })
}

fn describe_internet_gateways(
    ctx: &Context<'_>,
    req: wire::DescribeInternetGatewaysRequest,
) -> Result<wire::DescribeInternetGatewaysResult, QueryError> {
    let page = ctx.ec2()?.describe_internet_gateways(
        ctx.account(),
        &query(
            req.internet_gateway_ids,
            req.filters,
            req.max_results,
            req.next_token,
        ),
    )?;
    Ok(wire::DescribeInternetGatewaysResult {
        internet_gateways: Some(page.items.iter().map(igw_out).collect()),
        next_token: page.next_token,
    })
}

fn attach_internet_gateway(
    ctx: &Context<'_>,
    req: wire::AttachInternetGatewayRequest,
) -> Result<bool, QueryError> {
    ctx.ec2()?.attach_internet_gateway(
        ctx.account(),
        &required(req.internet_gateway_id, "InternetGatewayId")?,
        &required(req.vpc_id, "VpcId")?,
    )?;
    Ok(true)
}

fn detach_internet_gateway(
    ctx: &Context<'_>,
    req: wire::DetachInternetGatewayRequest,
) -> Result<bool, QueryError> {
    ctx.ec2()?.detach_internet_gateway(
        ctx.account(),
        &required(req.internet_gateway_id, "InternetGatewayId")?,
        &required(req.vpc_id, "VpcId")?,
    )?;
    Ok(true)
}

fn delete_internet_gateway(
    ctx: &Context<'_>,
    req: wire::DeleteInternetGatewayRequest,
) -> Result<bool, QueryError> {
    ctx.ec2()?.delete_internet_gateway(
        ctx.account(),
        &required(req.internet_gateway_id, "InternetGatewayId")?,
    )?;
    Ok(true)
}
