//! `CreateVpc`, `DescribeVpcs`, `DeleteVpc`, `ModifyVpcAttribute`, `DescribeVpcAttribute`,
//! `AssociateVpcCidrBlock`, `DisassociateVpcCidrBlock`, `CreateDefaultVpc`,
//! `DescribeAccountAttributes`.

use kumo_core::ec2::Fault;
use kumo_core::ec2::vpc::{CidrAssociation, Vpc, VpcAttribute};

use super::common::{ops, query, required, tag_specs, tags_out, wenum};
use crate::dispatch::{Context, Handler};
use crate::error::QueryError;
use crate::generated::ec2 as wire;

pub(super) fn handler(action: &str) -> Option<Handler> {
    ops!(action;
        "CreateVpc" => create_vpc,
        "DescribeVpcs" => describe_vpcs,
        "DeleteVpc" => delete_vpc,
        "ModifyVpcAttribute" => modify_vpc_attribute,
        "DescribeVpcAttribute" => describe_vpc_attribute,
        "AssociateVpcCidrBlock" => associate_vpc_cidr_block,
        "DisassociateVpcCidrBlock" => disassociate_vpc_cidr_block,
        "CreateDefaultVpc" => create_default_vpc,
        "DescribeAccountAttributes" => describe_account_attributes,
    )
}

fn assoc_out(a: &CidrAssociation) -> wire::VpcCidrBlockAssociation {
    wire::VpcCidrBlockAssociation {
        association_id: Some(a.association_id.clone()),
        cidr_block: Some(a.cidr_block.clone()),
        cidr_block_state: Some(wire::VpcCidrBlockState {
            state: wenum!(wire::VpcCidrBlockStateCode, &a.state),
            status_message: None,
        }),
    }
}

pub(super) fn vpc_out(v: &Vpc) -> wire::Vpc {
    wire::Vpc {
        cidr_block: Some(v.cidr_block.clone()),
        cidr_block_association_set: Some(v.cidr_associations.iter().map(assoc_out).collect()),
        dhcp_options_id: Some(v.dhcp_options_id.clone()),
        instance_tenancy: wenum!(wire::Tenancy, &v.instance_tenancy),
        is_default: Some(v.is_default),
        owner_id: Some(v.owner_id.clone()),
        state: wenum!(wire::VpcState, &v.state),
        tags: tags_out(&v.tags),
        vpc_id: Some(v.id.clone()),
        block_public_access_states: Some(wire::BlockPublicAccessStates {
            internet_gateway_block_mode: Some(wire::BlockPublicAccessMode::Off),
        }),
        ..Default::default()
    }
}

fn create_vpc(
    ctx: &Context<'_>,
    req: wire::CreateVpcRequest,
) -> Result<wire::CreateVpcResult, QueryError> {
    if req.ipv4_ipam_pool_id.is_some()
        || req.ipv6_ipam_pool_id.is_some()
        || req.ipv6_cidr_block.is_some()
    {
        return Err(Fault::new(
            "UnsupportedOperation",
            "IPAM pools and IPv6 blocks are not supported by this endpoint.",
        )
        .into());
    }
    let cidr = required(req.cidr_block, "CidrBlock")?;
    let vpc = ctx.ec2()?.create_vpc(
        ctx.account(),
        &cidr,
        req.instance_tenancy.map(|t| t.as_str()),
        req.amazon_provided_ipv6_cidr_block.unwrap_or(false),
        tag_specs(req.tag_specifications, "vpc"),
    )?;
    Ok(wire::CreateVpcResult {
        vpc: Some(vpc_out(&vpc)),
    })
}

fn describe_vpcs(
    ctx: &Context<'_>,
    req: wire::DescribeVpcsRequest,
) -> Result<wire::DescribeVpcsResult, QueryError> {
    let page = ctx.ec2()?.describe_vpcs(
        ctx.account(),
        &query(req.vpc_ids, req.filters, req.max_results, req.next_token),
    )?;
    Ok(wire::DescribeVpcsResult {
        vpcs: Some(page.items.iter().map(vpc_out).collect()),
        next_token: page.next_token,
    })
}

fn delete_vpc(ctx: &Context<'_>, req: wire::DeleteVpcRequest) -> Result<bool, QueryError> {
    ctx.ec2()?
        .delete_vpc(ctx.account(), &required(req.vpc_id, "VpcId")?)?;
    Ok(true)
}

fn modify_vpc_attribute(
    ctx: &Context<'_>,
    req: wire::ModifyVpcAttributeRequest,
) -> Result<bool, QueryError> {
    let vpc_id = required(req.vpc_id, "VpcId")?;
    let given: Vec<(VpcAttribute, Option<bool>)> = [
        (VpcAttribute::DnsSupport, req.enable_dns_support),
        (VpcAttribute::DnsHostnames, req.enable_dns_hostnames),
        (
            VpcAttribute::NetworkAddressUsageMetrics,
            req.enable_network_address_usage_metrics,
        ),
    ]
    .into_iter()
    .filter_map(|(a, v)| v.map(|v| (a, v.value)))
    .collect();
    let [(attribute, value)] = given.as_slice() else {
        return Err(Fault::invalid_combination(
            "Exactly one attribute must be specified per call.",
        )
        .into());
    };
    let value = value.ok_or_else(|| Fault::missing("Value"))?;
    ctx.ec2()?
        .modify_vpc_attribute(ctx.account(), &vpc_id, *attribute, value)?;
    Ok(true)
}

fn describe_vpc_attribute(
    ctx: &Context<'_>,
    req: wire::DescribeVpcAttributeRequest,
) -> Result<wire::DescribeVpcAttributeResult, QueryError> {
    let vpc_id = required(req.vpc_id, "VpcId")?;
    let name = req.attribute.ok_or_else(|| Fault::missing("Attribute"))?;
    let attribute = match name {
        wire::VpcAttributeName::EnableDnsSupport => VpcAttribute::DnsSupport,
        wire::VpcAttributeName::EnableDnsHostnames => VpcAttribute::DnsHostnames,
        wire::VpcAttributeName::EnableNetworkAddressUsageMetrics => {
            VpcAttribute::NetworkAddressUsageMetrics
        }
    };
    let value = ctx
        .ec2()?
        .vpc_attribute(ctx.account(), &vpc_id, attribute)?;
    let v = Some(wire::AttributeBooleanValue { value: Some(value) });
    let mut out = wire::DescribeVpcAttributeResult {
        vpc_id: Some(vpc_id),
        ..Default::default()
    };
    match attribute {
        VpcAttribute::DnsSupport => out.enable_dns_support = v,
        VpcAttribute::DnsHostnames => out.enable_dns_hostnames = v,
        VpcAttribute::NetworkAddressUsageMetrics => out.enable_network_address_usage_metrics = v,
    }
    Ok(out)
}

fn associate_vpc_cidr_block(
    ctx: &Context<'_>,
    req: wire::AssociateVpcCidrBlockRequest,
) -> Result<wire::AssociateVpcCidrBlockResult, QueryError> {
    let vpc_id = required(req.vpc_id, "VpcId")?;
    if req.amazon_provided_ipv6_cidr_block == Some(true)
        || req.ipv6_cidr_block.is_some()
        || req.ipv4_ipam_pool_id.is_some()
    {
        return Err(Fault::new(
            "UnsupportedOperation",
            "IPv6 blocks and IPAM pools are not supported by this endpoint.",
        )
        .into());
    }
    let cidr = required(req.cidr_block, "CidrBlock")?;
    let a = ctx
        .ec2()?
        .associate_vpc_cidr_block(ctx.account(), &vpc_id, &cidr)?;
    Ok(wire::AssociateVpcCidrBlockResult {
        cidr_block_association: Some(assoc_out(&a)),
        ipv6_cidr_block_association: None,
        vpc_id: Some(vpc_id),
    })
}

fn disassociate_vpc_cidr_block(
    ctx: &Context<'_>,
    req: wire::DisassociateVpcCidrBlockRequest,
) -> Result<wire::DisassociateVpcCidrBlockResult, QueryError> {
    let id = required(req.association_id, "AssociationId")?;
    let (vpc_id, a) = ctx.ec2()?.disassociate_vpc_cidr_block(ctx.account(), &id)?;
    Ok(wire::DisassociateVpcCidrBlockResult {
        cidr_block_association: Some(assoc_out(&a)),
        ipv6_cidr_block_association: None,
        vpc_id: Some(vpc_id),
    })
}

fn create_default_vpc(
    ctx: &Context<'_>,
    _req: wire::CreateDefaultVpcRequest,
) -> Result<wire::CreateDefaultVpcResult, QueryError> {
    let vpc = ctx.ec2()?.create_default_vpc(ctx.account())?;
    Ok(wire::CreateDefaultVpcResult {
        vpc: Some(vpc_out(&vpc)),
    })
}

fn describe_account_attributes(
    ctx: &Context<'_>,
    req: wire::DescribeAccountAttributesRequest,
) -> Result<wire::DescribeAccountAttributesResult, QueryError> {
    let names: Vec<String> = req
        .attribute_names
        .unwrap_or_default()
        .into_iter()
        .map(|n| n.as_str().to_owned())
        .collect();
    let attrs = ctx
        .ec2()?
        .describe_account_attributes(ctx.account(), &names)?;
    Ok(wire::DescribeAccountAttributesResult {
        account_attributes: Some(
            attrs
                .into_iter()
                .map(|(name, values)| wire::AccountAttribute {
                    attribute_name: Some(name),
                    attribute_values: Some(
                        values
                            .into_iter()
                            .map(|v| wire::AccountAttributeValue {
                                attribute_value: Some(v),
                            })
                            .collect(),
                    ),
                })
                .collect(),
        ),
    })
}
