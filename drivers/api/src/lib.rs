//! The seams between Kumo's core and the world.
//!
//! The core knows these traits and nothing else about storage, hypervisors or networks; each
//! real backend lives in its own crate under `drivers/` and passes the contract suite in
//! [`contract`] (feature `contract`). This crate has no native dependencies so that the core
//! compiles and tests anywhere.

pub mod block_store;
pub mod hypervisor;
pub mod load_balancer;
pub mod metadata;
pub mod network;
pub mod object_store;
pub mod routing;
pub mod security;
pub mod state_store;

#[cfg(feature = "contract")]
pub mod contract;
#[cfg(feature = "contract")]
mod network_contract;

pub use block_store::{BlockStore, BlockStoreError, VolumeInfo};
pub use hypervisor::{
    Boot, CephxKey, DiskMedia, DiskSource, DiskSpec, DomainEvent, DomainSpec, DomainState,
    DomainStats, HostInfo, Hypervisor, HypervisorError, NicSpec, RbdAuth,
};
pub use load_balancer::{
    LbAction, LbAlgorithm, LbCondition, LbHealthCheck, LbListener, LbNode, LbProtocol, LbRule,
    LbSpec, LbStickiness, LbTarget, LbTargetGroup, LoadBalancerDriver, ObservedHealth,
    TargetObservation, UnhealthyReason,
};
pub use metadata::{InstanceMetadata, InterfaceMetadata, MetadataSource, PublicKey};
pub use network::{
    EniSpec, FabricInventory, Ipv4Cidr, MAX_VNI, NetworkError, NetworkFabric, PlugInfo, PluggedEni,
    SubnetSpec, VpcSpec,
};
pub use object_store::{BlobId, BlobInfo, ByteStream, ObjectStore, ObjectStoreError};
pub use routing::{
    NatGatewaySpec, PublicMapping, RemoteEni, RouteSpec, RouteTarget, RoutingPolicy,
};
pub use security::{
    AclRuleSpec, AclSpec, Peer, PortMatch, Protocol, SecurityGroupSpec, SecurityPolicy, SgRuleSpec,
};
pub use state_store::{KeyRange, StateError, StateStore, WriteTxn, transact};
