//! The compute hosts this server drives: its own (from `[compute]`) and those an operator
//! registered with `kumo host add` (records in the state store, see `kumo_core::compute::hosts`).
//!
//! Each registered host gets its own libvirt connection and its own reconciler loop
//! (`primary: false`: volumes, snapshots and the block-store sweep stay with the local
//! host's loop), and is offered to the scheduler with its capacity. Disks and the network
//! fabric are this machine's: a host must reach `DATA_DIR/compute/blocks` by the same path
//! and its taps must appear in this machine's network namespace — true for a second libvirt
//! daemon on this machine (`qemu:///session`), not yet for a remote one (needs shared storage
//! and a fabric on that host).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use kumo_compute_libvirt::{LibvirtConfig, LibvirtHypervisor};
use kumo_core::compute::hosts::HostRecord;
use kumo_core::compute::reconciler::{Compute, ComputeConfig as ReconcilerConfig};
use kumo_core::ec2::Ec2;
use kumo_driver_api::{BlockStore, Hypervisor, NetworkFabric};

/// One driven host.
struct Driven {
    compute: Compute,
    hypervisor: Arc<dyn Hypervisor>,
}

/// The hosts of this server.
pub struct HostSite {
    ec2: Ec2,
    blocks: Arc<dyn BlockStore>,
    network: Option<Arc<dyn NetworkFabric>>,
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
            libvirt: p.libvirt,
            reconciler: p.reconciler,
            local: Driven {
                compute: p.local,
                hypervisor: p.local_hypervisor,
            },
            registered: Mutex::new(BTreeMap::new()),
        }
    }

    fn registered(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Driven>> {
        self.registered.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connects to a host and starts its reconciler (blocking: libvirt connects synchronously).
    fn drive(&self, rec: &HostRecord) -> anyhow::Result<Driven> {
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
            ..self.reconciler.clone()
        };
        let mut compute = Compute::new(self.ec2.clone(), hv.clone(), self.blocks.clone(), cfg)
            .with_context(|| format!("reading {}'s capacity", rec.uri))?;
        if let Some(n) = &self.network {
            compute = compute.with_network(n.clone());
        }
        Ok(Driven {
            compute,
            hypervisor: hv,
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
            match self.drive(&rec) {
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

    /// `kumo host add`: the URI must answer (its capacity is read) before the host is recorded.
    pub fn add(
        &self,
        name: &str,
        uri: &str,
        zone: Option<&str>,
        runtime: &tokio::runtime::Handle,
    ) -> anyhow::Result<String> {
        if uri == self.local_uri {
            anyhow::bail!("{uri} is this server's own host (configured in [compute])");
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
        let local = self.reconciler.host_id.clone();
        let rec = self.ec2.add_host(name, uri, &zone, &[local.as_str()])?;
        let driven = match self.drive(&rec) {
            Ok(d) => d,
            Err(e) => {
                let _ = self.ec2.remove_host(name, true);
                return Err(e);
            }
        };
        let info = driven.hypervisor.host_info()?;
        self.spawn(name, driven, runtime);
        Ok(format!(
            "{}\t{}\t{}\t{} cpus\t{} MiB\n",
            rec.name, rec.uri, rec.zone, info.vcpus, info.memory_mib
        ))
    }

    /// `kumo host remove`: refused while instances are recorded there unless `force`.
    pub fn remove(&self, name: &str, force: bool) -> anyhow::Result<String> {
        if name == self.reconciler.host_id {
            anyhow::bail!("{name} is this server's own host (configured in [compute])");
        }
        let rec = self.ec2.remove_host(name, force)?;
        if let Some(d) = self.registered().remove(name) {
            d.compute.shutdown();
        }
        self.ec2.compute().unregister(name);
        Ok(format!("removed {}\t{}\n", rec.name, rec.uri))
    }

    /// `kumo host list`: every host with its capacity as its hypervisor reports it now.
    pub fn list(&self) -> anyhow::Result<String> {
        let ratio = self.reconciler.cpu_allocation_ratio.max(1);
        let mut out = String::from(
            "NAME\tURI\tZONE\tSTATE\tCPUS\tVCPUS\tVCPUS_USED\tVCPUS_FREE\tMEMORY_MIB\tMEMORY_USED_MIB\tMEMORY_FREE_MIB\n",
        );
        let zone_of_local = self
            .reconciler
            .zone
            .clone()
            .or_else(|| self.ec2.placement().zones.first().cloned())
            .unwrap_or_default();
        let mut rows = vec![(
            self.reconciler.host_id.clone(),
            self.local_uri.clone(),
            zone_of_local,
            Some(self.local.hypervisor.clone()),
            "local",
        )];
        let driven = self.registered();
        for rec in self.ec2.host_records()? {
            let hv = driven.get(&rec.name).map(|d| d.hypervisor.clone());
            rows.push((rec.name, rec.uri, rec.zone, hv, "registered"));
        }
        drop(driven);
        for (name, uri, zone, hv, kind) in rows {
            let (used_cpu, used_mem) = self.ec2.host_usage(&name)?;
            let info = hv.as_ref().map(|h| h.host_info());
            match info {
                Some(Ok(i)) => {
                    let vcpus = i.vcpus.saturating_mul(ratio);
                    let _ = writeln!(
                        out,
                        "{name}\t{uri}\t{zone}\tup ({kind})\t{}\t{vcpus}\t{used_cpu}\t{}\t{}\t{used_mem}\t{}",
                        i.vcpus,
                        vcpus.saturating_sub(used_cpu),
                        i.memory_mib,
                        i.memory_mib.saturating_sub(used_mem)
                    );
                }
                Some(Err(e)) => {
                    let _ = writeln!(
                        out,
                        "{name}\t{uri}\t{zone}\tunreachable: {e}\t-\t-\t{used_cpu}\t-\t-\t{used_mem}\t-"
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        "{name}\t{uri}\t{zone}\tunreachable (not connected)\t-\t-\t{used_cpu}\t-\t-\t{used_mem}\t-"
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
