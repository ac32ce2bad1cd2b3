//! The EC2 control plane: the resources of every account (VPCs, subnets, security groups, key
//! pairs, images, instances, volumes, addresses, …), their state machines and their rules.
//!
//! Each module owns one family of resources: its record types (stored through
//! [`store::ResourceStore`]), its operations as methods on [`Ec2`], and its filter tables.
//! Operations take the caller's account id and typed arguments and return records or a
//! [`Fault`]; the protocol crate converts to and from the wire shapes.
//!
//! Architecture invariant: every resource belongs to exactly one account; a lookup in another
//! account's namespace answers "not found", never "forbidden", so ids leak nothing.

pub mod account_attributes;
pub mod address;
pub mod cidr;
pub mod defaults;
pub mod dhcp_options;
pub mod fault;
pub mod image;
pub mod image_copy;
pub mod image_import;
pub mod instance;
pub mod instance_types;
pub mod internet_gateway;
pub mod key_pair;
pub mod listing;
pub mod model;
pub mod nat_gateway;
pub mod network_acl;
pub mod network_interface;
pub mod placement_group;
pub mod regions;
pub mod route_table;
pub mod security_group;
pub mod sg_rules;
pub mod snapshot;
pub mod store;
pub mod subnet;
pub mod tags;
pub mod vni;
pub mod volume;
pub mod vpc;

use std::sync::Arc;

pub use fault::Fault;
pub use model::{Record, Resource};
pub use store::ResourceStore;

use crate::compute::HostRegistry;
use crate::query::paginate::Paginator;

/// Where this endpoint is: its region and zones (from `[region]` in the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Region name (`us-east-1`).
    pub region: String,
    /// Availability zones of the region, in order.
    pub zones: Vec<String>,
}

/// The EC2 service of one region.
#[derive(Clone)]
pub struct Ec2 {
    store: ResourceStore,
    placement: Arc<Placement>,
    paginator: Arc<Paginator>,
    /// Checks `RegisterImage` locations (set by the server; see [`image::ImageLocations`]).
    image_locations: Option<Arc<dyn image::ImageLocations>>,
    compute: Arc<HostRegistry>,
    /// Where public addresses come from (elastic IPs, launch-time public IPs).
    public_pool: cidr::Cidr,
    /// The load balancer data plane, once the server has one (target health comes from it).
    load_balancers: Arc<std::sync::OnceLock<Arc<dyn kumo_driver_api::LoadBalancerDriver>>>,
}

impl std::fmt::Debug for Ec2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ec2")
            .field("placement", &self.placement)
            .finish_non_exhaustive()
    }
}

impl Ec2 {
    /// The service over `store` for `placement`.
    #[must_use]
    pub fn new(store: ResourceStore, placement: Placement) -> Self {
        Self {
            store,
            placement: Arc::new(placement),
            paginator: Arc::new(Paginator::random()),
            image_locations: None,
            compute: Arc::new(HostRegistry::default()),
            public_pool: address::default_pool(),
            load_balancers: Arc::new(std::sync::OnceLock::new()),
        }
    }

    /// Takes public addresses from `pool` (`[network] public_cidr`) instead of
    /// [`address::EIP_POOL`]; `None` when it is not an IPv4 block with room for addresses.
    #[must_use]
    pub fn with_public_pool(mut self, pool: &str) -> Option<Self> {
        let block = cidr::Cidr::parse(pool).filter(|b| b.size() >= 4)?;
        self.public_pool = block;
        Some(self)
    }

    /// The block public addresses come from.
    #[must_use]
    pub fn public_pool(&self) -> cidr::Cidr {
        self.public_pool
    }

    /// The resource store (shared with ELBv2).
    #[must_use]
    pub fn store(&self) -> &ResourceStore {
        &self.store
    }

    /// Region and zones.
    #[must_use]
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// The `NextToken` issuer.
    #[must_use]
    pub fn paginator(&self) -> &Paginator {
        &self.paginator
    }

    /// Where `RegisterImage`/`ImportImage` read S3 objects from (set by the server).
    #[must_use]
    pub fn image_locations(&self) -> Option<Arc<dyn image::ImageLocations>> {
        self.image_locations.clone()
    }

    /// The compute hosts instances may run on (empty until the server registers one).
    #[must_use]
    pub fn compute(&self) -> &HostRegistry {
        &self.compute
    }

    /// Installs the load balancer data plane (once; later calls are ignored).
    pub fn set_load_balancer_driver(&self, driver: Arc<dyn kumo_driver_api::LoadBalancerDriver>) {
        let _ = self.load_balancers.set(driver);
    }

    /// The load balancer data plane, when the server runs one.
    #[must_use]
    pub fn load_balancer_driver(&self) -> Option<&Arc<dyn kumo_driver_api::LoadBalancerDriver>> {
        self.load_balancers.get()
    }
}

#[cfg(test)]
pub(crate) mod testing;
