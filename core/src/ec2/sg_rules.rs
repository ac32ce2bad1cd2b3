//! Security group rules: how a request's `IpPermissions` become single rules and back.
//!
//! AWS's wire speaks in *permissions* — one protocol and port range with lists of CIDRs,
//! prefix lists and groups — but stores *rules*: each (protocol, ports, one target) is a rule
//! with its own `sgr-…` id, description and tags. Authorising splits permissions into rules
//! (an exact duplicate is `InvalidPermission.Duplicate`), revoking matches them by identity or
//! by id, and describing groups regroups rules into permissions. Protocols are normalised as
//! AWS does (`6` → `tcp`, `all` → `-1`), and ports are kept only where they mean something
//! (TCP/UDP ports, ICMP type and code), so two spellings of one rule are one rule.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::Fault;
use super::security_group::{
    Direction, GroupRef, RuleTarget, SecurityGroup, SgRule, check_group_id, check_text,
    group_not_found,
};
use super::store::Txn;
use crate::Error;
use crate::ec2::Ec2;
use crate::ids;
use crate::query::filter::{Filter, FilterSet, FilterTable};
use crate::query::paginate::{Page, page_size};
use crate::query::tags::{Tag, validate};

/// Most rules per group, direction and address family (AWS's default quota).
pub const MAX_RULES: usize = 60;

/// A target as a request names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    /// `IpRanges.N.CidrIp`.
    Cidr4(String),
    /// `Ipv6Ranges.N.CidrIpv6`.
    Cidr6(String),
    /// `PrefixListIds.N.PrefixListId`.
    PrefixList(String),
    /// `UserIdGroupPairs.N`: a group by id, or by name in the same VPC.
    Group {
        /// `GroupId`.
        group_id: Option<String>,
        /// `GroupName`.
        group_name: Option<String>,
        /// `UserId` (must be the caller's account).
        user_id: Option<String>,
    },
}

/// One `IpPermissions.N` of a request (or the legacy top-level form).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionSpec {
    /// `IpProtocol`.
    pub protocol: Option<String>,
    /// `FromPort`.
    pub from_port: Option<i32>,
    /// `ToPort`.
    pub to_port: Option<i32>,
    /// Targets with their descriptions.
    pub targets: Vec<(TargetSpec, Option<String>)>,
}

/// A permission as `DescribeSecurityGroups` reports it: rules of equal protocol and ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    /// Normalised protocol.
    pub protocol: String,
    /// First port or ICMP type.
    pub from_port: Option<i32>,
    /// Last port or ICMP code.
    pub to_port: Option<i32>,
    /// Targets with descriptions, in rule order.
    pub targets: Vec<(RuleTarget, Option<String>)>,
}

/// A rule with the group it belongs to, as `DescribeSecurityGroupRules` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInfo {
    /// The group.
    pub group_id: String,
    /// The group's owner account.
    pub owner: String,
    /// Whether it is an egress rule.
    pub egress: bool,
    /// The rule.
    pub rule: SgRule,
}

/// A replacement rule (`ModifySecurityGroupRules`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleSpec {
    /// `IpProtocol`.
    pub protocol: Option<String>,
    /// `FromPort`.
    pub from_port: Option<i32>,
    /// `ToPort`.
    pub to_port: Option<i32>,
    /// `CidrIpv4`.
    pub cidr_ipv4: Option<String>,
    /// `CidrIpv6`.
    pub cidr_ipv6: Option<String>,
    /// `PrefixListId`.
    pub prefix_list_id: Option<String>,
    /// `ReferencedGroupId`.
    pub referenced_group_id: Option<String>,
    /// `Description`.
    pub description: Option<String>,
}

/// AWS's protocol spelling: `-1` for all, names for TCP, UDP, ICMP and ICMPv6, the decimal
/// number for any other IP protocol.
pub fn normalize_protocol(p: &str) -> Result<String, Fault> {
    let lower = p.trim().to_ascii_lowercase();
    let named = match lower.as_str() {
        "-1" | "all" => "-1",
        "tcp" | "6" => "tcp",
        "udp" | "17" => "udp",
        "icmp" | "1" => "icmp",
        "icmpv6" | "58" => "icmpv6",
        other => {
            return other.parse::<u8>().map(|n| n.to_string()).map_err(|_| {
                Fault::invalid_value(format!(
                    "Invalid value '{p}' for IP protocol. Unknown protocol."
                ))
            });
        }
    };
    Ok(named.to_owned())
}

/// The IANA number of a normalised protocol (`tcp` → `6`), for filters.
fn protocol_number(p: &str) -> Option<&str> {
    match p {
        "tcp" => Some("6"),
        "udp" => Some("17"),
        "icmp" => Some("1"),
        "icmpv6" => Some("58"),
        _ => None,
    }
}

/// Ports as AWS keeps them: TCP/UDP need a range in 0–65535; ICMP takes a type and code in
/// -1–255 (-1: any); every other protocol has no ports.
fn normalize_ports(
    protocol: &str,
    from: Option<i32>,
    to: Option<i32>,
) -> Result<(Option<i32>, Option<i32>), Fault> {
    match protocol {
        "tcp" | "udp" => {
            let (Some(from), Some(to)) = (from, to) else {
                return Err(Fault::invalid_value(
                    "Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange",
                ));
            };
            if !(0..=65535).contains(&from) || !(0..=65535).contains(&to) || from > to {
                return Err(Fault::invalid_value(format!(
                    "Invalid TCP/UDP port range: from port {from} to port {to}"
                )));
            }
            Ok((Some(from), Some(to)))
        }
        "icmp" | "icmpv6" => {
            let (t, c) = (from.unwrap_or(-1), to.unwrap_or(-1));
            if !(-1..=255).contains(&t) {
                return Err(Fault::invalid_value(format!(
                    "ICMP type ({t}) out of range"
                )));
            }
            if !(-1..=255).contains(&c) || (t == -1 && c != -1) {
                return Err(Fault::invalid_value(format!(
                    "ICMP code ({c}) out of range"
                )));
            }
            Ok((Some(t), Some(c)))
        }
        _ => Ok((None, None)),
    }
}

fn check_cidr4(cidr: &str) -> Result<(), Fault> {
    let ok = cidr.split_once('/').is_some_and(|(ip, len)| {
        ip.parse::<Ipv4Addr>().is_ok() && len.parse::<u8>().is_ok_and(|n| n <= 32)
    });
    if ok {
        Ok(())
    } else {
        Err(Fault::invalid_value(format!(
            "CIDR block {cidr} is malformed"
        )))
    }
}

fn check_cidr6(cidr: &str) -> Result<(), Fault> {
    let ok = cidr.split_once('/').is_some_and(|(ip, len)| {
        ip.parse::<Ipv6Addr>().is_ok() && len.parse::<u8>().is_ok_and(|n| n <= 128)
    });
    if ok {
        Ok(())
    } else {
        Err(Fault::invalid_value(format!(
            "CIDR block {cidr} is malformed"
        )))
    }
}

fn check_prefix_list(id: &str) -> Result<(), Fault> {
    if id
        .strip_prefix("pl-")
        .is_some_and(|h| !h.is_empty() && h.len() <= 17 && h.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        Ok(())
    } else {
        Err(Fault::new(
            "InvalidPrefixListId.Malformed",
            format!("The prefix list ID '{id}' is malformed"),
        ))
    }
}

/// Whether two rules are the same rule (protocol, ports and target; not description or id).
fn same_rule(a: &SgRule, b: &SgRule) -> bool {
    a.protocol == b.protocol
        && a.from_port == b.from_port
        && a.to_port == b.to_port
        && a.target == b.target
}

/// AWS's words for a rule in `InvalidPermission.*` messages.
fn describe_rule(r: &SgRule) -> String {
    let peer = match &r.target {
        RuleTarget::Cidr4 { cidr } | RuleTarget::Cidr6 { cidr } => cidr.clone(),
        RuleTarget::PrefixList { id } => id.clone(),
        RuleTarget::Group { group_id, .. } => group_id.clone(),
    };
    let proto = if r.protocol == "-1" {
        "ALL".to_owned()
    } else {
        r.protocol.to_ascii_uppercase()
    };
    match (r.from_port, r.to_port) {
        (Some(f), Some(t)) => {
            format!("peer: {peer}, {proto}, from port: {f}, to port: {t}, ALLOW")
        }
        _ => format!("peer: {peer}, {proto}, ALLOW"),
    }
}

fn rule_not_found(id: &str) -> Fault {
    Fault::new(
        "InvalidSecurityGroupRuleId.NotFound",
        format!("The security group rule ID '{id}' does not exist"),
    )
}

fn check_rule_id(id: &str) -> Result<(), Fault> {
    if id
        .strip_prefix("sgr-")
        .is_some_and(|h| !h.is_empty() && h.len() <= 17 && h.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        Ok(())
    } else {
        Err(Fault::new(
            "InvalidSecurityGroupRuleId.Malformed",
            format!("The security group rule ID '{id}' is malformed"),
        ))
    }
}

/// Checks a rule description (same rules as group descriptions).
fn check_description(d: Option<&String>) -> Result<(), Fault> {
    d.map_or(Ok(()), |d| check_text("Description", d))
}

/// Resolves a request's target in `group`'s account and VPC.
fn resolve_target(
    t: &Txn<'_>,
    account: &str,
    group: &SecurityGroup,
    target: &TargetSpec,
) -> Result<RuleTarget, Fault> {
    Ok(match target {
        TargetSpec::Cidr4(c) => {
            check_cidr4(c)?;
            RuleTarget::Cidr4 { cidr: c.clone() }
        }
        TargetSpec::Cidr6(c) => {
            check_cidr6(c)?;
            RuleTarget::Cidr6 { cidr: c.clone() }
        }
        TargetSpec::PrefixList(p) => {
            check_prefix_list(p)?;
            RuleTarget::PrefixList { id: p.clone() }
        }
        TargetSpec::Group {
            group_id,
            group_name,
            user_id,
        } => {
            let shown = group_id
                .clone()
                .or_else(|| group_name.clone())
                .unwrap_or_default();
            if user_id
                .as_deref()
                .is_some_and(|u| !u.is_empty() && u != account)
            {
                // Cross-account references need VPC peering, which Kumo does not have.
                return Err(group_not_found(&shown));
            }
            let found = match (group_id.as_deref().filter(|s| !s.is_empty()), group_name) {
                (Some(id), _) => {
                    check_group_id(id)?;
                    if id == group.id {
                        Some(group.clone())
                    } else {
                        t.get::<SecurityGroup>(account, id)
                    }
                }
                (None, Some(name)) => t
                    .list::<SecurityGroup>(account)
                    .into_iter()
                    .find(|g| g.vpc_id == group.vpc_id && g.name == *name),
                (None, None) => {
                    return Err(Fault::missing("UserIdGroupPairs.N.GroupId"));
                }
            };
            let found = found.ok_or_else(|| group_not_found(&shown))?;
            RuleTarget::Group {
                group_id: found.id,
                owner: account.to_owned(),
            }
        }
    })
}

/// Splits permissions into rules (fresh ids; descriptions checked).
fn expand(
    t: &Txn<'_>,
    account: &str,
    group: &SecurityGroup,
    perms: &[PermissionSpec],
) -> Result<Vec<SgRule>, Fault> {
    let mut out = Vec::new();
    for p in perms {
        let protocol = normalize_protocol(
            p.protocol
                .as_deref()
                .ok_or_else(|| Fault::missing("IpPermissions.N.IpProtocol"))?,
        )?;
        let (from_port, to_port) = normalize_ports(&protocol, p.from_port, p.to_port)?;
        if p.targets.is_empty() {
            return Err(Fault::missing(
                "IpPermissions.N.IpRanges, Ipv6Ranges, PrefixListIds or UserIdGroupPairs",
            ));
        }
        for (target, description) in &p.targets {
            check_description(description.as_ref())?;
            out.push(SgRule {
                id: ids::resource_id("sgr"),
                protocol: protocol.clone(),
                from_port,
                to_port,
                target: resolve_target(t, account, group, target)?,
                description: description.clone().filter(|d| !d.is_empty()),
                tags: Vec::new(),
            });
        }
    }
    Ok(out)
}

/// Regroups rules into permissions (same protocol and ports), in first-seen order.
#[must_use]
pub fn permissions(rules: &[SgRule]) -> Vec<Permission> {
    let mut out: Vec<Permission> = Vec::new();
    for r in rules {
        let pos = out.iter().position(|p| {
            p.protocol == r.protocol && p.from_port == r.from_port && p.to_port == r.to_port
        });
        let entry = (r.target.clone(), r.description.clone());
        match pos {
            Some(i) => out[i].targets.push(entry),
            None => out.push(Permission {
                protocol: r.protocol.clone(),
                from_port: r.from_port,
                to_port: r.to_port,
                targets: vec![entry],
            }),
        }
    }
    out
}

/// The values rule `r` has for a `*.ip-permission.<what>` filter.
pub(crate) fn rule_filter_values(
    r: &SgRule,
    what: &str,
    names: &[(String, String)],
    out: &mut Vec<String>,
) {
    match (what, &r.target) {
        ("cidr", RuleTarget::Cidr4 { cidr }) | ("ipv6-cidr", RuleTarget::Cidr6 { cidr }) => {
            out.push(cidr.clone());
        }
        ("prefix-list-id", RuleTarget::PrefixList { id }) => out.push(id.clone()),
        ("group-id", RuleTarget::Group { group_id, .. }) => out.push(group_id.clone()),
        ("user-id", RuleTarget::Group { owner, .. }) => out.push(owner.clone()),
        ("group-name", RuleTarget::Group { group_id, .. }) => out.extend(
            names
                .iter()
                .filter(|(id, _)| id == group_id)
                .map(|(_, n)| n.clone()),
        ),
        ("protocol", _) => {
            out.push(r.protocol.clone());
            out.extend(protocol_number(&r.protocol).map(str::to_owned));
        }
        ("from-port", _) => out.push(r.from_port.unwrap_or(-1).to_string()),
        ("to-port", _) => out.push(r.to_port.unwrap_or(-1).to_string()),
        _ => {}
    }
}

/// The filter names `DescribeSecurityGroupRules` accepts.
static RULE_FILTERS: FilterTable<RuleInfo> = FilterTable {
    resource: "security group rule",
    fields: &[
        ("group-id", |r, out| out.push(r.group_id.clone())),
        ("security-group-rule-id", |r, out| {
            out.push(r.rule.id.clone())
        }),
    ],
    tags: Some(|r| {
        r.rule
            .tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect()
    }),
};

fn info(account: &str, g: &SecurityGroup, direction: Direction, rule: SgRule) -> RuleInfo {
    RuleInfo {
        group_id: g.id.clone(),
        owner: account.to_owned(),
        egress: direction == Direction::Egress,
        rule,
    }
}

fn count_family(rules: &[SgRule], v6: bool) -> usize {
    rules
        .iter()
        .filter(|r| matches!(r.target, RuleTarget::Cidr6 { .. }) == v6)
        .count()
}

impl Ec2 {
    /// The ARN of a rule.
    #[must_use]
    pub fn security_group_rule_arn(&self, account: &str, id: &str) -> String {
        format!(
            "arn:aws:ec2:{}:{account}:security-group-rule/{id}",
            self.placement().region
        )
    }

    /// `AuthorizeSecurityGroupIngress` / `Egress`: adds one rule per (protocol, ports,
    /// target), tagged with `tags`; any exact duplicate refuses the whole request.
    pub fn authorize_security_group(
        &self,
        account: &str,
        direction: Direction,
        group: &GroupRef,
        perms: &[PermissionSpec],
        tags: Vec<Tag>,
    ) -> Result<Vec<RuleInfo>, Error> {
        if perms.is_empty() {
            return Err(Fault::missing("IpPermissions").into());
        }
        validate(&tags).map_err(|e| Fault::invalid_value(e.to_string()))?;
        self.ensure_defaults_for(account, group)?;
        self.store().transaction(|t| {
            let mut g = self.resolve_group(t, account, group)?;
            let mut new = expand(t, account, &g, perms)?;
            for (i, r) in new.iter().enumerate() {
                let existing = g.rules(direction).iter().any(|e| same_rule(e, r));
                if existing || new[..i].iter().any(|e| same_rule(e, r)) {
                    return Err(Fault::new(
                        "InvalidPermission.Duplicate",
                        format!("the specified rule \"{}\" already exists", describe_rule(r)),
                    )
                    .into());
                }
            }
            for r in &mut new {
                r.tags.clone_from(&tags);
            }
            let rules = g.rules_mut(direction);
            rules.extend(new.iter().cloned());
            for v6 in [false, true] {
                if count_family(rules, v6) > MAX_RULES {
                    return Err(Fault::new(
                        "RulesPerSecurityGroupLimitExceeded",
                        "The maximum number of rules per security group has been reached.",
                    )
                    .into());
                }
            }
            let out = new
                .into_iter()
                .map(|r| info(account, &g, direction, r))
                .collect();
            t.put(account, g);
            Ok(out)
        })
    }

    /// `RevokeSecurityGroupIngress` / `Egress`: removes rules named by permission or by id;
    /// a permission or id that matches no rule refuses the request
    /// (`InvalidPermission.NotFound`, `InvalidSecurityGroupRuleId.NotFound`).
    pub fn revoke_security_group(
        &self,
        account: &str,
        direction: Direction,
        group: &GroupRef,
        perms: &[PermissionSpec],
        rule_ids: &[String],
    ) -> Result<Vec<RuleInfo>, Error> {
        if perms.is_empty() && rule_ids.is_empty() {
            return Err(Fault::missing("IpPermissions").into());
        }
        for id in rule_ids {
            check_rule_id(id)?;
        }
        self.ensure_defaults_for(account, group)?;
        self.store().transaction(|t| {
            let mut g = self.resolve_group(t, account, group)?;
            let wanted = expand(t, account, &g, perms)?;
            let mut removed = Vec::new();
            for w in &wanted {
                let rules = g.rules_mut(direction);
                let Some(pos) = rules.iter().position(|r| same_rule(r, w)) else {
                    return Err(Fault::new(
                        "InvalidPermission.NotFound",
                        format!(
                            "The specified rule does not exist in this security group: \"{}\"",
                            describe_rule(w)
                        ),
                    )
                    .into());
                };
                removed.push(rules.remove(pos));
            }
            for id in rule_ids {
                let rules = g.rules_mut(direction);
                let Some(pos) = rules.iter().position(|r| r.id == *id) else {
                    return Err(rule_not_found(id).into());
                };
                removed.push(rules.remove(pos));
            }
            let out = removed
                .into_iter()
                .map(|r| info(account, &g, direction, r))
                .collect();
            t.put(account, g);
            Ok(out)
        })
    }

    /// Every rule of the account's groups, with its group.
    fn all_rules(&self, account: &str) -> Result<Vec<RuleInfo>, Error> {
        let groups = self.store().list::<SecurityGroup>(account)?;
        let mut out = Vec::new();
        for g in &groups {
            for d in [Direction::Ingress, Direction::Egress] {
                out.extend(g.rules(d).iter().map(|r| info(account, g, d, r.clone())));
            }
        }
        Ok(out)
    }

    /// `DescribeSecurityGroupRules`: by ids and filters, paginated by rule id.
    pub fn describe_security_group_rules(
        &self,
        account: &str,
        ids: &[String],
        filters: &[Filter],
        max_results: Option<i32>,
        next_token: Option<&str>,
    ) -> Result<Page<RuleInfo>, Error> {
        let set = FilterSet::compile(&RULE_FILTERS, filters).map_err(Fault::from)?;
        for id in ids {
            check_rule_id(id)?;
        }
        let all = self.all_rules(account)?;
        for id in ids {
            if !all.iter().any(|r| r.rule.id == *id) {
                return Err(rule_not_found(id).into());
            }
        }
        let rows: Vec<RuleInfo> = all
            .into_iter()
            .filter(|r| ids.is_empty() || ids.contains(&r.rule.id))
            .filter(|r| set.matches(r))
            .collect();
        let scope = format!("DescribeSecurityGroupRules{filters:?}{ids:?}");
        Ok(self
            .paginator()
            .page(
                rows,
                |r| r.rule.id.as_str(),
                &scope,
                next_token,
                page_size(max_results),
            )
            .map_err(Fault::from)?)
    }

    /// `ModifySecurityGroupRules`: replaces rules of `group_id` in place, keeping their ids,
    /// directions and tags.
    pub fn modify_security_group_rules(
        &self,
        account: &str,
        group_id: &str,
        updates: &[(String, RuleSpec)],
    ) -> Result<(), Error> {
        if updates.is_empty() {
            return Err(Fault::missing("SecurityGroupRule").into());
        }
        self.store().transaction(|t| {
            let mut g = self.resolve_group(t, account, &GroupRef::Id(group_id.to_owned()))?;
            for (id, spec) in updates {
                check_rule_id(id)?;
                let direction = if g.ingress.iter().any(|r| r.id == *id) {
                    Direction::Ingress
                } else if g.egress.iter().any(|r| r.id == *id) {
                    Direction::Egress
                } else {
                    return Err(rule_not_found(id).into());
                };
                let targets: Vec<TargetSpec> = [
                    spec.cidr_ipv4.clone().map(TargetSpec::Cidr4),
                    spec.cidr_ipv6.clone().map(TargetSpec::Cidr6),
                    spec.prefix_list_id.clone().map(TargetSpec::PrefixList),
                    spec.referenced_group_id.clone().map(|g| TargetSpec::Group {
                        group_id: Some(g),
                        group_name: None,
                        user_id: None,
                    }),
                ]
                .into_iter()
                .flatten()
                .collect();
                let [target] = targets.as_slice() else {
                    return Err(Fault::invalid_combination(
                        "Exactly one of CidrIpv4, CidrIpv6, PrefixListId and ReferencedGroupId must be given",
                    )
                    .into());
                };
                let perm = PermissionSpec {
                    protocol: spec.protocol.clone(),
                    from_port: spec.from_port,
                    to_port: spec.to_port,
                    targets: vec![(target.clone(), spec.description.clone())],
                };
                let mut fresh = expand(t, account, &g, &[perm])?;
                let Some(mut new) = fresh.pop() else {
                    return Err(Fault::missing("SecurityGroupRule").into());
                };
                let rules = g.rules_mut(direction);
                if rules.iter().any(|r| r.id != *id && same_rule(r, &new)) {
                    return Err(Fault::new(
                        "InvalidPermission.Duplicate",
                        format!("the specified rule \"{}\" already exists", describe_rule(&new)),
                    )
                    .into());
                }
                if let Some(old) = rules.iter_mut().find(|r| r.id == *id) {
                    new.id.clone_from(&old.id);
                    new.tags = std::mem::take(&mut old.tags);
                    *old = new;
                }
            }
            t.put(account, g);
            Ok(())
        })
    }

    /// `UpdateSecurityGroupRuleDescriptionsIngress` / `Egress`: sets descriptions of rules
    /// named by permission (the description each target carries) or by id.
    pub fn update_security_group_rule_descriptions(
        &self,
        account: &str,
        direction: Direction,
        group: &GroupRef,
        perms: &[PermissionSpec],
        by_id: &[(String, Option<String>)],
    ) -> Result<(), Error> {
        if perms.is_empty() && by_id.is_empty() {
            return Err(Fault::missing("IpPermissions").into());
        }
        self.ensure_defaults_for(account, group)?;
        self.store().transaction(|t| {
            let mut g = self.resolve_group(t, account, group)?;
            let wanted = expand(t, account, &g, perms)?;
            let rules = g.rules_mut(direction);
            for w in &wanted {
                let Some(r) = rules.iter_mut().find(|r| same_rule(r, w)) else {
                    return Err(Fault::new(
                        "InvalidPermission.NotFound",
                        format!(
                            "The specified rule does not exist in this security group: \"{}\"",
                            describe_rule(w)
                        ),
                    )
                    .into());
                };
                r.description.clone_from(&w.description);
            }
            for (id, description) in by_id {
                check_rule_id(id)?;
                check_description(description.as_ref())?;
                let Some(r) = rules.iter_mut().find(|r| r.id == *id) else {
                    return Err(rule_not_found(id).into());
                };
                r.description = description.clone().filter(|d| !d.is_empty());
            }
            t.put(account, g);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ec2::security_group::tests::seed_vpc;
    use crate::ec2::testing::ec2;

    fn code(e: Error) -> &'static str {
        match e {
            Error::Fault(f) => f.code,
            other => panic!("not a fault: {other}"),
        }
    }

    fn tcp(port: i32, cidrs: &[&str]) -> PermissionSpec {
        PermissionSpec {
            protocol: Some("6".into()),
            from_port: Some(port),
            to_port: Some(port),
            targets: cidrs
                .iter()
                .map(|c| (TargetSpec::Cidr4((*c).into()), None))
                .collect(),
        }
    }

    #[test]
    fn protocols_and_ports_normalise() {
        assert_eq!(normalize_protocol("TCP").expect("tcp"), "tcp");
        assert_eq!(normalize_protocol("6").expect("6"), "tcp");
        assert_eq!(normalize_protocol("all").expect("all"), "-1");
        assert_eq!(normalize_protocol("58").expect("58"), "icmpv6");
        assert_eq!(normalize_protocol("50").expect("50"), "50");
        assert!(normalize_protocol("bogus").is_err());
        assert!(normalize_protocol("256").is_err());
        assert_eq!(
            normalize_ports("-1", Some(0), Some(0)).expect("all"),
            (None, None)
        );
        assert_eq!(
            normalize_ports("50", Some(1), Some(2)).expect("esp"),
            (None, None)
        );
        assert!(normalize_ports("tcp", Some(22), None).is_err());
        assert!(normalize_ports("tcp", Some(23), Some(22)).is_err());
        assert!(normalize_ports("udp", Some(0), Some(65536)).is_err());
        assert_eq!(
            normalize_ports("icmp", None, None).expect("icmp"),
            (Some(-1), Some(-1))
        );
        assert!(normalize_ports("icmp", Some(-1), Some(3)).is_err());
        assert!(check_cidr4("10.0.0.0/8").is_ok());
        assert!(check_cidr4("10.0.0.0").is_err());
        assert!(check_cidr4("10.0.0.0/33").is_err());
        assert!(check_cidr6("::/0").is_ok());
        assert!(check_cidr6("2001:db8::/129").is_err());
    }

    #[test]
    fn authorize_revoke_describe() {
        let ec2 = ec2();
        seed_vpc(&ec2, "111", "vpc-1", false);
        let g = ec2
            .create_security_group("111", "web", "web", Some("vpc-1"), Vec::new())
            .expect("create");
        let other = ec2
            .create_security_group("111", "db", "db", Some("vpc-1"), Vec::new())
            .expect("create");
        let gid = GroupRef::Id(g.id.clone());
        let mut perm = tcp(22, &["10.0.0.0/8", "192.168.0.0/16"]);
        perm.targets.push((
            TargetSpec::Group {
                group_id: None,
                group_name: Some("db".into()),
                user_id: Some("111".into()),
            },
            Some("from db".into()),
        ));
        let tags = vec![Tag {
            key: "Name".into(),
            value: "ssh".into(),
        }];
        let added = ec2
            .authorize_security_group("111", Direction::Ingress, &gid, &[perm], tags)
            .expect("authorize");
        assert_eq!(added.len(), 3, "one rule per target");
        assert!(
            added
                .iter()
                .all(|r| r.rule.id.starts_with("sgr-") && !r.egress)
        );
        assert_eq!(added[0].rule.protocol, "tcp");
        assert_eq!(added[2].rule.tags[0].value, "ssh");
        // Exact duplicate (another spelling of the protocol) is refused, atomically.
        let mut dup = tcp(22, &["172.16.0.0/12", "10.0.0.0/8"]);
        dup.protocol = Some("tcp".into());
        let e = ec2.authorize_security_group("111", Direction::Ingress, &gid, &[dup], Vec::new());
        assert_eq!(code(e.expect_err("dup")), "InvalidPermission.Duplicate");
        let now = ec2.security_group("111", &g.id).expect("get");
        assert_eq!(now.ingress.len(), 3);
        let perms = permissions(&now.ingress);
        assert_eq!(perms.len(), 1, "regrouped into one permission");
        assert_eq!(perms[0].targets.len(), 3);
        // Referenced group cannot be deleted.
        let e = ec2.delete_security_group("111", &GroupRef::Id(other.id.clone()));
        assert_eq!(code(e.expect_err("in use")), "DependencyViolation");
        // Unknown referenced group.
        let bad = PermissionSpec {
            protocol: Some("-1".into()),
            targets: vec![(
                TargetSpec::Group {
                    group_id: Some("sg-0000000000000dead".into()),
                    group_name: None,
                    user_id: None,
                },
                None,
            )],
            ..Default::default()
        };
        let e = ec2.authorize_security_group("111", Direction::Egress, &gid, &[bad], Vec::new());
        assert_eq!(code(e.expect_err("unknown group")), "InvalidGroup.NotFound");

        // Describe rules: by group, by id, by tag, paginated.
        let f = |n: &str, v: &str| Filter {
            name: n.into(),
            values: vec![v.into()],
        };
        let rules = ec2
            .describe_security_group_rules("111", &[], &[f("group-id", &g.id)], None, None)
            .expect("rules");
        assert_eq!(rules.items.len(), 4, "3 ingress + default egress");
        let tagged = ec2
            .describe_security_group_rules("111", &[], &[f("tag:Name", "ssh")], None, None)
            .expect("tagged");
        assert_eq!(tagged.items.len(), 3);
        let page = ec2
            .describe_security_group_rules("111", &[], &[f("group-id", &g.id)], Some(3), None)
            .expect("page");
        assert_eq!(page.items.len(), 3);
        assert!(page.next_token.is_some());
        let e = ec2.describe_security_group_rules(
            "111",
            &["sgr-0000000000000beef".into()],
            &[],
            None,
            None,
        );
        assert_eq!(
            code(e.expect_err("missing")),
            "InvalidSecurityGroupRuleId.NotFound"
        );

        // Descriptions and modify.
        ec2.update_security_group_rule_descriptions(
            "111",
            Direction::Ingress,
            &gid,
            &[],
            &[(added[0].rule.id.clone(), Some("office".into()))],
        )
        .expect("describe by id");
        ec2.modify_security_group_rules(
            "111",
            &g.id,
            &[(
                added[1].rule.id.clone(),
                RuleSpec {
                    protocol: Some("udp".into()),
                    from_port: Some(53),
                    to_port: Some(53),
                    cidr_ipv4: Some("192.168.0.0/16".into()),
                    ..Default::default()
                },
            )],
        )
        .expect("modify");
        let now = ec2.security_group("111", &g.id).expect("get");
        assert_eq!(now.ingress[0].description.as_deref(), Some("office"));
        assert_eq!(now.ingress[1].protocol, "udp");
        assert_eq!(now.ingress[1].id, added[1].rule.id, "id kept");
        assert_eq!(now.ingress[1].tags.len(), 1, "tags kept");

        // Revoke by permission and by id; unknown ones are refused.
        let e = ec2.revoke_security_group(
            "111",
            Direction::Ingress,
            &gid,
            &[tcp(80, &["0.0.0.0/0"])],
            &[],
        );
        assert_eq!(code(e.expect_err("none")), "InvalidPermission.NotFound");
        let gone = ec2
            .revoke_security_group(
                "111",
                Direction::Ingress,
                &gid,
                &[tcp(22, &["10.0.0.0/8"])],
                std::slice::from_ref(&added[2].rule.id),
            )
            .expect("revoke");
        assert_eq!(gone.len(), 2);
        let e = ec2.revoke_security_group(
            "111",
            Direction::Ingress,
            &gid,
            &[],
            std::slice::from_ref(&added[2].rule.id),
        );
        assert_eq!(
            code(e.expect_err("again")),
            "InvalidSecurityGroupRuleId.NotFound"
        );
        // The default egress rule as Terraform revokes it (protocol -1, ports 0).
        ec2.revoke_security_group(
            "111",
            Direction::Egress,
            &gid,
            &[PermissionSpec {
                protocol: Some("-1".into()),
                from_port: Some(0),
                to_port: Some(0),
                targets: vec![(TargetSpec::Cidr4("0.0.0.0/0".into()), None)],
            }],
            &[],
        )
        .expect("revoke default egress");
        ec2.delete_security_group("111", &GroupRef::Id(other.id.clone()))
            .expect("no longer referenced");
    }
}
