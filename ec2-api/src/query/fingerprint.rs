//! A stable fingerprint of a decoded input, for `ClientToken` idempotency: two calls carry
//! "the same parameters" when their fingerprints are equal. Members are hashed by model name
//! (not position), so regenerating the code does not change fingerprints; the token itself and
//! `DryRun` are left out.

use sha2::{Digest as _, Sha256};

use super::encode::{format_float, format_timestamp};
use super::node::Node;
use super::shape::Shape;

/// Members that do not count as parameters.
const IGNORED: &[&str] = &["ClientToken", "DryRun"];

/// Hex SHA-256 over a canonical rendering of `node` as `shape`.
#[must_use]
pub fn fingerprint(shape: &Shape, node: &Node) -> String {
    let mut h = Sha256::new();
    feed(&mut h, shape, node, true);
    hex::encode(h.finalize())
}

fn lenpfx(h: &mut Sha256, tag: u8, bytes: &[u8]) {
    h.update([tag]);
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

fn feed(h: &mut Sha256, shape: &Shape, node: &Node, top: bool) {
    match (shape, node) {
        (Shape::Structure(s), Node::Struct(fields)) => {
            h.update(b"{");
            for (m, f) in s.members.iter().zip(fields) {
                if let Some(v) = f
                    && !(top && IGNORED.contains(&m.name))
                {
                    lenpfx(h, b'k', m.name.as_bytes());
                    feed(h, m.shape, v, false);
                }
            }
            h.update(b"}");
        }
        (Shape::List(l), Node::List(items)) => {
            h.update(b"[");
            for i in items {
                feed(h, l.member, i, false);
            }
            h.update(b"]");
        }
        (Shape::Map(m), Node::Map(entries)) => {
            let mut sorted: Vec<_> = entries.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            h.update(b"<");
            for (k, v) in sorted {
                lenpfx(h, b'k', k.as_bytes());
                feed(h, m.value, v, false);
            }
            h.update(b">");
        }
        (_, Node::Str(s)) => lenpfx(h, b's', s.as_bytes()),
        (_, Node::Int(n)) => lenpfx(h, b'i', &n.to_le_bytes()),
        (_, Node::Float(f)) => lenpfx(h, b'f', format_float(*f).as_bytes()),
        (_, Node::Bool(b)) => lenpfx(h, b'b', &[u8::from(*b)]),
        (_, Node::Time(t)) => lenpfx(h, b't', format_timestamp(*t).as_bytes()),
        (_, Node::Blob(b)) => lenpfx(h, b'x', b),
        _ => h.update(b"?"),
    }
}
