//! S3 bucket policies: the JSON documents of PutBucketPolicy, validated when stored and
//! evaluated on every request to the bucket by [`super::access`].
//!
//! Why a hand-written evaluator: the subset S3 bucket policies use is small (Effect, Principal /
//! NotPrincipal, Action / NotAction, Resource / NotResource, Condition) and its semantics are
//! exact — explicit Deny wins, then any Allow, else the policy does not apply. Evaluation is
//! linear in the document, whose size is capped at 20 KiB as in AWS.
//!
//! Conditions: Kumo evaluates the operators `StringEquals`, `StringNotEquals`,
//! `StringEqualsIgnoreCase`, `StringNotEqualsIgnoreCase`, `StringLike`, `StringNotLike`,
//! `Bool`, `IpAddress`, `NotIpAddress` and `Null` (each also with the `IfExists` suffix), over
//! the keys `aws:SecureTransport`, `aws:SourceIp`, `aws:PrincipalAccount`, `aws:PrincipalArn`,
//! `aws:PrincipalType`, `aws:userid` and `aws:username`. A policy using any other operator or
//! key is refused at PutBucketPolicy with `MalformedPolicy` ("Condition ... not supported by
//! Kumo"), because a condition that cannot be evaluated can be neither safely ignored (it could
//! open a Deny's hole) nor safely assumed. A key absent from the request (e.g. the principal's
//! account for an anonymous caller) makes positive operators false and negated ones true, as
//! AWS documents; `...IfExists` makes it true; `Null` tests presence.

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::glob;
use crate::iam::Principal;
use crate::{Error, Result};

/// The largest policy document AWS accepts for a bucket.
pub const MAX_POLICY_BYTES: usize = 20 * 1024;

/// The ARN prefix of S3 resources.
pub const S3_ARN_PREFIX: &str = "arn:aws:s3:::";

/// Allow or Deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Grants.
    Allow,
    /// Forbids, overriding any Allow.
    Deny,
}

/// The outcome of evaluating a policy for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A statement allows it and none denies it.
    Allow,
    /// A statement denies it explicitly.
    Deny,
    /// No statement applies.
    NotApplicable,
}

/// Facts about the request that conditions may test, beyond the principal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// Whether the request came over TLS; `None` when the front end did not say.
    pub secure_transport: Option<bool>,
    /// The client's address, when known.
    pub source_ip: Option<IpAddr>,
}

/// One entry of a Principal element.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PrincipalEntry {
    /// `"*"` or `{"AWS": "*"}`: everyone, including anonymous callers.
    Anyone,
    /// `"123456789012"` or `arn:aws:iam::123456789012:root`: every principal of the account.
    Account(String),
    /// Another IAM ARN (`user/NAME`, `role/NAME`): that principal exactly.
    Arn(String),
    /// `{"CanonicalUser": ID}`: Kumo's canonical user id is the account id.
    CanonicalUser(String),
    /// `{"Service": ...}` or `{"Federated": ...}`: never a Kumo caller.
    Never,
}

impl PrincipalEntry {
    fn matches(&self, principal: Option<&Principal>) -> bool {
        match (self, principal) {
            (Self::Anyone, _) => true,
            (Self::Account(acct) | Self::CanonicalUser(acct), Some(p)) => *acct == p.account_id,
            (Self::Arn(arn), Some(p)) => *arn == p.arn,
            _ => false,
        }
    }
}

/// A condition operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    Bool,
    IpAddress,
    NotIpAddress,
    Null,
}

impl Operator {
    fn parse(name: &str) -> Option<(Self, bool)> {
        let (base, if_exists) = match name.strip_suffix("IfExists") {
            Some(base) => (base, true),
            None => (name, false),
        };
        let op = match base {
            "StringEquals" => Self::StringEquals,
            "StringNotEquals" => Self::StringNotEquals,
            "StringEqualsIgnoreCase" => Self::StringEqualsIgnoreCase,
            "StringNotEqualsIgnoreCase" => Self::StringNotEqualsIgnoreCase,
            "StringLike" => Self::StringLike,
            "StringNotLike" => Self::StringNotLike,
            "Bool" => Self::Bool,
            "IpAddress" => Self::IpAddress,
            "NotIpAddress" => Self::NotIpAddress,
            "Null" if !if_exists => Self::Null,
            _ => return None,
        };
        Some((op, if_exists))
    }

    fn negated(self) -> bool {
        matches!(
            self,
            Self::StringNotEquals
                | Self::StringNotEqualsIgnoreCase
                | Self::StringNotLike
                | Self::NotIpAddress
        )
    }
}

/// The condition keys Kumo knows how to supply (lower case; keys are case-insensitive).
const SUPPORTED_KEYS: &[&str] = &[
    "aws:securetransport",
    "aws:sourceip",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:principaltype",
    "aws:userid",
    "aws:username",
];

/// One `Operator: {Key: values}` test.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Condition {
    op: Operator,
    if_exists: bool,
    key: String,
    values: Vec<String>,
}

/// A CIDR block of an `IpAddress` condition.
fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a.parse::<IpAddr>().ok()?, l.parse::<u8>().ok()?),
        None => {
            let a = s.parse::<IpAddr>().ok()?;
            (a, if a.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((addr, len))
}

fn in_cidr(ip: IpAddr, cidr: &str) -> bool {
    let Some((net, len)) = parse_cidr(cidr) else {
        return false;
    };
    // An IPv4-mapped IPv6 client matches IPv4 blocks.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len))
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

impl Condition {
    fn evaluate(&self, principal: Option<&Principal>, ctx: &RequestContext) -> bool {
        let value = context_value(&self.key, principal, ctx);
        if self.op == Operator::Null {
            // `"Null": {"k": "true"}` holds when k is absent.
            let absent = value.is_none();
            return self
                .values
                .iter()
                .any(|v| v.eq_ignore_ascii_case("true") == absent);
        }
        let Some(value) = value else {
            return self.if_exists || self.op.negated();
        };
        let any = |f: &dyn Fn(&str) -> bool| self.values.iter().any(|v| f(v));
        match self.op {
            Operator::StringEquals => any(&|v| v == value),
            Operator::StringNotEquals => !any(&|v| v == value),
            Operator::StringEqualsIgnoreCase => any(&|v| v.eq_ignore_ascii_case(&value)),
            Operator::StringNotEqualsIgnoreCase => !any(&|v| v.eq_ignore_ascii_case(&value)),
            Operator::StringLike => any(&|v| glob::matches(v, &value, false)),
            Operator::StringNotLike => !any(&|v| glob::matches(v, &value, false)),
            Operator::Bool => any(&|v| v.eq_ignore_ascii_case(&value)),
            Operator::IpAddress | Operator::NotIpAddress => {
                let Ok(ip) = value.parse::<IpAddr>() else {
                    return self.op.negated();
                };
                let hit = any(&|v| in_cidr(ip, v));
                hit != self.op.negated()
            }
            Operator::Null => false,
        }
    }
}

/// The request's value for a (lower-case) condition key, `None` when absent.
fn context_value(key: &str, principal: Option<&Principal>, ctx: &RequestContext) -> Option<String> {
    match key {
        "aws:securetransport" => ctx.secure_transport.map(|b| b.to_string()),
        "aws:sourceip" => ctx.source_ip.map(|ip| ip.to_string()),
        "aws:principalaccount" => principal.map(|p| p.account_id.clone()),
        "aws:principalarn" => principal.map(|p| p.arn.clone()),
        "aws:principaltype" => Some(match principal {
            None => "Anonymous".to_owned(),
            Some(p) if p.arn.ends_with(":root") => "Account".to_owned(),
            Some(_) => "User".to_owned(),
        }),
        "aws:userid" => principal.map(|p| p.user_id.clone()),
        "aws:username" => principal
            .and_then(|p| p.arn.split_once(":user/"))
            .map(|(_, name)| name.rsplit('/').next().unwrap_or(name).to_owned()),
        _ => None,
    }
}

/// A list of patterns, or its negation (`NotAction`, `NotResource`, `NotPrincipal`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Negatable<T> {
    items: Vec<T>,
    negated: bool,
}

/// One statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The statement id, if any.
    pub sid: Option<String>,
    /// Allow or Deny.
    pub effect: Effect,
    principals: Negatable<PrincipalEntry>,
    actions: Negatable<String>,
    resources: Negatable<String>,
    conditions: Vec<Condition>,
}

impl Statement {
    fn applies(
        &self,
        principal: Option<&Principal>,
        action: &str,
        resource: &str,
        ctx: &RequestContext,
    ) -> bool {
        let principal_hit = self.principals.items.iter().any(|e| e.matches(principal));
        let action_hit = self
            .actions
            .items
            .iter()
            .any(|a| glob::matches(a, action, true));
        let resource_hit = self
            .resources
            .items
            .iter()
            .any(|r| glob::matches(r, resource, false));
        principal_hit != self.principals.negated
            && action_hit != self.actions.negated
            && resource_hit != self.resources.negated
            && self.conditions.iter().all(|c| c.evaluate(principal, ctx))
    }

    /// Whether this statement allows everyone (a `*` principal) without any condition: what
    /// GetBucketPolicyStatus reports as public.
    fn is_public_allow(&self) -> bool {
        self.effect == Effect::Allow
            && !self.principals.negated
            && self.principals.items.contains(&PrincipalEntry::Anyone)
            && self.conditions.is_empty()
    }
}

/// A validated bucket policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketPolicy {
    /// The policy id, if any.
    pub id: Option<String>,
    /// The statements, in document order.
    pub statements: Vec<Statement>,
}

fn malformed(msg: impl Into<String>) -> Error {
    Error::MalformedPolicy(msg.into())
}

/// A string or a list of strings (IAM's "one or many").
fn one_or_many(value: &Value, what: &str) -> Result<Vec<String>> {
    let items = match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) => out.push(s.clone()),
                    _ => {
                        return Err(malformed(format!(
                            "{what} must be a string or a list of strings"
                        )));
                    }
                }
            }
            out
        }
        _ => {
            return Err(malformed(format!(
                "{what} must be a string or a list of strings"
            )));
        }
    };
    if items.is_empty() {
        return Err(malformed(format!("{what} must not be empty")));
    }
    Ok(items)
}

/// Condition values may be strings, booleans or numbers.
fn condition_values(value: &Value) -> Result<Vec<String>> {
    let scalar = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(malformed(
            "Condition values must be strings, booleans or numbers",
        )),
    };
    match value {
        Value::Array(items) if !items.is_empty() => items.iter().map(scalar).collect(),
        Value::Array(_) => Err(malformed("Condition values must not be empty")),
        other => Ok(vec![scalar(other)?]),
    }
}

fn parse_principal_entry(kind: &str, value: &str) -> Result<PrincipalEntry> {
    let invalid = || malformed("Invalid principal in policy");
    match kind {
        "AWS" => {
            if value == "*" {
                return Ok(PrincipalEntry::Anyone);
            }
            if value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit()) {
                return Ok(PrincipalEntry::Account(value.to_owned()));
            }
            let rest = value.strip_prefix("arn:aws:iam::").ok_or_else(invalid)?;
            let (acct, resource) = rest.split_once(':').ok_or_else(invalid)?;
            if acct.len() != 12 || !acct.bytes().all(|b| b.is_ascii_digit()) || resource.is_empty()
            {
                return Err(invalid());
            }
            if resource == "root" {
                Ok(PrincipalEntry::Account(acct.to_owned()))
            } else if glob::has_wildcard(resource) {
                Err(invalid())
            } else {
                Ok(PrincipalEntry::Arn(value.to_owned()))
            }
        }
        "CanonicalUser" if !value.is_empty() => Ok(PrincipalEntry::CanonicalUser(value.to_owned())),
        "Service" | "Federated" if !value.is_empty() => Ok(PrincipalEntry::Never),
        _ => Err(invalid()),
    }
}

fn parse_principals(value: &Value) -> Result<Vec<PrincipalEntry>> {
    match value {
        Value::String(s) if s == "*" => Ok(vec![PrincipalEntry::Anyone]),
        Value::Object(map) if !map.is_empty() => {
            let mut out = Vec::new();
            for (kind, values) in map {
                for v in one_or_many(values, "Principal")? {
                    out.push(parse_principal_entry(kind, &v)?);
                }
            }
            Ok(out)
        }
        _ => Err(malformed("Invalid principal in policy")),
    }
}

fn parse_actions(value: &Value) -> Result<Vec<String>> {
    let actions = one_or_many(value, "Action")?;
    for action in &actions {
        let valid = action == "*"
            || action
                .get(..3)
                .is_some_and(|p| p.eq_ignore_ascii_case("s3:"))
                && action.len() > 3
                && action[3..]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'*' || b == b'?');
        if !valid {
            return Err(malformed("Policy has invalid action"));
        }
    }
    Ok(actions)
}

fn parse_resources(value: &Value, bucket: &str) -> Result<Vec<String>> {
    let resources = one_or_many(value, "Resource")?;
    for resource in &resources {
        let Some(rest) = resource.strip_prefix(S3_ARN_PREFIX) else {
            return Err(malformed("Policy has invalid resource"));
        };
        let bucket_part = rest.split('/').next().unwrap_or(rest);
        if !glob::matches(bucket_part, bucket, false) {
            return Err(malformed("Policy has invalid resource"));
        }
    }
    Ok(resources)
}

fn parse_conditions(value: &Value) -> Result<Vec<Condition>> {
    let Value::Object(ops) = value else {
        return Err(malformed("Condition must be an object"));
    };
    let mut out = Vec::new();
    for (op_name, block) in ops {
        let Some((op, if_exists)) = Operator::parse(op_name) else {
            return Err(malformed(format!(
                "Condition operator {op_name} is not supported by Kumo"
            )));
        };
        let Value::Object(keys) = block else {
            return Err(malformed(format!(
                "Condition {op_name} must map keys to values"
            )));
        };
        for (key, values) in keys {
            let lower = key.to_ascii_lowercase();
            if !SUPPORTED_KEYS.contains(&lower.as_str()) {
                return Err(malformed(format!(
                    "Condition key {key} is not supported by Kumo"
                )));
            }
            let values = condition_values(values)?;
            let is_bool =
                |v: &String| v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false");
            let bad = match op {
                Operator::Bool | Operator::Null => {
                    (!values.iter().all(is_bool)).then_some("takes true or false")
                }
                Operator::IpAddress | Operator::NotIpAddress => values
                    .iter()
                    .any(|v| parse_cidr(v).is_none())
                    .then_some("takes IP addresses or CIDR blocks"),
                _ => None,
            };
            if let Some(why) = bad {
                return Err(malformed(format!("Condition {op_name} {why}")));
            }
            out.push(Condition {
                op,
                if_exists,
                key: lower,
                values,
            });
        }
    }
    Ok(out)
}

/// Exactly one of `name` and `Not{name}` must be present.
fn either<'a>(map: &'a Map<String, Value>, name: &str) -> Result<(&'a Value, bool)> {
    let not = format!("Not{name}");
    match (map.get(name), map.get(&not)) {
        (Some(v), None) => Ok((v, false)),
        (None, Some(v)) => Ok((v, true)),
        (Some(_), Some(_)) => Err(malformed(format!("Statement has both {name} and {not}"))),
        (None, None) => Err(malformed(format!("Missing required field {name}"))),
    }
}

fn parse_statement(value: &Value, bucket: &str) -> Result<Statement> {
    let Value::Object(map) = value else {
        return Err(malformed("Statement must be an object"));
    };
    for field in map.keys() {
        if !matches!(
            field.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            return Err(malformed(format!("Unknown field {field}")));
        }
    }
    let sid = match map.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(malformed("Sid must be a string")),
    };
    let effect = match map.get("Effect") {
        Some(Value::String(s)) if s == "Allow" => Effect::Allow,
        Some(Value::String(s)) if s == "Deny" => Effect::Deny,
        Some(_) => return Err(malformed("Invalid effect")),
        None => return Err(malformed("Missing required field Effect")),
    };
    let (principal, principal_negated) = either(map, "Principal")?;
    let (action, action_negated) = either(map, "Action")?;
    let (resource, resource_negated) = either(map, "Resource")?;
    let conditions = match map.get("Condition") {
        Some(c) => parse_conditions(c)?,
        None => Vec::new(),
    };
    Ok(Statement {
        sid,
        effect,
        principals: Negatable {
            items: parse_principals(principal)?,
            negated: principal_negated,
        },
        actions: Negatable {
            items: parse_actions(action)?,
            negated: action_negated,
        },
        resources: Negatable {
            items: parse_resources(resource, bucket)?,
            negated: resource_negated,
        },
        conditions,
    })
}

impl BucketPolicy {
    /// Parses and validates a policy document for `bucket`; errors are `MalformedPolicy` with
    /// AWS's wording where one exists.
    pub fn parse(bucket: &str, document: &str) -> Result<Self> {
        if document.len() > MAX_POLICY_BYTES {
            return Err(malformed("Policies must be no more than 20 KB"));
        }
        let value: Value = serde_json::from_str(document)
            .map_err(|e| malformed(format!("Policies must be valid JSON: {e}")))?;
        let Value::Object(map) = value else {
            return Err(malformed("Policies must be a JSON object"));
        };
        for field in map.keys() {
            if !matches!(field.as_str(), "Version" | "Id" | "Statement") {
                return Err(malformed(format!("Unknown field {field}")));
            }
        }
        match map.get("Version") {
            None => {}
            Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => {}
            Some(_) => return Err(malformed("Invalid Version")),
        }
        let id = match map.get("Id") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(malformed("Id must be a string")),
        };
        let statements = match map.get("Statement") {
            Some(Value::Array(items)) if !items.is_empty() => items
                .iter()
                .map(|s| parse_statement(s, bucket))
                .collect::<Result<Vec<_>>>()?,
            Some(item @ Value::Object(_)) => vec![parse_statement(item, bucket)?],
            _ => return Err(malformed("Missing required field Statement")),
        };
        Ok(Self { id, statements })
    }

    /// Evaluates the policy for `principal` (None: anonymous) doing `action` (`s3:GetObject`)
    /// on `resource` (`arn:aws:s3:::bucket/key` or `arn:aws:s3:::bucket`).
    #[must_use]
    pub fn evaluate(
        &self,
        principal: Option<&Principal>,
        action: &str,
        resource: &str,
        ctx: &RequestContext,
    ) -> Decision {
        let mut allowed = false;
        for statement in &self.statements {
            if statement.applies(principal, action, resource, ctx) {
                match statement.effect {
                    Effect::Deny => return Decision::Deny,
                    Effect::Allow => allowed = true,
                }
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::NotApplicable
        }
    }

    /// Whether the policy grants anything to everyone unconditionally (GetBucketPolicyStatus).
    #[must_use]
    pub fn is_public(&self) -> bool {
        self.statements.iter().any(Statement::is_public_allow)
    }
}

/// The ARN of a bucket (`key` None) or of an object.
#[must_use]
pub fn resource_arn(bucket: &str, key: Option<&str>) -> String {
    match key {
        Some(key) => format!("{S3_ARN_PREFIX}{bucket}/{key}"),
        None => format!("{S3_ARN_PREFIX}{bucket}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: &str = "111111111111";
    const OTHER: &str = "222222222222";

    fn root(acct: &str) -> Principal {
        Principal {
            account_id: acct.to_owned(),
            user_id: acct.to_owned(),
            arn: format!("arn:aws:iam::{acct}:root"),
            access_key_id: "AKIAROOT".to_owned(),
        }
    }

    fn user(acct: &str, name: &str) -> Principal {
        Principal {
            account_id: acct.to_owned(),
            user_id: "AIDAUSER".to_owned(),
            arn: format!("arn:aws:iam::{acct}:user/{name}"),
            access_key_id: "AKIAUSER".to_owned(),
        }
    }

    fn parse(doc: &str) -> BucketPolicy {
        BucketPolicy::parse("b", doc).expect("valid policy")
    }

    fn reason(doc: &str) -> String {
        match BucketPolicy::parse("b", doc) {
            Err(Error::MalformedPolicy(msg)) => msg,
            other => panic!("expected MalformedPolicy, got {other:?}"),
        }
    }

    const PUBLIC_READ: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"PublicRead",
        "Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#;

    #[test]
    fn public_read_table() {
        let p = parse(PUBLIC_READ);
        let ctx = RequestContext::default();
        let obj = resource_arn("b", Some("k/x.txt"));
        let cases: [(Option<Principal>, &str, &str, Decision); 5] = [
            (None, "s3:GetObject", &obj, Decision::Allow),
            (Some(root(OTHER)), "s3:GetObject", &obj, Decision::Allow),
            (None, "s3:PutObject", &obj, Decision::NotApplicable),
            (
                None,
                "s3:ListBucket",
                "arn:aws:s3:::b",
                Decision::NotApplicable,
            ),
            (
                None,
                "s3:GetObject",
                "arn:aws:s3:::b",
                Decision::NotApplicable,
            ),
        ];
        for (who, action, res, want) in cases {
            assert_eq!(
                p.evaluate(who.as_ref(), action, res, &ctx),
                want,
                "{action} {res}"
            );
        }
        assert!(p.is_public());
    }

    #[test]
    fn principal_forms() {
        let ctx = RequestContext::default();
        let obj = resource_arn("b", Some("k"));
        let doc = |principal: &str| {
            format!(
                r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{principal},
                "Action":["s3:Get*"],"Resource":"arn:aws:s3:::b/*"}}}}"#
            )
        };
        let cases: [(&str, Option<Principal>, Decision); 10] = [
            (r#"{"AWS":"*"}"#, None, Decision::Allow),
            (
                r#"{"AWS":["arn:aws:iam::222222222222:root"]}"#,
                Some(root(OTHER)),
                Decision::Allow,
            ),
            (
                r#"{"AWS":["arn:aws:iam::222222222222:root"]}"#,
                Some(user(OTHER, "u")),
                Decision::Allow,
            ),
            (
                r#"{"AWS":"arn:aws:iam::222222222222:root"}"#,
                None,
                Decision::NotApplicable,
            ),
            (
                r#"{"AWS":"222222222222"}"#,
                Some(user(OTHER, "u")),
                Decision::Allow,
            ),
            (
                r#"{"AWS":"222222222222"}"#,
                Some(root(OWNER)),
                Decision::NotApplicable,
            ),
            (
                r#"{"AWS":"arn:aws:iam::222222222222:user/u"}"#,
                Some(user(OTHER, "u")),
                Decision::Allow,
            ),
            (
                r#"{"AWS":"arn:aws:iam::222222222222:user/u"}"#,
                Some(user(OTHER, "v")),
                Decision::NotApplicable,
            ),
            (
                r#"{"CanonicalUser":"222222222222"}"#,
                Some(root(OTHER)),
                Decision::Allow,
            ),
            (
                r#"{"Service":"logging.s3.amazonaws.com"}"#,
                Some(root(OTHER)),
                Decision::NotApplicable,
            ),
        ];
        for (principal, who, want) in cases {
            let p = parse(&doc(principal));
            assert_eq!(
                p.evaluate(who.as_ref(), "s3:GetObject", &obj, &ctx),
                want,
                "{principal} {who:?}"
            );
        }
    }

    #[test]
    fn explicit_deny_wins() {
        let p = parse(
            r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]},
            {"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::b/locked/*"}]}"#,
        );
        let ctx = RequestContext::default();
        let owner = root(OWNER);
        assert_eq!(
            p.evaluate(
                Some(&owner),
                "s3:DeleteObject",
                "arn:aws:s3:::b/locked/x",
                &ctx
            ),
            Decision::Deny
        );
        assert_eq!(
            p.evaluate(
                Some(&owner),
                "s3:DeleteObject",
                "arn:aws:s3:::b/open/x",
                &ctx
            ),
            Decision::Allow
        );
        assert_eq!(
            p.evaluate(None, "s3:ListBucket", "arn:aws:s3:::b", &ctx),
            Decision::Allow
        );
    }

    #[test]
    fn not_action_not_resource_not_principal() {
        let ctx = RequestContext::default();
        let p = parse(
            r#"{"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"111111111111"},
            "NotAction":["s3:Get*","s3:List*"],"NotResource":"arn:aws:s3:::b/public/*"}]}"#,
        );
        let private = "arn:aws:s3:::b/private/x";
        assert_eq!(
            p.evaluate(Some(&root(OTHER)), "s3:PutObject", private, &ctx),
            Decision::Deny
        );
        assert_eq!(
            p.evaluate(Some(&root(OWNER)), "s3:PutObject", private, &ctx),
            Decision::NotApplicable
        );
        assert_eq!(
            p.evaluate(Some(&root(OTHER)), "s3:GetObject", private, &ctx),
            Decision::NotApplicable
        );
        assert_eq!(
            p.evaluate(
                Some(&root(OTHER)),
                "s3:PutObject",
                "arn:aws:s3:::b/public/x",
                &ctx
            ),
            Decision::NotApplicable
        );
    }

    #[test]
    fn action_matching_is_case_insensitive_resources_are_not() {
        let p = parse(
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"S3:getobject","Resource":"arn:aws:s3:::b/Key?"}}"#,
        );
        let ctx = RequestContext::default();
        assert_eq!(
            p.evaluate(None, "s3:GetObject", "arn:aws:s3:::b/Key1", &ctx),
            Decision::Allow
        );
        assert_eq!(
            p.evaluate(None, "s3:GetObject", "arn:aws:s3:::b/key1", &ctx),
            Decision::NotApplicable
        );
    }

    #[test]
    fn secure_transport_condition() {
        let p = parse(
            r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"},
            {"Sid":"TlsOnly","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*",
             "Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#,
        );
        let obj = "arn:aws:s3:::b/k";
        let tls = RequestContext {
            secure_transport: Some(true),
            source_ip: None,
        };
        let plain = RequestContext {
            secure_transport: Some(false),
            source_ip: None,
        };
        assert_eq!(p.evaluate(None, "s3:GetObject", obj, &tls), Decision::Allow);
        assert_eq!(
            p.evaluate(None, "s3:GetObject", obj, &plain),
            Decision::Deny
        );
        // Unknown transport: the key is absent, `Bool` is false, the Deny does not apply.
        assert_eq!(
            p.evaluate(None, "s3:GetObject", obj, &RequestContext::default()),
            Decision::Allow
        );
        assert!(p.is_public());
    }

    #[test]
    fn ip_and_string_conditions() {
        let p = parse(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*",
            "Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.0.2.1"]},
                         "StringNotEqualsIfExists":{"aws:PrincipalAccount":"222222222222"}}}]}"#,
        );
        let ctx = |ip: &str| RequestContext {
            secure_transport: None,
            source_ip: Some(ip.parse().expect("ip")),
        };
        let obj = "arn:aws:s3:::b/k";
        assert_eq!(
            p.evaluate(None, "s3:GetObject", obj, &ctx("10.1.2.3")),
            Decision::Allow
        );
        assert_eq!(
            p.evaluate(None, "s3:GetObject", obj, &ctx("192.0.2.1")),
            Decision::Allow
        );
        assert_eq!(
            p.evaluate(None, "s3:GetObject", obj, &ctx("::ffff:10.9.9.9")),
            Decision::Allow
        );
        assert_eq!(
            p.evaluate(None, "s3:GetObject", obj, &ctx("192.0.2.2")),
            Decision::NotApplicable
        );
        assert_eq!(
            p.evaluate(Some(&root(OTHER)), "s3:GetObject", obj, &ctx("10.1.2.3")),
            Decision::NotApplicable
        );
        assert_eq!(
            p.evaluate(Some(&root(OWNER)), "s3:GetObject", obj, &ctx("10.1.2.3")),
            Decision::Allow
        );
        assert!(!p.is_public());
        let null = parse(
            r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*",
            "Condition":{"Null":{"aws:PrincipalAccount":"true"}}}]}"#,
        );
        assert_eq!(
            null.evaluate(None, "s3:PutObject", obj, &RequestContext::default()),
            Decision::Deny
        );
        assert_eq!(
            null.evaluate(
                Some(&root(OTHER)),
                "s3:PutObject",
                obj,
                &RequestContext::default()
            ),
            Decision::NotApplicable
        );
        let like = parse(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*",
            "Condition":{"StringLike":{"aws:PrincipalArn":"arn:aws:iam::222222222222:user/ci-*"}}}]}"#,
        );
        assert_eq!(
            like.evaluate(
                Some(&user(OTHER, "ci-bot")),
                "s3:GetObject",
                obj,
                &RequestContext::default()
            ),
            Decision::Allow
        );
        assert_eq!(
            like.evaluate(
                Some(&user(OTHER, "dev")),
                "s3:GetObject",
                obj,
                &RequestContext::default()
            ),
            Decision::NotApplicable
        );
    }

    #[test]
    fn malformed_policies() {
        let stmt = |body: &str| format!(r#"{{"Version":"2012-10-17","Statement":[{{{body}}}]}}"#);
        let cases = [
            ("not json".to_owned(), "valid JSON"),
            ("[]".to_owned(), "JSON object"),
            (
                r#"{"Version":"2012-10-17"}"#.to_owned(),
                "Missing required field Statement",
            ),
            (
                r#"{"Version":"2019-01-01","Statement":[]}"#.to_owned(),
                "Invalid Version",
            ),
            (
                stmt(r#""Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*""#),
                "Missing required field Effect",
            ),
            (
                stmt(r#""Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*""#),
                "Missing required field Principal",
            ),
            (
                stmt(
                    r#""Effect":"Maybe","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*""#,
                ),
                "Invalid effect",
            ),
            (
                stmt(
                    r#""Effect":"Allow","Principal":"*","Action":"ec2:RunInstances","Resource":"arn:aws:s3:::b/*""#,
                ),
                "invalid action",
            ),
            (
                stmt(
                    r#""Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*""#,
                ),
                "invalid resource",
            ),
            (
                stmt(
                    r#""Effect":"Allow","Principal":{"AWS":"bob"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*""#,
                ),
                "Invalid principal",
            ),
            (
                stmt(
                    r#""Effect":"Allow","Principal":"*","Action":"s3:GetObject","NotAction":"s3:PutObject","Resource":"arn:aws:s3:::b/*""#,
                ),
                "both Action and NotAction",
            ),
            (
                stmt(
                    r#""Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}"#,
                ),
                "not supported by Kumo",
            ),
            (
                stmt(
                    r#""Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringEquals":{"s3:x-amz-acl":"public-read"}}"#,
                ),
                "not supported by Kumo",
            ),
            (
                stmt(
                    r#""Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/99"}}"#,
                ),
                "CIDR",
            ),
            (
                stmt(
                    r#""Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Extra":1"#,
                ),
                "Unknown field",
            ),
            ("x".repeat(MAX_POLICY_BYTES + 1), "20 KB"),
        ];
        for (doc, want) in cases {
            let got = reason(&doc);
            assert!(got.contains(want), "{doc}: {got:?} lacks {want:?}");
        }
    }
}
