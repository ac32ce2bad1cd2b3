//! [`LinuxFabric`]: the `NetworkFabric` of one Linux host.
//!
//! Per VPC, namespace `PREFIX-vpc-<vpc-id>` is the VPC's implicit router. Per ENI, a veth pair
//! joins the host namespace (where the hypervisor creates the guest's tap) to the VPC namespace
//! through a per-ENI bridge; see the crate docs for the picture. Every method converges the
//! world towards the request and may be repeated; all of them hold one lock, so concurrent
//! calls for the same VPC never interleave their steps.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kumo_driver_api::{
    EniSpec, FabricInventory, NetworkError, NetworkFabric, PlugInfo, PluggedEni, RoutingPolicy,
    SecurityPolicy, SubnetSpec, VpcSpec,
};

mod links;
mod overlay;
mod public;

pub use overlay::{OVERLAY, overlay_mac, remote_enis, remote_routes};

use crate::dhcp::Dnsmasq;
use crate::imds::{self, Imds};
use crate::names::{Names, valid_dns_name, valid_id};
use crate::state::{self, EniRecord, SubnetRecord, VpcRecord};
use crate::{cmd, netns, nft};

/// How a [`LinuxFabric`] is set up.
#[derive(Debug, Clone)]
pub struct LinuxFabricConfig {
    /// Where the durable VPC records live (subnets and plugged ENIs).
    pub state_dir: PathBuf,
    /// Where each VPC's dnsmasq keeps its files (config, hosts, pid, leases, log): rendered
    /// from the records, so a tmpfs is right. Made traversable by everyone, because dnsmasq
    /// re-reads its hosts file after dropping privileges.
    pub runtime_dir: PathBuf,
    /// The user dnsmasq drops privileges to (it parses packets from guests); `None` keeps it
    /// root.
    pub dhcp_user: Option<String>,
    /// The namespace the hypervisor (libvirtd) runs in and creates taps in; `None` for the
    /// namespace this process runs in (the root namespace on a real host).
    pub host_netns: Option<String>,
    /// Prefix of every namespace and link alias this fabric owns (`kumo`).
    pub prefix: String,
    /// Deadline of every tool invocation.
    pub command_timeout: Duration,
    /// The namespace standing for the outside world (see the `public` module); `None` for
    /// `PREFIX-public-<hash of state_dir>`, unique per installation.
    pub public_netns: Option<String>,
    /// The outside world's address in the public namespace: every VPC's next hop to the
    /// internet, and a client address tests use. Must not be a public address Kumo hands out.
    pub outside_address: Ipv4Addr,
    /// This host's underlay (tunnel endpoint) address, which must be configured in the host
    /// namespace ([`Self::host_netns`]): with one, every VPC router gets a VXLAN link (the VPC's
    /// `vni`) to the same VPC's routers on the other hosts named in its routing policy's
    /// `remote_enis`. `None`: a single host, no tunnels.
    pub underlay: Option<Ipv4Addr>,
    /// The UDP port of the tunnels (4789, IANA's VXLAN port); every host must use the same.
    pub vxlan_port: u16,
}

impl LinuxFabricConfig {
    /// Defaults for a host: namespaces `kumo-vpc-…`, taps in this process's namespace.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Self {
            state_dir: state_dir.into(),
            runtime_dir: PathBuf::from("/run/kumo-net"),
            dhcp_user: user_exists("dnsmasq").then(|| "dnsmasq".to_string()),
            host_netns: None,
            prefix: "kumo".into(),
            command_timeout: Duration::from_secs(10),
            public_netns: None,
            outside_address: Ipv4Addr::new(203, 0, 113, 1),
            underlay: None,
            vxlan_port: 4789,
        }
    }
}

/// Whether a local user exists (Debian's dnsmasq-base creates `dnsmasq`).
fn user_exists(name: &str) -> bool {
    std::fs::read_to_string("/etc/passwd")
        .map(|p| p.lines().any(|l| l.split(':').next() == Some(name)))
        .unwrap_or(false)
}

/// The Linux network fabric.
#[derive(Debug)]
pub struct LinuxFabric {
    cfg: LinuxFabricConfig,
    names: Names,
    imds: Option<Arc<Imds>>,
    lock: Mutex<()>,
    /// The security policy last written to each VPC's kernel table by this process (so an
    /// unchanged policy costs nothing, and a restarted process renders once in full).
    applied: Mutex<HashMap<String, SecurityPolicy>>,
    /// The routing policy last applied to each VPC by this process.
    applied_routing: Mutex<HashMap<String, RoutingPolicy>>,
    /// The public namespace (resolved [`LinuxFabricConfig::public_netns`]).
    public_netns: String,
}

impl LinuxFabric {
    /// A fabric serving instance metadata through `imds` (`None`: no metadata service, e.g. a
    /// host whose guests must not see one).
    pub fn new(cfg: LinuxFabricConfig, imds: Option<Arc<Imds>>) -> Result<Self, NetworkError> {
        if !valid_id(&cfg.prefix) || cfg.prefix.contains(':') {
            return Err(NetworkError::Invalid(format!(
                "bad prefix {:?}",
                cfg.prefix
            )));
        }
        std::fs::create_dir_all(&cfg.state_dir)
            .map_err(|e| NetworkError::Failed(format!("{}: {e}", cfg.state_dir.display())))?;
        crate::dhcp::create_public_dir(&cfg.runtime_dir)?;
        let public_netns = match &cfg.public_netns {
            Some(n) if valid_id(n) => n.clone(),
            Some(n) => return Err(NetworkError::Invalid(format!("bad namespace name {n:?}"))),
            None => {
                use sha2::{Digest, Sha256};
                let dir =
                    std::fs::canonicalize(&cfg.state_dir).unwrap_or_else(|_| cfg.state_dir.clone());
                let digest = Sha256::digest(dir.to_string_lossy().as_bytes());
                let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
                format!("{}-public-{hash}", cfg.prefix)
            }
        };
        Ok(Self {
            applied_routing: Mutex::new(HashMap::new()),
            public_netns,
            names: Names::new(&cfg.prefix),
            cfg,
            imds,
            lock: Mutex::new(()),
            applied: Mutex::new(HashMap::new()),
        })
    }

    /// Where the VPCs' dnsmasq files live ([`LinuxFabricConfig::runtime_dir`]).
    pub fn runtime_dir(&self) -> &std::path::Path {
        &self.cfg.runtime_dir
    }

    /// The naming scheme (link and namespace names).
    pub fn names(&self) -> &Names {
        &self.names
    }

    /// The namespace of a VPC's router.
    pub fn vpc_netns(&self, vpc_id: &str) -> String {
        self.names.vpc_netns(vpc_id)
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn dnsmasq(&self, vpc_id: &str) -> Dnsmasq {
        Dnsmasq::new(
            &self.cfg.runtime_dir.join(vpc_id),
            self.cfg.dhcp_user.as_deref(),
        )
    }

    fn apply_nft(&self, netns: &str, record: &VpcRecord) -> Result<(), NetworkError> {
        self.nft(netns, &nft::render(&self.names, record)?)
    }

    /// Runs one `nft -f` transaction in a namespace.
    fn nft(&self, netns: &str, script: &str) -> Result<(), NetworkError> {
        self.feed(
            &format!("nft in {netns}"),
            "ip",
            &["netns", "exec", netns, "nft", "-f", "-"],
            script,
        )
    }

    /// Re-renders a VPC's filter and DHCP from its record.
    fn converge_vpc(&self, vpc_id: &str, record: &VpcRecord) -> Result<(), NetworkError> {
        let ns = self.names.vpc_netns(vpc_id);
        self.converge_routing(vpc_id, record)?;
        self.converge_overlay(vpc_id, record)?;
        self.apply_nft(&ns, record)?;
        self.dnsmasq(vpc_id)
            .ensure(&ns, record, self.cfg.command_timeout)
    }

    fn load(&self, vpc_id: &str) -> Result<VpcRecord, NetworkError> {
        state::load(&self.cfg.state_dir, vpc_id)?
            .ok_or_else(|| NetworkError::NotFound(format!("VPC {vpc_id}")))
    }

    fn store(&self, vpc_id: &str, record: &VpcRecord) -> Result<(), NetworkError> {
        state::store(&self.cfg.state_dir, vpc_id, record)
    }

    /// Which VPC records an ENI.
    fn vpc_of_eni(&self, eni_id: &str) -> Result<Option<(String, VpcRecord)>, NetworkError> {
        for vpc in state::list(&self.cfg.state_dir)? {
            if let Some(rec) = state::load(&self.cfg.state_dir, &vpc)?
                && rec.enis.contains_key(eni_id)
            {
                return Ok(Some((vpc, rec)));
            }
        }
        Ok(None)
    }
}

fn check_id(kind: &str, id: &str) -> Result<(), NetworkError> {
    if valid_id(id) {
        Ok(())
    } else {
        Err(NetworkError::Invalid(format!("bad {kind} id {id:?}")))
    }
}

fn normalise_mac(mac: &str) -> Result<String, NetworkError> {
    let parts: Vec<&str> = mac.split(':').collect();
    let ok = parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
    let mac = mac.to_ascii_lowercase();
    // A multicast MAC (low bit of the first octet) cannot be a NIC's address.
    let unicast = mac
        .get(..2)
        .and_then(|b| u8::from_str_radix(b, 16).ok())
        .is_some_and(|b| b & 1 == 0);
    if ok && unicast {
        Ok(mac)
    } else {
        Err(NetworkError::Invalid(format!("bad MAC address {mac:?}")))
    }
}

impl NetworkFabric for LinuxFabric {
    fn ensure_vpc(&self, vpc: &VpcSpec) -> Result<(), NetworkError> {
        check_id("VPC", &vpc.vpc_id)?;
        if vpc.cidrs.is_empty() {
            return Err(NetworkError::Invalid("a VPC needs a CIDR".into()));
        }
        if !vpc
            .domain_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        {
            return Err(NetworkError::Invalid(format!(
                "bad domain name {:?}",
                vpc.domain_name
            )));
        }
        if self.cfg.underlay.is_some() && !(1..=kumo_driver_api::MAX_VNI).contains(&vpc.vni) {
            return Err(NetworkError::Invalid(format!(
                "VNI {} of {} is outside 1..={}",
                vpc.vni,
                vpc.vpc_id,
                kumo_driver_api::MAX_VNI
            )));
        }
        let _g = self.guard();
        let mut record = state::load(&self.cfg.state_dir, &vpc.vpc_id)?.unwrap_or_default();
        record.vni = self.cfg.underlay.map(|_| vpc.vni);
        record.cidrs = vpc.cidrs.iter().map(ToString::to_string).collect();
        record.dns = Some(vpc.dns);
        record.domain_name = vpc.domain_name.clone();
        record.dns_support = vpc.enable_dns_support;
        self.store(&vpc.vpc_id, &record)?;

        let ns = self.names.vpc_netns(&vpc.vpc_id);
        if !netns::exists(&ns) {
            cmd::check("ip", &["netns", "add", &ns], self.cfg.command_timeout)?;
        }
        self.ip(Some(&ns), &["link", "set", "lo", "up"])?;
        self.ip(
            Some(&ns),
            &[
                "addr",
                "replace",
                &format!("{}/32", imds::ADDRESS),
                "dev",
                "lo",
            ],
        )?;
        // AmazonProvidedDNS lives on the router too; a changed address replaces the old one.
        self.converge_lo(
            &ns,
            &[format!("{}/32", imds::ADDRESS), format!("{}/32", vpc.dns)],
        )?;
        netns::sysctl(Some(&ns), "net/ipv4/ip_forward", "1")?;
        netns::sysctl(Some(&ns), "net/ipv6/conf/default/disable_ipv6", "1")?;
        netns::sysctl(Some(&ns), "net/ipv6/conf/all/disable_ipv6", "1")?;
        self.converge_vpc(&vpc.vpc_id, &record)
    }

    fn remove_vpc(&self, vpc_id: &str) -> Result<(), NetworkError> {
        check_id("VPC", vpc_id)?;
        let _g = self.guard();
        self.applied
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(vpc_id);
        self.applied_routing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(vpc_id);
        if let Some(imds) = &self.imds {
            imds.remove_vpc(vpc_id);
        }
        self.dnsmasq(vpc_id).stop(self.cfg.command_timeout)?;
        // Host-side links of this VPC's ENIs, found by alias (the record may be gone).
        for link in self.links(self.host())? {
            if let Some(a) = link
                .alias
                .as_deref()
                .and_then(|a| self.names.parse_alias(a))
                && a.vpc_id == vpc_id
            {
                let _ = self.ip(self.host(), &["link", "del", &link.name]);
            }
        }
        let ns = self.names.vpc_netns(vpc_id);
        if netns::exists(&ns) {
            cmd::check("ip", &["netns", "del", &ns], self.cfg.command_timeout)?;
        }
        // A tunnel whose creation died before it moved into the VPC namespace.
        let temp = self.names.overlay_link(vpc_id);
        if self.links(self.host())?.iter().any(|l| l.name == temp) {
            let _ = self.ip(self.host(), &["link", "del", &temp]);
        }
        for dir in [
            self.cfg.runtime_dir.join(vpc_id),
            state::vpc_dir(&self.cfg.state_dir, vpc_id),
        ] {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(NetworkError::Failed(format!("{}: {e}", dir.display()))),
            }
        }
        Ok(())
    }

    fn ensure_subnet(&self, subnet: &SubnetSpec) -> Result<(), NetworkError> {
        check_id("subnet", &subnet.subnet_id)?;
        check_id("VPC", &subnet.vpc_id)?;
        if !subnet.cidr.contains(subnet.gateway) || subnet.cidr.prefix_len > 30 {
            return Err(NetworkError::Invalid(format!(
                "gateway {} outside {} or subnet too small",
                subnet.gateway, subnet.cidr
            )));
        }
        let _g = self.guard();
        let mut record = self.load(&subnet.vpc_id)?;
        let vpc_cidrs = record
            .cidrs
            .iter()
            .map(|c| c.parse())
            .collect::<Result<Vec<kumo_driver_api::Ipv4Cidr>, _>>()?;
        if !vpc_cidrs
            .iter()
            .any(|v| v.contains(subnet.cidr.addr) && v.prefix_len <= subnet.cidr.prefix_len)
        {
            return Err(NetworkError::Invalid(format!(
                "{} is outside the VPC's CIDRs",
                subnet.cidr
            )));
        }
        for (id, other) in &record.subnets {
            let o = other.cidr()?;
            if id != &subnet.subnet_id
                && (o.contains(subnet.cidr.addr) || subnet.cidr.contains(o.addr))
            {
                return Err(NetworkError::Conflict(format!(
                    "{} overlaps {id} ({o})",
                    subnet.cidr
                )));
            }
        }
        record.subnets.insert(
            subnet.subnet_id.clone(),
            SubnetRecord {
                cidr: subnet.cidr.to_string(),
                gateway: subnet.gateway,
            },
        );
        self.store(&subnet.vpc_id, &record)?;
        if !netns::exists(&self.names.vpc_netns(&subnet.vpc_id)) {
            return Err(NetworkError::NotFound(format!(
                "VPC {} has no router (ensure_vpc first)",
                subnet.vpc_id
            )));
        }
        self.converge_vpc(&subnet.vpc_id, &record)
    }

    fn remove_subnet(&self, vpc_id: &str, subnet_id: &str) -> Result<(), NetworkError> {
        check_id("VPC", vpc_id)?;
        let _g = self.guard();
        let Some(mut record) = state::load(&self.cfg.state_dir, vpc_id)? else {
            return Ok(());
        };
        if let Some((eni, _)) = record.enis.iter().find(|(_, e)| e.subnet_id == subnet_id) {
            return Err(NetworkError::Conflict(format!(
                "{eni} is still plugged into {subnet_id}"
            )));
        }
        if record.subnets.remove(subnet_id).is_some() {
            self.store(vpc_id, &record)?;
            // Without a router (a rebooted host) the record is all there is to change.
            if netns::exists(&self.names.vpc_netns(vpc_id)) {
                self.converge_vpc(vpc_id, &record)?;
            }
        }
        Ok(())
    }

    fn plug(&self, eni: &EniSpec) -> Result<PlugInfo, NetworkError> {
        check_id("ENI", &eni.eni_id)?;
        check_id("VPC", &eni.vpc_id)?;
        if eni.tap.is_empty()
            || eni.tap.len() > 15
            || !eni
                .tap
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':')
        {
            return Err(NetworkError::Invalid(format!("bad tap name {:?}", eni.tap)));
        }
        if let Some(i) = &eni.instance_id {
            check_id("instance", i)?;
        }
        let mac = normalise_mac(&eni.mac)?;
        if let Some(bad) = eni.dns_names.iter().find(|n| !valid_dns_name(n)) {
            return Err(NetworkError::Invalid(format!("bad DNS name {bad:?}")));
        }
        let _g = self.guard();
        let mut record = self.load(&eni.vpc_id)?;
        let subnet = record.subnets.get(&eni.subnet_id).ok_or_else(|| {
            NetworkError::NotFound(format!("subnet {} of {}", eni.subnet_id, eni.vpc_id))
        })?;
        let cidr = subnet.cidr()?;
        if subnet.gateway != eni.gateway || cidr.prefix_len != eni.prefix_len {
            return Err(NetworkError::Invalid(format!(
                "gateway/prefix differ from subnet {}",
                eni.subnet_id
            )));
        }
        let reserved = [
            cidr.nth(0),
            cidr.nth(1),
            cidr.nth(2),
            cidr.nth(3),
            Some(broadcast(cidr.addr, cidr.prefix_len)),
        ];
        if !cidr.contains(eni.ip) || reserved.contains(&Some(eni.ip)) {
            return Err(NetworkError::Invalid(format!(
                "{} is not a usable address of {cidr}",
                eni.ip
            )));
        }
        if let Some((other, _)) = record
            .enis
            .iter()
            .find(|(id, e)| *id != &eni.eni_id && (e.ip == eni.ip || e.mac == mac))
        {
            return Err(NetworkError::Conflict(format!(
                "{other} already uses {} or {mac}",
                eni.ip
            )));
        }
        if let Some((other_vpc, _)) = self.vpc_of_eni(&eni.eni_id)?
            && other_vpc != eni.vpc_id
        {
            return Err(NetworkError::Conflict(format!(
                "{} is plugged into {other_vpc}",
                eni.eni_id
            )));
        }
        let prefix_len = cidr.prefix_len;
        record.enis.insert(
            eni.eni_id.clone(),
            EniRecord {
                subnet_id: eni.subnet_id.clone(),
                tap: eni.tap.clone(),
                mac,
                ip: eni.ip,
                instance_id: eni.instance_id.clone(),
                dns_names: eni.dns_names.clone(),
            },
        );
        self.store(&eni.vpc_id, &record)?;
        let ns = self.names.vpc_netns(&eni.vpc_id);
        if !netns::exists(&ns) {
            return Err(NetworkError::NotFound(format!(
                "VPC {} has no router (ensure_vpc first)",
                eni.vpc_id
            )));
        }
        let (ifindex, tap_attached) = self.plumb(eni, prefix_len)?;
        self.converge_vpc(&eni.vpc_id, &record)?;
        if let Some(imds) = &self.imds {
            imds.ensure(
                &eni.vpc_id,
                &eni.eni_id,
                &ns,
                &self.names.vpc_link(&eni.eni_id),
                ifindex,
            )?;
        }
        Ok(PlugInfo {
            host_bridge: Some(self.names.host_bridge(&eni.eni_id)),
            tap_attached,
        })
    }

    fn unplug(&self, eni_id: &str) -> Result<(), NetworkError> {
        check_id("ENI", eni_id)?;
        let _g = self.guard();
        if let Some(imds) = &self.imds {
            imds.remove(eni_id);
        }
        match self.vpc_of_eni(eni_id)? {
            Some((vpc, mut record)) => {
                record.enis.remove(eni_id);
                self.store(&vpc, &record)?;
                self.delete_eni_links(Some(&vpc), eni_id)?;
                if netns::exists(&self.names.vpc_netns(&vpc)) {
                    self.converge_vpc(&vpc, &record)?;
                }
                Ok(())
            }
            // No record (an orphan after a crash): remove whatever links carry its names.
            None => {
                let vpcs: Vec<String> = self.list_vpcs()?;
                for vpc in &vpcs {
                    self.delete_eni_links(Some(vpc), eni_id)?;
                }
                self.delete_eni_links(None, eni_id)
            }
        }
    }

    fn apply_security(&self, vpc_id: &str, policy: &SecurityPolicy) -> Result<(), NetworkError> {
        check_id("VPC", vpc_id)?;
        let _g = self.guard();
        let mut applied = self.applied.lock().unwrap_or_else(|p| p.into_inner());
        let mut record = self.load(vpc_id)?;
        if applied.get(vpc_id) == Some(policy) && record.security.as_ref() == Some(policy) {
            return Ok(());
        }
        // The kernel holds `applied` only if nothing re-rendered the table since from a
        // different recorded policy (a failed apply leaves the record ahead of the kernel).
        let previous = applied
            .get(vpc_id)
            .filter(|a| record.security.as_ref() == Some(*a))
            .cloned();
        record.security = Some(policy.clone());
        // Rendering validates every id before anything is stored.
        let full = nft::render(&self.names, &record)?;
        self.store(vpc_id, &record)?;
        let ns = self.names.vpc_netns(vpc_id);
        if !netns::exists(&ns) {
            // A rebooted host: ensure_vpc renders the recorded policy with the router.
            return Ok(());
        }
        // Only members changed: rewrite those sets, no chain (falls back to the whole table).
        let delta = match &previous {
            Some(old) => nft::render_members_update(old, policy)?,
            None => None,
        };
        match delta {
            Some(script) if script.is_empty() => {}
            Some(script) => {
                if let Err(e) = self.nft(&ns, &script) {
                    tracing::warn!(vpc = vpc_id, error = %e, "set update failed; rendering the table");
                    self.nft(&ns, &full)?;
                }
            }
            None => self.nft(&ns, &full)?,
        }
        applied.insert(vpc_id.to_string(), policy.clone());
        Ok(())
    }

    fn apply_routing(&self, vpc_id: &str, policy: &RoutingPolicy) -> Result<(), NetworkError> {
        check_id("VPC", vpc_id)?;
        for id in policy.subnets.keys().chain(policy.nat_gateways.keys()) {
            check_id("subnet or NAT gateway", id)?;
        }
        for r in &policy.remote_enis {
            check_id("ENI", &r.eni_id)?;
            check_id("subnet", &r.subnet_id)?;
            if let Some(bad) = r.dns_names.iter().find(|n| !valid_dns_name(n)) {
                return Err(NetworkError::Invalid(format!("bad DNS name {bad:?}")));
            }
        }
        let _g = self.guard();
        let mut applied = self
            .applied_routing
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut record = self.load(vpc_id)?;
        if applied.get(vpc_id) == Some(policy) && record.routing.as_ref() == Some(policy) {
            return Ok(());
        }
        record.routing = Some(policy.clone());
        // Rendering validates the policy before anything is stored.
        nft::render(&self.names, &record)?;
        self.store(vpc_id, &record)?;
        let ns = self.names.vpc_netns(vpc_id);
        if !netns::exists(&ns) {
            // A rebooted host: ensure_vpc renders the recorded policy with the router.
            return Ok(());
        }
        // The whole router: remote ENIs also change the tunnel, the filter and the DNS names.
        self.converge_vpc(vpc_id, &record)?;
        applied.insert(vpc_id.to_string(), policy.clone());
        Ok(())
    }

    fn list(&self) -> Result<FabricInventory, NetworkError> {
        let _g = self.guard();
        // Only VPCs this fabric recorded (the record is written before the namespace exists):
        // other installations sharing the host keep their namespaces out of this inventory,
        // so a reconciler never removes them as orphans. Records count even when the
        // namespace is gone (after a host reboot), so deleted VPCs still reach the reconciler.
        let recorded = state::list(&self.cfg.state_dir)?;
        let routers: Vec<String> = self
            .list_vpcs()?
            .into_iter()
            .filter(|v| recorded.contains(v))
            .collect();
        let mut vpcs: Vec<String> = routers.iter().chain(&recorded).cloned().collect();
        vpcs.sort();
        vpcs.dedup();
        let host_links = self.links(self.host())?;
        let mut enis: Vec<PluggedEni> = Vec::new();
        let mut push = |vpc_id: String, eni_id: String| {
            if !enis.iter().any(|e| e.eni_id == eni_id) {
                let bridge = self.names.host_bridge(&eni_id);
                let veth = self.names.host_veth(&eni_id);
                let tap_attached = host_links
                    .iter()
                    .any(|l| l.master.as_deref() == Some(bridge.as_str()) && l.name != veth);
                enis.push(PluggedEni {
                    eni_id,
                    vpc_id,
                    tap_attached,
                });
            }
        };
        for vpc in &recorded {
            if let Some(rec) = state::load(&self.cfg.state_dir, vpc)? {
                for eni_id in rec.enis.keys() {
                    push(vpc.clone(), eni_id.clone());
                }
            }
        }
        for vpc in &routers {
            for link in self.links(Some(&self.names.vpc_netns(vpc)))? {
                if let Some(a) = link
                    .alias
                    .as_deref()
                    .and_then(|a| self.names.parse_alias(a))
                {
                    push(a.vpc_id, a.eni_id);
                }
            }
        }
        // Host-side leftovers whose VPC side is gone still count: the reconciler unplugs them.
        // Only for VPCs this fabric recorded: other installations sharing the host namespace
        // (and its `kumo:` aliases) keep their links out of this inventory, or each one's
        // orphan sweep would unplug the others' guests.
        for link in &host_links {
            if let Some(a) = link
                .alias
                .as_deref()
                .and_then(|a| self.names.parse_alias(a))
                && recorded.contains(&a.vpc_id)
            {
                push(a.vpc_id, a.eni_id);
            }
        }
        enis.sort_by(|a, b| a.eni_id.cmp(&b.eni_id));
        Ok(FabricInventory { vpcs, enis })
    }
}

impl LinuxFabric {
    fn list_vpcs(&self) -> Result<Vec<String>, NetworkError> {
        let mut vpcs: Vec<String> = match std::fs::read_dir(netns::NETNS_DIR) {
            Ok(entries) => entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter_map(|n| self.names.vpc_of_netns(&n).map(str::to_string))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(NetworkError::Failed(format!("{}: {e}", netns::NETNS_DIR))),
        };
        vpcs.sort();
        Ok(vpcs)
    }
}

fn broadcast(addr: Ipv4Addr, prefix_len: u8) -> Ipv4Addr {
    let host_bits = if prefix_len == 0 {
        u32::MAX
    } else {
        u32::MAX >> u32::from(prefix_len)
    };
    Ipv4Addr::from(u32::from(addr) | host_bits)
}
