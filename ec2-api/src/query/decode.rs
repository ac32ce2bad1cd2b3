//! Form parameters -> [`Node`], driven by the shape tables.
//!
//! Both Query dialects flatten nested input into dotted keys; they differ in list and name
//! rules, which is all this module switches on:
//!
//! - ec2Query: members under `queryName` or the capitalised `locationName`; every list is
//!   flattened, `InstanceId.1`, `Filter.1.Value.2`, `TagSpecification.1.Tag.1.Key`.
//! - awsQuery: lists under `Name.member.N` (or the element's `locationName`), maps under
//!   `Name.entry.N.key` / `.value`, and an empty list sent as `Name=`.
//!
//! Validation follows AWS: a missing required member answers `MissingParameter` naming the
//! full key, a malformed or out-of-range value `InvalidParameterValue` naming it; unknown
//! parameters are ignored. Work is bounded by the number of parameters: nothing is visited
//! that no parameter names.

use std::collections::BTreeMap;

use base64::Engine as _;
use time::format_description::well_known::{Iso8601, Rfc3339};

use super::Protocol;
use super::node::{Node, Timestamp};
use super::shape::{ListShape, MapShape, Shape, StructShape};
use crate::error::QueryError;
use crate::params::Params;

/// Decodes `params` into a node of the input structure `shape` (the `Action` and `Version`
/// parameters are not members and are ignored like any unknown parameter).
pub fn decode_input(
    protocol: Protocol,
    shape: &'static Shape,
    params: &Params,
) -> Result<Node, QueryError> {
    let d = Decoder {
        params,
        ec2: protocol == Protocol::Ec2Query,
    };
    match shape {
        Shape::Structure(s) => d.structure("", s),
        _ => Err(QueryError::internal()),
    }
}

struct Decoder<'a> {
    params: &'a Params,
    ec2: bool,
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        let mut k = String::with_capacity(prefix.len() + 1 + name.len());
        k.push_str(prefix);
        k.push('.');
        k.push_str(name);
        k
    }
}

/// Shortens a caller-supplied value for an error message.
fn shown(value: &str) -> &str {
    match value.char_indices().nth(128) {
        Some((i, _)) => &value[..i],
        None => value,
    }
}

/// `InvalidParameterValue` naming the parameter.
pub fn invalid(key: &str, value: &str, why: &str) -> QueryError {
    let mut message = format!("Value ({}) for parameter {key} is invalid.", shown(value));
    if !why.is_empty() {
        message.push(' ');
        message.push_str(why);
    }
    QueryError::client("InvalidParameterValue", message)
}

/// Parses an ISO 8601 / RFC 3339 timestamp, or epoch seconds, as the Query protocols accept.
pub fn parse_timestamp(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if let Ok(t) = Timestamp::parse(text, &Rfc3339) {
        return Some(t);
    }
    if let Ok(t) = Timestamp::parse(text, &Iso8601::DEFAULT) {
        return Some(t);
    }
    let secs: f64 = text.parse().ok().filter(|s: &f64| s.is_finite())?;
    #[allow(clippy::cast_possible_truncation)]
    let nanos = (secs * 1e9).round() as i128;
    Timestamp::from_unix_timestamp_nanos(nanos).ok()
}

fn range_check(
    key: &str,
    text: &str,
    n: i64,
    min: Option<i64>,
    max: Option<i64>,
) -> Result<i64, QueryError> {
    let low = min.is_some_and(|m| n < m);
    let high = max.is_some_and(|m| n > m);
    if !(low || high) {
        return Ok(n);
    }
    let why = match (min, max) {
        (Some(a), Some(b)) => format!("It must be between {a} and {b}."),
        (Some(a), None) => format!("It must be at least {a}."),
        (_, Some(b)) => format!("It must be at most {b}."),
        (None, None) => String::new(),
    };
    Err(invalid(key, text, &why))
}

impl Decoder<'_> {
    fn structure(&self, prefix: &str, s: &StructShape) -> Result<Node, QueryError> {
        let mut fields = Vec::with_capacity(s.members.len());
        for m in s.members {
            let key = join(prefix, m.query);
            let value = self.value(&key, m.shape)?;
            if value.is_none() && m.required {
                return Err(QueryError::missing_parameter(&key));
            }
            fields.push(value);
        }
        Ok(Node::Struct(fields))
    }

    fn has_children(&self, key: &str) -> bool {
        let prefix = format!("{key}.");
        self.params.with_prefix(&prefix).next().is_some()
    }

    /// The distinct positive indices `N` of keys `prefix.N[.…]`, in numeric order, with the
    /// index text as sent.
    fn indices<'p>(&'p self, prefix: &str) -> BTreeMap<u64, &'p str> {
        let dotted = format!("{prefix}.");
        let mut out = BTreeMap::new();
        for (k, _) in self.params.with_prefix(&dotted) {
            let rest = &k[dotted.len()..];
            let seg = rest.split('.').next().unwrap_or_default();
            if !seg.is_empty()
                && seg.len() <= 9
                && seg.bytes().all(|b| b.is_ascii_digit())
                && let Ok(n) = seg.parse::<u64>()
                && n > 0
            {
                out.entry(n).or_insert(seg);
            }
        }
        out
    }

    fn value(&self, key: &str, shape: &'static Shape) -> Result<Option<Node>, QueryError> {
        match shape {
            Shape::Structure(s) => {
                if self.has_children(key) {
                    self.structure(key, s).map(Some)
                } else {
                    Ok(None)
                }
            }
            Shape::List(l) => self.list(key, l),
            Shape::Map(m) => self.map(key, m),
            scalar => match self.params.get(key) {
                None => Ok(None),
                Some(text) => scalar_value(key, text, scalar).map(Some),
            },
        }
    }

    fn list(&self, key: &str, l: &ListShape) -> Result<Option<Node>, QueryError> {
        let items_prefix = if self.ec2 {
            key.to_owned()
        } else if l.flattened {
            match (l.member_name, key.rsplit_once('.')) {
                (Some(name), Some((parent, _))) => join(parent, name),
                (Some(name), None) => name.to_owned(),
                (None, _) => key.to_owned(),
            }
        } else {
            join(key, l.member_name.unwrap_or("member"))
        };
        let indices = self.indices(&items_prefix);
        if indices.is_empty() {
            // awsQuery sends an empty list as `Name=`.
            return Ok(
                (!self.ec2 && self.params.get(key) == Some("")).then(|| Node::List(Vec::new()))
            );
        }
        let mut items = Vec::with_capacity(indices.len());
        for seg in indices.values() {
            let item_key = join(&items_prefix, seg);
            match self.value(&item_key, l.member)? {
                Some(v) => items.push(v),
                None => return Err(QueryError::missing_parameter(&item_key)),
            }
        }
        Ok(Some(Node::List(items)))
    }

    fn map(&self, key: &str, m: &MapShape) -> Result<Option<Node>, QueryError> {
        let entries_prefix = if m.flattened {
            key.to_owned()
        } else {
            join(key, "entry")
        };
        let indices = self.indices(&entries_prefix);
        if indices.is_empty() {
            return Ok((self.params.get(key) == Some("")).then(|| Node::Map(Vec::new())));
        }
        let mut entries = Vec::with_capacity(indices.len());
        for seg in indices.values() {
            let entry = join(&entries_prefix, seg);
            let key_key = join(&entry, m.key_name);
            let Some(k) = self.params.get(&key_key) else {
                return Err(QueryError::missing_parameter(&key_key));
            };
            let Node::Str(k) = scalar_value(&key_key, k, m.key)? else {
                return Err(invalid(&key_key, k, ""));
            };
            let value_key = join(&entry, m.value_name);
            match self.value(&value_key, m.value)? {
                Some(v) => entries.push((k, v)),
                None => return Err(QueryError::missing_parameter(&value_key)),
            }
        }
        Ok(Some(Node::Map(entries)))
    }
}

fn scalar_value(key: &str, text: &str, shape: &Shape) -> Result<Node, QueryError> {
    match shape {
        Shape::String(values) => {
            if values.is_empty() || values.contains(&text) {
                Ok(Node::Str(text.to_owned()))
            } else {
                Err(invalid(
                    key,
                    text,
                    "It is not one of the values this parameter accepts.",
                ))
            }
        }
        Shape::Integer { min, max } => {
            let n: i32 = text
                .trim()
                .parse()
                .map_err(|_| invalid(key, text, "It must be an integer."))?;
            range_check(key, text, i64::from(n), *min, *max).map(Node::Int)
        }
        Shape::Long { min, max } => {
            let n: i64 = text
                .trim()
                .parse()
                .map_err(|_| invalid(key, text, "It must be an integer."))?;
            range_check(key, text, n, *min, *max).map(Node::Int)
        }
        Shape::Float | Shape::Double => text
            .trim()
            .parse::<f64>()
            .map(Node::Float)
            .map_err(|_| invalid(key, text, "It must be a number.")),
        Shape::Boolean => {
            if text.eq_ignore_ascii_case("true") {
                Ok(Node::Bool(true))
            } else if text.eq_ignore_ascii_case("false") {
                Ok(Node::Bool(false))
            } else {
                Err(invalid(key, text, "It must be true or false."))
            }
        }
        Shape::Timestamp => parse_timestamp(text)
            .map(Node::Time)
            .ok_or_else(|| invalid(key, text, "It must be an ISO 8601 timestamp.")),
        Shape::Blob => base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map(Node::Blob)
            .map_err(|_| invalid(key, text, "It must be base64-encoded.")),
        Shape::Structure(_) | Shape::List(_) | Shape::Map(_) => Err(invalid(key, text, "")),
    }
}
