//! The closed set of resource types the control plane stores, and the [`Record`] trait that
//! lets [`ResourceStore`](super::store::ResourceStore) hold them all in one ordered map.
//!
//! Adding a type: define its record struct in the module that owns its rules (it must carry
//! `id` and `tags` fields), then add one line to the `resources!` invocation below.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::query::tags::Tag;

/// A stored resource type.
pub trait Record: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The type's name, as `DescribeTags` reports it (`vpc`, `instance`, …).
    const KIND: &'static str;
    /// Its id (`vpc-…`), or ARN for ELBv2 types.
    fn id(&self) -> &str;
    /// Wraps it.
    fn into_resource(self) -> Resource;
    /// Unwraps it, if `r` is of this type.
    fn from_resource(r: &Resource) -> Option<&Self>;
}

macro_rules! resources {
    ($( $variant:ident($ty:ty) = $kind:literal, id prefix $prefix:literal; )*) => {
        /// Any stored resource.
        #[derive(Debug, Clone, Serialize, Deserialize)]
        #[serde(tag = "type")]
        #[allow(clippy::large_enum_variant)]
        pub enum Resource {
            $(
                #[doc = concat!("A `", $kind, "`.")]
                $variant($ty),
            )*
        }

        impl Resource {
            /// The type's name.
            #[must_use]
            pub fn kind(&self) -> &'static str {
                match self { $( Self::$variant(_) => $kind, )* }
            }

            /// The id.
            #[must_use]
            pub fn id(&self) -> &str {
                match self { $( Self::$variant(r) => &r.id, )* }
            }

            /// Its tags.
            #[must_use]
            pub fn tags(&self) -> &[Tag] {
                match self { $( Self::$variant(r) => &r.tags, )* }
            }

            /// Its tags, to change them.
            pub fn tags_mut(&mut self) -> &mut Vec<Tag> {
                match self { $( Self::$variant(r) => &mut r.tags, )* }
            }

            /// The type an id names, from its prefix (`vpc-…` → `vpc`). ARNs (ELBv2's ids)
            /// are matched on their resource part: a prefix `arn:targetgroup/` matches
            /// `arn:aws:elasticloadbalancing:…:targetgroup/…`.
            #[must_use]
            pub fn kind_of_id(id: &str) -> Option<&'static str> {
                let arn_resource = crate::elbv2::arn::resource_part(id);
                $(
                    let hit = match ($prefix.strip_prefix("arn:"), arn_resource) {
                        (Some(p), Some(res)) => res.starts_with(p),
                        (None, None) => id.starts_with($prefix),
                        _ => false,
                    };
                    if hit { return Some($kind); }
                )*
                None
            }
        }

        $(
            impl Record for $ty {
                const KIND: &'static str = $kind;
                fn id(&self) -> &str { &self.id }
                fn into_resource(self) -> Resource { Resource::$variant(self) }
                fn from_resource(r: &Resource) -> Option<&Self> {
                    match r { Resource::$variant(x) => Some(x), #[allow(unreachable_patterns)] _ => None }
                }
            }
        )*
    };
}

// One line per type. Where one id prefix starts another, list the longer first.
resources! {
    Vpc(super::vpc::Vpc) = "vpc", id prefix "vpc-";
    Subnet(super::subnet::Subnet) = "subnet", id prefix "subnet-";
    SecurityGroup(super::security_group::SecurityGroup) = "security-group", id prefix "sg-";
    // VPC networking (vpcnet).
    InternetGateway(super::internet_gateway::InternetGateway) = "internet-gateway", id prefix "igw-";
    RouteTable(super::route_table::RouteTable) = "route-table", id prefix "rtb-";
    NetworkAcl(super::network_acl::NetworkAcl) = "network-acl", id prefix "acl-";
    DhcpOptions(super::dhcp_options::DhcpOptions) = "dhcp-options", id prefix "dopt-";
    Address(super::address::Address) = "elastic-ip", id prefix "eipalloc-";
    NatGateway(super::nat_gateway::NatGateway) = "natgateway", id prefix "nat-";
    NetworkDefaults(super::defaults::NetworkDefaults) = "kumo-network-defaults", id prefix "kumo-network-defaults";
    PublicIpPool(super::address::PublicIpPool) = "kumo-public-ip-pool", id prefix "kumo-public-ip-pool";
    VniCounter(super::vni::VniCounter) = "kumo-vni-counter", id prefix "kumo-vni-counter";
    KeyPair(super::key_pair::KeyPair) = "key-pair", id prefix "key-";
    Image(super::image::Image) = "image", id prefix "ami-";
    ImageImport(super::image_import::ImageImport) = "import-image-task", id prefix "import-ami-";
    // ELBv2 (ids are ARNs; see `kind_of_id`).
    Elbv2LoadBalancer(crate::elbv2::load_balancer::LoadBalancer) = "elbv2-load-balancer", id prefix "arn:loadbalancer/";
    Elbv2TargetGroup(crate::elbv2::target_group::TargetGroup) = "elbv2-target-group", id prefix "arn:targetgroup/";
    Elbv2Listener(crate::elbv2::listener::Listener) = "elbv2-listener", id prefix "arn:listener/";
    Elbv2Rule(crate::elbv2::rule::Rule) = "elbv2-listener-rule", id prefix "arn:listener-rule/";
    Instance(super::instance::Instance) = "instance", id prefix "i-";
    NetworkInterface(super::network_interface::NetworkInterface) = "network-interface", id prefix "eni-";
    Volume(super::volume::Volume) = "volume", id prefix "vol-";
    Snapshot(super::snapshot::Snapshot) = "snapshot", id prefix "snap-";
    ComputeHost(crate::compute::hosts::HostRecord) = "kumo-compute-host", id prefix "kumo-compute-host:";
    PlacementGroup(super::placement_group::PlacementGroup) = "placement-group", id prefix "pg-";
}
