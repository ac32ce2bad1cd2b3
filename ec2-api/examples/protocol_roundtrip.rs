//! The Rust half of `compat-tests/protocol/roundtrip.py`: reads one JSON request per line on
//! stdin and answers one JSON line on stdout, so botocore can check Kumo's wire code for every
//! operation of the four models without an HTTP server in between.
//!
//! - `{"kind":"input","service":"ec2","op":"RunInstances","body":"Action=…"}` -> the input
//!   decoded by Kumo (through the generated type), as JSON keyed by model member names.
//! - `{"kind":"output","service":…,"op":…,"value":{…},"request_id":"…"}` -> the XML Kumo writes
//!   for that output (read into the generated type first).
//! - `{"kind":"error","service":…,"code":…,"message":…,"request_id":…}` -> the error document
//!   and HTTP status (from the modelled error table, else 400).

use std::io::{BufRead as _, Write as _};

use base64::Engine as _;
use http::StatusCode;
use kumo_ec2_api::QueryError;
use kumo_ec2_api::generated::SERVICES;
use kumo_ec2_api::params::Params;
use kumo_ec2_api::query::decode::{decode_input, parse_timestamp};
use kumo_ec2_api::query::encode::encode_response;
use kumo_ec2_api::query::{Node, Service, Shape};
use serde_json::{Map, Value, json};
use time::format_description::well_known::Rfc3339;

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn node_to_json(shape: &Shape, node: &Node) -> Value {
    match (shape, node) {
        (Shape::Structure(s), Node::Struct(fields)) => {
            let mut obj = Map::new();
            for (m, f) in s.members.iter().zip(fields) {
                if let Some(n) = f {
                    obj.insert(m.name.to_owned(), node_to_json(m.shape, n));
                }
            }
            Value::Object(obj)
        }
        (Shape::List(l), Node::List(items)) => {
            Value::Array(items.iter().map(|i| node_to_json(l.member, i)).collect())
        }
        (Shape::Map(m), Node::Map(entries)) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), node_to_json(m.value, v)))
                .collect(),
        ),
        (_, Node::Str(s)) => json!(s),
        (_, Node::Int(n)) => json!(n),
        (_, Node::Float(f)) => json!(f),
        (_, Node::Bool(b)) => json!(b),
        (_, Node::Time(t)) => json!(t.format(&Rfc3339).unwrap_or_default()),
        (_, Node::Blob(b)) => json!(b64().encode(b)),
        _ => json!({"$mismatch": true}),
    }
}

fn json_to_node(shape: &Shape, v: &Value) -> Option<Node> {
    Some(match shape {
        Shape::Structure(s) => {
            let obj = v.as_object()?;
            let mut fields = Vec::with_capacity(s.members.len());
            for m in s.members {
                fields.push(match obj.get(m.name) {
                    Some(x) => Some(json_to_node(m.shape, x)?),
                    None => None,
                });
            }
            Node::Struct(fields)
        }
        Shape::List(l) => Node::List(
            v.as_array()?
                .iter()
                .map(|x| json_to_node(l.member, x))
                .collect::<Option<_>>()?,
        ),
        Shape::Map(m) => Node::Map(
            v.as_object()?
                .iter()
                .map(|(k, x)| json_to_node(m.value, x).map(|n| (k.clone(), n)))
                .collect::<Option<_>>()?,
        ),
        Shape::String(_) => Node::Str(v.as_str()?.to_owned()),
        Shape::Integer { .. } | Shape::Long { .. } => Node::Int(v.as_i64()?),
        Shape::Float | Shape::Double => Node::Float(v.as_f64()?),
        Shape::Boolean => Node::Bool(v.as_bool()?),
        Shape::Timestamp => Node::Time(parse_timestamp(v.as_str()?)?),
        Shape::Blob => Node::Blob(b64().decode(v.as_str()?).ok()?),
    })
}

fn service(name: &str) -> Option<&'static Service> {
    SERVICES.iter().copied().find(|s| s.name == name)
}

fn answer(req: &Value) -> Value {
    let text = |k: &str| req.get(k).and_then(Value::as_str).unwrap_or_default();
    let Some(svc) = service(text("service")) else {
        return json!({"ok": false, "why": "unknown service"});
    };
    match text("kind") {
        "input" => {
            let Some(op) = svc.operation(text("op")) else {
                return json!({"ok": false, "why": "unknown operation"});
            };
            let Some(shape) = op.input else {
                return json!({"ok": true, "value": {}});
            };
            let params = Params::parse(None, Some(text("body").as_bytes()));
            match decode_input(svc.protocol, shape, &params) {
                Ok(node) => match (op.retype_input)(node) {
                    Some(node) => json!({"ok": true, "value": node_to_json(shape, &node)}),
                    None => json!({"ok": false, "why": "typed conversion failed"}),
                },
                Err(e) => json!({"ok": false, "why": format!("{}: {}", e.code, e.message)}),
            }
        }
        "output" => {
            let Some(op) = svc.operation(text("op")) else {
                return json!({"ok": false, "why": "unknown operation"});
            };
            let node = match op.output {
                Some(shape) => {
                    match json_to_node(shape, req.get("value").unwrap_or(&Value::Null)) {
                        Some(n) => match (op.retype_output)(n) {
                            Some(n) => Some(n),
                            None => return json!({"ok": false, "why": "typed conversion failed"}),
                        },
                        None => return json!({"ok": false, "why": "value does not fit the shape"}),
                    }
                }
                None => None,
            };
            json!({"ok": true, "xml": encode_response(svc, op, node.as_ref(), text("request_id"))})
        }
        "error" => {
            let code = text("code");
            let status = svc
                .error(code)
                .and_then(|e| StatusCode::from_u16(e.status).ok())
                .unwrap_or(StatusCode::BAD_REQUEST);
            let err = QueryError::new(status, code, text("message"));
            json!({"ok": true, "status": status.as_u16(), "xml": err.to_xml(svc.protocol, text("request_id"))})
        }
        _ => json!({"ok": false, "why": "unknown kind"}),
    }
}

fn main() -> std::io::Result<()> {
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in stdin.lock().lines() {
        let line = line?;
        let reply = match serde_json::from_str::<Value>(&line) {
            Ok(req) => answer(&req),
            Err(e) => json!({"ok": false, "why": format!("bad request line: {e}")}),
        };
        writeln!(out, "{reply}")?;
        out.flush()?;
    }
    Ok(())
}
