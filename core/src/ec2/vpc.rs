//! VPCs: CIDR blocks, DNS attributes, the default VPC.

use serde::{Deserialize, Serialize};

use crate::query::tags::Tag;

/// An IPv4 CIDR block associated with a VPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CidrAssociation {
    /// `vpc-cidr-assoc-…`.
    pub association_id: String,
    /// `10.0.0.0/16`.
    pub cidr_block: String,
    /// `associated`, `disassociated`, …
    pub state: String,
}

/// A VPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vpc {
    /// `vpc-…`.
    pub id: String,
    /// The primary IPv4 CIDR block.
    pub cidr_block: String,
    /// Every IPv4 block, the primary first.
    #[serde(default)]
    pub cidr_associations: Vec<CidrAssociation>,
    /// Whether this is the account's default VPC.
    #[serde(default)]
    pub is_default: bool,
    /// `available` (VPCs become available at once).
    pub state: String,
    /// `dopt-…` or `default`.
    pub dhcp_options_id: String,
    /// `default` or `dedicated`.
    pub instance_tenancy: String,
    /// `enableDnsSupport`.
    pub enable_dns_support: bool,
    /// `enableDnsHostnames`.
    pub enable_dns_hostnames: bool,
    /// `enableNetworkAddressUsageMetrics`.
    #[serde(default)]
    pub enable_network_address_usage_metrics: bool,
    /// The main route table (`rtb-…`).
    pub main_route_table_id: String,
    /// The default network ACL (`acl-…`).
    pub default_network_acl_id: String,
    /// The default security group (`sg-…`).
    pub default_security_group_id: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}
