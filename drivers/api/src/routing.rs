//! The routing of a VPC as the fabric enforces it: each subnet's route table, and the public
//! side (internet gateway, public and elastic IPs as 1:1 NAT, NAT gateways).
//!
//! As with [`crate::security`], the core resolves its records (route targets by id, address
//! associations, gateway states) into this typed policy and the fabric applies the whole of it
//! at once, so a recomputation after any change can neither miss one nor leave half a policy.
//! A target the core cannot resolve (a detached gateway, a deleted NAT gateway or interface)
//! is given as [`RouteTarget::Blackhole`], which is what AWS reports for such a route.
//!
//! Semantics (AWS's):
//! * traffic between two addresses of the VPC always takes the local route;
//! * other traffic from a subnet follows the most specific route of the subnet's table;
//! * an ENI with a public address ([`PublicMapping`]) is reachable from outside on that
//!   address and its traffic to the internet gateway leaves with it; the core lists a mapping
//!   only when the VPC has an internet gateway;
//! * traffic routed to a NAT gateway leaves with the NAT gateway's public address; traffic
//!   routed to the internet gateway from an ENI without a public address is dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::network::Ipv4Cidr;

/// Where a route sends traffic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteTarget {
    /// Within the VPC (delivered to the ENI holding the address, dropped when none does).
    Local,
    /// The VPC's internet gateway (the public side).
    InternetGateway,
    /// A NAT gateway (`nat-…`, described in [`RoutingPolicy::nat_gateways`]).
    NatGateway(String),
    /// A network interface (`eni-…`) of the VPC: an instance acting as a router.
    NetworkInterface(String),
    /// Dropped.
    Blackhole,
}

/// One route of a subnet's table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RouteSpec {
    /// The destination block.
    #[serde(with = "cidr_text")]
    pub destination: Ipv4Cidr,
    /// Where it goes.
    pub target: RouteTarget,
}

/// A public address mapped one to one onto an ENI's private address (a public IP assigned at
/// launch, or an elastic IP).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PublicMapping {
    /// The public address.
    pub public_ip: Ipv4Addr,
    /// The private address it stands for.
    pub private_ip: Ipv4Addr,
}

/// A NAT gateway: traffic routed to it leaves with its public address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NatGatewaySpec {
    /// The subnet it lives in.
    pub subnet_id: String,
    /// Its private address.
    pub private_ip: Ipv4Addr,
    /// Its elastic IP.
    pub public_ip: Ipv4Addr,
}

/// The whole routing of one VPC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingPolicy {
    /// Whether an internet gateway is attached: the VPC is joined to the public side.
    pub internet_gateway: bool,
    /// Each subnet's routes (its explicitly associated table's, else the main table's), by
    /// subnet id. A subnet the policy does not list reaches only its VPC.
    pub subnets: BTreeMap<String, Vec<RouteSpec>>,
    /// Public addresses of ENIs (1:1 NAT).
    pub public_ips: Vec<PublicMapping>,
    /// NAT gateways by id (only usable ones: available, with a public address, in a VPC with
    /// an internet gateway).
    pub nat_gateways: BTreeMap<String, NatGatewaySpec>,
    /// ENIs whose source/destination check is disabled: they may send with any source
    /// address (an instance acting as a router or NAT, the target of a route).
    #[serde(default)]
    pub unchecked_enis: BTreeSet<String>,
    /// ENIs of the VPC plugged on *other* hosts: the local route to each of their addresses
    /// crosses the VPC's VXLAN tunnel ([`crate::network::VpcSpec::vni`]) to the router of the
    /// host holding it, which applies the receiving side's network ACL and security groups.
    /// Empty on a single host.
    #[serde(default)]
    pub remote_enis: Vec<RemoteEni>,
}

/// An ENI of the VPC that lives on another host.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RemoteEni {
    /// `eni-…`.
    pub eni_id: String,
    /// Its subnet (network ACLs do not apply between two ENIs of one subnet, wherever they
    /// are).
    pub subnet_id: String,
    /// Its primary private address.
    pub ip: Ipv4Addr,
    /// The underlay (tunnel endpoint) address of the host it is plugged on.
    pub host: Ipv4Addr,
    /// Further DNS names AmazonProvidedDNS resolves to its address (as
    /// [`crate::network::EniSpec::dns_names`]).
    #[serde(default)]
    pub dns_names: Vec<String>,
}

mod cidr_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::network::Ipv4Cidr;

    pub fn serialize<S: Serializer>(c: &Ipv4Cidr, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(c)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Ipv4Cidr, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
