//! The attribute sets of load balancers, target groups and listeners: AWS's full default set
//! for each kind (clients such as Terraform read every key back, so a missing key is a
//! perpetual diff), and the checks `Modify*Attributes` applies to a change.
//!
//! A key of another kind of resource is `InvalidConfigurationRequest` ("… is not supported on
//! load balancers with type 'network'"), an unknown key is `ValidationError` ("… is not
//! recognized"): the exact wording Terraform's provider parses to drop keys a partition lacks.

use std::collections::BTreeMap;

use super::validation;
use crate::ec2::Fault;

/// How a value is checked.
#[derive(Debug, Clone, Copy)]
pub enum Check {
    /// `true` or `false`.
    Bool,
    /// An integer in the inclusive range.
    Int(i64, i64),
    /// One of the listed words.
    OneOf(&'static [&'static str]),
    /// Any string up to 1024 characters.
    Text,
    /// An application cookie's name: empty (unset), or an HTTP token of at most 128
    /// characters not starting with the load balancer's own prefixes (`AWSALB`…). The proxy
    /// follows the cookie by this name, so anything else would break its configuration.
    CookieName,
}

/// One attribute: key, AWS's default value, check.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// The key.
    pub key: &'static str,
    /// Its default.
    pub default: &'static str,
    /// Its check.
    pub check: Check,
}

const fn spec(key: &'static str, default: &'static str, check: Check) -> Spec {
    Spec {
        key,
        default,
        check,
    }
}

const B: Check = Check::Bool;
const T: Check = Check::Text;

/// Application load balancers.
pub const APPLICATION_LB: &[Spec] = &[
    spec("access_logs.s3.enabled", "false", B),
    spec("access_logs.s3.bucket", "", T),
    spec("access_logs.s3.prefix", "", T),
    spec("client_keep_alive.seconds", "3600", Check::Int(60, 604_800)),
    spec("connection_logs.s3.enabled", "false", B),
    spec("connection_logs.s3.bucket", "", T),
    spec("connection_logs.s3.prefix", "", T),
    spec("deletion_protection.enabled", "false", B),
    spec("health_check_logs.s3.enabled", "false", B),
    spec("health_check_logs.s3.bucket", "", T),
    spec("health_check_logs.s3.prefix", "", T),
    spec("idle_timeout.timeout_seconds", "60", Check::Int(1, 4000)),
    // Always true on ALBs; AWS reports it and refuses to turn it off.
    spec(
        "load_balancing.cross_zone.enabled",
        "true",
        Check::OneOf(&["true"]),
    ),
    spec(
        "routing.http.desync_mitigation_mode",
        "defensive",
        Check::OneOf(&["monitor", "defensive", "strictest"]),
    ),
    spec(
        "routing.http.drop_invalid_header_fields.enabled",
        "false",
        B,
    ),
    spec("routing.http.preserve_host_header.enabled", "false", B),
    spec(
        "routing.http.x_amzn_tls_version_and_cipher_suite.enabled",
        "false",
        B,
    ),
    spec("routing.http.xff_client_port.enabled", "false", B),
    spec(
        "routing.http.xff_header_processing.mode",
        "append",
        Check::OneOf(&["append", "preserve", "remove"]),
    ),
    spec("routing.http2.enabled", "true", B),
    spec("waf.fail_open.enabled", "false", B),
    spec("zonal_shift.config.enabled", "false", B),
];

/// Network load balancers.
pub const NETWORK_LB: &[Spec] = &[
    spec("access_logs.s3.enabled", "false", B),
    spec("access_logs.s3.bucket", "", T),
    spec("access_logs.s3.prefix", "", T),
    spec("deletion_protection.enabled", "false", B),
    spec(
        "dns_record.client_routing_policy",
        "any_availability_zone",
        Check::OneOf(&[
            "availability_zone_affinity",
            "partial_availability_zone_affinity",
            "any_availability_zone",
        ]),
    ),
    spec("load_balancing.cross_zone.enabled", "false", B),
    spec("zonal_shift.config.enabled", "false", B),
];

const TG_HEALTH: [Spec; 4] = [
    spec(
        "target_group_health.dns_failover.minimum_healthy_targets.count",
        "1",
        Check::OneOf(&["off", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]),
    ),
    spec(
        "target_group_health.dns_failover.minimum_healthy_targets.percentage",
        "off",
        T,
    ),
    spec(
        "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count",
        "1",
        Check::Int(1, 1000),
    ),
    spec(
        "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage",
        "off",
        T,
    ),
];

const CROSS_ZONE_TG: Spec = spec(
    "load_balancing.cross_zone.enabled",
    "use_load_balancer_configuration",
    Check::OneOf(&["true", "false", "use_load_balancer_configuration"]),
);

/// Target groups of application load balancers (HTTP, HTTPS).
pub const HTTP_TG: &[Spec] = &[
    spec(
        "deregistration_delay.timeout_seconds",
        "300",
        Check::Int(0, 3600),
    ),
    spec("stickiness.enabled", "false", B),
    spec(
        "stickiness.type",
        "lb_cookie",
        Check::OneOf(&["lb_cookie", "app_cookie"]),
    ),
    spec(
        "stickiness.lb_cookie.duration_seconds",
        "86400",
        Check::Int(1, 604_800),
    ),
    spec("stickiness.app_cookie.cookie_name", "", Check::CookieName),
    spec(
        "stickiness.app_cookie.duration_seconds",
        "86400",
        Check::Int(1, 604_800),
    ),
    spec(
        "load_balancing.algorithm.type",
        "round_robin",
        Check::OneOf(&[
            "round_robin",
            "least_outstanding_requests",
            "weighted_random",
        ]),
    ),
    spec(
        "load_balancing.algorithm.anomaly_mitigation",
        "off",
        Check::OneOf(&["on", "off"]),
    ),
    spec("slow_start.duration_seconds", "0", Check::Int(0, 900)),
    CROSS_ZONE_TG,
    TG_HEALTH[0],
    TG_HEALTH[1],
    TG_HEALTH[2],
    TG_HEALTH[3],
];

/// Target groups of network load balancers (TCP, UDP, TLS, TCP_UDP).
pub const TCP_TG: &[Spec] = &[
    spec(
        "deregistration_delay.timeout_seconds",
        "300",
        Check::Int(0, 3600),
    ),
    spec(
        "deregistration_delay.connection_termination.enabled",
        "false",
        B,
    ),
    spec("preserve_client_ip.enabled", "true", B),
    spec("proxy_protocol_v2.enabled", "false", B),
    spec("stickiness.enabled", "false", B),
    spec("stickiness.type", "source_ip", Check::OneOf(&["source_ip"])),
    CROSS_ZONE_TG,
    TG_HEALTH[0],
    TG_HEALTH[1],
    TG_HEALTH[2],
    TG_HEALTH[3],
    spec(
        "target_health_state.unhealthy.connection_termination.enabled",
        "true",
        B,
    ),
    spec(
        "target_health_state.unhealthy.draining_interval_seconds",
        "0",
        Check::Int(0, 360_000),
    ),
];

/// Target groups of Lambda functions.
pub const LAMBDA_TG: &[Spec] = &[spec("lambda.multi_value_headers.enabled", "false", B)];

/// Listeners of application load balancers (HTTP, HTTPS).
pub const HTTP_LISTENER: &[Spec] = &[
    spec("routing.http.response.server.enabled", "true", B),
    spec(
        "routing.http.response.strict_transport_security.header_value",
        "",
        T,
    ),
    spec(
        "routing.http.response.access_control_allow_origin.header_value",
        "",
        T,
    ),
    spec(
        "routing.http.response.access_control_allow_methods.header_value",
        "",
        T,
    ),
    spec(
        "routing.http.response.access_control_allow_headers.header_value",
        "",
        T,
    ),
    spec(
        "routing.http.response.access_control_allow_credentials.header_value",
        "",
        T,
    ),
    spec(
        "routing.http.response.access_control_expose_headers.header_value",
        "",
        T,
    ),
    spec(
        "routing.http.response.access_control_max_age.header_value",
        "",
        T,
    ),
    spec(
        "routing.http.response.content_security_policy.header_value",
        "",
        T,
    ),
    spec(
        "routing.http.response.x_content_type_options.header_value",
        "",
        T,
    ),
    spec("routing.http.response.x_frame_options.header_value", "", T),
];

/// TCP listeners of network load balancers.
pub const TCP_LISTENER: &[Spec] = &[spec(
    "tcp.idle_timeout.seconds",
    "350",
    Check::Int(60, 6000),
)];

/// The defaults of `specs`.
#[must_use]
pub fn defaults(specs: &[Spec]) -> BTreeMap<String, String> {
    specs
        .iter()
        .map(|s| (s.key.to_owned(), s.default.to_owned()))
        .collect()
}

/// Applies `changes` to `current` after checking every one (all or nothing). `others` are the
/// specs of the sibling kinds, to tell "not supported here" from "not recognized";
/// `noun` names the resource in messages (`Load balancer`, `Target group`, `Listener`) and
/// `kind` its type (`network`, `TCP`).
pub fn apply(
    current: &mut BTreeMap<String, String>,
    specs: &[Spec],
    others: &[&[Spec]],
    changes: &[(String, String)],
    noun: &str,
    kind: &str,
) -> Result<(), Fault> {
    if changes.is_empty() {
        return Err(validation("At least one attribute must be specified"));
    }
    let mut next = current.clone();
    for (key, value) in changes {
        let Some(spec) = specs.iter().find(|s| s.key == key) else {
            if others.iter().any(|o| o.iter().any(|s| s.key == key)) {
                return Err(Fault::new(
                    "InvalidConfigurationRequest",
                    format!("{noun} attribute key '{key}' is not supported on {kind}"),
                ));
            }
            return Err(validation(format!(
                "{noun} attribute key '{key}' is not recognized"
            )));
        };
        check(spec, value, noun)?;
        next.insert(key.clone(), value.clone());
    }
    for log in ["access_logs", "connection_logs", "health_check_logs"] {
        let on = next.get(&format!("{log}.s3.enabled")).map(String::as_str) == Some("true");
        let bucket = next
            .get(&format!("{log}.s3.bucket"))
            .map(String::as_str)
            .unwrap_or("");
        if on && bucket.is_empty() {
            return Err(validation(format!(
                "The value of '{log}.s3.bucket' cannot be empty when '{log}.s3.enabled' is true"
            )));
        }
    }
    *current = next;
    Ok(())
}

fn check(spec: &Spec, value: &str, noun: &str) -> Result<(), Fault> {
    let bad = || {
        Fault::new(
            "InvalidConfigurationRequest",
            format!(
                "{noun} attribute '{}' has an invalid value '{value}'",
                spec.key
            ),
        )
    };
    let ok = match spec.check {
        Check::Bool => value == "true" || value == "false",
        Check::Int(lo, hi) => value.parse::<i64>().is_ok_and(|n| (lo..=hi).contains(&n)),
        Check::OneOf(words) => words.contains(&value),
        Check::Text => value.len() <= 1024,
        Check::CookieName => {
            value.is_empty()
                || (value.len() <= 128
                    && !value.to_ascii_uppercase().starts_with("AWSALB")
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)))
        }
    };
    if ok { Ok(()) } else { Err(bad()) }
}

/// `(key, value)` pairs in key order, as the describe calls answer.
#[must_use]
pub fn listed(attributes: &BTreeMap<String, String>) -> Vec<(String, String)> {
    attributes
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
