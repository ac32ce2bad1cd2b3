//! EC2 operations: typed generated inputs in, calls on [`kumo_core::ec2::Ec2`], typed generated
//! outputs back. One module per resource family; each exposes `handler(action)` and the
//! dispatcher asks them in turn. Modules convert and nothing else: the core decides.

pub(crate) mod common;
mod instances;
mod regions;
mod volumes;

use crate::dispatch::Handler;

/// The handler of an implemented EC2 action.
pub(crate) fn handler(action: &str) -> Option<Handler> {
    regions::handler(action)
        .or_else(|| instances::handler(action))
        .or_else(|| volumes::handler(action))
}
