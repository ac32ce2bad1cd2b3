//! Security groups and their rules: `CreateSecurityGroup`, `DescribeSecurityGroups`,
//! `DeleteSecurityGroup`, `Authorize`/`RevokeSecurityGroupIngress`/`Egress`,
//! `DescribeSecurityGroupRules`, `ModifySecurityGroupRules`,
//! `UpdateSecurityGroupRuleDescriptionsIngress`/`Egress`, `DescribeSecurityGroupReferences`,
//! `DescribeStaleSecurityGroups`.

use kumo_core::ec2::security_group::{Direction, GroupRef, RuleTarget, SecurityGroup};
use kumo_core::ec2::sg_rules::{
    Permission, PermissionSpec, RuleInfo, RuleSpec, TargetSpec, permissions,
};

use super::common::{filters, ops, tag_specs, tags_out};
use crate::dispatch::{Context, Handler};
use crate::error::QueryError;
use crate::generated::ec2 as wire;

pub(super) fn handler(action: &str) -> Option<Handler> {
    ops!(action;
        "CreateSecurityGroup" => create_security_group,
        "DescribeSecurityGroups" => describe_security_groups,
        "DeleteSecurityGroup" => delete_security_group,
        "AuthorizeSecurityGroupIngress" => authorize_ingress,
        "AuthorizeSecurityGroupEgress" => authorize_egress,
        "RevokeSecurityGroupIngress" => revoke_ingress,
        "RevokeSecurityGroupEgress" => revoke_egress,
        "DescribeSecurityGroupRules" => describe_security_group_rules,
        "ModifySecurityGroupRules" => modify_security_group_rules,
        "UpdateSecurityGroupRuleDescriptionsIngress" => update_descriptions_ingress,
        "UpdateSecurityGroupRuleDescriptionsEgress" => update_descriptions_egress,
        "DescribeSecurityGroupReferences" => describe_security_group_references,
        "DescribeStaleSecurityGroups" => describe_stale_security_groups,
    )
}

// ---- wire → core ----

fn permission_in(p: wire::IpPermission) -> PermissionSpec {
    let mut targets = Vec::new();
    for r in p.ip_ranges.unwrap_or_default() {
        targets.push((
            TargetSpec::Cidr4(r.cidr_ip.unwrap_or_default()),
            r.description,
        ));
    }
    for r in p.ipv6_ranges.unwrap_or_default() {
        targets.push((
            TargetSpec::Cidr6(r.cidr_ipv6.unwrap_or_default()),
            r.description,
        ));
    }
    for r in p.prefix_list_ids.unwrap_or_default() {
        targets.push((
            TargetSpec::PrefixList(r.prefix_list_id.unwrap_or_default()),
            r.description,
        ));
    }
    for g in p.user_id_group_pairs.unwrap_or_default() {
        targets.push((
            TargetSpec::Group {
                group_id: g.group_id,
                group_name: g.group_name,
                user_id: g.user_id,
            },
            g.description,
        ));
    }
    PermissionSpec {
        protocol: p.ip_protocol,
        from_port: p.from_port,
        to_port: p.to_port,
        targets,
    }
}

/// The legacy top-level form (`CidrIp`, `IpProtocol`, `FromPort`, `ToPort`,
/// `SourceSecurityGroupName`), when present.
fn legacy_permission(
    cidr_ip: Option<String>,
    protocol: Option<String>,
    from_port: Option<i32>,
    to_port: Option<i32>,
    source_group_name: Option<String>,
    source_group_owner: Option<String>,
) -> Option<PermissionSpec> {
    let mut targets = Vec::new();
    if let Some(c) = cidr_ip {
        targets.push((TargetSpec::Cidr4(c), None));
    }
    if source_group_name.is_some() {
        targets.push((
            TargetSpec::Group {
                group_id: None,
                group_name: source_group_name,
                user_id: source_group_owner,
            },
            None,
        ));
    }
    if targets.is_empty() {
        return None;
    }
    Some(PermissionSpec {
        protocol: protocol.or_else(|| Some("-1".into())),
        from_port,
        to_port,
        targets,
    })
}

fn permissions_in(
    perms: Option<Vec<wire::IpPermission>>,
    legacy: Option<PermissionSpec>,
) -> Vec<PermissionSpec> {
    perms
        .unwrap_or_default()
        .into_iter()
        .map(permission_in)
        .chain(legacy)
        .collect()
}

// ---- core → wire ----

fn permission_out(p: Permission) -> wire::IpPermission {
    let mut out = wire::IpPermission {
        ip_protocol: Some(p.protocol),
        from_port: p.from_port,
        to_port: p.to_port,
        ip_ranges: Some(Vec::new()),
        ipv6_ranges: Some(Vec::new()),
        prefix_list_ids: Some(Vec::new()),
        user_id_group_pairs: Some(Vec::new()),
    };
    for (target, description) in p.targets {
        match target {
            RuleTarget::Cidr4 { cidr } => {
                out.ip_ranges.get_or_insert_default().push(wire::IpRange {
                    cidr_ip: Some(cidr),
                    description,
                })
            }
            RuleTarget::Cidr6 { cidr } => {
                out.ipv6_ranges
                    .get_or_insert_default()
                    .push(wire::Ipv6Range {
                        cidr_ipv6: Some(cidr),
                        description,
                    });
            }
            RuleTarget::PrefixList { id } => {
                out.prefix_list_ids
                    .get_or_insert_default()
                    .push(wire::PrefixListId {
                        prefix_list_id: Some(id),
                        description,
                    });
            }
            RuleTarget::Group { group_id, owner } => out
                .user_id_group_pairs
                .get_or_insert_default()
                .push(wire::UserIdGroupPair {
                    group_id: Some(group_id),
                    user_id: Some(owner),
                    description,
                    ..Default::default()
                }),
        }
    }
    out
}

fn group_out(ctx: &Context<'_>, g: SecurityGroup) -> Result<wire::SecurityGroup, QueryError> {
    let arn = ctx.ec2()?.security_group_arn(ctx.account(), &g.id);
    Ok(wire::SecurityGroup {
        description: Some(g.description),
        group_id: Some(g.id),
        group_name: Some(g.name),
        ip_permissions: Some(
            permissions(&g.ingress)
                .into_iter()
                .map(permission_out)
                .collect(),
        ),
        ip_permissions_egress: Some(
            permissions(&g.egress)
                .into_iter()
                .map(permission_out)
                .collect(),
        ),
        owner_id: Some(ctx.account().to_owned()),
        security_group_arn: Some(arn),
        tags: tags_out(&g.tags),
        vpc_id: Some(g.vpc_id),
    })
}

fn rule_out(ctx: &Context<'_>, r: RuleInfo) -> Result<wire::SecurityGroupRule, QueryError> {
    let arn = ctx.ec2()?.security_group_rule_arn(&r.owner, &r.rule.id);
    let mut out = wire::SecurityGroupRule {
        description: r.rule.description,
        from_port: Some(r.rule.from_port.unwrap_or(-1)),
        to_port: Some(r.rule.to_port.unwrap_or(-1)),
        group_id: Some(r.group_id),
        group_owner_id: Some(r.owner),
        ip_protocol: Some(r.rule.protocol),
        is_egress: Some(r.egress),
        security_group_rule_arn: Some(arn),
        security_group_rule_id: Some(r.rule.id),
        tags: Some(tags_out(&r.rule.tags).unwrap_or_default()),
        ..Default::default()
    };
    match r.rule.target {
        RuleTarget::Cidr4 { cidr } => out.cidr_ipv4 = Some(cidr),
        RuleTarget::Cidr6 { cidr } => out.cidr_ipv6 = Some(cidr),
        RuleTarget::PrefixList { id } => out.prefix_list_id = Some(id),
        RuleTarget::Group { group_id, owner } => {
            out.referenced_group_info = Some(wire::ReferencedSecurityGroup {
                group_id: Some(group_id),
                user_id: Some(owner),
                ..Default::default()
            });
        }
    }
    Ok(out)
}

fn rules_out(
    ctx: &Context<'_>,
    rules: Vec<RuleInfo>,
) -> Result<Vec<wire::SecurityGroupRule>, QueryError> {
    rules.into_iter().map(|r| rule_out(ctx, r)).collect()
}

fn revoked_out(r: RuleInfo) -> wire::RevokedSecurityGroupRule {
    let mut out = wire::RevokedSecurityGroupRule {
        description: r.rule.description,
        from_port: Some(r.rule.from_port.unwrap_or(-1)),
        to_port: Some(r.rule.to_port.unwrap_or(-1)),
        group_id: Some(r.group_id),
        ip_protocol: Some(r.rule.protocol),
        is_egress: Some(r.egress),
        security_group_rule_id: Some(r.rule.id),
        ..Default::default()
    };
    match r.rule.target {
        RuleTarget::Cidr4 { cidr } => out.cidr_ipv4 = Some(cidr),
        RuleTarget::Cidr6 { cidr } => out.cidr_ipv6 = Some(cidr),
        RuleTarget::PrefixList { id } => out.prefix_list_id = Some(id),
        RuleTarget::Group { group_id, .. } => out.referenced_group_id = Some(group_id),
    }
    out
}

// ---- handlers ----

fn create_security_group(
    ctx: &Context<'_>,
    req: wire::CreateSecurityGroupRequest,
) -> Result<wire::CreateSecurityGroupResult, QueryError> {
    let ec2 = ctx.ec2()?;
    let g = ec2.create_security_group(
        ctx.account(),
        req.group_name.as_deref().unwrap_or_default(),
        req.description.as_deref().unwrap_or_default(),
        req.vpc_id.as_deref(),
        tag_specs(req.tag_specifications, "security-group"),
    )?;
    Ok(wire::CreateSecurityGroupResult {
        security_group_arn: Some(ec2.security_group_arn(ctx.account(), &g.id)),
        tags: tags_out(&g.tags),
        group_id: Some(g.id),
    })
}

fn describe_security_groups(
    ctx: &Context<'_>,
    req: wire::DescribeSecurityGroupsRequest,
) -> Result<wire::DescribeSecurityGroupsResult, QueryError> {
    let page = ctx.ec2()?.describe_security_groups(
        ctx.account(),
        &req.group_ids.unwrap_or_default(),
        &req.group_names.unwrap_or_default(),
        &filters(req.filters),
        req.max_results,
        req.next_token.as_deref(),
    )?;
    Ok(wire::DescribeSecurityGroupsResult {
        security_groups: Some(
            page.items
                .into_iter()
                .map(|g| group_out(ctx, g))
                .collect::<Result<_, _>>()?,
        ),
        next_token: page.next_token,
    })
}

fn delete_security_group(
    ctx: &Context<'_>,
    req: wire::DeleteSecurityGroupRequest,
) -> Result<wire::DeleteSecurityGroupResult, QueryError> {
    let group = GroupRef::from_parts(req.group_id, req.group_name)?;
    let id = ctx.ec2()?.delete_security_group(ctx.account(), &group)?;
    Ok(wire::DeleteSecurityGroupResult {
        group_id: Some(id),
        r#return: Some(true),
    })
}

fn authorize_ingress(
    ctx: &Context<'_>,
    req: wire::AuthorizeSecurityGroupIngressRequest,
) -> Result<wire::AuthorizeSecurityGroupIngressResult, QueryError> {
    let group = GroupRef::from_parts(req.group_id, req.group_name)?;
    let legacy = legacy_permission(
        req.cidr_ip,
        req.ip_protocol,
        req.from_port,
        req.to_port,
        req.source_security_group_name,
        req.source_security_group_owner_id,
    );
    let rules = ctx.ec2()?.authorize_security_group(
        ctx.account(),
        Direction::Ingress,
        &group,
        &permissions_in(req.ip_permissions, legacy),
        tag_specs(req.tag_specifications, "security-group-rule"),
    )?;
    Ok(wire::AuthorizeSecurityGroupIngressResult {
        r#return: Some(true),
        security_group_rules: Some(rules_out(ctx, rules)?),
    })
}

fn authorize_egress(
    ctx: &Context<'_>,
    req: wire::AuthorizeSecurityGroupEgressRequest,
) -> Result<wire::AuthorizeSecurityGroupEgressResult, QueryError> {
    let group = GroupRef::from_parts(req.group_id, None)?;
    let legacy = legacy_permission(
        req.cidr_ip,
        req.ip_protocol,
        req.from_port,
        req.to_port,
        req.source_security_group_name,
        req.source_security_group_owner_id,
    );
    let rules = ctx.ec2()?.authorize_security_group(
        ctx.account(),
        Direction::Egress,
        &group,
        &permissions_in(req.ip_permissions, legacy),
        tag_specs(req.tag_specifications, "security-group-rule"),
    )?;
    Ok(wire::AuthorizeSecurityGroupEgressResult {
        r#return: Some(true),
        security_group_rules: Some(rules_out(ctx, rules)?),
    })
}

fn revoke_ingress(
    ctx: &Context<'_>,
    req: wire::RevokeSecurityGroupIngressRequest,
) -> Result<wire::RevokeSecurityGroupIngressResult, QueryError> {
    let group = GroupRef::from_parts(req.group_id, req.group_name)?;
    let legacy = legacy_permission(
        req.cidr_ip,
        req.ip_protocol,
        req.from_port,
        req.to_port,
        req.source_security_group_name,
        req.source_security_group_owner_id,
    );
    let revoked = ctx.ec2()?.revoke_security_group(
        ctx.account(),
        Direction::Ingress,
        &group,
        &permissions_in(req.ip_permissions, legacy),
        &req.security_group_rule_ids.unwrap_or_default(),
    )?;
    Ok(wire::RevokeSecurityGroupIngressResult {
        r#return: Some(true),
        revoked_security_group_rules: Some(revoked.into_iter().map(revoked_out).collect()),
        unknown_ip_permissions: None,
    })
}

fn revoke_egress(
    ctx: &Context<'_>,
    req: wire::RevokeSecurityGroupEgressRequest,
) -> Result<wire::RevokeSecurityGroupEgressResult, QueryError> {
    let group = GroupRef::from_parts(req.group_id, None)?;
    let legacy = legacy_permission(
        req.cidr_ip,
        req.ip_protocol,
        req.from_port,
        req.to_port,
        req.source_security_group_name,
        req.source_security_group_owner_id,
    );
    let revoked = ctx.ec2()?.revoke_security_group(
        ctx.account(),
        Direction::Egress,
        &group,
        &permissions_in(req.ip_permissions, legacy),
        &req.security_group_rule_ids.unwrap_or_default(),
    )?;
    Ok(wire::RevokeSecurityGroupEgressResult {
        r#return: Some(true),
        revoked_security_group_rules: Some(revoked.into_iter().map(revoked_out).collect()),
        unknown_ip_permissions: None,
    })
}

fn describe_security_group_rules(
    ctx: &Context<'_>,
    req: wire::DescribeSecurityGroupRulesRequest,
) -> Result<wire::DescribeSecurityGroupRulesResult, QueryError> {
    let page = ctx.ec2()?.describe_security_group_rules(
        ctx.account(),
        &req.security_group_rule_ids.unwrap_or_default(),
        &filters(req.filters),
        req.max_results,
        req.next_token.as_deref(),
    )?;
    Ok(wire::DescribeSecurityGroupRulesResult {
        security_group_rules: Some(rules_out(ctx, page.items)?),
        next_token: page.next_token,
    })
}

fn modify_security_group_rules(
    ctx: &Context<'_>,
    req: wire::ModifySecurityGroupRulesRequest,
) -> Result<wire::ModifySecurityGroupRulesResult, QueryError> {
    let updates: Vec<(String, RuleSpec)> = req
        .security_group_rules
        .unwrap_or_default()
        .into_iter()
        .map(|u| {
            let r = u.security_group_rule.unwrap_or_default();
            (
                u.security_group_rule_id.unwrap_or_default(),
                RuleSpec {
                    protocol: r.ip_protocol,
                    from_port: r.from_port,
                    to_port: r.to_port,
                    cidr_ipv4: r.cidr_ipv4,
                    cidr_ipv6: r.cidr_ipv6,
                    prefix_list_id: r.prefix_list_id,
                    referenced_group_id: r.referenced_group_id,
                    description: r.description,
                },
            )
        })
        .collect();
    ctx.ec2()?.modify_security_group_rules(
        ctx.account(),
        req.group_id.as_deref().unwrap_or_default(),
        &updates,
    )?;
    Ok(wire::ModifySecurityGroupRulesResult {
        r#return: Some(true),
    })
}

fn descriptions_in(
    d: Option<Vec<wire::SecurityGroupRuleDescription>>,
) -> Vec<(String, Option<String>)> {
    d.unwrap_or_default()
        .into_iter()
        .map(|d| (d.security_group_rule_id.unwrap_or_default(), d.description))
        .collect()
}

fn update_descriptions_ingress(
    ctx: &Context<'_>,
    req: wire::UpdateSecurityGroupRuleDescriptionsIngressRequest,
) -> Result<wire::UpdateSecurityGroupRuleDescriptionsIngressResult, QueryError> {
    let group = GroupRef::from_parts(req.group_id, req.group_name)?;
    ctx.ec2()?.update_security_group_rule_descriptions(
        ctx.account(),
        Direction::Ingress,
        &group,
        &permissions_in(req.ip_permissions, None),
        &descriptions_in(req.security_group_rule_descriptions),
    )?;
    Ok(wire::UpdateSecurityGroupRuleDescriptionsIngressResult {
        r#return: Some(true),
    })
}

fn update_descriptions_egress(
    ctx: &Context<'_>,
    req: wire::UpdateSecurityGroupRuleDescriptionsEgressRequest,
) -> Result<wire::UpdateSecurityGroupRuleDescriptionsEgressResult, QueryError> {
    let group = GroupRef::from_parts(req.group_id, req.group_name)?;
    ctx.ec2()?.update_security_group_rule_descriptions(
        ctx.account(),
        Direction::Egress,
        &group,
        &permissions_in(req.ip_permissions, None),
        &descriptions_in(req.security_group_rule_descriptions),
    )?;
    Ok(wire::UpdateSecurityGroupRuleDescriptionsEgressResult {
        r#return: Some(true),
    })
}

fn describe_security_group_references(
    ctx: &Context<'_>,
    req: wire::DescribeSecurityGroupReferencesRequest,
) -> Result<wire::DescribeSecurityGroupReferencesResult, QueryError> {
    let refs = ctx
        .ec2()?
        .describe_security_group_references(ctx.account(), &req.group_id.unwrap_or_default())?;
    Ok(wire::DescribeSecurityGroupReferencesResult {
        security_group_reference_set: Some(
            refs.into_iter()
                .map(|(group_id, vpc)| wire::SecurityGroupReference {
                    group_id: Some(group_id),
                    referencing_vpc_id: Some(vpc),
                    ..Default::default()
                })
                .collect(),
        ),
    })
}

fn describe_stale_security_groups(
    ctx: &Context<'_>,
    req: wire::DescribeStaleSecurityGroupsRequest,
) -> Result<wire::DescribeStaleSecurityGroupsResult, QueryError> {
    let stale = ctx
        .ec2()?
        .describe_stale_security_groups(ctx.account(), req.vpc_id.as_deref().unwrap_or_default())?;
    Ok(wire::DescribeStaleSecurityGroupsResult {
        stale_security_group_set: Some(
            stale
                .into_iter()
                .map(|g| wire::StaleSecurityGroup {
                    description: Some(g.description),
                    group_id: Some(g.id),
                    group_name: Some(g.name),
                    vpc_id: Some(g.vpc_id),
                    ..Default::default()
                })
                .collect(),
        ),
        next_token: None,
    })
}
