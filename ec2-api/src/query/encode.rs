//! [`Node`] -> the protocol's XML response, driven by the shape tables.
//!
//! - ec2Query: `<OpResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">` with
//!   `<requestId>` first, lowerCamel `locationName`s, `<item>` list elements; operations
//!   without an output answer `<return>true</return>` as EC2 does.
//! - awsQuery: `<OpResponse xmlns=…><OpResult>…</OpResult><ResponseMetadata><RequestId>`,
//!   `<member>` list elements, `<entry><key/><value/></entry>` maps.
//!
//! Timestamps are ISO 8601 UTC with milliseconds; blobs base64; non-finite floats spelled
//! `Infinity`, `-Infinity`, `NaN` as the SDKs expect.

use base64::Engine as _;

use super::Protocol;
use super::node::{Node, Timestamp};
use super::shape::{Operation, Service, Shape, StructShape};
use crate::xml::XmlWriter;

/// The response document for `op` with `output` (a node of the operation's output shape).
#[must_use]
pub fn encode_response(
    service: &Service,
    op: &Operation,
    output: Option<&Node>,
    request_id: &str,
) -> String {
    // One buffer for the whole document: the result is written in place rather than built as
    // a fragment and copied, and numbers and timestamps are formatted straight into it.
    let body = match (op.output, output) {
        (Some(Shape::Structure(s)), Some(Node::Struct(fields))) => Some((s, fields)),
        _ => None,
    };
    wrap_with(service, op, body.is_some(), request_id, |w| {
        if let Some((s, fields)) = body {
            write_members(w, s, fields);
        }
    })
}

/// The members of an output, as an XML fragment: what a replayed idempotent call answers again.
#[must_use]
pub fn result_fragment(op: &Operation, output: &Node) -> Option<String> {
    match (op.output, output) {
        (Some(Shape::Structure(s)), Node::Struct(fields)) => {
            let mut w = XmlWriter::fragment();
            write_members(&mut w, s, fields);
            Some(w.finish())
        }
        _ => None,
    }
}

/// The response document around a result fragment from [`result_fragment`].
#[must_use]
pub fn wrap_response(
    service: &Service,
    op: &Operation,
    fragment: Option<&str>,
    request_id: &str,
) -> String {
    wrap_with(service, op, fragment.is_some(), request_id, |w| {
        if let Some(f) = fragment {
            w.raw(f);
        }
    })
}

/// The response document, with `body` writing the result members (when `has_body`).
fn wrap_with(
    service: &Service,
    op: &Operation,
    has_body: bool,
    request_id: &str,
    body: impl FnOnce(&mut XmlWriter),
) -> String {
    let mut w = XmlWriter::new();
    if has_body {
        w.reserve(16 * 1024);
    }
    let root = format!("{}Response", op.name);
    w.open_ns(&root, service.xml_namespace);
    match service.protocol {
        Protocol::Ec2Query => {
            w.element("requestId", request_id);
            if has_body {
                body(&mut w);
            } else {
                w.element("return", "true");
            }
        }
        Protocol::AwsQuery => {
            if has_body {
                match op.result_wrapper {
                    Some(wrapper) => {
                        w.open(wrapper);
                        body(&mut w);
                        w.close(wrapper);
                    }
                    None => body(&mut w),
                }
            }
            w.open("ResponseMetadata");
            w.element("RequestId", request_id);
            w.close("ResponseMetadata");
        }
    }
    w.close(&root);
    w.finish()
}

/// Writes the members of a structure node.
pub fn write_members(w: &mut XmlWriter, s: &StructShape, fields: &[Option<Node>]) {
    for (m, f) in s.members.iter().zip(fields) {
        if let Some(node) = f {
            write_value(w, m.xml, m.shape, node);
        }
    }
}

fn write_value(w: &mut XmlWriter, name: &str, shape: &Shape, node: &Node) {
    match (shape, node) {
        (Shape::Structure(s), Node::Struct(fields)) => {
            w.open(name);
            write_members(w, s, fields);
            w.close(name);
        }
        (Shape::List(l), Node::List(items)) => {
            if l.flattened {
                for item in items {
                    write_value(w, name, l.member, item);
                }
            } else {
                let item_name = l.member_name.unwrap_or("member");
                w.open(name);
                for item in items {
                    write_value(w, item_name, l.member, item);
                }
                w.close(name);
            }
        }
        (Shape::Map(m), Node::Map(entries)) => {
            if !m.flattened {
                w.open(name);
            }
            let entry_name = if m.flattened { name } else { "entry" };
            for (k, v) in entries {
                w.open(entry_name);
                w.element(m.key_name, k);
                write_value(w, m.value_name, m.value, v);
                w.close(entry_name);
            }
            if !m.flattened {
                w.close(name);
            }
        }
        (Shape::Structure(_) | Shape::List(_) | Shape::Map(_), _) => {}
        (_, scalar) => {
            w.open(name);
            write_scalar(w, scalar);
            w.close(name);
        }
    }
}

fn write_scalar(w: &mut XmlWriter, node: &Node) {
    match node {
        Node::Str(s) => w.text(s),
        Node::Int(n) => w.int(*n),
        Node::Float(f) => w.text(&format_float(*f)),
        Node::Bool(b) => w.text(if *b { "true" } else { "false" }),
        Node::Time(t) => push_timestamp(w.buf(), *t),
        Node::Blob(b) => w.text(&base64::engine::general_purpose::STANDARD.encode(b)),
        Node::List(_) | Node::Map(_) | Node::Struct(_) => {}
    }
}

/// A float as the SDKs read it.
#[must_use]
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_owned()
    } else if f.is_infinite() {
        if f > 0.0 {
            "Infinity".to_owned()
        } else {
            "-Infinity".to_owned()
        }
    } else {
        format!("{f}")
    }
}

/// Appends `2016-11-15T12:00:00.000Z` without going through `fmt`.
fn push_timestamp(out: &mut String, t: Timestamp) {
    let t = t.to_offset(time::UtcOffset::UTC);
    let year = t.year();
    if !(0..=9999).contains(&year) {
        out.push_str(&format_timestamp(t));
        return;
    }
    let year = year.unsigned_abs();
    for p in [1000, 100, 10, 1] {
        out.push(char::from_digit(year / p % 10, 10).unwrap_or('0'));
    }
    out.push('-');
    push2(out, u8::from(t.month()));
    out.push('-');
    push2(out, t.day());
    out.push('T');
    push2(out, t.hour());
    out.push(':');
    push2(out, t.minute());
    out.push(':');
    push2(out, t.second());
    out.push('.');
    let ms = t.millisecond();
    out.push(char::from_digit(u32::from(ms / 100 % 10), 10).unwrap_or('0'));
    push2(out, u8::try_from(ms % 100).unwrap_or(0));
    out.push('Z');
}

fn push2(out: &mut String, n: u8) {
    out.push(char::from(b'0' + n / 10 % 10));
    out.push(char::from(b'0' + n % 10));
}

/// `2016-11-15T12:00:00.000Z`.
#[must_use]
pub fn format_timestamp(t: Timestamp) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
mod push_tests {
    use super::{format_timestamp, push_timestamp};

    #[test]
    fn push_timestamp_matches_format() {
        for t in [
            time::macros::datetime!(2026-11-24 12:00:00 UTC),
            time::macros::datetime!(0001-01-02 03:04:05.006 UTC),
            time::macros::datetime!(1999-12-31 23:59:59.999 +02:00),
        ] {
            let mut s = String::new();
            push_timestamp(&mut s, t);
            assert_eq!(s, format_timestamp(t));
        }
    }
}
