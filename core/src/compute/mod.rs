//! Compute: where instances run.
//!
//! - [`scheduler`]: the pure placement function.
//! - [`HostRegistry`]: the compute hosts the control plane may place instances on, shared by
//!   the API (capacity checks at `RunInstances`) and the reconciler (which registers the host
//!   it drives). An endpoint with no registered host refuses launches with
//!   `InsufficientInstanceCapacity` instead of pretending.
//! - [`reconciler`]: converges the recorded intent (instances, volumes, snapshots) with the
//!   world through the `Hypervisor`, `BlockStore` and `NetworkFabric` seams.
//! - [`metadata`]: the instance metadata service's lookup over the records.
//! - [`image_builder`]: turns S3 objects and root disks into `BlockStore` images (AMIs).
//! - [`hosts`]: the hosts an operator registered (`kumo host add`), persisted.

pub mod hosts;
pub mod image_builder;
pub mod metadata;
pub mod reconciler;
pub mod scheduler;

use std::sync::{Arc, RwLock};

use kumo_driver_api::{BlockStore, Hypervisor};
use tokio::sync::{Notify, watch};

pub use reconciler::{Compute, ComputeConfig};

/// A compute host as the control plane knows it.
#[derive(Clone)]
pub struct Host {
    /// Host id (stored on each instance placed there).
    pub id: String,
    /// Its availability zone.
    pub zone: String,
    /// vCPUs offered to guests.
    pub vcpus: u32,
    /// Memory offered to guests, MiB.
    pub memory_mib: u64,
    /// The underlay address of its network fabric (hosts sharing a fabric share it; `None`:
    /// a fabric without tunnels).
    pub underlay: Option<std::net::Ipv4Addr>,
    /// Whether it is the installation's primary host (whose fabric also holds the load
    /// balancers' nodes).
    pub primary: bool,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("id", &self.id)
            .field("zone", &self.zone)
            .finish_non_exhaustive()
    }
}

/// The registered hosts, the block store they share, and the reconciler's wake-up signal.
pub struct HostRegistry {
    hosts: RwLock<Vec<Host>>,
    blocks: RwLock<Option<Arc<dyn BlockStore>>>,
    hypervisor: RwLock<Option<Arc<dyn Hypervisor>>>,
    /// Each host's hypervisor, by host id (console output of the instances placed there).
    hypervisors: RwLock<std::collections::HashMap<String, Arc<dyn Hypervisor>>>,
    max_vcpus_per_account: RwLock<Option<u32>>,
    /// A counter every reconciler loop watches: each host's loop is woken (a `Notify` would
    /// wake only one of them).
    wake: watch::Sender<u64>,
    wake_images: Notify,
}

impl Default for HostRegistry {
    fn default() -> Self {
        Self {
            hosts: RwLock::default(),
            blocks: RwLock::default(),
            hypervisor: RwLock::default(),
            hypervisors: RwLock::default(),
            max_vcpus_per_account: RwLock::default(),
            wake: watch::Sender::new(0),
            wake_images: Notify::new(),
        }
    }
}

impl std::fmt::Debug for HostRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostRegistry")
            .field("hosts", &self.hosts())
            .finish_non_exhaustive()
    }
}

impl HostRegistry {
    /// Registers (or replaces) a host and the block store its disks live in.
    pub fn register(
        &self,
        host: Host,
        hypervisor: Arc<dyn Hypervisor>,
        blocks: Arc<dyn BlockStore>,
        max_vcpus_per_account: u32,
    ) {
        if let Ok(mut hs) = self.hypervisors.write() {
            hs.insert(host.id.clone(), hypervisor.clone());
        }
        if let Ok(mut h) = self.hypervisor.write()
            && h.is_none()
        {
            *h = Some(hypervisor);
        }
        if let Ok(mut m) = self.max_vcpus_per_account.write() {
            *m = Some(max_vcpus_per_account);
        }
        if let Ok(mut hosts) = self.hosts.write() {
            hosts.retain(|h| h.id != host.id);
            hosts.push(host);
        }
        if let Ok(mut b) = self.blocks.write() {
            *b = Some(blocks);
        }
    }

    /// Takes host `id` out of placement (its instances keep their records).
    pub fn unregister(&self, id: &str) {
        if let Ok(mut hosts) = self.hosts.write() {
            hosts.retain(|h| h.id != id);
        }
        if let Ok(mut hs) = self.hypervisors.write() {
            hs.remove(id);
        }
    }

    /// The hypervisor of host `id`, else the first registered one.
    #[must_use]
    pub fn hypervisor_of(&self, id: &str) -> Option<Arc<dyn Hypervisor>> {
        self.hypervisors
            .read()
            .ok()
            .and_then(|hs| hs.get(id).cloned())
            .or_else(|| self.hypervisor())
    }

    /// The registered hosts.
    #[must_use]
    pub fn hosts(&self) -> Vec<Host> {
        self.hosts.read().map(|h| h.clone()).unwrap_or_default()
    }

    /// The block store, once a host is registered.
    #[must_use]
    pub fn blocks(&self) -> Option<Arc<dyn BlockStore>> {
        self.blocks.read().ok().and_then(|b| b.clone())
    }

    /// The first registered host's hypervisor.
    #[must_use]
    pub fn hypervisor(&self) -> Option<Arc<dyn Hypervisor>> {
        self.hypervisor.read().ok().and_then(|b| b.clone())
    }

    /// The per-account vCPU limit (`InstanceLimitExceeded` beyond it).
    #[must_use]
    pub fn max_vcpus_per_account(&self) -> u32 {
        self.max_vcpus_per_account
            .read()
            .ok()
            .and_then(|m| *m)
            .unwrap_or(u32::MAX)
    }

    /// Wakes the reconcilers: an API call changed intent.
    pub fn wake(&self) {
        self.wake.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that sees every later [`HostRegistry::wake`] (one per reconciler loop).
    #[must_use]
    pub fn wakes(&self) -> watch::Receiver<u64> {
        self.wake.subscribe()
    }

    /// Wakes the image builder: an API call queued a build or dropped an image.
    pub fn wake_images(&self) {
        self.wake_images.notify_one();
    }

    /// Waits for [`HostRegistry::wake_images`].
    pub async fn images_woken(&self) {
        self.wake_images.notified().await;
    }
}
