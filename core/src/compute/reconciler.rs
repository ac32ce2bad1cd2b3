//! The compute reconciler: converges recorded intent (instances, volumes, snapshots) with the
//! world through the `Hypervisor` and `BlockStore` seams.
//!
//! Why a reconciler and not inline calls: the API answers at once with AWS's transitional
//! states and records intent; the world (creating disks, booting guests) is slow and can
//! fail or be interrupted by a crash. One idempotent pass — read the records, ask the world,
//! act, write back what was observed — runs at start-up, after each API change (woken through
//! the `HostRegistry`), on each hypervisor event and on a timer, so a crash at any point
//! converges on the next pass. State only moves when the driver reports it.
//!
//! Every pass is synchronous (the seams block) and runs in `spawn_blocking`; the record update
//! after each world action is its own transaction that re-reads the record, so API calls that
//! happened meanwhile are never lost.
//!
//! Network plumbing: with a `NetworkFabric` ([`Compute::with_network`]) each ENI is plugged
//! into its VPC before its domain is defined and started and again after it started, and
//! unplugged when the ENI is deleted; see `reconciler/network.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kumo_driver_api::hypervisor::Boot;
use kumo_driver_api::{
    BlockStore, BlockStoreError, DiskMedia, DiskSpec, DomainSpec, DomainState, Hypervisor,
    HypervisorError, NetworkError, NetworkFabric, NicSpec,
};

use crate::compute::Host;
use crate::ec2::Ec2;
use crate::ec2::instance::{
    Desired, ImageReboot, Instance, InstanceState, StateReason, TERMINATED_VISIBLE_MS,
};
use crate::ec2::network_interface::{NetworkInterface, delete_eni};
use crate::ec2::snapshot::Snapshot;
use crate::ec2::volume::{GIB, Volume, guest_target, now_ms};

/// Reconciler settings.
#[derive(Debug, Clone)]
pub struct ComputeConfig {
    /// Host id recorded on instances.
    pub host_id: String,
    /// The host's zone (default: the region's first zone).
    pub zone: Option<String>,
    /// Timer between passes.
    pub interval: Duration,
    /// ACPI grace before a stop powers the guest off.
    pub stop_timeout: Duration,
    /// Per-account vCPU limit (`VcpuLimitExceeded` beyond it).
    pub max_vcpus_per_account: u32,
    /// Destroy and undefine `i-…` domains that have no record (else only log them).
    pub destroy_orphans: bool,
    /// Virtual CPUs offered per physical CPU (CPU overcommit, as CloudStack's
    /// `cpu.overprovisioning.factor`): guests mostly idle, so hosts sell more vCPUs than cores.
    pub cpu_allocation_ratio: u32,
    /// Whether this reconciler also owns the shared resources — volumes, snapshots and the
    /// block-store sweep (one per installation: the local host's). Others only drive their
    /// host's instances and the attachments to them.
    pub primary: bool,
    /// The underlay (tunnel endpoint) address of this host's network fabric; `None` when it
    /// has none (a single host). Hosts sharing one fabric share this value, which is how
    /// the routing pass tells the ENIs it reaches directly from those behind a tunnel.
    pub underlay: Option<std::net::Ipv4Addr>,
}

impl Default for ComputeConfig {
    fn default() -> Self {
        Self {
            host_id: "host-1".into(),
            zone: None,
            interval: Duration::from_secs(5),
            stop_timeout: Duration::from_secs(60),
            max_vcpus_per_account: 1024,
            destroy_orphans: true,
            cpu_allocation_ratio: 4,
            primary: true,
            underlay: None,
        }
    }
}

/// The compute service of one host: the EC2 control plane plus the seams to the world.
#[derive(Clone)]
pub struct Compute {
    ec2: Ec2,
    hypervisor: Arc<dyn Hypervisor>,
    blocks: Arc<dyn BlockStore>,
    network: Option<Arc<dyn NetworkFabric>>,
    config: ComputeConfig,
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for Compute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compute")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What went wrong in a world call (logged; the pass goes on with other resources).
#[derive(Debug, thiserror::Error)]
enum WorldError {
    #[error(transparent)]
    Hypervisor(#[from] HypervisorError),
    #[error(transparent)]
    Blocks(#[from] BlockStoreError),
    #[error(transparent)]
    Network(#[from] NetworkError),
    #[error(transparent)]
    Store(#[from] crate::Error),
}

impl Compute {
    /// Registers the host (capacity from `Hypervisor::host_info`) with `ec2` so launches can
    /// be placed on it. Fails when the hypervisor cannot be reached.
    pub fn new(
        ec2: Ec2,
        hypervisor: Arc<dyn Hypervisor>,
        blocks: Arc<dyn BlockStore>,
        config: ComputeConfig,
    ) -> Result<Self, HypervisorError> {
        let info = hypervisor.host_info()?;
        let zone = config
            .zone
            .clone()
            .or_else(|| ec2.placement().zones.first().cloned())
            .unwrap_or_default();
        ec2.compute().register(
            Host {
                id: config.host_id.clone(),
                zone,
                vcpus: info
                    .vcpus
                    .saturating_mul(config.cpu_allocation_ratio.max(1)),
                memory_mib: info.memory_mib,
                underlay: config.underlay,
                primary: config.primary,
            },
            hypervisor.clone(),
            blocks.clone(),
            config.max_vcpus_per_account,
        );
        Ok(Self {
            ec2,
            hypervisor,
            blocks,
            network: None,
            config,
            stop: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Plugs instances' ENIs into their VPCs through `fabric` (without one, guests' taps are
    /// left unconnected: instances run but have no network).
    #[must_use]
    pub fn with_network(mut self, fabric: Arc<dyn NetworkFabric>) -> Self {
        self.network = Some(fabric);
        self
    }

    /// Starts the loop on the current tokio runtime: a pass now, then after every API change,
    /// hypervisor event or `interval`. A thread waits on `Hypervisor::next_event` (it blocks)
    /// and wakes the loop. Dropping the returned handle does not stop it; [`Compute::shutdown`] does.
    pub fn spawn_reconciler(&self) -> tokio::task::JoinHandle<()> {
        let events = self.clone();
        let _ = std::thread::Builder::new()
            .name("kumo-hv-events".into())
            .spawn(move || {
                while !events.stop.load(Ordering::Relaxed) {
                    if let Some(ev) = events.hypervisor.next_event(Duration::from_secs(1)) {
                        tracing::debug!(domain = %ev.name, state = ?ev.state, reason = %ev.reason, "domain event");
                        events.ec2.compute().wake();
                    }
                }
            });
        // Security groups and ACLs, routes and public addresses, load balancers: each has a loop
        // of its own, woken by the store after every commit touching a record it derives from
        // (so a rule change or an AssociateAddress reaches the kernel at once), and by a timer
        // (which also restarts what died, such as a proxy).
        self.spawn_watched("security", &security::WATCHED, Self::reconcile_security);
        self.spawn_watched("routing", &routing::WATCHED, Self::reconcile_routing);
        self.spawn_watched(
            "load balancer",
            &load_balancer::WATCHED,
            Self::reconcile_load_balancers,
        );
        let this = self.clone();
        let mut wakes = self.ec2.compute().wakes();
        tokio::spawn(async move {
            while !this.stop.load(Ordering::Relaxed) {
                let pass = this.clone();
                if let Err(e) = tokio::task::spawn_blocking(move || pass.reconcile_once()).await {
                    tracing::error!(error = %e, "reconciler pass panicked");
                }
                tokio::select! {
                    _ = wakes.changed() => {}
                    () = tokio::time::sleep(this.config.interval) => {}
                }
            }
        })
    }

    /// Runs `pass` on the blocking pool whenever the store commits a record of one of the
    /// `kinds`, and at least every `config.interval`, until the reconciler stops.
    fn spawn_watched(&self, what: &'static str, kinds: &[&'static str], pass: fn(&Self)) {
        let this = self.clone();
        let changed = self.ec2.store().watch(kinds);
        tokio::spawn(async move {
            while !this.stop.load(Ordering::Relaxed) {
                let run = this.clone();
                if let Err(e) = tokio::task::spawn_blocking(move || pass(&run)).await {
                    tracing::error!(error = %e, "{what} pass panicked");
                }
                tokio::select! {
                    () = changed.notified() => {}
                    () = tokio::time::sleep(this.config.interval) => {}
                }
            }
        });
    }

    /// The host this reconciler drives.
    #[must_use]
    pub fn host_id(&self) -> &str {
        &self.config.host_id
    }

    /// Stops the loop after its current pass.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.ec2.compute().wake();
    }

    /// One pass over every account's volumes, snapshots and instances, then orphans.
    pub fn reconcile_once(&self) {
        let store = self.ec2.store();
        let volumes = store
            .scan_all(|a, v: &Volume| Some((a.to_owned(), v.clone())))
            .unwrap_or_default();
        for (account, v) in volumes {
            let done = if self.config.primary {
                self.volume(&account, &v)
            } else {
                self.attachment(&account, &v)
            };
            if let Err(e) = done {
                tracing::warn!(volume = %v.id, error = %e, "volume reconcile failed");
            }
        }
        let snapshots = if self.config.primary {
            store
                .scan_all(|a, s: &Snapshot| Some((a.to_owned(), s.clone())))
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        for (account, s) in snapshots {
            if let Err(e) = self.snapshot(&account, &s) {
                tracing::warn!(snapshot = %s.id, error = %e, "snapshot reconcile failed");
            }
        }
        let instances = store
            .scan_all(|a, i: &Instance| {
                (i.host == self.config.host_id).then(|| (a.to_owned(), i.clone()))
            })
            .unwrap_or_default();
        let attached = self.attached_enis().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "network fabric inventory failed");
            std::collections::BTreeSet::new()
        });
        for (account, i) in &instances {
            if let Err(e) = self.instance(account, i, &attached) {
                tracing::warn!(instance = %i.id, error = %e, "instance reconcile failed");
            }
        }
        if let Err(e) = self.orphans() {
            tracing::warn!(error = %e, "orphan sweep failed");
        }
        if let Err(e) = self.network_orphans() {
            tracing::warn!(error = %e, "network orphan sweep failed");
        }
        if self.config.primary
            && let Err(e) = self.disk_orphans()
        {
            tracing::warn!(error = %e, "disk orphan sweep failed");
        }
    }

    /// Updates one record in its own transaction, re-reading it first.
    fn update<T: crate::ec2::Record>(
        &self,
        account: &str,
        id: &str,
        f: impl FnOnce(&mut T),
    ) -> Result<(), WorldError> {
        self.ec2.store().transaction(|t| {
            if let Some(mut r) = t.get::<T>(account, id) {
                f(&mut r);
                t.put(account, r);
            }
            Ok(())
        })?;
        Ok(())
    }

    fn ensure_volume(&self, v: &Volume) -> Result<(), WorldError> {
        if self.blocks.info(&v.id)?.is_some() {
            return Ok(());
        }
        let size = u64::from(v.size_gib) * GIB;
        match &v.base {
            Some(base) => BlockStore::clone_from(self.blocks.as_ref(), &v.id, base, Some(size))?,
            None => self.blocks.create(&v.id, size)?,
        };
        Ok(())
    }

    fn volume(&self, account: &str, v: &Volume) -> Result<(), WorldError> {
        match v.state.as_str() {
            "creating" => {
                self.ensure_volume(v)?;
                self.update::<Volume>(account, &v.id, |v| {
                    v.provisioned = true;
                    if v.state == "creating" {
                        v.state = "available".into();
                    }
                })
            }
            "deleting" => {
                match self.blocks.delete(&v.id) {
                    Ok(()) | Err(BlockStoreError::NotFound(_)) => {}
                    Err(BlockStoreError::InUse(_)) => {
                        // Snapshots cloned from it keep it; AWS deletes the volume anyway
                        // (snapshots are independent there). Keep the block device, drop the record.
                        tracing::info!(volume = %v.id, "volume has clones; keeping its blocks");
                    }
                    Err(e) => return Err(e.into()),
                }
                self.ec2.store().transaction(|t| {
                    t.delete::<Volume>(account, &v.id);
                    Ok(())
                })?;
                Ok(())
            }
            _ => {
                if !v.provisioned && v.attachment.is_none() {
                    self.ensure_volume(v)?;
                    self.update::<Volume>(account, &v.id, |v| v.provisioned = true)?;
                }
                // Attachment changes first: a detach just done lets a pending resize run now.
                self.attachment(account, v)?;
                let Some(v) = self.ec2.store().get::<Volume>(account, &v.id)? else {
                    return Ok(());
                };
                let v = &v;
                // A volume a running guest holds cannot grow under it (no online resize
                // through the Hypervisor seam yet): the modification stays `modifying` and
                // completes on the first pass after the volume is detached or the guest stops.
                let resized = match &v.modification {
                    Some(m) if m.state == "modifying" && v.provisioned => {
                        match self.blocks.resize(&v.id, u64::from(m.target_size) * GIB) {
                            Ok(_) => true,
                            Err(BlockStoreError::InUse(_)) => false,
                            Err(e) => return Err(e.into()),
                        }
                    }
                    Some(m) => m.state == "modifying",
                    None => false,
                };
                if resized {
                    self.update::<Volume>(account, &v.id, |v| {
                        if let Some(m) = v.modification.as_mut() {
                            v.size_gib = m.target_size;
                            v.volume_type = m.target_type.clone();
                            v.iops = m.target_iops;
                            v.throughput = m.target_throughput;
                            m.state = "completed".into();
                            m.progress = 100;
                            m.end_time_ms = Some(now_ms());
                        }
                    })?;
                }
                Ok(())
            }
        }
    }

    /// Hot-plug or unplug a volume of an instance whose domain exists.
    fn attachment(&self, account: &str, v: &Volume) -> Result<(), WorldError> {
        let Some(a) = &v.attachment else {
            return Ok(());
        };
        let Some(i) = self.ec2.store().get::<Instance>(account, &a.instance_id)? else {
            return Ok(());
        };
        if i.host != self.config.host_id {
            return Ok(());
        }
        let domain = self.hypervisor.state(&i.id)?;
        match a.state.as_str() {
            "attaching" => {
                self.ensure_volume(v)?;
                if domain.is_some() {
                    let disk = DiskSpec {
                        source: self.blocks.source(&v.id)?,
                        target: guest_target(&a.device),
                        read_only: false,
                        media: DiskMedia::Disk,
                    };
                    self.hypervisor.attach_disk(&i.id, &disk)?;
                }
                self.set_attach_state(account, &v.id, &i.id, Some("attached"))
            }
            "detaching" => {
                if domain.is_some() {
                    match self.hypervisor.detach_disk(&i.id, &guest_target(&a.device)) {
                        Ok(()) | Err(HypervisorError::NoDomain(_)) => {}
                        Err(e) if a.force_detach => {
                            tracing::warn!(volume = %v.id, error = %e, "forced detach: ignoring hypervisor error");
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                self.set_attach_state(account, &v.id, &i.id, None)
            }
            _ => Ok(()),
        }
    }

    fn set_attach_state(
        &self,
        account: &str,
        volume_id: &str,
        instance_id: &str,
        state: Option<&str>,
    ) -> Result<(), WorldError> {
        self.ec2.store().transaction(|t| {
            if let Some(mut v) = t.get::<Volume>(account, volume_id) {
                v.provisioned = true;
                match state {
                    // Only from `attaching`: a DetachVolume that arrived while the hot-plug
                    // ran has set `detaching`, which must not be overwritten (the volume
                    // would stay attached for good).
                    Some(s) => {
                        if let Some(a) = v.attachment.as_mut()
                            && a.state == "attaching"
                        {
                            a.state = s.into();
                        }
                    }
                    None => {
                        v.attachment = None;
                        v.state = "available".into();
                    }
                }
                t.put(account, v);
            }
            if let Some(mut i) = t.get::<Instance>(account, instance_id) {
                match state {
                    Some(s) => {
                        for b in &mut i.block_devices {
                            if b.volume_id == volume_id && b.status == "attaching" {
                                b.status = s.into();
                            }
                        }
                    }
                    None => i.block_devices.retain(|b| b.volume_id != volume_id),
                }
                t.put(account, i);
            }
            Ok(())
        })?;
        Ok(())
    }

    fn snapshot(&self, account: &str, s: &Snapshot) -> Result<(), WorldError> {
        match s.state.as_str() {
            "pending" => {
                if self.blocks.info(&s.id)?.is_none() {
                    match &s.copy_of {
                        Some(src) => {
                            BlockStore::clone_from(self.blocks.as_ref(), &s.id, src, None)?;
                        }
                        None => {
                            match self.blocks.snapshot(&s.volume_id, &s.id) {
                                // Attached to a running guest: AWS snapshots in-use volumes
                                // too (crash-consistent).
                                Err(BlockStoreError::InUse(_)) => {
                                    self.blocks.snapshot_live(&s.volume_id, &s.id)?
                                }
                                other => other?,
                            };
                        }
                    }
                }
                self.update::<Snapshot>(account, &s.id, |s| s.state = "completed".into())
            }
            "deleting" => {
                match self.blocks.delete(&s.id) {
                    Ok(()) | Err(BlockStoreError::NotFound(_)) => {}
                    Err(BlockStoreError::InUse(_)) => {
                        // Volumes cloned from it still need its blocks: keep them until those
                        // volumes go, but the snapshot is gone for the API.
                        tracing::info!(snapshot = %s.id, "snapshot has clones; blocks kept");
                    }
                    Err(e) => return Err(e.into()),
                }
                self.ec2.store().transaction(|t| {
                    t.delete::<Snapshot>(account, &s.id);
                    Ok(())
                })?;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The domain an instance runs as.
    fn domain_spec(&self, account: &str, i: &Instance) -> Result<DomainSpec, WorldError> {
        let (vcpus, memory_mib) = i.type_info().map_or((1, 512), |t| (t.vcpus, t.memory_mib));
        let mut disks = Vec::new();
        for b in &i.block_devices {
            if b.status == "detaching" {
                continue;
            }
            disks.push(DiskSpec {
                source: self.blocks.source(&b.volume_id)?,
                target: guest_target(&b.device_name),
                read_only: false,
                media: DiskMedia::Disk,
            });
        }
        let mut nics = Vec::new();
        for e in &i.network_interfaces {
            if let Some(eni) = self.ec2.store().get::<NetworkInterface>(account, e)? {
                nics.push(NicSpec {
                    tap: eni.tap_name(),
                    mac: eni.mac_address.clone(),
                });
            }
        }
        let mut boot = Boot::Disk;
        if let Some(iso) = &i.cdrom {
            disks.push(DiskSpec {
                source: self.blocks.source(iso)?,
                target: "hdc".into(),
                read_only: true,
                media: DiskMedia::Cdrom,
            });
            boot = Boot::Cdrom;
        }
        Ok(DomainSpec {
            name: i.id.clone(),
            vcpus,
            memory_mib,
            boot: i.kernel_boot.as_ref().map_or(boot, |k| Boot::Kernel {
                kernel: k.kernel.clone().into(),
                initrd: k.initrd.clone().map(Into::into),
                cmdline: k.cmdline.clone(),
            }),
            disks,
            nics,
        })
    }

    fn ensure_disks(&self, account: &str, i: &Instance) -> Result<(), WorldError> {
        for b in &i.block_devices {
            if let Some(v) = self.ec2.store().get::<Volume>(account, &b.volume_id)?
                && !v.provisioned
            {
                self.ensure_volume(&v)?;
                self.update::<Volume>(account, &v.id, |v| v.provisioned = true)?;
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_lines)]
    fn instance(
        &self,
        account: &str,
        i: &Instance,
        attached: &std::collections::BTreeSet<String>,
    ) -> Result<(), WorldError> {
        let hv = &self.hypervisor;
        let id = i.id.as_str();
        match i.desired {
            Desired::Terminated => {
                if i.state == InstanceState::Terminated {
                    if i.terminated_ms
                        .is_some_and(|t| now_ms() - t > TERMINATED_VISIBLE_MS)
                    {
                        self.ec2.store().transaction(|t| {
                            t.delete::<Instance>(account, id);
                            Ok(())
                        })?;
                    }
                    return Ok(());
                }
                hv.destroy(id).or_else(ignore_missing)?;
                hv.undefine(id).or_else(ignore_missing)?;
                // The ENIs are deleted below: take them out of the fabric first.
                self.unplug(i)?;
                // Volumes: delete those marked DeleteOnTermination, detach the rest.
                let mut delete = Vec::new();
                for b in &i.block_devices {
                    if b.delete_on_termination {
                        match self.blocks.delete(&b.volume_id) {
                            Ok(()) | Err(BlockStoreError::NotFound(_)) => {}
                            Err(BlockStoreError::InUse(_)) => {
                                tracing::info!(volume = %b.volume_id, "volume has clones; blocks kept");
                            }
                            Err(e) => return Err(e.into()),
                        }
                        delete.push(b.volume_id.clone());
                    }
                }
                let i2 = i.clone();
                self.ec2.store().transaction(|t| {
                    for b in &i2.block_devices {
                        if delete.contains(&b.volume_id) {
                            t.delete::<Volume>(account, &b.volume_id);
                        } else if let Some(mut v) = t.get::<Volume>(account, &b.volume_id) {
                            v.attachment = None;
                            v.state = "available".into();
                            t.put(account, v);
                        }
                    }
                    for e in &i2.network_interfaces {
                        delete_eni(t, account, e);
                    }
                    if let Some(mut r) = t.get::<Instance>(account, &i2.id) {
                        r.state = InstanceState::Terminated;
                        r.terminated_ms = Some(now_ms());
                        r.block_devices.clear();
                        r.reboot_requested = false;
                        r.image_reboot = None;
                        t.put(account, r);
                    }
                    Ok(())
                })?;
                Ok(())
            }
            Desired::Stopped => {
                let state = hv.state(id)?;
                match state {
                    Some(
                        DomainState::Running | DomainState::Paused | DomainState::ShuttingDown,
                    ) => {
                        let now = now_ms();
                        let deadline = i.shutdown_requested_ms.map(|s| {
                            s + i64::try_from(self.config.stop_timeout.as_millis())
                                .unwrap_or(i64::MAX)
                        });
                        if i.force_stop || deadline.is_some_and(|d| now >= d) {
                            hv.destroy(id)?;
                            self.finish_stop(account, i)
                        } else if i.shutdown_requested_ms.is_none() {
                            hv.shutdown(id)?;
                            self.update::<Instance>(account, id, |r| {
                                r.shutdown_requested_ms = Some(now);
                            })
                        } else {
                            Ok(())
                        }
                    }
                    _ => self.finish_stop(account, i),
                }
            }
            Desired::Running => {
                self.ensure_disks(account, i)?;
                if let Some(r) = &i.image_reboot {
                    return self.image_reboot(account, i, r);
                }
                let mut state = hv.state(id)?;
                if state.is_none() {
                    let spec = self.domain_spec(account, i)?;
                    self.plug(account, i)?;
                    hv.define(&spec)?;
                    state = hv.state(id)?;
                }
                match state {
                    Some(DomainState::Running) => {
                        if !self.plugged(i, attached) {
                            self.plug(account, i)?;
                        }
                        if i.reboot_requested {
                            hv.reboot(id)?;
                            return self
                                .update::<Instance>(account, id, |r| r.reboot_requested = false);
                        }
                        if i.state == InstanceState::Pending {
                            return self.update::<Instance>(account, id, |r| {
                                if r.state == InstanceState::Pending {
                                    r.state = InstanceState::Running;
                                    r.state_reason = None;
                                    r.state_transition_reason = String::new();
                                }
                            });
                        }
                        Ok(())
                    }
                    Some(DomainState::ShuttingDown | DomainState::Paused) => Ok(()),
                    Some(DomainState::ShutOff | DomainState::Crashed) | None => {
                        if i.state == InstanceState::Pending {
                            self.plug(account, i)?;
                            hv.start(id)?;
                            // The hypervisor made the tap anew: join it to the VPC.
                            self.plug(account, i)?;
                            if hv.state(id)? == Some(DomainState::Running) {
                                return self.update::<Instance>(account, id, |r| {
                                    if r.state == InstanceState::Pending {
                                        r.state = InstanceState::Running;
                                        r.state_reason = None;
                                    }
                                });
                            }
                            return Ok(());
                        }
                        // It was running and died without being asked to.
                        let crashed = state == Some(DomainState::Crashed);
                        let (code, text) = if crashed {
                            ("Server.InternalError", "Internal error on launch")
                        } else {
                            (
                                "Client.InstanceInitiatedShutdown",
                                "Instance initiated shutdown",
                            )
                        };
                        tracing::info!(instance = id, crashed, "domain stopped on its own");
                        if crashed {
                            hv.destroy(id).or_else(ignore_missing)?;
                        }
                        let terminate = !crashed && i.shutdown_behavior == "terminate";
                        self.update::<Instance>(account, id, |r| {
                            r.state_reason = Some(StateReason::new(code, text));
                            r.state_transition_reason = code.to_string();
                            if terminate {
                                r.state = InstanceState::ShuttingDown;
                                r.desired = Desired::Terminated;
                            } else {
                                r.state = InstanceState::Stopped;
                                r.desired = Desired::Stopped;
                            }
                        })
                    }
                }
            }
        }
    }

    fn finish_stop(&self, account: &str, i: &Instance) -> Result<(), WorldError> {
        // A stopped instance keeps its ENIs (and the fabric its plug); only deletion unplugs.
        self.update::<Instance>(account, &i.id, |r| {
            if r.desired == Desired::Stopped {
                r.state = InstanceState::Stopped;
                r.shutdown_requested_ms = None;
                r.force_stop = false;
                r.reboot_requested = false;
                // A stop overtook a CreateImage reboot: the builder images the stopped disk.
                r.image_reboot = None;
            }
        })
    }

    /// One step of a `CreateImage` reboot (see [`ImageReboot`]): shut the guest down (ACPI,
    /// forced after the stop timeout), then publish the root volume's bytes under the image's
    /// name, then start the guest again and drop the mark — each step idempotent, so a crash
    /// anywhere resumes. The instance's API state stays `running`.
    fn image_reboot(&self, account: &str, i: &Instance, r: &ImageReboot) -> Result<(), WorldError> {
        let hv = &self.hypervisor;
        let id = i.id.as_str();
        match hv.state(id)? {
            Some(DomainState::Running | DomainState::Paused | DomainState::ShuttingDown) => {
                let now = now_ms();
                match r.shutdown_sent_ms {
                    None => {
                        hv.shutdown(id)?;
                        self.update::<Instance>(account, id, |i| {
                            if let Some(r) = &mut i.image_reboot {
                                r.shutdown_sent_ms = Some(now);
                            }
                        })
                    }
                    Some(sent)
                        if now - sent
                            >= i64::try_from(self.config.stop_timeout.as_millis())
                                .unwrap_or(i64::MAX) =>
                    {
                        tracing::info!(
                            instance = id,
                            "guest ignored ACPI; powering off to image it"
                        );
                        hv.destroy(id)?;
                        Ok(())
                    }
                    Some(_) => Ok(()),
                }
            }
            state => {
                if self.blocks.info(&r.image_id)?.is_none() {
                    self.blocks.snapshot(&r.volume_id, &r.image_id)?;
                    tracing::info!(instance = id, image = %r.image_id, "root disk imaged with the guest down");
                }
                if state.is_none() {
                    let spec = self.domain_spec(account, i)?;
                    hv.define(&spec)?;
                }
                self.plug(account, i)?;
                hv.start(id)?;
                // The hypervisor made the tap anew: join it to the VPC.
                self.plug(account, i)?;
                let image = r.image_id.clone();
                self.update::<Instance>(account, id, |i| {
                    if i.image_reboot.as_ref().is_some_and(|r| r.image_id == image) {
                        i.image_reboot = None;
                    }
                })?;
                self.ec2.compute().wake_images();
                Ok(())
            }
        }
    }

    /// Domains named `i-…` that no record of this host owns: destroyed and undefined (or
    /// only logged, per `destroy_orphans`).
    fn orphans(&self) -> Result<(), WorldError> {
        let known: std::collections::BTreeSet<String> = self
            .ec2
            .store()
            .scan_all(|_, i: &Instance| {
                (i.state != InstanceState::Terminated).then(|| i.id.clone())
            })?
            .into_iter()
            .collect();
        for name in self.hypervisor.list()? {
            if !name.starts_with("i-") || known.contains(&name) {
                continue;
            }
            if self.config.destroy_orphans {
                tracing::warn!(domain = %name, "destroying a domain with no instance record");
                self.hypervisor.destroy(&name).or_else(ignore_missing)?;
                self.hypervisor.undefine(&name).or_else(ignore_missing)?;
            } else {
                tracing::warn!(domain = %name, "domain with no instance record left alone");
            }
        }
        Ok(())
    }
}

fn ignore_missing(e: HypervisorError) -> Result<(), HypervisorError> {
    match e {
        HypervisorError::NoDomain(_) => Ok(()),
        e => Err(e),
    }
}

mod disk_orphans;
mod load_balancer;
mod network;
mod remote;
mod routing;
mod security;
#[cfg(test)]
mod tests;
