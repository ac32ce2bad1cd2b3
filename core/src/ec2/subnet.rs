//! Subnets: a CIDR inside the VPC's, in one zone.

use serde::{Deserialize, Serialize};

use crate::query::tags::Tag;

/// A subnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    /// `subnet-…`.
    pub id: String,
    /// Its VPC.
    pub vpc_id: String,
    /// IPv4 CIDR, inside one of the VPC's blocks.
    pub cidr_block: String,
    /// Zone name (`us-east-1a`).
    pub availability_zone: String,
    /// `MapPublicIpOnLaunch`.
    #[serde(default)]
    pub map_public_ip_on_launch: bool,
    /// Whether it is the default subnet of its zone.
    #[serde(default)]
    pub default_for_az: bool,
    /// `available`.
    pub state: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}
