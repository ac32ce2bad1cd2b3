//! The compute hosts this server drives: its own (from `[compute]`) and those an operator
//! registered with `kumo host add` (records in the state store, see `kumo_core::compute::hosts`).
//!
//! Each registered host gets its own libvirt connection and its own reconciler loop
//! (`primary: false`: volumes, snapshots and the block-store sweep stay with the local
//! host's loop), and is offered to the scheduler with its capacity. Disks are this machine's:
//! a host must reach `DATA_DIR/compute/blocks` by the same path.
//!
//! Network: a host registered without `--netns` shares the local fabric (its taps must appear
//! where the local fabric plugs them — true for a second libvirt daemon on this machine). A
//! host registered with `--netns NS --underlay ADDR` gets a fabric of its own
//! ([`crate::compute::HostNetwork`]): its libvirtd runs in namespace `NS` and creates taps
//! there, its VPC routers are namespaces of their own (prefix [`fabric_prefix`]) and reach the
//! other hosts' routers of the same VPCs through VXLAN from `ADDR`. The load balancer data
//! plane stays on the local host.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use kumo_compute_libvirt::{LibvirtConfig, LibvirtHypervisor};
use kumo_core::compute::hosts::{HostFabric, HostRecord, LocalHost, NewHost};
use kumo_core::compute::reconciler::{Compute, ComputeConfig as ReconcilerConfig};
use kumo_core::ec2::Ec2;
use kumo_driver_api::{BlockStore, Hypervisor, NetworkFabric};

/// One driven host.
struct Driven {
    compute: Compute,
    hypervisor: Arc<dyn Hypervisor>,
    /// Its own network fabric (`--netns`), torn down when the host is removed.
    own_fabric: Option<Arc<kumo_net_linux::LinuxFabric>>,
}

/// The hosts of this server.
pub struct HostSite {
    ec2: Ec2,
    blocks: Arc<dyn BlockStore>,
    network: Option<Arc<dyn NetworkFabric>>,
    host_network: crate::compute::HostNetwork,
    libvirt: LibvirtConfig,
    reconciler: ReconcilerConfig,
    local: Driven,
    local_uri: String,
    registered: Mutex<BTreeMap<String, Driven>>,
}

impl std::fmt::Debug for HostSite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostSite")
            .field("local", &self.reconciler.host_id)
            .finish_non_exhaustive()
    }
}

/// What [`HostSite::new`] needs to drive more hosts like the local one.
pub struct SiteParts {
    pub ec2: Ec2,
    pub blocks: Arc<dyn BlockStore>,
    pub network: Option<Arc<dyn NetworkFabric>>,
    /// How to build the fabric of a host registered with its own (`--netns`).
    pub host_network: crate::compute::HostNetwork,
    /// The local host's libvirt settings (owner mark, console dir, accelerator).
    pub libvirt: LibvirtConfig,
    pub reconciler: ReconcilerConfig,
    pub local: Compute,
    pub local_hypervisor: Arc<dyn Hypervisor>,
}

impl HostSite {
    /// The site around the (already running) local host.
    pub fn new(p: SiteParts) -> Self {
        Self {
            local_uri: p.libvirt.uri.clone(),
            ec2: p.ec2,
            blocks: p.blocks,
            network: p.network,
            host_network: p.host_network,
            libvirt: p.libvirt,
            reconciler: p.reconciler,
            local: Driven {
                compute: p.local,
                hypervisor: p.local_hypervisor,
                own_fabric: None,
            },
            registered: Mutex::new(BTreeMap::new()),
        }
    }

    fn registered(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Driven>> {
        self.registered.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connects to a host and starts its reconciler (blocking: libvirt connects synchronously).
    /// A host with its own fabric gets it built here; one that cannot be built fails `strict`
    /// (`kumo host add`: the operator is there to fix it), else leaves the host without VPC
    /// networking (logged), as for the local host.
    fn drive(
        &self,
        rec: &HostRecord,
        runtime: &tokio::runtime::Handle,
        strict: bool,
    ) -> anyhow::Result<Driven> {
        let lv = LibvirtConfig {
            uri: rec.uri.clone(),
            ..self.libvirt.clone()
        };
        let hv: Arc<dyn Hypervisor> = Arc::new(
            LibvirtHypervisor::connect(lv).with_context(|| format!("connecting to {}", rec.uri))?,
        );
        let cfg = ReconcilerConfig {
            host_id: rec.name.clone(),
            zone: Some(rec.zone.clone()),
            primary: false,
            // Sharing the local fabric means sharing its underlay.
            underlay: rec
                .fabric
                .as_ref()
                .map_or(self.reconciler.underlay, |f| Some(f.underlay)),
            ..self.reconciler.clone()
        };
        let own_fabric = match &rec.fabric {
            None => None,
            Some(f) => match self.host_network.fabric(&rec.name, f, runtime) {
                Ok(n) => Some(n),
                Err(e) if strict => return Err(e),
                Err(e) => {
                    tracing::error!(
                        host = %rec.name,
                        netns = %f.netns,
                        error = format!("{e:#}"),
                        "the host's network fabric is unavailable: its guests boot without VPC networking"
                    );
                    None
                }
            },
        };
        let network = if rec.fabric.is_some() {
            own_fabric.clone().map(|f| -> Arc<dyn NetworkFabric> { f })
        } else {
            self.network.clone()
        };
        let mut compute = Compute::new(self.ec2.clone(), hv.clone(), self.blocks.clone(), cfg)
            .with_context(|| format!("reading {}'s capacity", rec.uri))?;
        if let Some(n) = network {
            compute = compute.with_network(n);
        }
        Ok(Driven {
            compute,
            hypervisor: hv,
            own_fabric,
        })
    }

    fn spawn(&self, name: &str, driven: Driven, runtime: &tokio::runtime::Handle) {
        let _guard = runtime.enter();
        let _loop = driven.compute.spawn_reconciler();
        self.registered().insert(name.to_owned(), driven);
    }

    /// Drives every registered host (one that cannot be reached is logged and listed as
    /// unreachable; `kumo host remove` forgets it). Blocking.
    pub fn start_registered(&self, runtime: &tokio::runtime::Handle) {
        let records = match self.ec2.host_records() {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "reading the registered hosts");
                return;
            }
        };
        for rec in records {
            // `kumo host add` refuses this, but `[network] underlay_address` may have changed
            // since: two fabrics with one underlay would take each other's ENIs for local ones.
            if let Some(f) = &rec.fabric
                && Some(f.underlay) == self.reconciler.underlay
            {
                tracing::error!(
                    host = %rec.name,
                    underlay = %f.underlay,
                    "this host's underlay address is also [network] underlay_address: ENIs between the two hosts are unreachable until one is changed"
                );
            }
            match self.drive(&rec, runtime, false) {
                Ok(d) => {
                    tracing::info!(host = %rec.name, uri = %rec.uri, zone = %rec.zone, "compute host driven");
                    self.spawn(&rec.name, d, runtime);
                }
                Err(e) => {
                    tracing::error!(host = %rec.name, uri = %rec.uri, error = format!("{e:#}"), "compute host unreachable");
                }
            }
        }
    }

    /// `kumo host add`: the URI must answer (its capacity is read) before the host is recorded;
    /// with `fabric`, its namespace must exist.
    pub fn add(
        &self,
        name: &str,
        uri: &str,
        zone: Option<&str>,
        fabric: Option<&HostFabric>,
        runtime: &tokio::runtime::Handle,
    ) -> anyhow::Result<String> {
        if uri == self.local_uri {
            anyhow::bail!("{uri} is this server's own host (configured in [compute])");
        }
        if let Some(f) = fabric
            && kumo_core::compute::hosts::valid_netns(&f.netns)
            && !kumo_net_linux::netns::exists(&f.netns)
        {
            anyhow::bail!(
                "network namespace {} does not exist (`ip netns list`): the host's libvirtd must run in it",
                f.netns
            );
        }
        let zone = match zone {
            Some(z) => z.to_owned(),
            None => self
                .ec2
                .placement()
                .zones
                .first()
                .cloned()
                .unwrap_or_default(),
        };
        // Validated and recorded by the core (name, zone, duplicates), then reached: a host
        // that does not answer is forgotten again.
        let rec = self.ec2.add_host(
            &NewHost {
                name,
                uri,
                zone: &zone,
                fabric,
            },
            &LocalHost {
                name: &self.reconciler.host_id,
                underlay: self.reconciler.underlay,
            },
        )?;
        let driven = match self.drive(&rec, runtime, true) {
            Ok(d) => d,
            Err(e) => {
                let _ = self.ec2.remove_host(name, true);
                return Err(e);
            }
        };
        let info = driven.hypervisor.host_info()?;
        self.spawn(name, driven, runtime);
        Ok(format!(
            "{}\t{}\t{}\t{} cpus\t{} MiB\t{}\n",
            rec.name,
            rec.uri,
            rec.zone,
            info.vcpus,
            info.memory_mib,
            fabric_text(rec.fabric.as_ref())
        ))
    }

    /// `kumo host remove`: refused while instances are recorded there unless `force`.
    pub fn remove(&self, name: &str, force: bool) -> anyhow::Result<String> {
        if name == self.reconciler.host_id {
            anyhow::bail!("{name} is this server's own host (configured in [compute])");
        }
        let rec = self.ec2.remove_host(name, force)?;
        let driven = self.registered().remove(name);
        self.ec2.compute().unregister(name);
        let mut note = String::new();
        if let Some(d) = driven {
            d.compute.shutdown();
            if let Some(fabric) = d.own_fabric {
                note = teardown(name, fabric.as_ref(), self.ec2.host_usage(name)?.0 == 0);
            }
        }
        Ok(format!("removed {}\t{}{note}\n", rec.name, rec.uri))
    }

    /// `kumo host list`: every host with its capacity as its hypervisor reports it now, and
    /// where its network fabric is (NETNS `-`: this server's namespace; FABRIC: the prefix of
    /// its VPC router namespaces, `PREFIX-vpc-<vpc-id>`).
    pub fn list(&self) -> anyhow::Result<String> {
        let ratio = self.reconciler.cpu_allocation_ratio.max(1);
        let mut out = String::from(
            "NAME\tURI\tZONE\tSTATE\tCPUS\tVCPUS\tVCPUS_USED\tVCPUS_FREE\tMEMORY_MIB\tMEMORY_USED_MIB\tMEMORY_FREE_MIB\tNETNS\tUNDERLAY\tFABRIC\n",
        );
        let zone_of_local = self
            .reconciler
            .zone
            .clone()
            .or_else(|| self.ec2.placement().zones.first().cloned())
            .unwrap_or_default();
        let local_fabric = LOCAL_PREFIX.to_owned();
        let mut rows = vec![(
            self.reconciler.host_id.clone(),
            self.local_uri.clone(),
            zone_of_local,
            Some(self.local.hypervisor.clone()),
            "local",
            None,
        )];
        let driven = self.registered();
        for rec in self.ec2.host_records()? {
            let hv = driven.get(&rec.name).map(|d| d.hypervisor.clone());
            rows.push((rec.name, rec.uri, rec.zone, hv, "registered", rec.fabric));
        }
        drop(driven);
        for (name, uri, zone, hv, kind, fabric) in rows {
            let (used_cpu, used_mem) = self.ec2.host_usage(&name)?;
            let net = match &fabric {
                Some(f) => format!(
                    "{}\t{}\t{}",
                    f.netns,
                    f.underlay,
                    fabric_prefix(&self.host_network.dir, &name)
                ),
                None => format!(
                    "-\t{}\t{local_fabric}",
                    self.reconciler
                        .underlay
                        .map_or_else(|| "-".to_owned(), |u| u.to_string())
                ),
            };
            let info = hv.as_ref().map(|h| h.host_info());
            match info {
                Some(Ok(i)) => {
                    let vcpus = i.vcpus.saturating_mul(ratio);
                    let _ = writeln!(
                        out,
                        "{name}\t{uri}\t{zone}\tup ({kind})\t{}\t{vcpus}\t{used_cpu}\t{}\t{}\t{used_mem}\t{}\t{net}",
                        i.vcpus,
                        vcpus.saturating_sub(used_cpu),
                        i.memory_mib,
                        i.memory_mib.saturating_sub(used_mem)
                    );
                }
                Some(Err(e)) => {
                    let _ = writeln!(
                        out,
                        "{name}\t{uri}\t{zone}\tunreachable: {e}\t-\t-\t{used_cpu}\t-\t-\t{used_mem}\t-\t{net}"
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        "{name}\t{uri}\t{zone}\tunreachable (not connected)\t-\t-\t{used_cpu}\t-\t-\t{used_mem}\t-\t{net}"
                    );
                }
            }
        }
        Ok(out)
    }

    /// Stops every reconciler loop (guests keep running).
    pub fn shutdown(&self) {
        self.local.compute.shutdown();
        for d in self.registered().values() {
            d.compute.shutdown();
        }
    }
}

/// The namespace prefix of the local fabric (`kumo-vpc-<vpc-id>`).
pub const LOCAL_PREFIX: &str = "kumo";

/// The namespace prefix of host `name`'s own fabric in the installation whose compute
/// directory is `installation`: `kumo-h` and 8 hex digits of a hash of both (two installations
/// on one machine may each have a host `h2`). Why a hash and not the name: host names may hold `.` and `_` (not allowed in the
/// fabric's names) and may be long, and one fabric's prefix must never be the start of
/// another's namespace names (host `a` and host `a-vpc-b` would be, so the local `kumo`
/// fabric and host fabrics could read each other's namespaces as theirs); fixed-length hex
/// prefixes cannot. `kumo host list` shows it.
#[must_use]
pub fn fabric_prefix(installation: &std::path::Path, name: &str) -> String {
    use sha2::{Digest, Sha256};
    let dir = std::fs::canonicalize(installation).unwrap_or_else(|_| installation.to_owned());
    let digest = Sha256::digest(format!("{}\0{name}", dir.display()).as_bytes());
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{LOCAL_PREFIX}-h{hex}")
}

/// Removes the VPC routers and the public side of a removed host's own fabric, unless instances are still recorded
/// there (`--force`): their guests keep their network, and adding the host again under the
/// same name finds its fabric again (same prefix and records). Nothing else would remove them:
/// no reconciler drives that fabric any more. Returns a note for the operator.
fn teardown(name: &str, fabric: &kumo_net_linux::LinuxFabric, empty: bool) -> String {
    if !empty {
        return "\t(its network fabric is kept: instances are still recorded there)".to_owned();
    }
    let vpcs = match fabric.list() {
        Ok(inv) => inv.vpcs,
        Err(e) => {
            tracing::warn!(host = %name, error = %e, "removed host's fabric: inventory failed");
            return format!("\t(its network fabric could not be listed: {e})");
        }
    };
    let mut failed = 0;
    for vpc in &vpcs {
        if let Err(e) = fabric.remove_vpc(vpc) {
            failed += 1;
            tracing::warn!(host = %name, vpc = %vpc, error = %e, "removed host's fabric: VPC not removed");
        }
    }
    if let Err(e) = fabric.remove_public_side() {
        failed += 1;
        tracing::warn!(host = %name, error = %e, "removed host's fabric: public side not removed");
    }
    // Its (now empty) runtime directory; a non-empty one stays for the operator to look at.
    let _ = std::fs::remove_dir(fabric.runtime_dir());
    if failed > 0 {
        format!("\t(its network fabric was not wholly removed ({failed} failures): see the log)")
    } else {
        format!("\t({} VPC routers of its fabric removed)", vpcs.len())
    }
}

/// How `kumo host add` reports a host's fabric.
fn fabric_text(fabric: Option<&HostFabric>) -> String {
    fabric.map_or_else(
        || "shares this server's network fabric".to_owned(),
        |f| {
            format!(
                "own network fabric: namespace {}, underlay {}",
                f.netns, f.underlay
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fabric_prefixes_are_short_distinct_and_valid() {
        let dir = std::path::Path::new("/nonexistent/kumo/compute");
        assert_ne!(
            fabric_prefix(dir, "h2"),
            fabric_prefix(std::path::Path::new("/other/compute"), "h2"),
            "two installations' hosts of one name"
        );
        let a = fabric_prefix(dir, "h2");
        assert_eq!(a.len(), "kumo-h".len() + 8);
        assert_ne!(a, fabric_prefix(dir, "h3"));
        assert_eq!(a, fabric_prefix(dir, "h2"));
        for name in ["h2", "host.example.org", "a_b", &"x".repeat(63)] {
            let p = fabric_prefix(dir, name);
            assert!(
                p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
                "{p}"
            );
            // `PREFIX-vpc-vpc-<17 hex>` must be a valid fabric namespace name (<= 64).
            assert!(format!("{p}-vpc-vpc-0123456789abcdef0").len() <= 64);
            assert!(!p.starts_with(&format!("{LOCAL_PREFIX}-vpc-")));
        }
    }
}
