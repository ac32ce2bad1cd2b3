//! `CreateTags`, `DeleteTags` and `DescribeTags` over every stored resource type at once.
//!
//! Tags live inside each record ([`Resource::tags_mut`]); the type an id names comes from its
//! prefix ([`Resource::kind_of_id`]), as AWS ids encode it. Security group rules are the one
//! taggable thing that is not a record of its own: they live inside their group, so `sgr-…`
//! ids are looked up through the groups.

use super::Fault;
use super::model::Resource;
use super::security_group::SecurityGroup;
use super::store::Txn;
use crate::Error;
use crate::ec2::Ec2;
use crate::query::filter::{Filter, FilterSet, FilterTable};
use crate::query::paginate::{Page, page_size};
use crate::query::tags::{MAX_TAGS_PER_RESOURCE, Tag, validate};

/// The kind name of security group rules (`DescribeTags`' `resource-type`).
pub const SECURITY_GROUP_RULE: &str = "security-group-rule";

/// The error code AWS answers for a missing resource of each kind.
const NOT_FOUND: &[(&str, &str)] = &[
    ("vpc", "InvalidVpcID.NotFound"),
    ("subnet", "InvalidSubnetID.NotFound"),
    ("security-group", "InvalidGroup.NotFound"),
    (SECURITY_GROUP_RULE, "InvalidSecurityGroupRuleId.NotFound"),
    ("key-pair", "InvalidKeyPair.NotFound"),
    ("image", "InvalidAMIID.NotFound"),
    ("instance", "InvalidInstanceID.NotFound"),
    ("volume", "InvalidVolume.NotFound"),
    ("snapshot", "InvalidSnapshot.NotFound"),
    ("network-interface", "InvalidNetworkInterfaceID.NotFound"),
    ("internet-gateway", "InvalidInternetGatewayID.NotFound"),
    (
        "egress-only-internet-gateway",
        "InvalidEgressOnlyInternetGatewayId.NotFound",
    ),
    ("route-table", "InvalidRouteTableID.NotFound"),
    ("network-acl", "InvalidNetworkAclID.NotFound"),
    ("elastic-ip", "InvalidAllocationID.NotFound"),
    ("launch-template", "InvalidLaunchTemplateId.NotFound"),
    ("natgateway", "NatGatewayNotFound"),
    ("dhcp-options", "InvalidDhcpOptionID.NotFound"),
    (
        "vpc-peering-connection",
        "InvalidVpcPeeringConnectionID.NotFound",
    ),
    ("vpc-endpoint", "InvalidVpcEndpointId.NotFound"),
    ("prefix-list", "InvalidPrefixListID.NotFound"),
    ("placement-group", "InvalidPlacementGroup.Unknown"),
];

/// The `.NotFound` code for a resource kind (`InvalidID` for kinds without their own).
#[must_use]
pub fn not_found_code(kind: &str) -> &'static str {
    NOT_FOUND
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or("InvalidID", |(_, c)| c)
}

/// One tag of one resource, as `DescribeTags` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceTag {
    /// The resource.
    pub resource_id: String,
    /// Its kind (`vpc`, `security-group-rule`, …).
    pub resource_type: &'static str,
    /// The tag.
    pub tag: Tag,
    /// All tags of the resource (for `tag:<key>` filters).
    resource_tags: Vec<(String, String)>,
    /// Sort and pagination key: resource id, NUL, tag key.
    cursor: String,
}

static DESCRIBE_TAGS_FILTERS: FilterTable<ResourceTag> = FilterTable {
    resource: "tag",
    fields: &[
        ("key", |r, out| out.push(r.tag.key.clone())),
        ("value", |r, out| out.push(r.tag.value.clone())),
        ("resource-id", |r, out| out.push(r.resource_id.clone())),
        ("resource-type", |r, out| {
            out.push(r.resource_type.to_owned());
        }),
    ],
    tags: Some(|r| r.resource_tags.clone()),
};

/// Whether EC2's tag calls speak of a record kind: not ELBv2's records (they share the store
/// but are tagged through ELBv2's `AddTags`) nor Kumo's internal markers (`kumo-…`).
fn ec2_kind(kind: &str) -> bool {
    !kind.starts_with("elbv2-") && !kind.starts_with("kumo-")
}

/// The kind an id names, including security group rules.
fn kind_of(id: &str) -> Result<&'static str, Fault> {
    if id.starts_with("sgr-") {
        return Ok(SECURITY_GROUP_RULE);
    }
    Resource::kind_of_id(id)
        .filter(|k| ec2_kind(k))
        .ok_or_else(|| Fault::new("InvalidID", format!("The ID '{id}' is not valid")))
}

/// Applies `change` to the tags of `id` inside `t` (rules are changed inside their group).
fn change_tags(
    t: &mut Txn<'_>,
    account: &str,
    id: &str,
    change: &dyn Fn(&mut Vec<Tag>),
) -> Result<(), Fault> {
    let kind = kind_of(id)?;
    let not_found = || {
        Fault::new(
            not_found_code(kind),
            format!("The ID '{id}' does not exist"),
        )
    };
    if kind == SECURITY_GROUP_RULE {
        let mut group = t
            .list::<SecurityGroup>(account)
            .into_iter()
            .find(|g| g.ingress.iter().chain(&g.egress).any(|r| r.id == id))
            .ok_or_else(not_found)?;
        for r in group.ingress.iter_mut().chain(group.egress.iter_mut()) {
            if r.id == id {
                change(&mut r.tags);
                check_count(id, &r.tags)?;
            }
        }
        t.put(account, group);
        return Ok(());
    }
    let mut resource = t.find(account, id).ok_or_else(not_found)?;
    change(resource.tags_mut());
    check_count(id, resource.tags())?;
    t.put_resource(account, resource);
    Ok(())
}

fn check_count(id: &str, tags: &[Tag]) -> Result<(), Fault> {
    if tags.len() > MAX_TAGS_PER_RESOURCE {
        return Err(Fault::new(
            "TagLimitExceeded",
            format!(
                "The maximum number of tags ({MAX_TAGS_PER_RESOURCE}) for resource {id} has been reached."
            ),
        ));
    }
    Ok(())
}

impl Ec2 {
    /// `CreateTags`: adds or overwrites `tags` on every resource, atomically.
    pub fn create_tags(&self, account: &str, ids: &[String], tags: &[Tag]) -> Result<(), Error> {
        if ids.is_empty() {
            return Err(Fault::missing("ResourceId").into());
        }
        if tags.is_empty() {
            return Err(Fault::missing("Tag").into());
        }
        validate(tags).map_err(|e| Fault::invalid_value(e.to_string()))?;
        self.store().transaction(|t| {
            for id in ids {
                change_tags(t, account, id, &|have: &mut Vec<Tag>| {
                    for tag in tags {
                        match have.iter_mut().find(|h| h.key == tag.key) {
                            Some(h) => h.value.clone_from(&tag.value),
                            None => have.push(tag.clone()),
                        }
                    }
                })?;
            }
            Ok(())
        })
    }

    /// `DeleteTags`: removes each `(key, value)` — with `Some(value)` only when the value
    /// matches — or every tag when `tags` is empty.
    pub fn delete_tags(
        &self,
        account: &str,
        ids: &[String],
        tags: &[(String, Option<String>)],
    ) -> Result<(), Error> {
        if ids.is_empty() {
            return Err(Fault::missing("ResourceId").into());
        }
        if tags
            .iter()
            .any(|(k, _)| k.to_ascii_lowercase().starts_with("aws:"))
        {
            return Err(Fault::invalid_value("Tag keys starting with 'aws:' are reserved").into());
        }
        self.store().transaction(|t| {
            for id in ids {
                change_tags(t, account, id, &|have: &mut Vec<Tag>| {
                    have.retain(|h| {
                        !tags.is_empty()
                            && !tags.iter().any(|(k, v)| {
                                *k == h.key && v.as_ref().is_none_or(|v| *v == h.value)
                            })
                    });
                })?;
            }
            Ok(())
        })
    }

    /// `DescribeTags`: every tag of every resource of the account, filtered, paginated.
    pub fn describe_tags(
        &self,
        account: &str,
        filters: &[Filter],
        max_results: Option<i32>,
        next_token: Option<&str>,
    ) -> Result<Page<ResourceTag>, Error> {
        let set = FilterSet::compile(&DESCRIBE_TAGS_FILTERS, filters).map_err(Fault::from)?;
        let mut rows = Vec::new();
        let mut push = |id: &str, kind: &'static str, tags: &[Tag]| {
            let all: Vec<(String, String)> = tags
                .iter()
                .map(|t| (t.key.clone(), t.value.clone()))
                .collect();
            for tag in tags {
                let row = ResourceTag {
                    resource_id: id.to_owned(),
                    resource_type: kind,
                    tag: tag.clone(),
                    resource_tags: all.clone(),
                    cursor: format!("{id}\0{}", tag.key),
                };
                if set.matches(&row) {
                    rows.push(row);
                }
            }
        };
        for r in self.store().all(account)? {
            if !ec2_kind(r.kind()) {
                continue;
            }
            push(r.id(), r.kind(), r.tags());
            if let Resource::SecurityGroup(g) = &r {
                for rule in g.ingress.iter().chain(&g.egress) {
                    push(&rule.id, SECURITY_GROUP_RULE, &rule.tags);
                }
            }
        }
        let scope = format!("DescribeTags{filters:?}");
        Ok(self
            .paginator()
            .page(
                rows,
                |r| r.cursor.as_str(),
                &scope,
                next_token,
                page_size(max_results),
            )
            .map_err(Fault::from)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ec2::security_group::tests::seed_vpc;
    use crate::ec2::security_group::{Direction, GroupRef};
    use crate::ec2::sg_rules::{PermissionSpec, TargetSpec};
    use crate::ec2::testing::ec2;

    fn code(e: Error) -> &'static str {
        match e {
            Error::Fault(f) => f.code,
            other => panic!("not a fault: {other}"),
        }
    }

    fn tag(k: &str, v: &str) -> Tag {
        Tag {
            key: k.into(),
            value: v.into(),
        }
    }

    #[test]
    fn create_delete_describe_across_types() {
        let ec2 = ec2();
        let sg = seed_vpc(&ec2, "111", "vpc-1", false);
        let key = ec2
            .create_key_pair("111", "k", Some("ed25519"), None, Vec::new())
            .expect("key")
            .key_pair;
        let rule = ec2
            .authorize_security_group(
                "111",
                Direction::Ingress,
                &GroupRef::Id(sg.clone()),
                &[PermissionSpec {
                    protocol: Some("tcp".into()),
                    from_port: Some(22),
                    to_port: Some(22),
                    targets: vec![(TargetSpec::Cidr4("10.0.0.0/8".into()), None)],
                }],
                Vec::new(),
            )
            .expect("rule")
            .remove(0)
            .rule;
        let ids = vec![
            "vpc-1".to_owned(),
            sg.clone(),
            key.id.clone(),
            rule.id.clone(),
        ];
        ec2.create_tags("111", &ids, &[tag("Name", "x"), tag("env", "prod")])
            .expect("tag");
        ec2.create_tags("111", &ids[..1], &[tag("env", "dev")])
            .expect("overwrite");
        let all = ec2.describe_tags("111", &[], None, None).expect("describe");
        assert_eq!(all.items.len(), 8);
        let f = |n: &str, v: &str| Filter {
            name: n.into(),
            values: vec![v.into()],
        };
        let rules = ec2
            .describe_tags(
                "111",
                &[f("resource-type", SECURITY_GROUP_RULE)],
                None,
                None,
            )
            .expect("rules");
        assert_eq!(rules.items.len(), 2);
        let dev = ec2
            .describe_tags("111", &[f("tag:env", "dev")], None, None)
            .expect("tag filter");
        assert!(dev.items.iter().all(|r| r.resource_id == "vpc-1"));
        let page = ec2.describe_tags("111", &[], Some(5), None).expect("page");
        assert_eq!(page.items.len(), 5);
        let rest = ec2
            .describe_tags("111", &[], Some(5), page.next_token.as_deref())
            .expect("page 2");
        assert_eq!(rest.items.len(), 3);

        // Delete by key+value (value mismatch keeps it), by key, and all.
        ec2.delete_tags("111", &ids, &[("env".into(), Some("prod".into()))])
            .expect("by value");
        let left = ec2
            .describe_tags("111", &[f("key", "env")], None, None)
            .expect("left");
        assert_eq!(left.items.len(), 1, "vpc's env=dev stays");
        ec2.delete_tags("111", &ids[..1], &[("env".into(), None)])
            .expect("by key");
        ec2.delete_tags("111", &ids[1..], &[]).expect("all");
        let left = ec2.describe_tags("111", &[], None, None).expect("left");
        assert_eq!(left.items.len(), 1);
        assert_eq!(left.items[0].resource_id, "vpc-1");

        let e = ec2.create_tags("111", &["vpc-0000000000000dead".into()], &[tag("a", "b")]);
        assert_eq!(code(e.expect_err("missing")), "InvalidVpcID.NotFound");
        let e = ec2.create_tags("111", &["bogus-1".into()], &[tag("a", "b")]);
        assert_eq!(code(e.expect_err("bad id")), "InvalidID");
        let e = ec2.create_tags("222", &["vpc-1".into()], &[tag("a", "b")]);
        assert_eq!(code(e.expect_err("other account")), "InvalidVpcID.NotFound");
        let e = ec2.create_tags("111", &["vpc-1".into()], &[tag("aws:x", "b")]);
        assert_eq!(code(e.expect_err("reserved")), "InvalidParameterValue");
        let many: Vec<Tag> = (0..50).map(|i| tag(&format!("k{i}"), "")).collect();
        let e = ec2.create_tags("111", &["vpc-1".into()], &many);
        assert_eq!(code(e.expect_err("limit")), "TagLimitExceeded");
        assert_eq!(not_found_code("instance"), "InvalidInstanceID.NotFound");
    }
}
