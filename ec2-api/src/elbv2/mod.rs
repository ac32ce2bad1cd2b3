//! ELBv2 operations (awsQuery): typed generated inputs in, calls on
//! [`kumo_core::elbv2::Elbv2`], typed generated outputs back. One module per resource family,
//! each exposing `handler(action)`; [`common`] holds the conversions they share. Modules
//! convert and nothing else: the core decides.

mod account;
mod common;
mod listeners;
mod load_balancers;
mod rules;
mod tags;
mod target_groups;

use crate::dispatch::Handler;

/// The handler of an implemented ELBv2 action.
pub(crate) fn handler(action: &str) -> Option<Handler> {
    load_balancers::handler(action)
        .or_else(|| target_groups::handler(action))
        .or_else(|| listeners::handler(action))
        .or_else(|| rules::handler(action))
        .or_else(|| tags::handler(action))
        .or_else(|| account::handler(action))
}
