//! `LoadBalancerDriver`: how an ELBv2 load balancer becomes a running proxy.
//!
//! The core computes the whole data plane of one load balancer from its records ([`LbSpec`]:
//! its nodes — one per subnet, each an ENI of the VPC the fabric plugs like an instance's —,
//! listeners with their rules in evaluation order, target groups with resolved target
//! addresses and health-check settings) and hands it to [`LoadBalancerDriver::apply`], which
//! makes it so and may be called again at any time (unchanged: free; changed: reloaded without
//! dropping established connections). Health is observed by the driver's probes and read back
//! with [`LoadBalancerDriver::target_health`]; the core maps it to `DescribeTargetHealth`
//! together with what only the records know (draining, not registered, not in use).
//!
//! Why the load balancer's nodes are ENIs: on AWS a load balancer has an interface in each of
//! its subnets with its security groups; traffic from clients to it and from it to targets
//! crosses the VPC router like any instance's, so security groups (the load balancer's groups
//! as a source in a target's rules), network ACLs and anti-spoofing apply unchanged.
//!
//! All methods block (they drive processes): callers run them off the async runtime's workers.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::network::NetworkError;

/// One node of a load balancer: its interface in one subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbNode {
    /// The ENI (`eni-…`) the fabric plugs.
    pub eni_id: String,
    /// The host-side device the fabric joins to the VPC (what `EniSpec::tap` names): the
    /// driver creates it.
    pub tap: String,
    /// MAC address.
    pub mac: String,
    /// The node's private address.
    pub ip: Ipv4Addr,
    /// The subnet's prefix length.
    pub prefix_len: u8,
    /// The subnet's router.
    pub gateway: Ipv4Addr,
}

/// The protocol of a listener or a target group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LbProtocol {
    /// HTTP (application load balancers).
    Http,
    /// TCP (network load balancers).
    Tcp,
}

/// A rule condition (all conditions of a rule must match; any value of one condition may).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LbCondition {
    /// `path-pattern`: `*` and `?` wildcards, case-sensitive.
    PathPattern(Vec<String>),
    /// `host-header`: `*` and `?` wildcards, case-insensitive.
    HostHeader(Vec<String>),
    /// `http-header`: the header `name` has a value matching one of the patterns (`*` and `?`
    /// wildcards, case-insensitive).
    HttpHeader {
        /// The header's name.
        name: String,
        /// The patterns.
        values: Vec<String>,
    },
    /// `http-request-method`: one of these methods, exactly.
    HttpRequestMethod(Vec<String>),
    /// `query-string`: one of the `(key, value)` pairs is in the query string (wildcards,
    /// case-insensitive; no key: any parameter with that value).
    QueryString(Vec<(Option<String>, String)>),
    /// `source-ip`: the client's address is in one of these CIDRs.
    SourceIp(Vec<String>),
}

/// What a rule does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LbAction {
    /// Forward to target groups (by id in [`LbSpec::target_groups`]) with weights.
    Forward(Vec<(String, u32)>),
    /// Answer directly.
    FixedResponse {
        /// HTTP status (2XX–5XX).
        status: u16,
        /// `Content-Type`, when given.
        content_type: Option<String>,
        /// Body, when given.
        body: Option<String>,
    },
    /// Redirect; each component is AWS's template (`#{host}`, `#{path}`, …) or a literal.
    Redirect {
        /// `HTTP`, `HTTPS` or `#{protocol}`.
        protocol: String,
        /// Host.
        host: String,
        /// Port.
        port: String,
        /// Path (starts with `/`).
        path: String,
        /// Query (without `?`).
        query: String,
        /// 301 or 302.
        status: u16,
    },
}

/// A listener rule: conditions and an action. The default rule has no conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbRule {
    /// Conditions, all of which must match.
    pub conditions: Vec<LbCondition>,
    /// The action.
    pub action: LbAction,
}

/// A listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbListener {
    /// Port on every node's address.
    pub port: u16,
    /// Protocol.
    pub protocol: LbProtocol,
    /// Rules in evaluation order (priority), the default rule last.
    pub rules: Vec<LbRule>,
}

/// Health-check settings of a target group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbHealthCheck {
    /// Whether checks run (disabled: every target is used).
    pub enabled: bool,
    /// HTTP (a request to `path`, status in `matcher`) or TCP (a connection).
    pub protocol: LbProtocol,
    /// The port probed; `None` for each target's traffic port.
    pub port: Option<u16>,
    /// Path of HTTP checks.
    pub path: String,
    /// Seconds between checks.
    pub interval_secs: u32,
    /// Seconds a check may take.
    pub timeout_secs: u32,
    /// Consecutive successes to become healthy.
    pub healthy_threshold: u32,
    /// Consecutive failures to become unhealthy.
    pub unhealthy_threshold: u32,
    /// Statuses that count as success (`200`, `200-299`, `200,202`).
    pub matcher: String,
}

/// A registered target, resolved to an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbTarget {
    /// The target id as registered (`i-…` or an address).
    pub id: String,
    /// Its address.
    pub ip: Ipv4Addr,
    /// Traffic port.
    pub port: u16,
}

/// How a target group keeps a client on one target (`stickiness.*` attributes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LbStickiness {
    /// The load balancer's own cookie (`AWSALB`), valid for `duration_secs`
    /// (`stickiness.type = lb_cookie`).
    LbCookie {
        /// `stickiness.lb_cookie.duration_seconds`.
        duration_secs: u32,
    },
    /// The application's cookie: a request carrying a value a target set goes back to that
    /// target for `duration_secs` (`stickiness.type = app_cookie`).
    AppCookie {
        /// `stickiness.app_cookie.cookie_name`.
        cookie_name: String,
        /// `stickiness.app_cookie.duration_seconds`.
        duration_secs: u32,
    },
    /// By the client's address (network load balancers: `stickiness.type = source_ip`).
    SourceIp,
}

/// How new requests are spread over the targets (`load_balancing.algorithm.type`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LbAlgorithm {
    /// In turn (`round_robin`, the default).
    #[default]
    RoundRobin,
    /// To the target with the fewest requests in flight (`least_outstanding_requests`).
    LeastOutstandingRequests,
    /// At random, by weight (`weighted_random`).
    WeightedRandom,
}

/// A target group as the proxy needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbTargetGroup {
    /// Protocol to the targets.
    pub protocol: LbProtocol,
    /// Targets that receive traffic (draining ones are left out: no new connections).
    pub targets: Vec<LbTarget>,
    /// Health checks.
    pub health: LbHealthCheck,
    /// Stickiness, when enabled.
    pub stickiness: Option<LbStickiness>,
    /// The spreading algorithm.
    pub algorithm: LbAlgorithm,
}

/// The whole data plane of one load balancer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbSpec {
    /// A short stable id (the ARN's last part, hex), used in names.
    pub id: String,
    /// The VPC.
    pub vpc_id: String,
    /// Application (HTTP) or network (TCP).
    pub application: bool,
    /// Nodes, one per subnet.
    pub nodes: Vec<LbNode>,
    /// Listeners.
    pub listeners: Vec<LbListener>,
    /// Target groups by ARN.
    pub target_groups: BTreeMap<String, LbTargetGroup>,
    /// `idle_timeout.timeout_seconds` (client and server inactivity).
    pub idle_timeout_secs: u32,
}

/// Why a target is unhealthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnhealthyReason {
    /// A check answered a status outside the matcher.
    ResponseCodeMismatch(Option<u16>),
    /// A check timed out.
    Timeout,
    /// A check failed otherwise (connection refused, reset).
    FailedHealthChecks,
}

/// A target's observed health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObservedHealth {
    /// Not yet decided (checks running since the target was added).
    Initial,
    /// Passing.
    Healthy,
    /// Failing.
    Unhealthy(UnhealthyReason),
}

/// One target's observed health in one target group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetObservation {
    /// Target group ARN.
    pub target_group: String,
    /// Target id.
    pub target_id: String,
    /// Traffic port.
    pub port: u16,
    /// Health.
    pub health: ObservedHealth,
}

/// A host's load balancer data plane.
pub trait LoadBalancerDriver: Send + Sync + 'static {
    /// Makes the load balancer run as `spec` says (idempotent; a change reloads the proxy
    /// without dropping established connections). The nodes' host-side devices are created
    /// here; the caller plugs the nodes' ENIs into the VPC.
    fn apply(&self, spec: &LbSpec) -> Result<(), NetworkError>;
    /// Stops and removes a load balancer; succeeds if it does not exist.
    fn remove(&self, id: &str) -> Result<(), NetworkError>;
    /// Ids of the load balancers running on this host (for the orphan sweep).
    fn list(&self) -> Result<Vec<String>, NetworkError>;
    /// Observed health of every target of a load balancer (empty when it is not running).
    fn target_health(&self, id: &str) -> Result<Vec<TargetObservation>, NetworkError>;
}
