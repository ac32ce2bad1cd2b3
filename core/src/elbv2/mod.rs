//! The ELBv2 control plane: application and network load balancers, target groups and their
//! registered targets, listeners, listener rules, attributes and tags.
//!
//! Why it shares [`Ec2`]'s [`ResourceStore`](crate::ec2::ResourceStore): a load balancer lives
//! in subnets and security groups of a VPC and forwards to instances, and the rules that tie
//! them (the subnets are in one VPC, an `ip` target lies inside the VPC's CIDR) are checked in
//! the same transaction that writes the ELBv2 records. Records are registered in
//! `ec2::model`'s `resources!` list; their ids are ARNs, which
//! [`Resource::kind_of_id`](crate::ec2::Resource::kind_of_id) tells apart by resource part.
//!
//! Errors are [`Fault`]s with ELBv2's own codes (`LoadBalancerNotFound`, `PriorityInUse`, …);
//! all of them are HTTP 400 in the botocore model.
//!
//! The data plane: each load balancer has a node ENI per subnet ([`nodes`]); the compute
//! reconciler turns the records into a [`data_plane`] spec for the host's
//! `LoadBalancerDriver` (HAProxy), plugs the nodes, and the VPC's DNS resolves the load
//! balancer's name to them; target health comes from the driver's probes. HTTPS/TLS listeners
//! (certificates) and authentication actions are refused.

pub mod actions;
pub mod arn;
pub mod attributes;
pub mod data_plane;
pub mod limits;
pub mod listener;
pub mod load_balancer;
pub mod nodes;
pub mod rule;
pub mod tags;
pub mod target_group;

#[cfg(test)]
mod tests;

use crate::ec2::{Ec2, Fault};
use crate::query::paginate::Page;

/// The ELBv2 service of one region, over EC2's store.
#[derive(Debug, Clone)]
pub struct Elbv2 {
    ec2: Ec2,
}

/// Default and maximum `PageSize` of ELBv2's describe calls.
pub const MAX_PAGE_SIZE: i32 = 400;

impl Elbv2 {
    /// The service sharing `ec2`'s store, placement and paginator.
    #[must_use]
    pub fn new(ec2: Ec2) -> Self {
        Self { ec2 }
    }

    /// The EC2 service underneath.
    #[must_use]
    pub fn ec2(&self) -> &Ec2 {
        &self.ec2
    }

    pub(crate) fn region(&self) -> &str {
        &self.ec2.placement().region
    }

    /// Cuts one `Marker`/`PageSize` page of `items`, sorted by `key` (`ValidationError` for a
    /// `PageSize` outside 1–400 or a marker Kumo did not issue for `scope`).
    pub fn page_of<T>(
        &self,
        items: Vec<T>,
        key: impl Fn(&T) -> &str,
        scope: &str,
        marker: Option<&str>,
        page_size: Option<i32>,
    ) -> Result<Page<T>, Fault> {
        let limit = match page_size {
            None => MAX_PAGE_SIZE,
            Some(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
            Some(n) => {
                return Err(Fault::new(
                    "ValidationError",
                    format!(
                        "1 validation error detected: Value '{n}' at 'pageSize' failed to satisfy constraint: Member must have value between 1 and {MAX_PAGE_SIZE}"
                    ),
                ));
            }
        };
        let limit = usize::try_from(limit).unwrap_or(1);
        self.ec2
            .paginator()
            .page(items, key, scope, marker, limit)
            .map_err(|_| Fault::new("ValidationError", "The marker is not valid"))
    }
}

/// Milliseconds since the epoch, now.
pub(crate) fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// `ValidationError` with `message`.
pub(crate) fn validation(message: impl Into<String>) -> Fault {
    Fault::new("ValidationError", message)
}
