//! `CreateNetworkAcl`, `DescribeNetworkAcls`, `DeleteNetworkAcl`, `CreateNetworkAclEntry`,
//! `ReplaceNetworkAclEntry`, `DeleteNetworkAclEntry`, `ReplaceNetworkAclAssociation`.

use kumo_core::ec2::Fault;
use kumo_core::ec2::network_acl::{AclEntry, NetworkAcl};

use super::common::{ops, query, required, tag_specs, tags_out, wenum};
use crate::dispatch::{Context, Handler};
use crate::error::QueryError;
use crate::generated::ec2 as wire;

pub(super) fn handler(action: &str) -> Option<Handler> {
    ops!(action;
        "CreateNetworkAcl" => create_network_acl,
        "DescribeNetworkAcls" => describe_network_acls,
        "DeleteNetworkAcl" => delete_network_acl,
        "CreateNetworkAclEntry" => create_network_acl_entry,
        "ReplaceNetworkAclEntry" => replace_network_acl_entry,
        "DeleteNetworkAclEntry" => delete_network_acl_entry,
        "ReplaceNetworkAclAssociation" => replace_network_acl_association,
    )
}

fn acl_out(a: &NetworkAcl) -> wire::NetworkAcl {
    wire::NetworkAcl {
        associations: Some(
            a.associations
                .iter()
                .map(|x| wire::NetworkAclAssociation {
                    network_acl_association_id: Some(x.id.clone()),
                    network_acl_id: Some(a.id.clone()),
                    subnet_id: Some(x.subnet_id.clone()),
                })
                .collect(),
        ),
        entries: Some(
            a.entries
                .iter()
                .map(|e| wire::NetworkAclEntry {
                    cidr_block: Some(e.cidr_block.clone()),
                    egress: Some(e.egress),
                    icmp_type_code: e.icmp.map(|(t, c)| wire::IcmpTypeCode {
                        code: Some(c),
                        r#type: Some(t),
                    }),
                    ipv6_cidr_block: None,
                    port_range: e.ports.map(|(f, t)| wire::PortRange {
                        from: Some(f),
                        to: Some(t),
                    }),
                    protocol: Some(e.protocol.clone()),
                    rule_action: wenum!(wire::RuleAction, &e.rule_action),
                    rule_number: Some(e.rule_number),
                })
                .collect(),
        ),
        is_default: Some(a.is_default),
        network_acl_id: Some(a.id.clone()),
        owner_id: Some(a.owner_id.clone()),
        tags: tags_out(&a.tags),
        vpc_id: Some(a.vpc_id.clone()),
    }
}

fn create_network_acl(
    ctx: &Context<'_>,
    req: wire::CreateNetworkAclRequest,
) -> Result<wire::CreateNetworkAclResult, QueryError> {
    let a = ctx.ec2()?.create_network_acl(
        ctx.account(),
        &required(req.vpc_id, "VpcId")?,
        tag_specs(req.tag_specifications, "network-acl"),
    )?;
    Ok(wire::CreateNetworkAclResult {
        client_token: req.client_token,
        network_acl: Some(acl_out(&a)),
    })
}

fn describe_network_acls(
    ctx: &Context<'_>,
    req: wire::DescribeNetworkAclsRequest,
) -> Result<wire::DescribeNetworkAclsResult, QueryError> {
    let page = ctx.ec2()?.describe_network_acls(
        ctx.account(),
        &query(
            req.network_acl_ids,
            req.filters,
            req.max_results,
            req.next_token,
        ),
    )?;
    Ok(wire::DescribeNetworkAclsResult {
        network_acls: Some(page.items.iter().map(acl_out).collect()),
        next_token: page.next_token,
    })
}

fn delete_network_acl(
    ctx: &Context<'_>,
    req: wire::DeleteNetworkAclRequest,
) -> Result<bool, QueryError> {
    ctx.ec2()?.delete_network_acl(
        ctx.account(),
        &required(req.network_acl_id, "NetworkAclId")?,
    )?;
    Ok(true)
}

#[allow(clippy::too_many_arguments)]
fn entry(
    rule_number: Option<i32>,
    egress: Option<bool>,
    protocol: Option<String>,
    action: Option<wire::RuleAction>,
    cidr: Option<String>,
    ipv6: Option<&String>,
    icmp: Option<wire::IcmpTypeCode>,
    ports: Option<wire::PortRange>,
) -> Result<AclEntry, Fault> {
    if ipv6.is_some() {
        return Err(Fault::new(
            "UnsupportedOperation",
            "IPv6 ACL entries are not supported by this endpoint.",
        ));
    }
    AclEntry::checked(
        rule_number.ok_or_else(|| Fault::missing("RuleNumber"))?,
        egress.unwrap_or(false),
        &required(protocol, "Protocol")?,
        action.ok_or_else(|| Fault::missing("RuleAction"))?.as_str(),
        &required(cidr, "CidrBlock")?,
        icmp.map(|i| (i.r#type.unwrap_or(-1), i.code.unwrap_or(-1))),
        ports.map(|p| (p.from.unwrap_or(0), p.to.unwrap_or(65535))),
    )
}

fn create_network_acl_entry(
    ctx: &Context<'_>,
    req: wire::CreateNetworkAclEntryRequest,
) -> Result<bool, QueryError> {
    let e = entry(
        req.rule_number,
        req.egress,
        req.protocol,
        req.rule_action,
        req.cidr_block,
        req.ipv6_cidr_block.as_ref(),
        req.icmp_type_code,
        req.port_range,
    )?;
    ctx.ec2()?.put_network_acl_entry(
        ctx.account(),
        &required(req.network_acl_id, "NetworkAclId")?,
        e,
        false,
    )?;
    Ok(true)
}

fn replace_network_acl_entry(
    ctx: &Context<'_>,
    req: wire::ReplaceNetworkAclEntryRequest,
) -> Result<bool, QueryError> {
    let e = entry(
        req.rule_number,
        req.egress,
        req.protocol,
        req.rule_action,
        req.cidr_block,
        req.ipv6_cidr_block.as_ref(),
        req.icmp_type_code,
        req.port_range,
    )?;
    ctx.ec2()?.put_network_acl_entry(
        ctx.account(),
        &required(req.network_acl_id, "NetworkAclId")?,
        e,
        true,
    )?;
    Ok(true)
}

fn delete_network_acl_entry(
    ctx: &Context<'_>,
    req: wire::DeleteNetworkAclEntryRequest,
) -> Result<bool, QueryError> {
    ctx.ec2()?.delete_network_acl_entry(
        ctx.account(),
        &required(req.network_acl_id, "NetworkAclId")?,
        req.rule_number
            .ok_or_else(|| Fault::missing("RuleNumber"))?,
        req.egress.unwrap_or(false),
    )?;
    Ok(true)
}

fn replace_network_acl_association(
    ctx: &Context<'_>,
    req: wire::ReplaceNetworkAclAssociationRequest,
) -> Result<wire::ReplaceNetworkAclAssociationResult, QueryError> {
    let id = ctx.ec2()?.replace_network_acl_association(
        ctx.account(),
        &required(req.association_id, "AssociationId")?,
        &required(req.network_acl_id, "NetworkAclId")?,
    )?;
    Ok(wire::ReplaceNetworkAclAssociationResult {
        new_association_id: Some(id),
    })
}
