//! Network ACLs: numbered stateless rules per direction, evaluated lowest number first, with
//! the catch-all deny rule 32767 that every ACL ends with. Every subnet is associated with
//! exactly one ACL of its VPC (the default one until `ReplaceNetworkAclAssociation`).

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::ec2::cidr::Cidr;
use crate::ec2::listing::{DescribeQuery, NotFound, flag, push, tag_pairs};
use crate::ec2::store::Txn;
use crate::ec2::vpc::vpc_in;
use crate::ec2::{Ec2, Fault};
use crate::ids;
use crate::query::filter::FilterTable;
use crate::query::paginate::Page;
use crate::query::tags::{self, Tag};

/// The catch-all rule number.
pub const CATCH_ALL: i32 = 32767;

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclEntry {
    /// 1..=32766 (32767 is the catch-all).
    pub rule_number: i32,
    /// Outbound rule.
    pub egress: bool,
    /// `-1` or an IP protocol number (`6`, `17`, `1`).
    pub protocol: String,
    /// `allow` or `deny`.
    pub rule_action: String,
    /// IPv4 block.
    pub cidr_block: String,
    /// ICMP type and code, for protocol 1.
    #[serde(default)]
    pub icmp: Option<(i32, i32)>,
    /// Port range, for TCP and UDP.
    #[serde(default)]
    pub ports: Option<(i32, i32)>,
}

impl AclEntry {
    fn all(rule_number: i32, egress: bool, action: &str) -> Self {
        Self {
            rule_number,
            egress,
            protocol: "-1".into(),
            rule_action: action.into(),
            cidr_block: "0.0.0.0/0".into(),
            icmp: None,
            ports: None,
        }
    }
}

/// An association with a subnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclAssociation {
    /// `aclassoc-…`.
    pub id: String,
    /// The subnet.
    pub subnet_id: String,
}

/// A network ACL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkAcl {
    /// `acl-…`.
    pub id: String,
    /// Owner account.
    pub owner_id: String,
    /// Its VPC.
    pub vpc_id: String,
    /// The VPC's default ACL.
    pub is_default: bool,
    /// Rules.
    pub entries: Vec<AclEntry>,
    /// Subnet associations.
    #[serde(default)]
    pub associations: Vec<AclAssociation>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl NetworkAcl {
    /// A custom ACL: only the catch-all denies.
    #[must_use]
    pub fn new(vpc_id: &str, account: &str) -> Self {
        Self {
            id: ids::resource_id("acl"),
            owner_id: account.into(),
            vpc_id: vpc_id.into(),
            is_default: false,
            entries: vec![
                AclEntry::all(CATCH_ALL, true, "deny"),
                AclEntry::all(CATCH_ALL, false, "deny"),
            ],
            associations: Vec::new(),
            tags: Vec::new(),
        }
    }

    /// The VPC's default ACL: rule 100 allows everything, both ways.
    #[must_use]
    pub fn default_for(vpc_id: &str, account: &str) -> Self {
        let mut acl = Self::new(vpc_id, account);
        acl.is_default = true;
        acl.entries.insert(0, AclEntry::all(100, true, "allow"));
        acl.entries.insert(1, AclEntry::all(100, false, "allow"));
        acl
    }

    /// Associates `subnet_id` (no checks).
    pub fn associate(&mut self, subnet_id: &str) -> String {
        let id = ids::resource_id("aclassoc");
        self.associations.push(AclAssociation {
            id: id.clone(),
            subnet_id: subnet_id.into(),
        });
        id
    }

    fn sort(&mut self) {
        self.entries
            .sort_by_key(|e| (std::cmp::Reverse(e.egress), e.rule_number));
    }
}

pub(crate) const ACL_NOT_FOUND: NotFound = NotFound {
    code: "InvalidNetworkAclID.NotFound",
    what: "network ACL",
};

static ACL_FILTERS: FilterTable<NetworkAcl> = FilterTable {
    resource: "network ACL",
    fields: &[
        ("association.association-id", |a, o| {
            o.extend(a.associations.iter().map(|x| x.id.clone()));
        }),
        ("association.network-acl-id", |a, o| {
            o.extend(a.associations.iter().map(|_| a.id.clone()));
        }),
        ("association.subnet-id", |a, o| {
            o.extend(a.associations.iter().map(|x| x.subnet_id.clone()));
        }),
        ("default", |a, o| o.push(flag(a.is_default))),
        ("entry.cidr", |a, o| {
            o.extend(a.entries.iter().map(|e| e.cidr_block.clone()));
        }),
        ("entry.icmp.code", |a, o| {
            o.extend(
                a.entries
                    .iter()
                    .filter_map(|e| e.icmp.map(|i| i.1.to_string())),
            );
        }),
        ("entry.icmp.type", |a, o| {
            o.extend(
                a.entries
                    .iter()
                    .filter_map(|e| e.icmp.map(|i| i.0.to_string())),
            );
        }),
        ("entry.ipv6-cidr", |_, _| {}),
        ("entry.port-range.from", |a, o| {
            o.extend(
                a.entries
                    .iter()
                    .filter_map(|e| e.ports.map(|p| p.0.to_string())),
            );
        }),
        ("entry.port-range.to", |a, o| {
            o.extend(
                a.entries
                    .iter()
                    .filter_map(|e| e.ports.map(|p| p.1.to_string())),
            );
        }),
        ("entry.protocol", |a, o| {
            o.extend(a.entries.iter().map(|e| e.protocol.clone()));
        }),
        ("entry.rule-action", |a, o| {
            o.extend(a.entries.iter().map(|e| e.rule_action.clone()));
        }),
        ("entry.egress", |a, o| {
            o.extend(a.entries.iter().map(|e| flag(e.egress)));
        }),
        ("entry.rule-number", |a, o| {
            o.extend(a.entries.iter().map(|e| e.rule_number.to_string()));
        }),
        ("network-acl-id", |a, o| push(o, &a.id)),
        ("owner-id", |a, o| push(o, &a.owner_id)),
        ("vpc-id", |a, o| push(o, &a.vpc_id)),
    ],
    tags: Some(|a| tag_pairs(&a.tags)),
};

fn acl_in(t: &Txn<'_>, account: &str, id: &str) -> Result<NetworkAcl, Fault> {
    t.get::<NetworkAcl>(account, id)
        .ok_or_else(|| ACL_NOT_FOUND.fault(id))
}

/// Normalises a protocol name or number to AWS's number form (`tcp` → `6`).
fn protocol_number(p: &str) -> Result<String, Fault> {
    let n = match p.to_ascii_lowercase().as_str() {
        "-1" | "all" => return Ok("-1".into()),
        "tcp" => 6,
        "udp" => 17,
        "icmp" => 1,
        "icmpv6" => 58,
        other => other
            .parse::<u8>()
            .map(i32::from)
            .map_err(|_| Fault::invalid_value(format!("Invalid value '{p}' for protocol.")))?,
    };
    Ok(n.to_string())
}

impl AclEntry {
    /// A rule from `CreateNetworkAclEntry` / `ReplaceNetworkAclEntry` parameters, checked.
    pub fn checked(
        rule_number: i32,
        egress: bool,
        protocol: &str,
        rule_action: &str,
        cidr_block: &str,
        icmp: Option<(i32, i32)>,
        ports: Option<(i32, i32)>,
    ) -> Result<Self, Fault> {
        if !(1..CATCH_ALL).contains(&rule_number) {
            return Err(Fault::invalid_value(format!(
                "Invalid value '{rule_number}' for ruleNumber. It must be between 1 and 32766."
            )));
        }
        if !matches!(rule_action, "allow" | "deny") {
            return Err(Fault::invalid_value(format!(
                "Invalid value '{rule_action}' for ruleAction."
            )));
        }
        let protocol = protocol_number(protocol)?;
        Cidr::parse_param(cidr_block, "cidrBlock")?;
        if matches!(protocol.as_str(), "6" | "17") && ports.is_none() {
            return Err(Fault::missing("portRange"));
        }
        if let Some((from, to)) = ports
            && (!(0..=65535).contains(&from) || !(0..=65535).contains(&to) || from > to)
        {
            return Err(Fault::invalid_value(format!(
                "Invalid port range {from}-{to}."
            )));
        }
        Ok(Self {
            rule_number,
            egress,
            protocol: protocol.clone(),
            rule_action: rule_action.into(),
            cidr_block: cidr_block.into(),
            icmp: if protocol == "1" { icmp } else { None },
            ports: if matches!(protocol.as_str(), "6" | "17") {
                ports
            } else {
                None
            },
        })
    }
}

impl Ec2 {
    /// `CreateNetworkAcl`.
    pub fn create_network_acl(
        &self,
        account: &str,
        vpc_id: &str,
        tags: Vec<Tag>,
    ) -> Result<NetworkAcl, Error> {
        tags::validate(&tags)?;
        self.store().transaction(|t| {
            let vpc = vpc_in(t, account, vpc_id)?;
            let mut acl = NetworkAcl::new(&vpc.id, account);
            acl.tags = tags;
            t.put(account, acl.clone());
            Ok(acl)
        })
    }

    /// `DescribeNetworkAcls`.
    pub fn describe_network_acls(
        &self,
        account: &str,
        q: &DescribeQuery,
    ) -> Result<Page<NetworkAcl>, Error> {
        self.ensure_defaults(account)?;
        self.describe(
            account,
            "DescribeNetworkAcls",
            &ACL_FILTERS,
            ACL_NOT_FOUND,
            q,
            |_| true,
        )
    }

    /// `DeleteNetworkAcl`: not the default ACL, nor one with subnets.
    pub fn delete_network_acl(&self, account: &str, acl_id: &str) -> Result<(), Error> {
        self.store().transaction(|t| {
            let acl = acl_in(t, account, acl_id)?;
            if acl.is_default {
                return Err(Fault::new(
                    "InvalidParameterValue",
                    format!("cannot delete default network ACL {acl_id}"),
                )
                .into());
            }
            if !acl.associations.is_empty() {
                return Err(Fault::dependency(format!(
                    "The networkAcl '{acl_id}' has dependencies and cannot be deleted."
                ))
                .into());
            }
            t.delete::<NetworkAcl>(account, acl_id);
            Ok(())
        })
    }

    /// `CreateNetworkAclEntry` (`replace` false: `NetworkAclEntryAlreadyExists` when taken) or
    /// `ReplaceNetworkAclEntry` (`replace` true: `InvalidNetworkAclEntry.NotFound` when absent).
    pub fn put_network_acl_entry(
        &self,
        account: &str,
        acl_id: &str,
        entry: AclEntry,
        replace: bool,
    ) -> Result<(), Error> {
        self.store().transaction(|t| {
            let mut acl = acl_in(t, account, acl_id)?;
            let pos = acl
                .entries
                .iter()
                .position(|e| e.rule_number == entry.rule_number && e.egress == entry.egress);
            match (pos, replace) {
                (Some(_), false) => {
                    return Err(Fault::new(
                        "NetworkAclEntryAlreadyExists",
                        format!(
                            "The network acl entry identified by {} already exists.",
                            entry.rule_number
                        ),
                    )
                    .into());
                }
                (None, true) => {
                    return Err(Fault::new(
                        "InvalidNetworkAclEntry.NotFound",
                        format!(
                            "The network acl entry identified by {} does not exist.",
                            entry.rule_number
                        ),
                    )
                    .into());
                }
                (Some(i), true) => acl.entries[i] = entry,
                (None, false) => acl.entries.push(entry),
            }
            acl.sort();
            t.put(account, acl);
            Ok(())
        })
    }

    /// `DeleteNetworkAclEntry`.
    pub fn delete_network_acl_entry(
        &self,
        account: &str,
        acl_id: &str,
        rule_number: i32,
        egress: bool,
    ) -> Result<(), Error> {
        self.store().transaction(|t| {
            let mut acl = acl_in(t, account, acl_id)?;
            if rule_number == CATCH_ALL {
                return Err(
                    Fault::invalid_value("The default rule 32767 cannot be deleted.").into(),
                );
            }
            let before = acl.entries.len();
            acl.entries
                .retain(|e| !(e.rule_number == rule_number && e.egress == egress));
            if acl.entries.len() == before {
                return Err(Fault::new(
                    "InvalidNetworkAclEntry.NotFound",
                    format!("The network acl entry identified by {rule_number} does not exist."),
                )
                .into());
            }
            t.put(account, acl);
            Ok(())
        })
    }

    /// `ReplaceNetworkAclAssociation`: moves a subnet to another ACL of its VPC.
    pub fn replace_network_acl_association(
        &self,
        account: &str,
        association_id: &str,
        acl_id: &str,
    ) -> Result<String, Error> {
        self.store().transaction(|t| {
            let mut target = acl_in(t, account, acl_id)?;
            let Some(mut old) = t
                .list::<NetworkAcl>(account)
                .into_iter()
                .find(|a| a.associations.iter().any(|x| x.id == association_id))
            else {
                return Err(Fault::new(
                    "InvalidAssociationID.NotFound",
                    format!("The association ID '{association_id}' does not exist"),
                )
                .into());
            };
            if old.vpc_id != target.vpc_id {
                return Err(Fault::invalid_value(format!(
                    "Network ACL {acl_id} belongs to a different VPC than association {association_id}"
                ))
                .into());
            }
            let Some(subnet) = old.associations.iter().find(|x| x.id == association_id).map(|x| x.subnet_id.clone()) else {
                return Err(Fault::invalid_value("association vanished").into());
            };
            if old.id == target.id {
                target.associations.retain(|x| x.id != association_id);
            } else {
                old.associations.retain(|x| x.id != association_id);
                t.put(account, old);
            }
            let id = target.associate(&subnet);
            t.put(account, target);
            Ok(id)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "111111111111";

    fn code(e: Error) -> String {
        e.to_string()
            .split(':')
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    #[test]
    fn entries_and_associations() {
        let ec2 = crate::ec2::testing::ec2();
        let vpc = ec2
            .create_vpc(A, "10.0.0.0/16", None, false, vec![])
            .expect("vpc");
        let s = ec2
            .create_subnet(A, &vpc.id, "10.0.1.0/24", None, None, vec![])
            .expect("subnet");
        let acl = ec2.create_network_acl(A, &vpc.id, vec![]).expect("acl");
        assert_eq!(acl.entries.len(), 2);
        let e = AclEntry::checked(10, false, "tcp", "allow", "0.0.0.0/0", None, Some((22, 22)))
            .expect("entry");
        assert_eq!(e.protocol, "6");
        ec2.put_network_acl_entry(A, &acl.id, e.clone(), false)
            .expect("create");
        assert_eq!(
            code(
                ec2.put_network_acl_entry(A, &acl.id, e.clone(), false)
                    .expect_err("dup")
            ),
            "NetworkAclEntryAlreadyExists"
        );
        ec2.put_network_acl_entry(
            A,
            &acl.id,
            AclEntry {
                rule_action: "deny".into(),
                ..e
            },
            true,
        )
        .expect("replace");
        assert!(
            AclEntry::checked(0, false, "tcp", "allow", "0.0.0.0/0", None, Some((1, 2))).is_err()
        );
        assert!(AclEntry::checked(5, false, "tcp", "allow", "0.0.0.0/0", None, None).is_err());
        assert_eq!(
            code(
                ec2.delete_network_acl_entry(A, &acl.id, 11, false)
                    .expect_err("nf")
            ),
            "InvalidNetworkAclEntry.NotFound"
        );
        assert!(
            ec2.delete_network_acl_entry(A, &acl.id, CATCH_ALL, false)
                .is_err()
        );
        let default = ec2
            .store()
            .get::<NetworkAcl>(A, &vpc.default_network_acl_id)
            .expect("g")
            .expect("acl");
        let assoc = default
            .associations
            .iter()
            .find(|a| a.subnet_id == s.id)
            .expect("associated")
            .id
            .clone();
        let new = ec2
            .replace_network_acl_association(A, &assoc, &acl.id)
            .expect("replace");
        assert_eq!(
            code(ec2.delete_network_acl(A, &acl.id).expect_err("in use")),
            "DependencyViolation"
        );
        assert_eq!(
            code(ec2.delete_network_acl(A, &default.id).expect_err("default")),
            "InvalidParameterValue"
        );
        ec2.replace_network_acl_association(A, &new, &default.id)
            .expect("back");
        ec2.delete_network_acl_entry(A, &acl.id, 10, false)
            .expect("delete entry");
        ec2.delete_network_acl(A, &acl.id).expect("delete");
    }
}
