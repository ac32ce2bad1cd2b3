//! `NetworkFabric`: how a VPC, its subnets and its ENIs become real (Linux namespaces, veths,
//! nftables and a DHCP server on a host; later Open vSwitch/OVN across hosts).
//!
//! The core keeps the *intent* (VPC, subnet and ENI records) and the compute reconciler tells the
//! fabric what must exist; the fabric never invents state. Every call is idempotent and
//! declarative — "make it so", not "do this step" — so a reconciler interrupted by a crash simply
//! runs the same calls again, and [`NetworkFabric::list`] shows what exists so that the
//! reconciler can remove what no record explains (orphans after a crash).
//!
//! Ordering with the hypervisor: an ENI is *plugged* before its instance's domain starts (the
//! fabric prepares the VPC side and the host-side attachment point) and plugged *again* after the
//! hypervisor created the tap, which joins the tap to the VPC; see the implementing driver's docs
//! for the exact attachment (a Linux bridge named by [`PlugInfo::host_bridge`]).
//!
//! All methods block (they drive kernel tools): callers run them off the async runtime's worker
//! threads.

use std::net::Ipv4Addr;

/// An IPv4 network: address and prefix length (`10.0.0.0/16`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Cidr {
    /// The network address (host bits zero).
    pub addr: Ipv4Addr,
    /// Prefix length, 0–32.
    pub prefix_len: u8,
}

impl Ipv4Cidr {
    /// Builds a CIDR, refusing host bits or a prefix longer than 32.
    pub fn new(addr: Ipv4Addr, prefix_len: u8) -> Result<Self, NetworkError> {
        if prefix_len > 32 {
            return Err(NetworkError::Invalid(format!(
                "prefix length {prefix_len} > 32"
            )));
        }
        let cidr = Self { addr, prefix_len };
        if cidr.network() != addr {
            return Err(NetworkError::Invalid(format!(
                "{addr}/{prefix_len} has host bits set"
            )));
        }
        Ok(cidr)
    }

    /// The netmask (`255.255.255.0` for /24).
    pub fn netmask(&self) -> Ipv4Addr {
        let bits = if self.prefix_len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix_len))
        };
        Ipv4Addr::from(bits)
    }

    /// The network address of `self.addr` under the prefix.
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & u32::from(self.netmask()))
    }

    /// Whether `ip` lies inside this network.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & u32::from(self.netmask()) == u32::from(self.network())
    }

    /// The address `n` places after the network address (`nth(1)` is the VPC router, `nth(2)`
    /// the AmazonProvidedDNS address), `None` past the end of the network.
    pub fn nth(&self, n: u32) -> Option<Ipv4Addr> {
        let size = 1u64 << (32 - u32::from(self.prefix_len));
        (u64::from(n) < size).then(|| Ipv4Addr::from(u32::from(self.network()).wrapping_add(n)))
    }
}

impl std::fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl std::str::FromStr for Ipv4Cidr {
    type Err = NetworkError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || NetworkError::Invalid(format!("not an IPv4 CIDR: {s:?}"));
        let (addr, len) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let len: u8 = len.parse().map_err(|_| bad())?;
        Self::new(addr, len)
    }
}

/// The largest VXLAN network identifier (24 bits); VNIs run from 1 to this.
pub const MAX_VNI: u32 = (1 << 24) - 1;

/// A VPC as the fabric needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcSpec {
    /// `vpc-…`.
    pub vpc_id: String,
    /// The primary CIDR first, then associated secondary CIDRs.
    pub cidrs: Vec<Ipv4Cidr>,
    /// The DNS server handed out by DHCP (AmazonProvidedDNS: the primary CIDR's base + 2).
    pub dns: Ipv4Addr,
    /// The domain name handed out by DHCP (`<region>.compute.internal`).
    pub domain_name: String,
    /// `enableDnsSupport`: whether AmazonProvidedDNS answers (the VPC's private names).
    pub enable_dns_support: bool,
    /// The VPC's VXLAN network identifier (1 – [`MAX_VNI`]), unique in the installation: the
    /// VPC's routers on different hosts exchange its traffic under it (see
    /// [`crate::routing::RemoteEni`]). A fabric without an underlay ignores it.
    pub vni: u32,
}

/// A subnet of a VPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetSpec {
    /// `subnet-…`.
    pub subnet_id: String,
    /// The owning VPC.
    pub vpc_id: String,
    /// The subnet's CIDR (inside one of the VPC's CIDRs).
    pub cidr: Ipv4Cidr,
    /// The router address (the subnet's base + 1, as AWS).
    pub gateway: Ipv4Addr,
}

/// One elastic network interface to plug into its VPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EniSpec {
    /// `eni-…`.
    pub eni_id: String,
    /// The VPC it lives in.
    pub vpc_id: String,
    /// The subnet it lives in (must have been ensured).
    pub subnet_id: String,
    /// The host-side tap the hypervisor creates for the guest (the `NicSpec::tap`).
    pub tap: String,
    /// The ENI's MAC address (`02:…`), as the guest sees it.
    pub mac: String,
    /// Primary private IPv4 address.
    pub ip: Ipv4Addr,
    /// The subnet's prefix length (what DHCP hands out).
    pub prefix_len: u8,
    /// The subnet's router.
    pub gateway: Ipv4Addr,
    /// The instance it is attached to, if any (host name in DHCP, metadata lookup).
    pub instance_id: Option<String>,
    /// Further DNS names AmazonProvidedDNS resolves to this ENI's address besides its private
    /// name (a load balancer's DNS name on each of its nodes' ENIs).
    pub dns_names: Vec<String>,
}

/// What plugging an ENI produced, for the hypervisor driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlugInfo {
    /// The host-side L2 attachment point the guest's tap must be joined to (libvirt
    /// `<interface type='bridge'><source bridge='…'/>`), when the fabric uses one.
    pub host_bridge: Option<String>,
    /// Whether the tap exists and is joined to the VPC now (false before the domain started).
    pub tap_attached: bool,
}

/// What exists on this host, for the reconciler to compare with its records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FabricInventory {
    /// VPC ids with a router or a record on this host (a record without a router: the host
    /// rebooted; `ensure_vpc` recreates it, `remove_vpc` forgets it).
    pub vpcs: Vec<String>,
    /// ENIs plugged in the kernel or recorded as plugged.
    pub enis: Vec<PluggedEni>,
}

/// One plugged ENI as the fabric finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluggedEni {
    /// `eni-…`.
    pub eni_id: String,
    /// The VPC it is plugged into.
    pub vpc_id: String,
    /// Whether the guest's tap is joined to it.
    pub tap_attached: bool,
}

/// What went wrong in the network fabric.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The request cannot be satisfied as given (bad CIDR, address outside the subnet, name
    /// too long).
    #[error("invalid network request: {0}")]
    Invalid(String),
    /// A VPC or subnet the request depends on does not exist (ensure it first).
    #[error("not found: {0}")]
    NotFound(String),
    /// The request conflicts with what exists (an IP in use by another ENI).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A tool or the kernel failed.
    #[error("network fabric: {0}")]
    Failed(String),
}

/// A host's network fabric.
pub trait NetworkFabric: Send + Sync + 'static {
    /// Creates (or converges) the VPC's router, DHCP server and metadata endpoint; succeeds if it
    /// exists with this spec and restarts any of its processes that died.
    fn ensure_vpc(&self, vpc: &VpcSpec) -> Result<(), NetworkError>;
    /// Removes the VPC with everything plugged into it; succeeds if it does not exist.
    fn remove_vpc(&self, vpc_id: &str) -> Result<(), NetworkError>;
    /// Creates (or converges) a subnet of an ensured VPC.
    fn ensure_subnet(&self, subnet: &SubnetSpec) -> Result<(), NetworkError>;
    /// Removes a subnet (its ENIs must be unplugged); succeeds if it does not exist.
    fn remove_subnet(&self, vpc_id: &str, subnet_id: &str) -> Result<(), NetworkError>;
    /// Plugs an ENI into its VPC (idempotent; converges a changed spec) and joins the guest's
    /// tap to it when the tap exists.
    fn plug(&self, eni: &EniSpec) -> Result<PlugInfo, NetworkError>;
    /// Unplugs an ENI; succeeds if it is not plugged.
    fn unplug(&self, eni_id: &str) -> Result<(), NetworkError>;
    /// What exists on this host.
    fn list(&self) -> Result<FabricInventory, NetworkError>;
    /// Enforces a VPC's security groups and network ACLs (the whole posture, replacing the
    /// previous one atomically; cheap when unchanged). Until a VPC is given a policy its ENIs'
    /// traffic is not filtered by groups or ACLs (anti-spoofing still applies); the reconciler
    /// gives one before it plugs an ENI. Connections already established stay up (groups are
    /// stateful); new ones follow the new policy once this returns.
    fn apply_security(
        &self,
        vpc_id: &str,
        policy: &crate::security::SecurityPolicy,
    ) -> Result<(), NetworkError>;
    /// Enforces a VPC's routing: its subnets' route tables and its public side (internet
    /// gateway, 1:1 NAT of public addresses, NAT gateways), replacing the previous routing
    /// whole; cheap when unchanged. Until a VPC is given a policy it reaches nothing outside
    /// itself. New connections follow the new policy once this returns.
    fn apply_routing(
        &self,
        vpc_id: &str,
        policy: &crate::routing::RoutingPolicy,
    ) -> Result<(), NetworkError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parses_and_computes() {
        let c: Ipv4Cidr = "10.0.1.0/24".parse().expect("valid");
        assert_eq!(c.netmask(), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(c.nth(1), Some(Ipv4Addr::new(10, 0, 1, 1)));
        assert_eq!(c.nth(256), None);
        assert!(c.contains(Ipv4Addr::new(10, 0, 1, 77)));
        assert!(!c.contains(Ipv4Addr::new(10, 0, 2, 1)));
        assert_eq!(c.to_string(), "10.0.1.0/24");
        assert!("10.0.1.5/24".parse::<Ipv4Cidr>().is_err());
        assert!("10.0.1.0/33".parse::<Ipv4Cidr>().is_err());
        assert!("nope".parse::<Ipv4Cidr>().is_err());
        let all: Ipv4Cidr = "0.0.0.0/0".parse().expect("valid");
        assert!(all.contains(Ipv4Addr::new(1, 2, 3, 4)));
    }
}
