//! Kumo's ELBv2 data plane on one Linux host: [`HaproxyLb`], a [`LoadBalancerDriver`].
//!
//! # Layout
//!
//! ```text
//!  host namespace                       VPC namespace kumo-vpc-<vpc> (the fabric's router)
//!  ┌──────────────────────────────┐     ┌───────────────────────────────────────────┐
//!  │ tap<eni> (veth) ── kb<h> ── kh<h> ══ ke<h>: route <node ip>/32, SGs, NACLs     │
//!  └──────┬───────────────────────┘     │  dnsmasq: <lb dns name> → node addresses  │
//!         │ veth peer                   └───────────────────────────────────────────┘
//!  LB namespace kumo-lb-<id>
//!  ┌──────┴───────────────────────────────────────────────────────┐
//!  │ n<eni>: <node ip>/<len>, default via the subnet's router      │
//!  │ haproxy -W -S master.sock: frontends bind every node address, │
//!  │   backends = target groups, health checks from their settings │
//!  └───────────────────────────────────────────────────────────────┘
//! ```
//!
//! **Why a namespace per load balancer with ENIs, not haproxy in the VPC's router.** On AWS a
//! load balancer is an interface in each of its subnets with its own security groups; here
//! each node is an ENI the fabric plugs exactly like a guest's (the driver's veth plays the
//! tap). So client → load balancer and load balancer → target traffic is forwarded by the VPC
//! router through anti-spoofing, network ACLs and security groups unchanged — a target's rule
//! naming the load balancer's group matches its node addresses — and haproxy, which parses
//! clients' requests, runs in a namespace that reaches the VPC only through the router.
//!
//! **Why HAProxy.** Debian's haproxy (2.6) does everything ELBv2 needs in one process: HTTP
//! and TCP proxying, ACLs for path and host rules, `http-request return`/`redirect` for fixed
//! responses and redirects, active HTTP/TCP health checks with rise/fall thresholds and
//! matchers, a runtime API reporting per-server check results, and reloads that keep
//! established connections (master-worker, listening sockets handed over). Envoy is not in
//! Debian; nginx has no active health checks without the commercial edition.
//!
//! Needs root (namespaces, veths) and `ip` and `haproxy` (`setup-haproxy.sh` installs it).

pub mod config;
mod driver;
pub mod stat;

pub use driver::{HaproxyLb, HaproxyLbConfig, available};
pub use kumo_driver_api::LoadBalancerDriver;
