//! EC2 operations: typed generated inputs in, calls on [`kumo_core::ec2::Ec2`], typed generated
//! outputs back. One module per resource family; each exposes `handler(action)` and the
//! dispatcher asks them in turn. Modules convert and nothing else: the core decides.

mod address;
pub(crate) mod common;
mod dhcp_options;
mod image_import;
mod images;
mod instances;
mod internet_gateway;
mod key_pairs;
mod nat_gateway;
mod network_acl;
mod network_interfaces;
mod placement_groups;
mod regions;
mod route_table;
mod security_groups;
mod subnet;
mod tags;
mod volumes;
mod vpc;

use crate::dispatch::Handler;

/// The handler of an implemented EC2 action.
pub(crate) fn handler(action: &str) -> Option<Handler> {
    regions::handler(action)
        .or_else(|| vpc::handler(action))
        .or_else(|| subnet::handler(action))
        .or_else(|| internet_gateway::handler(action))
        .or_else(|| route_table::handler(action))
        .or_else(|| network_acl::handler(action))
        .or_else(|| dhcp_options::handler(action))
        .or_else(|| address::handler(action))
        .or_else(|| nat_gateway::handler(action))
        .or_else(|| security_groups::handler(action))
        .or_else(|| key_pairs::handler(action))
        .or_else(|| tags::handler(action))
        .or_else(|| images::handler(action))
        .or_else(|| image_import::handler(action))
        .or_else(|| instances::handler(action))
        .or_else(|| volumes::handler(action))
        .or_else(|| network_interfaces::handler(action))
        .or_else(|| placement_groups::handler(action))
}
