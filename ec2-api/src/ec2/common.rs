//! Conversions every EC2 module shares: tags, filters, ids, pages.
#![allow(dead_code)] // TODO(lead): remove once the resource modules use every helper.

use kumo_core::query::filter::Filter;
use kumo_core::query::tags::Tag;

use crate::generated::ec2 as wire;

/// Registers typed handlers: `ops!(action; "DescribeVpcs" => describe_vpcs, …)` where each
/// function is `fn(&Context, Input) -> Result<Output, QueryError>`.
macro_rules! ops {
    ($action:expr; $( $name:literal => $f:path ),* $(,)?) => {
        match $action {
            $( $name => Some(|ctx, input| crate::dispatch::typed(input, |i| $f(ctx, i))), )*
            _ => None,
        }
    };
}
pub(crate) use ops;

/// Wire filters to the core's.
#[must_use]
pub fn filters(filters: Option<Vec<wire::Filter>>) -> Vec<Filter> {
    filters
        .unwrap_or_default()
        .into_iter()
        .map(|f| Filter {
            name: f.name.unwrap_or_default(),
            values: f.values.unwrap_or_default(),
        })
        .collect()
}

/// Core tags to the wire (`None` when there are none, as EC2 omits an empty `tagSet`).
#[must_use]
pub fn tags_out(tags: &[Tag]) -> Option<Vec<wire::Tag>> {
    if tags.is_empty() {
        return None;
    }
    Some(
        tags.iter()
            .map(|t| wire::Tag {
                key: Some(t.key.clone()),
                value: Some(t.value.clone()),
            })
            .collect(),
    )
}

/// Wire tags to the core's (a missing value is the empty string, as AWS stores it).
#[must_use]
pub fn tags_in(tags: Option<Vec<wire::Tag>>) -> Vec<Tag> {
    tags.unwrap_or_default()
        .into_iter()
        .map(|t| Tag {
            key: t.key.unwrap_or_default(),
            value: t.value.unwrap_or_default(),
        })
        .collect()
}

/// The tags a create call's `TagSpecifications` give to resources of `resource_type`.
#[must_use]
pub fn tag_specs(specs: Option<Vec<wire::TagSpecification>>, resource_type: &str) -> Vec<Tag> {
    specs
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s.resource_type.is_some_and(|t| t.as_str() == resource_type))
        .flat_map(|s| tags_in(s.tags))
        .collect()
}

/// The wire value of a generated enum named `s` (`None` for a value the model lacks).
#[must_use]
pub fn enum_from<E: Copy>(all: &[E], values: &[&str], s: &str) -> Option<E> {
    values
        .iter()
        .position(|v| *v == s)
        .and_then(|i| all.get(i).copied())
}

/// `wenum!(wire::VpcState, "available")`.
macro_rules! wenum {
    ($t:ty, $s:expr) => {
        crate::ec2::common::enum_from(&<$t>::ALL, &<$t>::VALUES, $s)
    };
}
pub(crate) use wenum;

/// A required parameter, or `MissingParameter` naming it.
pub fn required(v: Option<String>, name: &str) -> Result<String, kumo_core::ec2::Fault> {
    v.filter(|s| !s.is_empty())
        .ok_or_else(|| kumo_core::ec2::Fault::missing(name))
}

/// A `Describe*` call's ids, filters and page.
#[must_use]
pub fn query(
    ids: Option<Vec<String>>,
    filters_in: Option<Vec<wire::Filter>>,
    max_results: Option<i32>,
    next_token: Option<String>,
) -> kumo_core::ec2::listing::DescribeQuery {
    kumo_core::ec2::listing::DescribeQuery {
        ids: ids.unwrap_or_default(),
        filters: filters(filters_in),
        max_results,
        next_token,
    }
}

/// Rewrites, in an output `node` shaped by `shape`, the string member `member` of every
/// structure named `structure` — for values AWS sends that the model's enum does not list
/// (an attached internet gateway's state is `available`).
pub fn rewrite_member(
    node: &mut crate::query::Node,
    shape: &crate::query::Shape,
    structure: &str,
    member: &str,
    f: &dyn Fn(&str) -> Option<String>,
) {
    use crate::query::{Node, Shape};
    match (shape, node) {
        (Shape::Structure(s), Node::Struct(fields)) => {
            for (m, field) in s.members.iter().zip(fields.iter_mut()) {
                let Some(field) = field else { continue };
                if s.name == structure && m.name == member {
                    if let Node::Str(v) = field
                        && let Some(new) = f(v)
                    {
                        *v = new;
                    }
                } else {
                    rewrite_member(field, m.shape, structure, member, f);
                }
            }
        }
        (Shape::List(l), Node::List(items)) => {
            for item in items {
                rewrite_member(item, l.member, structure, member, f);
            }
        }
        _ => {}
    }
}

/// The output of an operation whose model has none (`CreateTags`, `DeleteTags`).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoOutput;

impl crate::query::Typed for NoOutput {
    fn from_node(_: crate::query::Node) -> Option<Self> {
        Some(Self)
    }
    fn to_node(&self) -> crate::query::Node {
        crate::query::Node::Struct(Vec::new())
    }
}

/// A core string as a generated wire enum (`None` when the model does not know the value).
#[must_use]
pub fn en<E: crate::query::Typed>(s: &str) -> Option<E> {
    E::from_node(crate::query::Node::Str(s.to_owned()))
}

/// A generated wire enum as its string.
#[must_use]
pub fn en_str<E: crate::query::Typed>(e: &E) -> String {
    match e.to_node() {
        crate::query::Node::Str(s) => s,
        _ => String::new(),
    }
}

/// Milliseconds since the epoch as a wire timestamp.
#[must_use]
pub fn ts(ms: i64) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}
