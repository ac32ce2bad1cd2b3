//! Listener and rule actions (`forward`, `fixed-response`, `redirect`) and rule conditions,
//! with the checks AWS applies to them before a listener or rule is written.
//!
//! Authentication actions (OIDC, Cognito, JWT) need an identity provider the data plane does
//! not have yet; they are refused with `InvalidLoadBalancerAction` rather than stored unused.

use serde::{Deserialize, Serialize};

use super::validation;
use crate::ec2::Fault;

/// A target group a `forward` action sends to, with its weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightedTargetGroup {
    /// The target group's ARN.
    pub arn: String,
    /// Weight, 0–999 (AWS reports 1 when the caller gave none).
    pub weight: i32,
}

/// What an action does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ActionKind {
    /// Forward to one or more target groups.
    Forward {
        /// The target groups (one when the caller gave `TargetGroupArn`).
        target_groups: Vec<WeightedTargetGroup>,
        /// Whether the caller used the single `TargetGroupArn` form (it is echoed back).
        single: bool,
        /// Group stickiness: enabled.
        stickiness_enabled: bool,
        /// Group stickiness: duration in seconds, when enabled.
        stickiness_duration: Option<i32>,
    },
    /// Answer with a fixed response.
    FixedResponse {
        /// `2XX`, `4XX` or `5XX` code.
        status_code: String,
        /// Content type.
        content_type: Option<String>,
        /// Body.
        message_body: Option<String>,
    },
    /// Redirect (`#{host}`-style placeholders keep the request's parts).
    Redirect {
        /// Protocol.
        protocol: String,
        /// Host.
        host: String,
        /// Port.
        port: String,
        /// Path.
        path: String,
        /// Query.
        query: String,
        /// `HTTP_301` or `HTTP_302`.
        status_code: String,
    },
}

/// One action with its order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// Order (1–50000), lowest first.
    pub order: i32,
    /// What it does.
    pub kind: ActionKind,
}

impl Action {
    /// The target groups this action forwards to.
    pub fn target_groups(&self) -> impl Iterator<Item = &str> {
        let groups: &[WeightedTargetGroup] = match &self.kind {
            ActionKind::Forward { target_groups, .. } => target_groups,
            _ => &[],
        };
        groups.iter().map(|g| g.arn.as_str())
    }
}

/// An action as the caller described it (the protocol crate fills this from the wire).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionInput {
    /// `forward`, `fixed-response`, `redirect`, `authenticate-oidc`, …
    pub kind: String,
    /// `Order`.
    pub order: Option<i32>,
    /// `TargetGroupArn`.
    pub target_group_arn: Option<String>,
    /// `ForwardConfig.TargetGroups`: ARN and optional weight.
    pub forward_groups: Option<Vec<(String, Option<i32>)>>,
    /// `ForwardConfig.TargetGroupStickinessConfig`: enabled and duration.
    pub stickiness: Option<(Option<bool>, Option<i32>)>,
    /// `FixedResponseConfig`: status code, content type, body.
    pub fixed_response: Option<(Option<String>, Option<String>, Option<String>)>,
    /// `RedirectConfig`: protocol, host, port, path, query, status code.
    pub redirect: Option<RedirectInput>,
}

/// `RedirectConfig` as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedirectInput {
    /// Protocol.
    pub protocol: Option<String>,
    /// Host.
    pub host: Option<String>,
    /// Port.
    pub port: Option<String>,
    /// Path.
    pub path: Option<String>,
    /// Query.
    pub query: Option<String>,
    /// Status code.
    pub status_code: Option<String>,
}

const CONTENT_TYPES: &[&str] = &[
    "text/plain",
    "text/css",
    "text/html",
    "application/javascript",
    "application/json",
];

/// Checks and normalises actions. `http` says whether the listener speaks HTTP(S) (only
/// those may redirect or answer fixed responses). Target groups are checked by the caller.
pub fn build(inputs: Vec<ActionInput>, http: bool) -> Result<Vec<Action>, Fault> {
    if inputs.is_empty() {
        return Err(validation("At least one action must be specified"));
    }
    if inputs.len() > 5 {
        return Err(Fault::new(
            "TooManyActions",
            "A rule or listener can have at most 5 actions",
        ));
    }
    let mut out: Vec<Action> = Vec::with_capacity(inputs.len());
    for (i, a) in inputs.into_iter().enumerate() {
        let order = a.order.unwrap_or(i32::try_from(i + 1).unwrap_or(1));
        if !(1..=50_000).contains(&order) {
            return Err(validation(format!(
                "Action order '{order}' must be between 1 and 50000"
            )));
        }
        if out.iter().any(|o| o.order == order) {
            return Err(validation(format!("Action order '{order}' is used twice")));
        }
        let kind = match a.kind.as_str() {
            "forward" => forward(&a)?,
            "fixed-response" if http => fixed_response(&a)?,
            "redirect" if http => redirect(&a)?,
            "fixed-response" | "redirect" => {
                return Err(Fault::new(
                    "InvalidLoadBalancerAction",
                    format!(
                        "Action type '{}' is only supported by HTTP and HTTPS listeners",
                        a.kind
                    ),
                ));
            }
            other => {
                return Err(Fault::new(
                    "InvalidLoadBalancerAction",
                    format!("Action type '{other}' is not supported by this Kumo endpoint"),
                ));
            }
        };
        out.push(Action { order, kind });
    }
    out.sort_by_key(|a| a.order);
    // Every supported action is terminal (authentication actions are refused above), so
    // there is exactly one.
    if out.len() > 1 {
        return Err(Fault::new(
            "InvalidLoadBalancerAction",
            "Exactly one terminal action (forward, redirect or fixed-response) must be specified, and it must come last",
        ));
    }
    Ok(out)
}

fn forward(a: &ActionInput) -> Result<ActionKind, Fault> {
    let mut groups = Vec::new();
    if let Some(list) = &a.forward_groups {
        if list.is_empty() {
            return Err(validation(
                "ForwardConfig must name at least one target group",
            ));
        }
        if list.len() > 5 {
            return Err(Fault::new(
                "TooManyTargetGroups",
                "A forward action can have at most 5 target groups",
            ));
        }
        for (arn, weight) in list {
            let weight = weight.unwrap_or(1);
            if !(0..=999).contains(&weight) {
                return Err(validation(format!(
                    "Target group weight '{weight}' must be between 0 and 999"
                )));
            }
            if groups.iter().any(|g: &WeightedTargetGroup| g.arn == *arn) {
                return Err(validation(format!(
                    "Target group '{arn}' is listed twice in the forward action"
                )));
            }
            groups.push(WeightedTargetGroup {
                arn: arn.clone(),
                weight,
            });
        }
    }
    let single = match (&a.target_group_arn, groups.as_slice()) {
        (Some(arn), []) => {
            groups.push(WeightedTargetGroup {
                arn: arn.clone(),
                weight: 1,
            });
            true
        }
        (Some(arn), [only]) if only.arn == *arn => true,
        (Some(_), _) => {
            return Err(validation(
                "You cannot specify both a TargetGroupArn and a ForwardConfig with different target groups",
            ));
        }
        (None, []) => {
            return Err(validation(
                "A forward action must specify a TargetGroupArn or a ForwardConfig",
            ));
        }
        (None, _) => false,
    };
    let (enabled, duration) = a.stickiness.unwrap_or((None, None));
    let enabled = enabled.unwrap_or(false);
    if let Some(d) = duration
        && !(1..=604_800).contains(&d)
    {
        return Err(validation(format!(
            "Stickiness duration '{d}' must be between 1 and 604800 seconds"
        )));
    }
    if enabled && duration.is_none() {
        return Err(validation(
            "A stickiness duration must be specified when target group stickiness is enabled",
        ));
    }
    Ok(ActionKind::Forward {
        target_groups: groups,
        single,
        stickiness_enabled: enabled,
        stickiness_duration: if enabled { duration } else { None },
    })
}

fn fixed_response(a: &ActionInput) -> Result<ActionKind, Fault> {
    let Some((status, content_type, body)) = &a.fixed_response else {
        return Err(validation(
            "A fixed-response action must specify a FixedResponseConfig",
        ));
    };
    let Some(status) = status else {
        return Err(validation("FixedResponseConfig.StatusCode is required"));
    };
    let b = status.as_bytes();
    if b.len() != 3 || !matches!(b[0], b'2' | b'4' | b'5') || !b[1..].iter().all(u8::is_ascii_digit)
    {
        return Err(validation(format!(
            "Fixed response status code '{status}' must be a 2XX, 4XX or 5XX code"
        )));
    }
    if let Some(ct) = content_type
        && !CONTENT_TYPES.contains(&ct.as_str())
    {
        return Err(validation(format!(
            "Fixed response content type '{ct}' is not one of {}",
            CONTENT_TYPES.join(", ")
        )));
    }
    if body.as_ref().is_some_and(|b| b.len() > 1024) {
        return Err(validation(
            "Fixed response message body must be at most 1024 characters",
        ));
    }
    Ok(ActionKind::FixedResponse {
        status_code: status.clone(),
        content_type: content_type.clone(),
        message_body: body.clone(),
    })
}

fn redirect(a: &ActionInput) -> Result<ActionKind, Fault> {
    let Some(r) = &a.redirect else {
        return Err(validation(
            "A redirect action must specify a RedirectConfig",
        ));
    };
    let Some(status) = &r.status_code else {
        return Err(validation("RedirectConfig.StatusCode is required"));
    };
    let protocol = r.protocol.clone().unwrap_or_else(|| "#{protocol}".into());
    if !matches!(protocol.as_str(), "HTTP" | "HTTPS" | "#{protocol}") {
        return Err(validation(format!(
            "Redirect protocol '{protocol}' must be HTTP, HTTPS or #{{protocol}}"
        )));
    }
    let path = r.path.clone().unwrap_or_else(|| "/#{path}".into());
    if !path.starts_with('/') {
        return Err(validation("Redirect path must start with '/'"));
    }
    let port = r.port.clone().unwrap_or_else(|| "#{port}".into());
    if port != "#{port}" && !port.parse::<u16>().is_ok_and(|p| p >= 1) {
        return Err(validation(format!("Redirect port '{port}' is not valid")));
    }
    let host = r.host.clone().unwrap_or_else(|| "#{host}".into());
    let query = r.query.clone().unwrap_or_else(|| "#{query}".into());
    if protocol == "#{protocol}"
        && host == "#{host}"
        && port == "#{port}"
        && path == "/#{path}"
        && query == "#{query}"
    {
        return Err(Fault::new(
            "InvalidLoadBalancerAction",
            "The redirect configuration is not valid: it would redirect to itself",
        ));
    }
    Ok(ActionKind::Redirect {
        protocol,
        host,
        port,
        path,
        query,
        status_code: status.clone(),
    })
}

/// A rule condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// `path-pattern`, `host-header`, `http-header`, `http-request-method`, `query-string`,
    /// `source-ip`.
    pub field: String,
    /// The values (every field but `query-string`).
    #[serde(default)]
    pub values: Vec<String>,
    /// The header of an `http-header` condition.
    #[serde(default)]
    pub http_header_name: Option<String>,
    /// `query-string` pairs (key optional).
    #[serde(default)]
    pub query_pairs: Vec<(Option<String>, String)>,
}

/// A condition as the caller described it: field, legacy `Values`, and the per-field config's
/// values, header name and query pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConditionInput {
    /// `Field`.
    pub field: Option<String>,
    /// `Values` (legacy form, path-pattern and host-header only).
    pub values: Option<Vec<String>>,
    /// `<Field>Config.Values`.
    pub config_values: Option<Vec<String>>,
    /// `HttpHeaderConfig.HttpHeaderName`.
    pub http_header_name: Option<String>,
    /// `QueryStringConfig.Values`.
    pub query_pairs: Option<Vec<(Option<String>, Option<String>)>>,
}

/// Checks conditions (at most 5 values in all, as AWS counts them).
pub fn conditions(inputs: Vec<ConditionInput>) -> Result<Vec<Condition>, Fault> {
    let mut out = Vec::with_capacity(inputs.len());
    let mut total = 0usize;
    for c in inputs {
        let Some(field) = c.field else {
            return Err(validation("A condition must specify a Field"));
        };
        let mut cond = Condition {
            field: field.clone(),
            values: Vec::new(),
            http_header_name: None,
            query_pairs: Vec::new(),
        };
        match field.as_str() {
            "path-pattern" | "host-header" => {
                let values = match (c.values, c.config_values) {
                    (Some(v), None) | (None, Some(v)) => v,
                    (Some(a), Some(b)) if a == b => a,
                    (Some(_), Some(_)) => {
                        return Err(validation(format!(
                            "Values and {field} config values cannot both be specified"
                        )));
                    }
                    (None, None) => Vec::new(),
                };
                for v in &values {
                    if v.is_empty() || v.len() > 128 {
                        return Err(validation(format!(
                            "Condition value '{v}' must be 1 to 128 characters"
                        )));
                    }
                }
                cond.values = values;
            }
            "http-header" => {
                let Some(name) = c.http_header_name.filter(|n| {
                    !n.is_empty()
                        && n.len() <= 40
                        && n.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                }) else {
                    return Err(validation(
                        "An http-header condition must specify a valid HttpHeaderName",
                    ));
                };
                cond.http_header_name = Some(name);
                cond.values = c.config_values.unwrap_or_default();
            }
            "http-request-method" => {
                let values = c.config_values.unwrap_or_default();
                if let Some(bad) = values.iter().find(|v| {
                    v.is_empty()
                        || v.len() > 40
                        || !v
                            .bytes()
                            .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
                }) {
                    return Err(validation(format!(
                        "HTTP request method '{bad}' is not valid: use upper-case letters, '-' and '_'"
                    )));
                }
                cond.values = values;
            }
            "source-ip" => {
                let values = c.config_values.unwrap_or_default();
                if let Some(bad) = values.iter().find(|v| !is_cidr(v)) {
                    return Err(validation(format!("Source IP '{bad}' is not a valid CIDR")));
                }
                cond.values = values;
            }
            "query-string" => {
                for (k, v) in c.query_pairs.unwrap_or_default() {
                    let Some(v) = v.filter(|v| !v.is_empty()) else {
                        return Err(validation(
                            "A query-string condition value must not be empty",
                        ));
                    };
                    cond.query_pairs.push((k, v));
                }
            }
            other => {
                return Err(validation(format!(
                    "Condition field '{other}' must be one of [http-header, http-request-method, host-header, path-pattern, query-string, source-ip]"
                )));
            }
        }
        let n = cond.values.len() + cond.query_pairs.len();
        if n == 0 {
            return Err(validation(format!(
                "A condition for field '{field}' must specify at least one value"
            )));
        }
        total += n;
        if out
            .iter()
            .any(|o: &Condition| o.field == field && field != "http-header")
        {
            return Err(validation(format!(
                "A rule can have at most one '{field}' condition"
            )));
        }
        out.push(cond);
    }
    if total > 5 {
        return Err(validation("A rule can have at most 5 condition values"));
    }
    Ok(out)
}

fn is_cidr(v: &str) -> bool {
    let Some((ip, len)) = v.split_once('/') else {
        return false;
    };
    match (ip.parse::<std::net::IpAddr>(), len.parse::<u8>()) {
        (Ok(std::net::IpAddr::V4(_)), Ok(n)) => n <= 32,
        (Ok(std::net::IpAddr::V6(_)), Ok(n)) => n <= 128,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fwd(groups: &[(&str, Option<i32>)]) -> ActionInput {
        ActionInput {
            kind: "forward".into(),
            forward_groups: Some(groups.iter().map(|(a, w)| ((*a).to_owned(), *w)).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn actions_are_checked_and_normalised() {
        let a = build(vec![fwd(&[("tg-a", None), ("tg-b", Some(3))])], true).expect("forward");
        let ActionKind::Forward {
            target_groups,
            single,
            ..
        } = &a[0].kind
        else {
            panic!("forward expected");
        };
        assert_eq!(
            (target_groups[0].weight, target_groups[1].weight, *single),
            (1, 3, false)
        );
        assert_eq!(a[0].order, 1);
        assert!(
            build(vec![fwd(&[("tg-a", Some(1000))])], true).is_err(),
            "weight range"
        );
        assert!(
            build(vec![fwd(&[("tg-a", None), ("tg-a", None)])], true).is_err(),
            "twice"
        );
        assert!(build(Vec::new(), true).is_err());
        let fixed = |code: &str| ActionInput {
            kind: "fixed-response".into(),
            fixed_response: Some((Some(code.into()), Some("text/plain".into()), None)),
            ..Default::default()
        };
        assert!(build(vec![fixed("503")], true).is_ok());
        assert!(
            build(vec![fixed("302")], true).is_err(),
            "3XX is a redirect's"
        );
        assert_eq!(
            build(vec![fixed("200")], false).map_err(|f| f.code),
            Err("InvalidLoadBalancerAction")
        );
        let redirect = |r: RedirectInput| ActionInput {
            kind: "redirect".into(),
            redirect: Some(r),
            ..Default::default()
        };
        let to_self = RedirectInput {
            status_code: Some("HTTP_301".into()),
            ..Default::default()
        };
        assert_eq!(
            build(vec![redirect(to_self)], true).map_err(|f| f.code),
            Err("InvalidLoadBalancerAction")
        );
        let https = RedirectInput {
            protocol: Some("HTTPS".into()),
            port: Some("443".into()),
            status_code: Some("HTTP_301".into()),
            ..Default::default()
        };
        let r = build(vec![redirect(https)], true).expect("redirect");
        assert!(
            matches!(&r[0].kind, ActionKind::Redirect { host, path, .. } if host == "#{host}" && path == "/#{path}")
        );
        let oidc = ActionInput {
            kind: "authenticate-oidc".into(),
            ..Default::default()
        };
        assert_eq!(
            build(vec![oidc], true).map_err(|f| f.code),
            Err("InvalidLoadBalancerAction")
        );
    }

    #[test]
    fn conditions_are_checked() {
        let c = |field: &str, values: &[&str]| ConditionInput {
            field: Some(field.into()),
            config_values: Some(values.iter().map(|v| (*v).to_owned()).collect()),
            ..Default::default()
        };
        assert!(
            conditions(vec![
                c("path-pattern", &["/a", "/b"]),
                c("host-header", &["x.example"])
            ])
            .is_ok()
        );
        assert!(
            conditions(vec![
                c("path-pattern", &["/a", "/b", "/c", "/d"]),
                c("host-header", &["x", "y"])
            ])
            .is_err(),
            "6 values"
        );
        assert!(conditions(vec![c("path-pattern", &[])]).is_err());
        assert!(conditions(vec![c("source-ip", &["10.0.0.0/33"])]).is_err());
        assert!(conditions(vec![c("source-ip", &["2001:db8::/32"])]).is_ok());
        assert!(
            conditions(vec![c("http-header", &["v"])]).is_err(),
            "header name needed"
        );
        let q = ConditionInput {
            field: Some("query-string".into()),
            query_pairs: Some(vec![
                (Some("k".into()), Some("v".into())),
                (None, Some("w".into())),
            ]),
            ..Default::default()
        };
        assert_eq!(conditions(vec![q]).expect("query")[0].query_pairs.len(), 2);
        let legacy = ConditionInput {
            field: Some("path-pattern".into()),
            values: Some(vec!["/x".into()]),
            ..Default::default()
        };
        assert_eq!(conditions(vec![legacy]).expect("legacy")[0].values, ["/x"]);
    }
}
