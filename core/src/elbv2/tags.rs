//! `AddTags`, `RemoveTags`, `DescribeTags` for load balancers, target groups, listeners and
//! rules, addressed by ARN. Tags live on the records themselves, so a resource and its tags
//! are written (and deleted) in one transaction.
//!
//! Limits as AWS enforces them: 20 ARNs per call, 50 tags per resource (`TooManyTags`), keys
//! of 1–128 characters not starting with `aws:`, values up to 256.

use super::arn::{self, Kind};
use super::listener::Listener;
use super::load_balancer::LoadBalancer;
use super::rule::Rule;
use super::target_group::TargetGroup;
use super::{Elbv2, validation};
use crate::Error;
use crate::ec2::store::Txn;
use crate::ec2::{Fault, Record, Resource};
use crate::query::tags::Tag;

/// Most tags per resource.
pub const MAX_TAGS: usize = 50;
/// Most ARNs per call.
pub const MAX_ARNS: usize = 20;

fn check_keys(tags: &[Tag]) -> Result<(), Fault> {
    for (i, t) in tags.iter().enumerate() {
        let n = t.key.chars().count();
        if n == 0 || n > 128 {
            return Err(validation(format!(
                "Tag key '{}' must be 1 to 128 characters",
                t.key
            )));
        }
        if t.value.chars().count() > 256 {
            return Err(validation(format!(
                "The value of tag '{}' must be at most 256 characters",
                t.key
            )));
        }
        if t.key.to_ascii_lowercase().starts_with("aws:") {
            return Err(validation(format!(
                "Tag keys starting with 'aws:' are reserved: '{}'",
                t.key
            )));
        }
        if tags[..i].iter().any(|o| o.key == t.key) {
            return Err(Fault::new(
                "DuplicateTagKeys",
                format!("Tag key '{}' is duplicated", t.key),
            ));
        }
    }
    Ok(())
}

/// Checks the `Tags` of a create call.
pub(crate) fn check_new(tags: &[Tag]) -> Result<(), Fault> {
    check_keys(tags)?;
    if tags.len() > MAX_TAGS {
        return Err(Fault::new(
            "TooManyTags",
            format!("A resource can have at most {MAX_TAGS} tags"),
        ));
    }
    Ok(())
}

fn not_found(kind: Option<Kind>, arn: &str) -> Fault {
    match kind {
        Some(Kind::LoadBalancer) => Fault::new(
            "LoadBalancerNotFound",
            format!("Load balancer '{arn}' not found"),
        ),
        Some(Kind::TargetGroup) => Fault::new(
            "TargetGroupNotFound",
            format!("Target group '{arn}' not found"),
        ),
        Some(Kind::Listener) => {
            Fault::new("ListenerNotFound", format!("Listener '{arn}' not found"))
        }
        Some(Kind::Rule) => Fault::new("RuleNotFound", format!("Rule '{arn}' not found")),
        None => validation(format!(
            "'{arn}' is not a valid load balancer, target group, listener or rule ARN"
        )),
    }
}

fn find(t: &Txn<'_>, account: &str, arn: &str) -> Result<Resource, Fault> {
    let kind = arn::kind(arn);
    let found = match kind {
        Some(Kind::LoadBalancer) => t
            .get::<LoadBalancer>(account, arn)
            .map(Record::into_resource),
        Some(Kind::TargetGroup) => t
            .get::<TargetGroup>(account, arn)
            .map(Record::into_resource),
        Some(Kind::Listener) => t.get::<Listener>(account, arn).map(Record::into_resource),
        Some(Kind::Rule) => t.get::<Rule>(account, arn).map(Record::into_resource),
        None => None,
    };
    found.ok_or_else(|| not_found(kind, arn))
}

fn check_arns(arns: &[String]) -> Result<(), Fault> {
    if arns.is_empty() {
        return Err(validation("At least one resource ARN must be specified"));
    }
    if arns.len() > MAX_ARNS {
        return Err(validation(format!(
            "At most {MAX_ARNS} resource ARNs can be specified"
        )));
    }
    Ok(())
}

impl Elbv2 {
    /// `AddTags`: adds or overwrites, all resources or none.
    pub fn add_tags(&self, account: &str, arns: &[String], tags: &[Tag]) -> Result<(), Error> {
        check_arns(arns)?;
        if tags.is_empty() {
            return Err(validation("At least one tag must be specified").into());
        }
        check_keys(tags)?;
        self.ec2().store().transaction(|t| {
            for arn in arns {
                let mut r = find(t, account, arn)?;
                let current = r.tags_mut();
                for tag in tags {
                    match current.iter_mut().find(|c| c.key == tag.key) {
                        Some(c) => c.value = tag.value.clone(),
                        None => current.push(tag.clone()),
                    }
                }
                if current.len() > MAX_TAGS {
                    return Err(Fault::new(
                        "TooManyTags",
                        format!(
                            "The quota of {MAX_TAGS} tags for resource '{arn}' would be exceeded"
                        ),
                    )
                    .into());
                }
                t.put_resource(account, r);
            }
            Ok(())
        })
    }

    /// `RemoveTags`.
    pub fn remove_tags(
        &self,
        account: &str,
        arns: &[String],
        keys: &[String],
    ) -> Result<(), Error> {
        check_arns(arns)?;
        if keys.is_empty() {
            return Err(validation("At least one tag key must be specified").into());
        }
        self.ec2().store().transaction(|t| {
            for arn in arns {
                let mut r = find(t, account, arn)?;
                r.tags_mut().retain(|tag| !keys.contains(&tag.key));
                t.put_resource(account, r);
            }
            Ok(())
        })
    }

    /// `DescribeTags`: each resource's tags, in the order asked. A listener's default rule
    /// carries no tags of its own here.
    pub fn describe_tags(
        &self,
        account: &str,
        arns: &[String],
    ) -> Result<Vec<(String, Vec<Tag>)>, Error> {
        check_arns(arns)?;
        self.ec2().store().transaction(|t| {
            let mut out = Vec::with_capacity(arns.len());
            for arn in arns {
                let tags = match find(t, account, arn) {
                    Ok(r) => r.tags().to_vec(),
                    Err(_)
                        if arn::kind(arn) == Some(Kind::Rule)
                            && t.list::<Listener>(account)
                                .iter()
                                .any(|l| l.default_rule_arn == *arn) =>
                    {
                        Vec::new()
                    }
                    Err(f) => return Err(f.into()),
                };
                out.push((arn.clone(), tags));
            }
            Ok(out)
        })
    }
}
