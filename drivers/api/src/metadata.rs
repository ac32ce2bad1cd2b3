//! `MetadataSource`: what the instance metadata service (IMDS, `169.254.169.254`) serves.
//!
//! The network fabric's IMDS responder identifies the caller by the ENI its request *arrived
//! on* — never by anything the guest says — and asks this trait for that ENI's instance. The
//! core implements it from its records; the fabric renders the AWS metadata tree from the plain
//! struct, so neither side depends on the other's crate.

use std::collections::BTreeMap;

/// One network interface of an instance, as `meta-data/network/interfaces/macs/<mac>/` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfaceMetadata {
    /// Attachment index (0 for the primary ENI).
    pub device_number: u32,
    /// `eni-…`.
    pub eni_id: String,
    /// MAC address, lower case.
    pub mac: String,
    /// Private IPv4 addresses, primary first.
    pub local_ipv4s: Vec<String>,
    /// Private DNS name (`ip-10-0-1-5.<region>.compute.internal`).
    pub local_hostname: String,
    /// `subnet-…`.
    pub subnet_id: String,
    /// The subnet's CIDR.
    pub subnet_ipv4_cidr_block: String,
    /// `vpc-…`.
    pub vpc_id: String,
    /// The VPC's primary CIDR.
    pub vpc_ipv4_cidr_block: String,
    /// Every CIDR of the VPC.
    pub vpc_ipv4_cidr_blocks: Vec<String>,
    /// `sg-…` ids.
    pub security_group_ids: Vec<String>,
    /// Security group names.
    pub security_groups: Vec<String>,
    /// The owning account.
    pub owner_id: String,
}

/// A public key as `meta-data/public-keys/` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicKey {
    /// The key pair's name.
    pub name: String,
    /// The OpenSSH public key line.
    pub openssh_key: String,
}

/// Everything the metadata service knows about one instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceMetadata {
    /// `i-…`.
    pub instance_id: String,
    /// The owning account (12 digits).
    pub account_id: String,
    /// `ami-…`.
    pub image_id: String,
    /// `t3.micro`, ….
    pub instance_type: String,
    /// `x86_64` or `arm64`.
    pub architecture: String,
    /// Region name.
    pub region: String,
    /// Availability zone name.
    pub availability_zone: String,
    /// `r-…`.
    pub reservation_id: String,
    /// Index within its launch request.
    pub ami_launch_index: u32,
    /// Launch time, RFC 3339 UTC (`2026-11-25T01:00:00Z`).
    pub launch_time: String,
    /// Private DNS name of the primary interface.
    pub local_hostname: String,
    /// Primary private IPv4 address.
    pub local_ipv4: String,
    /// Primary MAC address.
    pub mac: String,
    /// Interfaces, primary first.
    pub interfaces: Vec<InterfaceMetadata>,
    /// Security group names of the primary interface.
    pub security_groups: Vec<String>,
    /// The launch key pair (at most one in EC2 today).
    pub public_keys: Vec<PublicKey>,
    /// Instance tags, `Some` only when tags in metadata are enabled.
    pub tags: Option<BTreeMap<String, String>>,
    /// User data as given at launch (decoded), `None` when none.
    pub user_data: Option<Vec<u8>>,
    /// `MetadataOptions.HttpEndpoint == enabled`.
    pub http_endpoint_enabled: bool,
    /// `MetadataOptions.HttpTokens == required` (IMDSv2 only).
    pub http_tokens_required: bool,
    /// `MetadataOptions.HttpPutResponseHopLimit` (1–64).
    pub http_put_response_hop_limit: u8,
    /// Domain of AWS service endpoints (`amazonaws.com`).
    pub services_domain: String,
}

/// Where the metadata service looks instances up.
pub trait MetadataSource: Send + Sync + 'static {
    /// The instance the ENI `eni_id` is attached to, `None` if none (the caller then gets 404s).
    /// May block briefly (a state-store read); the responder calls it off its async workers.
    fn lookup(&self, eni_id: &str) -> Option<InstanceMetadata>;
}
