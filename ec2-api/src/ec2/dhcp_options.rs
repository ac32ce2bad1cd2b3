//! `CreateDhcpOptions`, `DescribeDhcpOptions`, `AssociateDhcpOptions`, `DeleteDhcpOptions`.

use kumo_core::ec2::dhcp_options::DhcpOptions;

use super::common::{ops, query, required, tag_specs, tags_out};
use crate::dispatch::{Context, Handler};
use crate::error::QueryError;
use crate::generated::ec2 as wire;

pub(super) fn handler(action: &str) -> Option<Handler> {
    ops!(action;
        "CreateDhcpOptions" => create_dhcp_options,
        "DescribeDhcpOptions" => describe_dhcp_options,
        "AssociateDhcpOptions" => associate_dhcp_options,
        "DeleteDhcpOptions" => delete_dhcp_options,
    )
}

fn dopt_out(d: &DhcpOptions) -> wire::DhcpOptions {
    wire::DhcpOptions {
        dhcp_configurations: Some(
            d.configurations
                .iter()
                .map(|(k, v)| wire::DhcpConfiguration {
                    key: Some(k.clone()),
                    values: Some(
                        v.iter()
                            .map(|v| wire::AttributeValue {
                                value: Some(v.clone()),
                            })
                            .collect(),
                    ),
                })
                .collect(),
        ),
        dhcp_options_id: Some(d.id.clone()),
        owner_id: Some(d.owner_id.clone()),
        tags: tags_out(&d.tags),
    }
}

fn create_dhcp_options(
    ctx: &Context<'_>,
    req: wire::CreateDhcpOptionsRequest,
) -> Result<wire::CreateDhcpOptionsResult, QueryError> {
    let configs = req
        .dhcp_configurations
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.key.unwrap_or_default(), c.values.unwrap_or_default()))
        .collect();
    let d = ctx.ec2()?.create_dhcp_options(
        ctx.account(),
        configs,
        tag_specs(req.tag_specifications, "dhcp-options"),
    )?;
    Ok(wire::CreateDhcpOptionsResult {
        dhcp_options: Some(dopt_out(&d)),
    })
}

fn describe_dhcp_options(
    ctx: &Context<'_>,
    req: wire::DescribeDhcpOptionsRequest,
) -> Result<wire::DescribeDhcpOptionsResult, QueryError> {
    let page = ctx.ec2()?.describe_dhcp_options(
        ctx.account(),
        &query(
            req.dhcp_options_ids,
            req.filters,
            req.max_results,
            req.next_token,
        ),
    )?;
    Ok(wire::DescribeDhcpOptionsResult {
        dhcp_options: Some(page.items.iter().map(dopt_out).collect()),
        next_token: page.next_token,
    })
}

fn associate_dhcp_options(
    ctx: &Context<'_>,
    req: wire::AssociateDhcpOptionsRequest,
) -> Result<bool, QueryError> {
    ctx.ec2()?.associate_dhcp_options(
        ctx.account(),
        &required(req.dhcp_options_id, "DhcpOptionsId")?,
        &required(req.vpc_id, "VpcId")?,
    )?;
    Ok(true)
}

fn delete_dhcp_options(
    ctx: &Context<'_>,
    req: wire::DeleteDhcpOptionsRequest,
) -> Result<bool, QueryError> {
    ctx.ec2()?.delete_dhcp_options(
        ctx.account(),
        &required(req.dhcp_options_id, "DhcpOptionsId")?,
    )?;
    Ok(true)
}
