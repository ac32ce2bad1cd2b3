//! Target groups and their registered targets: protocol and health-check defaults per
//! protocol (as AWS fills them), registration rules per target type, deregistration with the
//! group's delay, and target health.
//!
//! Health: a registered target of a group that a load balancer uses reports what the data
//! plane's probes say (`initial` until they decide, `healthy`, `unhealthy` with a reason; a
//! target is healthy when any load balancer using the group finds it so), or `unavailable`
//! on an endpoint without a data plane; of an unused group `unused` / `Target.NotInUse`; a
//! deregistered one `draining` / `Target.DeregistrationInProgress` for
//! `deregistration_delay.timeout_seconds`, then `unused` / `Target.NotRegistered` — which is
//! what the `target_deregistered` waiter waits for.
//!
//! Instance targets: instance records belong to the compute family (`ec2::instance`). Until it
//! is merged, ids are checked by shape only; `check_instance_target` is the one place to add
//! the existence, state and VPC checks.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::attributes::{self, HTTP_TG, LAMBDA_TG, TCP_TG};
use super::listener::Listener;
use super::load_balancer::{LoadBalancer, check_name, cidr_contains};
use super::rule::Rule;
use super::{Elbv2, arn, now_ms, validation};
use crate::Error;
use crate::ec2::Fault;
use crate::ec2::instance::{Instance, InstanceState};
use crate::ec2::store::Txn;
use crate::ec2::vpc::Vpc;
use crate::query::paginate::Page;
use crate::query::tags::Tag;

/// Most targets in one group.
pub const MAX_TARGETS: usize = 1000;

/// Health-check settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// Enabled.
    pub enabled: bool,
    /// Protocol (`None` for Lambda groups).
    pub protocol: Option<String>,
    /// `traffic-port` or a port number (`None` for Lambda groups).
    pub port: Option<String>,
    /// Path (HTTP(S) checks).
    pub path: Option<String>,
    /// Interval, seconds.
    pub interval: i32,
    /// Timeout, seconds.
    pub timeout: i32,
    /// Healthy threshold.
    pub healthy_threshold: i32,
    /// Unhealthy threshold.
    pub unhealthy_threshold: i32,
    /// HTTP success codes (`200`, `200-299`, `200,202`).
    pub matcher_http: Option<String>,
    /// gRPC success codes.
    pub matcher_grpc: Option<String>,
}

/// A registered target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredTarget {
    /// Instance id, IP address, Lambda ARN or ALB ARN.
    pub id: String,
    /// Port (the group's when the caller gave none; `None` for Lambda and ALB targets' default).
    pub port: Option<i32>,
    /// `AvailabilityZone` as registered (`all` for IPs outside the VPC).
    pub availability_zone: Option<String>,
    /// When deregistered: the end of draining, ms since the epoch.
    #[serde(default)]
    pub draining_until_ms: Option<i64>,
}

/// A target group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroup {
    /// Its ARN.
    pub id: String,
    /// Name, unique per account and region.
    pub name: String,
    /// `instance`, `ip`, `lambda` or `alb`.
    pub target_type: String,
    /// Protocol (`None` for Lambda).
    pub protocol: Option<String>,
    /// Port (`None` for Lambda).
    pub port: Option<i32>,
    /// VPC (`None` for Lambda).
    pub vpc_id: Option<String>,
    /// `HTTP1`, `HTTP2`, `GRPC` (HTTP and HTTPS groups).
    pub protocol_version: Option<String>,
    /// `ipv4` or `ipv6`.
    pub ip_address_type: String,
    /// Health checks.
    pub health: HealthCheck,
    /// Every attribute with its value.
    pub attributes: BTreeMap<String, String>,
    /// Registered and draining targets.
    #[serde(default)]
    pub targets: Vec<RegisteredTarget>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// `CreateTargetGroup`'s arguments (and `ModifyTargetGroup`'s health-check ones).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateTargetGroup {
    /// Name.
    pub name: String,
    /// Protocol.
    pub protocol: Option<String>,
    /// Protocol version.
    pub protocol_version: Option<String>,
    /// Port.
    pub port: Option<i32>,
    /// VPC.
    pub vpc_id: Option<String>,
    /// Target type.
    pub target_type: Option<String>,
    /// IP address type.
    pub ip_address_type: Option<String>,
    /// Health-check changes.
    pub health: HealthCheckInput,
    /// Tags.
    pub tags: Vec<Tag>,
}

/// Health-check parameters as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthCheckInput {
    /// `HealthCheckEnabled`.
    pub enabled: Option<bool>,
    /// `HealthCheckProtocol`.
    pub protocol: Option<String>,
    /// `HealthCheckPort`.
    pub port: Option<String>,
    /// `HealthCheckPath`.
    pub path: Option<String>,
    /// `HealthCheckIntervalSeconds`.
    pub interval: Option<i32>,
    /// `HealthCheckTimeoutSeconds`.
    pub timeout: Option<i32>,
    /// `HealthyThresholdCount`.
    pub healthy_threshold: Option<i32>,
    /// `UnhealthyThresholdCount`.
    pub unhealthy_threshold: Option<i32>,
    /// `Matcher.HttpCode`.
    pub matcher_http: Option<String>,
    /// `Matcher.GrpcCode`.
    pub matcher_grpc: Option<String>,
}

/// A target as a request names it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetInput {
    /// `Id`.
    pub id: String,
    /// `Port`.
    pub port: Option<i32>,
    /// `AvailabilityZone`.
    pub availability_zone: Option<String>,
}

/// A target's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetHealth {
    /// In use by a load balancer on an endpoint without a data plane: health unknown.
    Unavailable,
    /// In use, health checks disabled.
    HealthCheckDisabled,
    /// In use; the first health checks have not decided yet.
    Initial,
    /// In use and passing its health checks.
    Healthy,
    /// In use and failing its health checks.
    Unhealthy(UnhealthyCause),
    /// Registered, but no load balancer uses the group.
    NotInUse,
    /// An instance target that is not running (stopped, stopping or terminated).
    InvalidState,
    /// Deregistered and draining.
    Draining,
    /// Not registered.
    NotRegistered,
}

/// Why a target fails its health checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnhealthyCause {
    /// The check's HTTP status was outside the matcher (the status, when known).
    ResponseCodeMismatch(Option<u16>),
    /// The check timed out.
    Timeout,
    /// The check failed otherwise (refused, reset).
    FailedHealthChecks,
}

impl TargetHealth {
    /// `(State, Reason, Description)` as `DescribeTargetHealth` reports them.
    #[must_use]
    pub fn wire(self) -> (&'static str, Option<&'static str>, Option<String>) {
        let (state, reason, description): (&str, Option<&str>, Option<&str>) = match self {
            Self::Unavailable => (
                "unavailable",
                None,
                Some("Health checks are not running on this Kumo endpoint"),
            ),
            Self::HealthCheckDisabled => (
                "unavailable",
                Some("Target.HealthCheckDisabled"),
                Some("Health checks disabled"),
            ),
            Self::Initial => (
                "initial",
                Some("Elb.InitialHealthChecking"),
                Some("Initial health checks in progress"),
            ),
            Self::Healthy => ("healthy", None, None),
            Self::Unhealthy(UnhealthyCause::ResponseCodeMismatch(code)) => {
                return (
                    "unhealthy",
                    Some("Target.ResponseCodeMismatch"),
                    Some(match code {
                        Some(c) => format!("Health checks failed with these codes: [{c}]"),
                        None => "Health checks failed".to_owned(),
                    }),
                );
            }
            Self::Unhealthy(UnhealthyCause::Timeout) => (
                "unhealthy",
                Some("Target.Timeout"),
                Some("Request timed out"),
            ),
            Self::Unhealthy(UnhealthyCause::FailedHealthChecks) => (
                "unhealthy",
                Some("Target.FailedHealthChecks"),
                Some("Health checks failed"),
            ),
            Self::NotInUse => (
                "unused",
                Some("Target.NotInUse"),
                Some("Target group is not configured to receive traffic from the load balancer"),
            ),
            Self::InvalidState => (
                "unused",
                Some("Target.InvalidState"),
                Some("Target is in the stopped state"),
            ),
            Self::Draining => (
                "draining",
                Some("Target.DeregistrationInProgress"),
                Some("Target deregistration is in progress"),
            ),
            Self::NotRegistered => (
                "unused",
                Some("Target.NotRegistered"),
                Some("Target is not registered to the target group"),
            ),
        };
        (state, reason, description.map(str::to_owned))
    }

    /// What the data plane observed, as ELBv2 reports it.
    #[must_use]
    pub fn observed(h: &kumo_driver_api::ObservedHealth) -> Self {
        use kumo_driver_api::{ObservedHealth as O, UnhealthyReason as R};
        match h {
            O::Initial => Self::Initial,
            O::Healthy => Self::Healthy,
            O::Unhealthy(R::ResponseCodeMismatch(c)) => {
                Self::Unhealthy(UnhealthyCause::ResponseCodeMismatch(*c))
            }
            O::Unhealthy(R::Timeout) => Self::Unhealthy(UnhealthyCause::Timeout),
            O::Unhealthy(R::FailedHealthChecks) => {
                Self::Unhealthy(UnhealthyCause::FailedHealthChecks)
            }
        }
    }
}

/// One row of `DescribeTargetHealth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHealthRow {
    /// The target.
    pub target: RegisteredTarget,
    /// The port health checks use.
    pub health_check_port: Option<String>,
    /// Its health.
    pub health: TargetHealth,
}

fn tg_not_found() -> Fault {
    Fault::new("TargetGroupNotFound", "One or more target groups not found")
}

impl TargetGroup {
    fn is_http(&self) -> bool {
        matches!(self.protocol.as_deref(), Some("HTTP" | "HTTPS"))
    }

    fn specs(
        &self,
    ) -> (
        &'static [attributes::Spec],
        Vec<&'static [attributes::Spec]>,
    ) {
        if self.target_type == "lambda" {
            (LAMBDA_TG, vec![HTTP_TG, TCP_TG])
        } else if self.is_http() {
            (HTTP_TG, vec![TCP_TG, LAMBDA_TG])
        } else {
            (TCP_TG, vec![HTTP_TG, LAMBDA_TG])
        }
    }

    /// An attribute's value: the group's own, else the default of its kind (records carry
    /// the defaults they were created with; this covers keys that came later).
    pub(crate) fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str).or_else(|| {
            self.specs()
                .0
                .iter()
                .find(|s| s.key == key)
                .map(|s| s.default)
        })
    }

    /// Targets registered now (not draining, or draining until after `now`).
    fn live(&self, now: i64) -> impl Iterator<Item = &RegisteredTarget> {
        self.targets
            .iter()
            .filter(move |t| t.draining_until_ms.is_none_or(|until| until > now))
    }

    fn prune(&mut self, now: i64) {
        self.targets
            .retain(|t| t.draining_until_ms.is_none_or(|until| until > now));
    }

    fn deregistration_delay_ms(&self) -> i64 {
        self.attributes
            .get("deregistration_delay.timeout_seconds")
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(300)
            * 1000
    }
}

/// Which load balancers use each target group, from the listeners' default actions and the
/// rules' actions (a rule's ARN extends its listener's, which extends its load balancer's).
#[must_use]
pub fn usage(listeners: &[Listener], rules: &[Rule]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for l in listeners {
        for a in &l.default_actions {
            for tg in a.target_groups() {
                out.entry(tg.to_owned())
                    .or_default()
                    .insert(l.load_balancer_arn.clone());
            }
        }
    }
    for r in rules {
        let Some(lb) = arn::load_balancer_of_listener(&r.listener_arn) else {
            continue;
        };
        for a in &r.actions {
            for tg in a.target_groups() {
                out.entry(tg.to_owned()).or_default().insert(lb.clone());
            }
        }
    }
    out
}

/// The target group `arn` of `account`, as `t` sees it.
pub(crate) fn get(t: &Txn<'_>, account: &str, arn: &str) -> Result<TargetGroup, Fault> {
    t.get::<TargetGroup>(account, arn).ok_or_else(tg_not_found)
}

fn check_protocol(protocol: &str) -> Result<(), Fault> {
    match protocol {
        "HTTP" | "HTTPS" | "TCP" | "TLS" | "UDP" | "TCP_UDP" => Ok(()),
        other => Err(Fault::new(
            "UnsupportedProtocol",
            format!("Protocol '{other}' is not supported by this Kumo endpoint"),
        )),
    }
}

fn check_port(port: i32, what: &str) -> Result<(), Fault> {
    if !(1..=65_535).contains(&port) {
        return Err(validation(format!(
            "{what} '{port}' must be between 1 and 65535"
        )));
    }
    Ok(())
}

fn defaults(target_type: &str, protocol: Option<&str>, version: Option<&str>) -> HealthCheck {
    match (target_type, protocol) {
        ("lambda", _) => HealthCheck {
            enabled: false,
            protocol: None,
            port: None,
            path: Some("/".into()),
            interval: 35,
            timeout: 30,
            healthy_threshold: 5,
            unhealthy_threshold: 2,
            matcher_http: Some("200".into()),
            matcher_grpc: None,
        },
        (_, Some(p @ ("HTTP" | "HTTPS"))) => {
            let grpc = version == Some("GRPC");
            HealthCheck {
                enabled: true,
                protocol: Some(p.to_owned()),
                port: Some("traffic-port".into()),
                path: Some(if grpc { "/AWS.ALB/healthcheck" } else { "/" }.into()),
                interval: 30,
                timeout: 5,
                healthy_threshold: 5,
                unhealthy_threshold: 2,
                matcher_http: (!grpc).then(|| "200".into()),
                matcher_grpc: grpc.then(|| "12".into()),
            }
        }
        _ => HealthCheck {
            enabled: true,
            protocol: Some("TCP".into()),
            port: Some("traffic-port".into()),
            path: None,
            interval: 30,
            timeout: 10,
            healthy_threshold: 5,
            unhealthy_threshold: 2,
            matcher_http: None,
            matcher_grpc: None,
        },
    }
}

fn check_matcher(codes: &str, lo: u32, hi: u32) -> Result<(), Fault> {
    let bad = || validation(format!("Matcher code '{codes}' is not valid"));
    let code = |s: &str| {
        s.parse::<u32>()
            .ok()
            .filter(|n| (lo..=hi).contains(n))
            .ok_or_else(bad)
    };
    for part in codes.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                if code(a)? > code(b)? {
                    return Err(bad());
                }
            }
            None => {
                code(part)?;
            }
        }
    }
    Ok(())
}

/// Applies health-check changes to `hc` for a group of `protocol` and checks the result.
fn apply_health(
    hc: &mut HealthCheck,
    h: &HealthCheckInput,
    target_type: &str,
    tg_protocol: Option<&str>,
) -> Result<(), Fault> {
    if let Some(e) = h.enabled {
        if !e && target_type != "lambda" && !matches!(tg_protocol, Some("HTTP" | "HTTPS")) {
            return Err(validation(
                "Health checks cannot be disabled for target groups with the TCP, TLS, UDP or TCP_UDP protocol",
            ));
        }
        hc.enabled = e;
    }
    if let Some(p) = &h.protocol {
        if !matches!(p.as_str(), "HTTP" | "HTTPS" | "TCP") {
            return Err(validation(format!(
                "Health check protocol '{p}' must be HTTP, HTTPS or TCP"
            )));
        }
        if p == "TCP" && matches!(tg_protocol, Some("HTTP" | "HTTPS")) {
            return Err(validation(
                "Health check protocol 'TCP' is not supported for target groups with the HTTP or HTTPS protocol",
            ));
        }
        if hc.protocol.as_deref() == Some("TCP") && p != "TCP" {
            hc.path = Some("/".into());
            hc.matcher_http = Some("200-399".into());
        }
        if p == "TCP" {
            hc.path = None;
            hc.matcher_http = None;
        }
        hc.protocol = Some(p.clone());
    }
    if let Some(port) = &h.port {
        if port != "traffic-port" {
            let n = port
                .parse::<i32>()
                .map_err(|_| validation(format!("Health check port '{port}' is not valid")))?;
            check_port(n, "Health check port")?;
        }
        hc.port = Some(port.clone());
    }
    if let Some(path) = &h.path {
        if !path.starts_with('/') || path.len() > 1024 {
            return Err(validation(format!(
                "Health check path '{path}' must start with '/' and be at most 1024 characters"
            )));
        }
        if hc.protocol.as_deref() == Some("TCP") {
            return Err(validation(
                "A health check path cannot be set for the TCP health check protocol",
            ));
        }
        hc.path = Some(path.clone());
    }
    let range = |v: Option<i32>, lo: i32, hi: i32, what: &str| -> Result<Option<i32>, Fault> {
        match v {
            Some(n) if !(lo..=hi).contains(&n) => Err(validation(format!(
                "{what} '{n}' must be between {lo} and {hi}"
            ))),
            other => Ok(other),
        }
    };
    if let Some(n) = range(h.interval, 5, 300, "Health check interval")? {
        hc.interval = n;
    }
    if let Some(n) = range(h.timeout, 2, 120, "Health check timeout")? {
        hc.timeout = n;
    }
    if let Some(n) = range(h.healthy_threshold, 2, 10, "Healthy threshold count")? {
        hc.healthy_threshold = n;
    }
    if let Some(n) = range(h.unhealthy_threshold, 2, 10, "Unhealthy threshold count")? {
        hc.unhealthy_threshold = n;
    }
    if hc.timeout >= hc.interval {
        return Err(validation(
            "Health check timeout must be smaller than the interval",
        ));
    }
    if let Some(m) = &h.matcher_http {
        let hi = if matches!(tg_protocol, Some("HTTP" | "HTTPS")) {
            499
        } else {
            599
        };
        check_matcher(m, 200, hi)?;
        hc.matcher_http = Some(m.clone());
    }
    if let Some(m) = &h.matcher_grpc {
        check_matcher(m, 0, 99)?;
        hc.matcher_grpc = Some(m.clone());
    }
    Ok(())
}

/// An instance target: it must exist in the account (`InvalidTarget`: "not valid
/// instances"), not be terminated or terminating, and be in the target group's VPC.
fn check_instance_target(t: &Txn<'_>, account: &str, vpc_id: &str, id: &str) -> Result<(), Fault> {
    let invalid = || {
        Fault::new(
            "InvalidTarget",
            format!("The following targets are not valid instances: '{id}'"),
        )
    };
    let hex = id.strip_prefix("i-").unwrap_or_default();
    let ok = (hex.len() == 8 || hex.len() == 17) && hex.bytes().all(|b| b.is_ascii_hexdigit());
    if !ok {
        return Err(invalid());
    }
    let instance = t.get::<Instance>(account, id).ok_or_else(invalid)?;
    if matches!(
        instance.state,
        InstanceState::Terminated | InstanceState::ShuttingDown
    ) {
        return Err(Fault::new(
            "InvalidTarget",
            format!(
                "The following targets are not in a running state and cannot be registered: '{id}'"
            ),
        ));
    }
    if instance.vpc_id != vpc_id {
        return Err(Fault::new(
            "InvalidTarget",
            format!("The following targets are not in the target group VPC '{vpc_id}': '{id}'"),
        ));
    }
    Ok(())
}

fn check_ip_target(vpc: Option<&Vpc>, t: &TargetInput) -> Result<(), Fault> {
    let Ok(ip) = t.id.parse::<Ipv4Addr>() else {
        return Err(Fault::new(
            "InvalidTarget",
            format!("The IP address '{}' is not a valid IPv4 address", t.id),
        ));
    };
    let in_vpc = vpc.is_some_and(|v| {
        cidr_contains(&v.cidr_block, ip)
            || v.cidr_associations
                .iter()
                .any(|a| a.state == "associated" && cidr_contains(&a.cidr_block, ip))
    });
    match (in_vpc, t.availability_zone.as_deref()) {
        (false, Some("all")) => Ok(()),
        (false, _) => Err(Fault::new(
            "InvalidTarget",
            format!(
                "The IP address '{}' is outside the VPC; register it with AvailabilityZone 'all'",
                t.id
            ),
        )),
        (true, Some("all")) => Err(Fault::new(
            "InvalidTarget",
            format!(
                "The IP address '{}' is inside the VPC; AvailabilityZone 'all' is for addresses outside it",
                t.id
            ),
        )),
        (true, _) => Ok(()),
    }
}

impl Elbv2 {
    /// `CreateTargetGroup`.
    pub fn create_target_group(
        &self,
        account: &str,
        req: CreateTargetGroup,
    ) -> Result<TargetGroup, Error> {
        check_name(&req.name, "target group")?;
        super::tags::check_new(&req.tags)?;
        let target_type = req.target_type.clone().unwrap_or_else(|| "instance".into());
        if target_type == "lambda" {
            if req.protocol.is_some() || req.port.is_some() || req.vpc_id.is_some() {
                return Err(validation(
                    "A protocol, port and VPC ID cannot be specified for target groups with target type 'lambda'",
                )
                .into());
            }
        } else {
            let Some(protocol) = &req.protocol else {
                return Err(validation("A protocol must be specified").into());
            };
            check_protocol(protocol)?;
            let Some(port) = req.port else {
                return Err(validation("A port must be specified").into());
            };
            check_port(port, "Port")?;
            if req.vpc_id.is_none() {
                return Err(validation("A VPC ID must be specified").into());
            }
            if target_type == "alb" && protocol != "TCP" {
                return Err(validation(
                    "Target groups with target type 'alb' must use the TCP protocol",
                )
                .into());
            }
        }
        let is_http = matches!(req.protocol.as_deref(), Some("HTTP" | "HTTPS"));
        // Clients (Terraform) send an empty `ProtocolVersion` for "none given".
        let given_version = req.protocol_version.as_ref().filter(|v| !v.is_empty());
        let protocol_version = match (given_version, is_http) {
            (Some(v), true) => {
                if !matches!(v.to_ascii_uppercase().as_str(), "HTTP1" | "HTTP2" | "GRPC") {
                    return Err(validation(format!(
                        "Protocol version '{v}' must be HTTP1, HTTP2 or GRPC"
                    ))
                    .into());
                }
                Some(v.to_ascii_uppercase())
            }
            (Some(_), false) => {
                return Err(validation(
                    "A protocol version can be specified for HTTP and HTTPS target groups only",
                )
                .into());
            }
            (None, true) => Some("HTTP1".into()),
            (None, false) => None,
        };
        let ip_address_type = req.ip_address_type.clone().unwrap_or_else(|| "ipv4".into());
        if ip_address_type == "ipv6" {
            return Err(Fault::new(
                "InvalidConfigurationRequest",
                "IPv6 target groups need IPv6 subnets, which this Kumo endpoint does not have yet",
            )
            .into());
        }
        let mut health = defaults(
            &target_type,
            req.protocol.as_deref(),
            protocol_version.as_deref(),
        );
        apply_health(
            &mut health,
            &req.health,
            &target_type,
            req.protocol.as_deref(),
        )?;
        let specs = if target_type == "lambda" {
            LAMBDA_TG
        } else if is_http {
            HTTP_TG
        } else {
            TCP_TG
        };
        let mut attributes = attributes::defaults(specs);
        if target_type == "ip" && matches!(req.protocol.as_deref(), Some("TCP" | "TLS")) {
            // AWS preserves client addresses by default for instance targets and for UDP.
            attributes.insert("preserve_client_ip.enabled".into(), "false".into());
        }
        let region = self.region().to_owned();
        self.ec2().store().transaction(|t| {
            if let Some(vpc) = &req.vpc_id
                && t.get::<Vpc>(account, vpc).is_none()
            {
                return Err(validation(format!("The VPC ID '{vpc}' is not found")).into());
            }
            if t.list::<TargetGroup>(account)
                .iter()
                .any(|g| g.name == req.name)
            {
                return Err(Fault::new(
                    "DuplicateTargetGroupName",
                    format!("A target group with the same name '{}' exists", req.name),
                )
                .into());
            }
            let tg = TargetGroup {
                id: arn::target_group(&region, account, &req.name),
                name: req.name.clone(),
                target_type: target_type.clone(),
                protocol: req.protocol.clone(),
                port: req.port,
                vpc_id: req.vpc_id.clone(),
                protocol_version: protocol_version.clone(),
                ip_address_type: ip_address_type.clone(),
                health: health.clone(),
                attributes: attributes.clone(),
                targets: Vec::new(),
                tags: req.tags.clone(),
            };
            t.put(account, tg.clone());
            Ok(tg)
        })
    }

    /// `DescribeTargetGroups`: by ARNs, names, or load balancer; paginated. Each group comes
    /// with the load balancers that use it.
    pub fn describe_target_groups(
        &self,
        account: &str,
        arns: &[String],
        names: &[String],
        load_balancer_arn: Option<&str>,
        marker: Option<&str>,
        page_size: Option<i32>,
    ) -> Result<Page<(TargetGroup, Vec<String>)>, Error> {
        let store = self.ec2().store();
        let usage = usage(
            &store.list::<Listener>(account)?,
            &store.list::<Rule>(account)?,
        );
        let all = store.list::<TargetGroup>(account)?;
        let selectors = usize::from(!arns.is_empty())
            + usize::from(!names.is_empty())
            + usize::from(load_balancer_arn.is_some());
        if selectors > 1 {
            return Err(validation(
                "Only one of load balancer ARN, target group ARNs or names can be specified",
            )
            .into());
        }
        let selected: Vec<TargetGroup> = if !arns.is_empty() {
            if arns.iter().any(|a| !all.iter().any(|g| g.id == *a)) {
                return Err(tg_not_found().into());
            }
            all.into_iter().filter(|g| arns.contains(&g.id)).collect()
        } else if !names.is_empty() {
            let missing: Vec<&str> = names
                .iter()
                .filter(|n| !all.iter().any(|g| g.name == **n))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                return Err(Fault::new(
                    "TargetGroupNotFound",
                    format!("Target groups '[{}]' not found", missing.join(", ")),
                )
                .into());
            }
            all.into_iter()
                .filter(|g| names.contains(&g.name))
                .collect()
        } else if let Some(lb) = load_balancer_arn {
            if store.get::<LoadBalancer>(account, lb)?.is_none() {
                return Err(Fault::new(
                    "LoadBalancerNotFound",
                    "One or more load balancers not found",
                )
                .into());
            }
            all.into_iter()
                .filter(|g| usage.get(&g.id).is_some_and(|lbs| lbs.contains(lb)))
                .collect()
        } else {
            all
        };
        let rows = selected
            .into_iter()
            .map(|g| {
                let lbs = usage
                    .get(&g.id)
                    .map(|s| s.iter().cloned().collect())
                    .unwrap_or_default();
                (g, lbs)
            })
            .collect();
        let scope = format!(
            "DescribeTargetGroups\0{}\0{}\0{}",
            arns.join(","),
            names.join(","),
            load_balancer_arn.unwrap_or_default()
        );
        Ok(self.page_of(rows, |(g, _)| g.id.as_str(), &scope, marker, page_size)?)
    }

    /// One target group with the load balancers that use it.
    pub fn target_group(
        &self,
        account: &str,
        arn: &str,
    ) -> Result<(TargetGroup, Vec<String>), Error> {
        let page =
            self.describe_target_groups(account, &[arn.to_owned()], &[], None, None, None)?;
        page.items
            .into_iter()
            .next()
            .ok_or_else(|| tg_not_found().into())
    }

    /// `ModifyTargetGroup` (health-check settings).
    pub fn modify_target_group(
        &self,
        account: &str,
        arn: &str,
        health: &HealthCheckInput,
    ) -> Result<(TargetGroup, Vec<String>), Error> {
        self.ec2().store().transaction(|t| {
            let mut tg = get(t, account, arn)?;
            let mut hc = tg.health.clone();
            apply_health(&mut hc, health, &tg.target_type, tg.protocol.as_deref())?;
            tg.health = hc;
            t.put(account, tg);
            Ok(())
        })?;
        self.target_group(account, arn)
    }

    /// `DeleteTargetGroup`: refused while a listener or rule forwards to it. Deleting one
    /// that does not exist succeeds.
    pub fn delete_target_group(&self, account: &str, arn: &str) -> Result<(), Error> {
        self.ec2().store().transaction(|t| {
            if t.get::<TargetGroup>(account, arn).is_none() {
                return Ok(());
            }
            let usage = usage(&t.list::<Listener>(account), &t.list::<Rule>(account));
            if usage.contains_key(arn) {
                return Err(Fault::new(
                    "ResourceInUse",
                    format!("Target group '{arn}' is currently in use by a listener or a rule"),
                )
                .into());
            }
            t.delete::<TargetGroup>(account, arn);
            Ok(())
        })
    }

    /// `DescribeTargetGroupAttributes`.
    pub fn target_group_attributes(
        &self,
        account: &str,
        arn: &str,
    ) -> Result<Vec<(String, String)>, Error> {
        Ok(attributes::listed(
            &self.target_group(account, arn)?.0.attributes,
        ))
    }

    /// `ModifyTargetGroupAttributes`.
    pub fn modify_target_group_attributes(
        &self,
        account: &str,
        arn: &str,
        changes: &[(String, String)],
    ) -> Result<Vec<(String, String)>, Error> {
        self.ec2().store().transaction(|t| {
            let mut tg = get(t, account, arn)?;
            let (own, others) = tg.specs();
            let kind = format!(
                "target groups with the '{}' protocol and '{}' target type",
                tg.protocol.as_deref().unwrap_or("lambda"),
                tg.target_type
            );
            attributes::apply(
                &mut tg.attributes,
                own,
                &others,
                changes,
                "Target group",
                &kind,
            )?;
            let out = attributes::listed(&tg.attributes);
            t.put(account, tg);
            Ok(out)
        })
    }

    /// `RegisterTargets`.
    pub fn register_targets(
        &self,
        account: &str,
        arn: &str,
        targets: &[TargetInput],
    ) -> Result<(), Error> {
        if targets.is_empty() {
            return Err(validation("At least one target must be specified").into());
        }
        let now = now_ms();
        self.ec2().store().transaction(|t| {
            let mut tg = get(t, account, arn)?;
            tg.prune(now);
            let vpc = tg.vpc_id.as_ref().and_then(|v| t.get::<Vpc>(account, v));
            for target in targets {
                match tg.target_type.as_str() {
                    "instance" => check_instance_target(
                        t,
                        account,
                        tg.vpc_id.as_deref().unwrap_or_default(),
                        &target.id,
                    )?,
                    "ip" => check_ip_target(vpc.as_ref(), target)?,
                    "lambda" => {
                        if !target.id.starts_with("arn:aws:lambda:") {
                            return Err(Fault::new(
                                "InvalidTarget",
                                format!("'{}' is not a Lambda function ARN", target.id),
                            )
                            .into());
                        }
                        if tg.targets.iter().any(|r| r.id != target.id) || targets.len() > 1 {
                            return Err(Fault::new(
                                "TooManyTargets",
                                "A Lambda target group can have one target",
                            )
                            .into());
                        }
                    }
                    _ => {
                        let alb = t.get::<LoadBalancer>(account, &target.id);
                        let ok = alb.is_some_and(|a| {
                            a.is_application() && Some(&a.vpc_id) == tg.vpc_id.as_ref()
                        });
                        if !ok {
                            return Err(Fault::new(
                                "InvalidTarget",
                                format!(
                                    "'{}' is not an application load balancer in the target group's VPC",
                                    target.id
                                ),
                            )
                            .into());
                        }
                    }
                }
                if let Some(p) = target.port {
                    check_port(p, "Port")?;
                }
                let port = target.port.or(tg.port);
                match tg
                    .targets
                    .iter_mut()
                    .find(|r| r.id == target.id && r.port == port)
                {
                    Some(existing) => existing.draining_until_ms = None,
                    None => tg.targets.push(RegisteredTarget {
                        id: target.id.clone(),
                        port: if tg.target_type == "lambda" { None } else { port },
                        availability_zone: target.availability_zone.clone(),
                        draining_until_ms: None,
                    }),
                }
            }
            if tg.targets.len() > MAX_TARGETS {
                return Err(Fault::new(
                    "TooManyTargets",
                    format!("A target group can have at most {MAX_TARGETS} targets"),
                )
                .into());
            }
            t.put(account, tg);
            Ok(())
        })
    }

    /// `DeregisterTargets`: targets of a group in use drain for the group's deregistration
    /// delay; of an unused group they go at once.
    pub fn deregister_targets(
        &self,
        account: &str,
        arn: &str,
        targets: &[TargetInput],
    ) -> Result<(), Error> {
        if targets.is_empty() {
            return Err(validation("At least one target must be specified").into());
        }
        let now = now_ms();
        self.ec2().store().transaction(|t| {
            let mut tg = get(t, account, arn)?;
            tg.prune(now);
            let in_use = usage(&t.list::<Listener>(account), &t.list::<Rule>(account))
                .contains_key(arn);
            let delay = tg.deregistration_delay_ms();
            for target in targets {
                let port = target.port.or(tg.port);
                let hits: Vec<usize> = tg
                    .targets
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| {
                        r.id == target.id && (target.port.is_none() || r.port == port)
                    })
                    .map(|(i, _)| i)
                    .collect();
                if hits.is_empty() {
                    return Err(Fault::new(
                        "InvalidTarget",
                        format!(
                            "The following targets are not registered in target group '{arn}': '{}'",
                            target.id
                        ),
                    )
                    .into());
                }
                for i in hits {
                    if let Some(r) = tg.targets.get_mut(i)
                        && r.draining_until_ms.is_none()
                    {
                        r.draining_until_ms = Some(if in_use && delay > 0 { now + delay } else { now });
                    }
                }
            }
            tg.prune(now);
            t.put(account, tg);
            Ok(())
        })
    }

    /// `DescribeTargetHealth`: of the given targets, or of every registered one.
    pub fn describe_target_health(
        &self,
        account: &str,
        arn: &str,
        targets: &[TargetInput],
    ) -> Result<Vec<TargetHealthRow>, Error> {
        let (tg, lbs) = self.target_group(account, arn)?;
        let now = now_ms();
        let in_use = !lbs.is_empty();
        let live: Vec<&RegisteredTarget> = tg.live(now).collect();
        // What the data plane's probes say, from every load balancer using the group (a target
        // is healthy when one of them finds it so).
        let observed: Option<Vec<kumo_driver_api::TargetObservation>> =
            self.ec2().load_balancer_driver().map(|driver| {
                lbs.iter()
                    .filter_map(|lb| self.ec2().store().get::<LoadBalancer>(account, lb).ok()?)
                    .flat_map(|lb| {
                        driver
                            .target_health(&super::nodes::data_plane_id(&lb))
                            .unwrap_or_default()
                    })
                    .filter(|o| o.target_group == tg.id)
                    .collect()
            });
        let health_of = |r: &RegisteredTarget| {
            if r.draining_until_ms.is_some() {
                TargetHealth::Draining
            } else if !in_use {
                TargetHealth::NotInUse
            } else if tg.target_type == "instance"
                && self
                    .ec2()
                    .store()
                    .get::<Instance>(account, &r.id)
                    .ok()
                    .flatten()
                    .is_some_and(|i| {
                        !matches!(i.state, InstanceState::Running | InstanceState::Pending)
                    })
            {
                TargetHealth::InvalidState
            } else if !tg.health.enabled {
                TargetHealth::HealthCheckDisabled
            } else if let Some(obs) = &observed {
                let mine = obs.iter().filter(|o| {
                    o.target_id == r.id
                        && r.port.and_then(|p| u16::try_from(p).ok()) == Some(o.port)
                });
                let all: Vec<TargetHealth> =
                    mine.map(|o| TargetHealth::observed(&o.health)).collect();
                if all.contains(&TargetHealth::Healthy) {
                    TargetHealth::Healthy
                } else {
                    all.into_iter()
                        .find(|h| matches!(h, TargetHealth::Unhealthy(_)))
                        .unwrap_or(TargetHealth::Initial)
                }
            } else {
                TargetHealth::Unavailable
            }
        };
        let hc_port = |r: &RegisteredTarget| match tg.health.port.as_deref() {
            Some("traffic-port") => r.port.map(|p| p.to_string()),
            other => other.map(str::to_owned),
        };
        let mut rows = Vec::new();
        if targets.is_empty() {
            for r in live {
                rows.push(TargetHealthRow {
                    health_check_port: hc_port(r),
                    health: health_of(r),
                    target: r.clone(),
                });
            }
            return Ok(rows);
        }
        for want in targets {
            if tg.target_type == "instance" {
                let hex = want.id.strip_prefix("i-").unwrap_or_default();
                if !(hex.len() == 8 || hex.len() == 17)
                    || !hex.bytes().all(|b| b.is_ascii_hexdigit())
                {
                    return Err(Fault::new(
                        "InvalidTarget",
                        format!(
                            "The following targets are not valid instances: '{}'",
                            want.id
                        ),
                    )
                    .into());
                }
            }
            let port = want.port.or(tg.port);
            let found: Vec<&&RegisteredTarget> = live
                .iter()
                .filter(|r| r.id == want.id && (want.port.is_none() || r.port == port))
                .collect();
            if found.is_empty() {
                let r = RegisteredTarget {
                    id: want.id.clone(),
                    port,
                    availability_zone: want.availability_zone.clone(),
                    draining_until_ms: None,
                };
                rows.push(TargetHealthRow {
                    health_check_port: hc_port(&r),
                    health: TargetHealth::NotRegistered,
                    target: r,
                });
            }
            for r in found {
                rows.push(TargetHealthRow {
                    health_check_port: hc_port(r),
                    health: health_of(r),
                    target: (*r).clone(),
                });
            }
        }
        Ok(rows)
    }
}
