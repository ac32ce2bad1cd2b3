//! Security groups: stateful ingress and egress rules by protocol, ports, CIDR, prefix list or
//! referenced group; the rules the network fabric turns into nftables chains.
//!
//! This module owns the group records and the group-level calls (create, describe, delete).
//! The rules inside a group — how a request's `IpPermissions` become single rules, duplicates,
//! revocation, descriptions — live in [`super::sg_rules`].
//!
//! Architecture invariant: a group's rules are stored inside its record, so one transaction
//! sees a group and all its rules; a rule that references a group names one in the same
//! account, and that group cannot be deleted while referenced.

use serde::{Deserialize, Serialize};

use super::Fault;
use super::sg_rules::rule_filter_values;
use super::store::Txn;
use super::vpc::Vpc;
use crate::Error;
use crate::ec2::Ec2;
use crate::ids;
use crate::query::filter::{Filter, FilterSet, FilterTable};
use crate::query::paginate::{Page, page_size};
use crate::query::tags::{Tag, validate};

/// What a rule allows traffic from (ingress) or to (egress).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RuleTarget {
    /// An IPv4 CIDR.
    Cidr4 {
        /// `0.0.0.0/0`.
        cidr: String,
    },
    /// An IPv6 CIDR.
    Cidr6 {
        /// `::/0`.
        cidr: String,
    },
    /// A managed prefix list.
    PrefixList {
        /// `pl-…`.
        id: String,
    },
    /// Members of a security group.
    Group {
        /// `sg-…`.
        group_id: String,
        /// Owner account of that group.
        owner: String,
    },
}

/// One rule: a single (protocol, ports, target) with its own `sgr-…` id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SgRule {
    /// `sgr-…`.
    pub id: String,
    /// `-1` (all), `tcp`, `udp`, `icmp`, `icmpv6` or an IP protocol number.
    pub protocol: String,
    /// First port (or ICMP type); `None` for all.
    pub from_port: Option<i32>,
    /// Last port (or ICMP code); `None` for all.
    pub to_port: Option<i32>,
    /// Source (ingress) or destination (egress).
    pub target: RuleTarget,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Tags of the rule.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A security group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroup {
    /// `sg-…`.
    pub id: String,
    /// Name, unique in its VPC.
    pub name: String,
    /// Description.
    pub description: String,
    /// Its VPC.
    pub vpc_id: String,
    /// Ingress rules.
    #[serde(default)]
    pub ingress: Vec<SgRule>,
    /// Egress rules.
    #[serde(default)]
    pub egress: Vec<SgRule>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl SgRule {
    /// AWS's default egress rule: all traffic to `0.0.0.0/0`.
    #[must_use]
    pub fn allow_all_egress() -> Self {
        Self {
            id: ids::resource_id("sgr"),
            protocol: "-1".into(),
            from_port: None,
            to_port: None,
            target: RuleTarget::Cidr4 {
                cidr: "0.0.0.0/0".into(),
            },
            description: None,
            tags: Vec::new(),
        }
    }
}

impl SecurityGroup {
    /// A new group with AWS's default egress rule and no ingress.
    #[must_use]
    pub fn new(name: &str, description: &str, vpc_id: &str) -> Self {
        Self {
            id: ids::resource_id("sg"),
            name: name.into(),
            description: description.into(),
            vpc_id: vpc_id.into(),
            ingress: Vec::new(),
            egress: vec![SgRule::allow_all_egress()],
            tags: Vec::new(),
        }
    }

    /// The VPC's `default` group: it also admits traffic from its own members.
    #[must_use]
    pub fn default_for(vpc_id: &str, account: &str) -> Self {
        let mut g = Self::new("default", "default VPC security group", vpc_id);
        g.ingress.push(SgRule {
            id: ids::resource_id("sgr"),
            protocol: "-1".into(),
            from_port: None,
            to_port: None,
            target: RuleTarget::Group {
                group_id: g.id.clone(),
                owner: account.into(),
            },
            description: None,
            tags: Vec::new(),
        });
        g
    }

    /// The rules of one direction.
    #[must_use]
    pub fn rules(&self, direction: Direction) -> &[SgRule] {
        match direction {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }

    /// The rules of one direction, to change them.
    pub fn rules_mut(&mut self, direction: Direction) -> &mut Vec<SgRule> {
        match direction {
            Direction::Ingress => &mut self.ingress,
            Direction::Egress => &mut self.egress,
        }
    }

    /// The groups this group's rules reference (for the network fabric: traffic from members
    /// of these groups is matched by membership, not address).
    #[must_use]
    pub fn referenced_groups(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .ingress
            .iter()
            .chain(&self.egress)
            .filter_map(|r| match &r.target {
                RuleTarget::Group { group_id, .. } => Some(group_id.as_str()),
                _ => None,
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Ingress or egress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Traffic into members.
    Ingress,
    /// Traffic out of members.
    Egress,
}

/// How a request names a group: by id, or (default VPC only, as AWS) by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRef {
    /// `sg-…`.
    Id(String),
    /// A group name in the default VPC.
    Name(String),
}

impl GroupRef {
    /// From a request's `GroupId` / `GroupName` pair (`MissingParameter` when neither).
    pub fn from_parts(id: Option<String>, name: Option<String>) -> Result<Self, Fault> {
        match (id.filter(|s| !s.is_empty()), name.filter(|s| !s.is_empty())) {
            (Some(id), _) => Ok(Self::Id(id)),
            (None, Some(name)) => Ok(Self::Name(name)),
            (None, None) => Err(Fault::missing("GroupId")),
        }
    }
}

/// A group as `DescribeSecurityGroups` filters it: the record plus the names of the groups
/// its rules reference (for the `*.group-name` filters).
#[derive(Debug, Clone)]
pub struct GroupRow {
    /// The group.
    pub group: SecurityGroup,
    /// Owner account.
    pub owner: String,
    /// `(id, name)` of every referenced group that exists.
    pub referenced_names: Vec<(String, String)>,
}

fn push_rules(row: &GroupRow, direction: Direction, what: &str, out: &mut Vec<String>) {
    for r in row.group.rules(direction) {
        rule_filter_values(r, what, &row.referenced_names, out);
    }
}

/// The filter names `DescribeSecurityGroups` accepts.
static GROUP_FILTERS: FilterTable<GroupRow> = FilterTable {
    resource: "security group",
    fields: &[
        ("description", |r, out| {
            out.push(r.group.description.clone())
        }),
        ("group-id", |r, out| out.push(r.group.id.clone())),
        ("group-name", |r, out| out.push(r.group.name.clone())),
        ("owner-id", |r, out| out.push(r.owner.clone())),
        ("vpc-id", |r, out| out.push(r.group.vpc_id.clone())),
        ("ip-permission.cidr", |r, out| {
            push_rules(r, Direction::Ingress, "cidr", out);
        }),
        ("ip-permission.ipv6-cidr", |r, out| {
            push_rules(r, Direction::Ingress, "ipv6-cidr", out);
        }),
        ("ip-permission.from-port", |r, out| {
            push_rules(r, Direction::Ingress, "from-port", out);
        }),
        ("ip-permission.to-port", |r, out| {
            push_rules(r, Direction::Ingress, "to-port", out);
        }),
        ("ip-permission.protocol", |r, out| {
            push_rules(r, Direction::Ingress, "protocol", out);
        }),
        ("ip-permission.group-id", |r, out| {
            push_rules(r, Direction::Ingress, "group-id", out);
        }),
        ("ip-permission.group-name", |r, out| {
            push_rules(r, Direction::Ingress, "group-name", out);
        }),
        ("ip-permission.prefix-list-id", |r, out| {
            push_rules(r, Direction::Ingress, "prefix-list-id", out);
        }),
        ("ip-permission.user-id", |r, out| {
            push_rules(r, Direction::Ingress, "user-id", out);
        }),
        ("egress.ip-permission.cidr", |r, out| {
            push_rules(r, Direction::Egress, "cidr", out);
        }),
        ("egress.ip-permission.ipv6-cidr", |r, out| {
            push_rules(r, Direction::Egress, "ipv6-cidr", out);
        }),
        ("egress.ip-permission.from-port", |r, out| {
            push_rules(r, Direction::Egress, "from-port", out);
        }),
        ("egress.ip-permission.to-port", |r, out| {
            push_rules(r, Direction::Egress, "to-port", out);
        }),
        ("egress.ip-permission.protocol", |r, out| {
            push_rules(r, Direction::Egress, "protocol", out);
        }),
        ("egress.ip-permission.group-id", |r, out| {
            push_rules(r, Direction::Egress, "group-id", out);
        }),
        ("egress.ip-permission.group-name", |r, out| {
            push_rules(r, Direction::Egress, "group-name", out);
        }),
        ("egress.ip-permission.prefix-list-id", |r, out| {
            push_rules(r, Direction::Egress, "prefix-list-id", out);
        }),
        ("egress.ip-permission.user-id", |r, out| {
            push_rules(r, Direction::Egress, "user-id", out);
        }),
    ],
    tags: Some(|r| {
        r.group
            .tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect()
    }),
};

/// Longest name or description AWS accepts.
const MAX_TEXT: usize = 255;

/// Checks a VPC group's name or description (or a rule's description) against AWS's rules:
/// at most 255 characters from `a-zA-Z0-9`, space and `._-:/()#,@[]+=&;{}!$*`.
pub(crate) fn check_text(parameter: &str, value: &str) -> Result<(), Fault> {
    const EXTRA: &str = " ._-:/()#,@[]+=&;{}!$*";
    if value.chars().count() > MAX_TEXT {
        return Err(Fault::invalid_value(format!(
            "Value for parameter {parameter} is invalid: it must be at most {MAX_TEXT} characters."
        )));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && !EXTRA.contains(*c))
    {
        return Err(Fault::invalid_value(format!(
            "Value ({value}) for parameter {parameter} is invalid. Character '{c}' is not allowed; \
             allowed are a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{{}}!$*"
        )));
    }
    Ok(())
}

/// `InvalidGroup.NotFound` for `what` (an id or name).
pub(crate) fn group_not_found(what: &str) -> Fault {
    Fault::new(
        "InvalidGroup.NotFound",
        format!("The security group '{what}' does not exist"),
    )
}

/// Checks the shape of a group id (`InvalidGroupId.Malformed`).
pub(crate) fn check_group_id(id: &str) -> Result<(), Fault> {
    let ok = id.strip_prefix("sg-").is_some_and(|h| {
        !h.is_empty() && h.len() <= 17 && h.bytes().all(|b| b.is_ascii_hexdigit())
    });
    if ok {
        Ok(())
    } else {
        Err(Fault::new(
            "InvalidGroupId.Malformed",
            format!("Invalid id: \"{id}\" (expecting \"sg-...\")"),
        ))
    }
}

impl Ec2 {
    /// The account's default VPC (`VPCIdNotSpecified` when it has none, i.e. the user deleted
    /// it). Callers run [`Ec2::ensure_defaults`] before their transaction, so a fresh account
    /// has one as AWS accounts do.
    pub(crate) fn default_vpc_id(&self, t: &Txn<'_>, account: &str) -> Result<String, Fault> {
        t.list::<Vpc>(account)
            .into_iter()
            .find(|v| v.is_default)
            .map(|v| v.id)
            .ok_or_else(|| Fault::new("VPCIdNotSpecified", "No default VPC for this user"))
    }

    /// Creates the account's default networking when `group` names a group (names resolve in
    /// the default VPC); call before the transaction that resolves it.
    pub(crate) fn ensure_defaults_for(&self, account: &str, group: &GroupRef) -> Result<(), Error> {
        if matches!(group, GroupRef::Name(_)) {
            self.ensure_defaults(account)?;
        }
        Ok(())
    }

    /// Resolves a [`GroupRef`] inside a transaction.
    pub(crate) fn resolve_group(
        &self,
        t: &Txn<'_>,
        account: &str,
        group: &GroupRef,
    ) -> Result<SecurityGroup, Fault> {
        match group {
            GroupRef::Id(id) => {
                check_group_id(id)?;
                t.get::<SecurityGroup>(account, id)
                    .ok_or_else(|| group_not_found(id))
            }
            GroupRef::Name(name) => {
                let vpc = self.default_vpc_id(t, account).map_err(|_| {
                    Fault::new(
                        "InvalidGroup.NotFound",
                        format!("The security group '{name}' does not exist in default VPC"),
                    )
                })?;
                t.list::<SecurityGroup>(account)
                    .into_iter()
                    .find(|g| g.vpc_id == vpc && g.name == *name)
                    .ok_or_else(|| {
                        Fault::new(
                            "InvalidGroup.NotFound",
                            format!(
                                "The security group '{name}' does not exist in default VPC '{vpc}'"
                            ),
                        )
                    })
            }
        }
    }

    /// The ARN of a group.
    #[must_use]
    pub fn security_group_arn(&self, account: &str, id: &str) -> String {
        format!(
            "arn:aws:ec2:{}:{account}:security-group/{id}",
            self.placement().region
        )
    }

    /// `CreateSecurityGroup`: a group in `vpc_id` (the default VPC when `None`) with AWS's
    /// default egress rule.
    pub fn create_security_group(
        &self,
        account: &str,
        name: &str,
        description: &str,
        vpc_id: Option<&str>,
        tags: Vec<Tag>,
    ) -> Result<SecurityGroup, Error> {
        if name.is_empty() {
            return Err(Fault::missing("GroupName").into());
        }
        if description.is_empty() {
            return Err(Fault::missing("GroupDescription").into());
        }
        check_text("GroupName", name)?;
        check_text("GroupDescription", description)?;
        if name.to_ascii_lowercase().starts_with("sg-") {
            return Err(Fault::invalid_value(format!(
                "Group names may not be in the format sg-*. Value ({name}) for parameter GroupName is invalid."
            ))
            .into());
        }
        validate(&tags).map_err(|e| Fault::invalid_value(e.to_string()))?;
        if vpc_id.is_none_or(str::is_empty) {
            self.ensure_defaults(account)?;
        }
        self.store().transaction(|t| {
            let vpc_id = match vpc_id.filter(|v| !v.is_empty()) {
                Some(v) => {
                    if t.get::<Vpc>(account, v).is_none() {
                        return Err(Fault::not_found("InvalidVpcID.NotFound", "vpc", v).into());
                    }
                    v.to_owned()
                }
                None => self.default_vpc_id(t, account)?,
            };
            if t.list::<SecurityGroup>(account)
                .iter()
                .any(|g| g.vpc_id == vpc_id && g.name == name)
            {
                return Err(Fault::new(
                    "InvalidGroup.Duplicate",
                    format!("The security group '{name}' already exists for VPC '{vpc_id}'"),
                )
                .into());
            }
            let mut g = SecurityGroup::new(name, description, &vpc_id);
            g.tags = tags;
            t.put(account, g.clone());
            Ok(g)
        })
    }

    /// One group of `account` by id (`InvalidGroup.NotFound`).
    pub fn security_group(&self, account: &str, id: &str) -> Result<SecurityGroup, Error> {
        check_group_id(id)?;
        self.store()
            .get::<SecurityGroup>(account, id)?
            .ok_or_else(|| group_not_found(id).into())
    }

    /// `DescribeSecurityGroups`: by ids, by names (default VPC), by filters, paginated.
    pub fn describe_security_groups(
        &self,
        account: &str,
        ids: &[String],
        names: &[String],
        filters: &[Filter],
        max_results: Option<i32>,
        next_token: Option<&str>,
    ) -> Result<Page<SecurityGroup>, Error> {
        self.ensure_defaults(account)?;
        let set = FilterSet::compile(&GROUP_FILTERS, filters).map_err(Fault::from)?;
        if max_results.is_some() && !ids.is_empty() {
            return Err(Fault::invalid_combination(
                "The parameter groupIdSet cannot be used with the parameter maxResults",
            )
            .into());
        }
        for id in ids {
            check_group_id(id)?;
        }
        let all = self.store().list::<SecurityGroup>(account)?;
        for id in ids {
            if !all.iter().any(|g| g.id == *id) {
                return Err(group_not_found(id).into());
            }
        }
        let default_vpc = if names.is_empty() {
            None
        } else {
            self.store()
                .scan(account, |v: &Vpc| v.is_default.then(|| v.id.clone()))?
                .pop()
        };
        for n in names {
            let found = all
                .iter()
                .any(|g| Some(&g.vpc_id) == default_vpc.as_ref() && g.name == *n);
            if !found {
                return Err(Fault::new(
                    "InvalidGroup.NotFound",
                    format!("The security group '{n}' does not exist in default VPC"),
                )
                .into());
            }
        }
        let names_of: Vec<(String, String)> =
            all.iter().map(|g| (g.id.clone(), g.name.clone())).collect();
        let rows: Vec<SecurityGroup> = all
            .into_iter()
            .filter(|g| ids.is_empty() || ids.contains(&g.id))
            .filter(|g| {
                names.is_empty()
                    || (Some(&g.vpc_id) == default_vpc.as_ref() && names.contains(&g.name))
            })
            .map(|g| {
                let referenced_names = g
                    .referenced_groups()
                    .into_iter()
                    .filter_map(|id| names_of.iter().find(|(i, _)| i == id).cloned())
                    .collect();
                GroupRow {
                    group: g,
                    owner: account.to_owned(),
                    referenced_names,
                }
            })
            .filter(|r| set.matches(r))
            .map(|r| r.group)
            .collect();
        let scope = format!("DescribeSecurityGroups{filters:?}{ids:?}{names:?}");
        Ok(self
            .paginator()
            .page(
                rows,
                |g| g.id.as_str(),
                &scope,
                next_token,
                page_size(max_results),
            )
            .map_err(Fault::from)?)
    }

    /// `DeleteSecurityGroup`: refuses the VPC's `default` group and groups still referenced
    /// by another group's rule or in use by a network interface. Returns the deleted id.
    pub fn delete_security_group(&self, account: &str, group: &GroupRef) -> Result<String, Error> {
        self.ensure_defaults_for(account, group)?;
        self.store().transaction(|t| {
            let g = self.resolve_group(t, account, group)?;
            if g.name == "default" {
                return Err(Fault::new(
                    "CannotDelete",
                    format!(
                        "the specified group: \"{}\" name: \"default\" cannot be deleted by a user",
                        g.id
                    ),
                )
                .into());
            }
            let referenced = t.list::<SecurityGroup>(account).iter().any(|other| {
                other.id != g.id && other.referenced_groups().contains(&g.id.as_str())
            });
            if referenced || group_in_use(t, account, &g.id) {
                return Err(
                    Fault::dependency(format!("resource {} has a dependent object", g.id)).into(),
                );
            }
            t.delete::<SecurityGroup>(account, &g.id);
            Ok(g.id)
        })
    }
}

impl Ec2 {
    /// The groups of `account` named by `ids`, in `ids` order; ids that name no group are
    /// skipped. For the network fabric: an interface's groups give its rules.
    pub fn security_groups_by_id(
        &self,
        account: &str,
        ids: &[String],
    ) -> Result<Vec<SecurityGroup>, Error> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.extend(self.store().get::<SecurityGroup>(account, id)?);
        }
        Ok(out)
    }

    /// The groups of `account` whose rules reference `group_id` (themselves included). For the
    /// network fabric: when an interface joins or leaves `group_id`, these groups' chains
    /// change, because their rules match its members by membership.
    pub fn security_groups_referencing(
        &self,
        account: &str,
        group_id: &str,
    ) -> Result<Vec<SecurityGroup>, Error> {
        self.store().scan(account, |g: &SecurityGroup| {
            g.referenced_groups().contains(&group_id).then(|| g.clone())
        })
    }

    /// `DescribeSecurityGroupReferences`: `(group, referencing VPC)` for each of `ids`
    /// referenced from another VPC. References cross VPCs only through peering or transit
    /// gateways, which Kumo does not have, so after checking the groups exist the answer is
    /// empty — and correct.
    pub fn describe_security_group_references(
        &self,
        account: &str,
        ids: &[String],
    ) -> Result<Vec<(String, String)>, Error> {
        if ids.is_empty() {
            return Err(Fault::missing("GroupId").into());
        }
        for id in ids {
            self.security_group(account, id)?;
        }
        Ok(Vec::new())
    }

    /// `DescribeStaleSecurityGroups`: groups of `vpc_id` with rules referencing groups across
    /// a deleted peering connection. Without peering there are none; the VPC is checked.
    pub fn describe_stale_security_groups(
        &self,
        account: &str,
        vpc_id: &str,
    ) -> Result<Vec<SecurityGroup>, Error> {
        if vpc_id.is_empty() {
            return Err(Fault::missing("VpcId").into());
        }
        if self.store().get::<Vpc>(account, vpc_id)?.is_none() {
            return Err(Fault::not_found("InvalidVpcID.NotFound", "vpc", vpc_id).into());
        }
        Ok(Vec::new())
    }
}

/// Whether a network interface or instance of `account` is a member of group `id`.
///
/// Hook for the instance and network-interface records (owned by the compute work): when
/// those types join `model.rs`, add here one check per type, e.g.
/// `t.list::<NetworkInterface>(account).iter().any(|n| n.groups.contains(id))`, so
/// `DeleteSecurityGroup` answers `DependencyViolation` while a group has members. No such
/// record type is stored yet, so nothing can be a member.
fn group_in_use(_t: &Txn<'_>, _account: &str, _id: &str) -> bool {
    false
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ec2::testing::ec2;

    /// Inserts a VPC (and its default group, as the VPC work will) for tests.
    pub(crate) fn seed_vpc(ec2: &Ec2, account: &str, id: &str, is_default: bool) -> String {
        let sg = SecurityGroup::default_for(id, account);
        let sg_id = sg.id.clone();
        let vpc = Vpc {
            id: id.into(),
            owner_id: account.into(),
            cidr_block: "10.0.0.0/16".into(),
            cidr_associations: Vec::new(),
            is_default,
            state: "available".into(),
            dhcp_options_id: "default".into(),
            instance_tenancy: "default".into(),
            enable_dns_support: true,
            enable_dns_hostnames: false,
            enable_network_address_usage_metrics: false,
            main_route_table_id: "rtb-1".into(),
            default_network_acl_id: "acl-1".into(),
            default_security_group_id: sg_id.clone(),
            vni: 0,
            tags: Vec::new(),
        };
        ec2.store()
            .transaction(|t| {
                t.put(account, vpc);
                t.put(account, sg);
                if is_default {
                    // The account's default networking is this VPC: ensure_defaults adds none.
                    t.put(
                        account,
                        crate::ec2::defaults::NetworkDefaults {
                            id: crate::ec2::defaults::MARKER_ID.into(),
                            dhcp_options_id: "default".into(),
                            tags: Vec::new(),
                        },
                    );
                }
                Ok(())
            })
            .expect("seed");
        sg_id
    }

    fn code(e: Error) -> &'static str {
        match e {
            Error::Fault(f) => f.code,
            other => panic!("not a fault: {other}"),
        }
    }

    #[test]
    fn create_rules_and_duplicates() {
        let ec2 = ec2();
        seed_vpc(&ec2, "111", "vpc-1", false);
        let g = ec2
            .create_security_group("111", "web", "Web servers", Some("vpc-1"), Vec::new())
            .expect("create");
        assert!(g.id.starts_with("sg-"));
        assert_eq!(g.egress.len(), 1, "default egress rule");
        assert_eq!(g.egress[0].protocol, "-1");
        let dup = ec2.create_security_group("111", "web", "x", Some("vpc-1"), Vec::new());
        assert_eq!(code(dup.expect_err("dup")), "InvalidGroup.Duplicate");
        let bad = ec2.create_security_group("111", "sg-web", "x", Some("vpc-1"), Vec::new());
        assert_eq!(code(bad.expect_err("sg-")), "InvalidParameterValue");
        let bad = ec2.create_security_group("111", "w", "caf\u{e9}", Some("vpc-1"), Vec::new());
        assert_eq!(code(bad.expect_err("charset")), "InvalidParameterValue");
        let bad = ec2.create_security_group("111", "w", "", Some("vpc-1"), Vec::new());
        assert_eq!(code(bad.expect_err("empty")), "MissingParameter");
        let bad = ec2.create_security_group("111", "w", "d", Some("vpc-2"), Vec::new());
        assert_eq!(code(bad.expect_err("vpc")), "InvalidVpcID.NotFound");
        // A fresh account gets its default VPC on first use; one whose default VPC is gone
        // (marker without VPC) gets VPCIdNotSpecified.
        let fresh = ec2
            .create_security_group("333", "w", "d", None, Vec::new())
            .expect("default VPC made on first use");
        let default_vpc = ec2
            .store()
            .list::<Vpc>("333")
            .expect("vpcs")
            .into_iter()
            .find(|v| v.is_default)
            .expect("default vpc");
        assert_eq!(fresh.vpc_id, default_vpc.id);
        ec2.store()
            .transaction(|t| {
                t.put(
                    "444",
                    crate::ec2::defaults::NetworkDefaults {
                        id: crate::ec2::defaults::MARKER_ID.into(),
                        dhcp_options_id: "default".into(),
                        tags: Vec::new(),
                    },
                );
                Ok(())
            })
            .expect("marker");
        let bad = ec2.create_security_group("444", "w", "d", None, Vec::new());
        assert_eq!(code(bad.expect_err("no default")), "VPCIdNotSpecified");
        let bad = ec2.create_security_group("222", "w", "d", Some("vpc-1"), Vec::new());
        assert_eq!(
            code(bad.expect_err("other account")),
            "InvalidVpcID.NotFound"
        );
        // Same name in another VPC is fine; default VPC is used when omitted.
        seed_vpc(&ec2, "111", "vpc-2", true);
        let other = ec2
            .create_security_group("111", "web", "x", None, Vec::new())
            .expect("default vpc");
        assert_eq!(other.vpc_id, "vpc-2");
    }

    #[test]
    fn describe_filters_and_delete() {
        let ec2 = ec2();
        let default_sg = seed_vpc(&ec2, "111", "vpc-1", true);
        let a = ec2
            .create_security_group(
                "111",
                "a",
                "first",
                Some("vpc-1"),
                vec![Tag {
                    key: "env".into(),
                    value: "prod".into(),
                }],
            )
            .expect("a");
        let f = |n: &str, v: &str| Filter {
            name: n.into(),
            values: vec![v.into()],
        };
        let got = ec2
            .describe_security_groups("111", &[], &[], &[f("tag:env", "prod")], None, None)
            .expect("describe");
        assert_eq!(got.items.len(), 1);
        assert_eq!(got.items[0].id, a.id);
        let got = ec2
            .describe_security_groups("111", &[], &["default".into()], &[], None, None)
            .expect("by name");
        assert_eq!(got.items[0].id, default_sg);
        let got = ec2
            .describe_security_groups(
                "111",
                &[],
                &[],
                &[f("ip-permission.group-name", "default")],
                None,
                None,
            )
            .expect("by referenced name");
        assert_eq!(got.items.len(), 1, "the default group references itself");
        let e = ec2.describe_security_groups("111", &["sg-0123".into()], &[], &[], None, None);
        assert_eq!(code(e.expect_err("missing")), "InvalidGroup.NotFound");
        let e = ec2.describe_security_groups("111", &["nope".into()], &[], &[], None, None);
        assert_eq!(code(e.expect_err("malformed")), "InvalidGroupId.Malformed");
        let e = ec2.describe_security_groups("111", &[], &[], &[f("colour", "x")], None, None);
        assert_eq!(code(e.expect_err("filter")), "InvalidParameterValue");
        let page = ec2
            .describe_security_groups("111", &[], &[], &[], Some(1), None)
            .expect("page");
        assert_eq!(page.items.len(), 1);
        let rest = ec2
            .describe_security_groups("111", &[], &[], &[], Some(5), page.next_token.as_deref())
            .expect("page 2");
        assert_eq!(rest.items.len(), 1);
        assert_ne!(rest.items[0].id, page.items[0].id);

        let referencing = ec2
            .security_groups_referencing("111", &default_sg)
            .expect("referencing");
        assert_eq!(referencing.len(), 1, "the default group references itself");
        let by_id = ec2
            .security_groups_by_id("111", &[a.id.clone(), "sg-0000000000000dead".into()])
            .expect("by id");
        assert_eq!(by_id.len(), 1);
        let e = ec2.delete_security_group("111", &GroupRef::Id(default_sg.clone()));
        assert_eq!(code(e.expect_err("default")), "CannotDelete");
        assert_eq!(
            ec2.delete_security_group("111", &GroupRef::Name("a".into()))
                .expect("delete by name"),
            a.id
        );
        let e = ec2.delete_security_group("111", &GroupRef::Id(a.id.clone()));
        assert_eq!(code(e.expect_err("gone")), "InvalidGroup.NotFound");
    }
}
