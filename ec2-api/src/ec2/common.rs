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
