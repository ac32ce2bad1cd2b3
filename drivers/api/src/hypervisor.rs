//! `Hypervisor`: where instances run as guests (libvirt with KVM, QEMU TCG or Xen).
//!
//! The core keeps the *intent* (an instance record: should it run, with which disks and NICs)
//! and asks this trait for the *observed* state; the compute reconciler converges the two.
//! Every call is idempotent where the world allows it (defining a domain that exists with the
//! same spec succeeds, destroying a stopped domain succeeds), so a reconciler interrupted by a
//! crash simply runs again.
//!
//! All methods block (libvirt's API is synchronous): callers run them off the async runtime's
//! worker threads (`spawn_blocking` or a dedicated pool).
//!
//! Architecture invariant: domains Kumo creates are named after the instance id (`i-…`), so
//! [`Hypervisor::list`] tells the reconciler which domains are Kumo's and which have no record.

use std::path::PathBuf;

/// How the guest boots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Boot {
    /// From its first disk (BIOS), as a full disk image does.
    Disk,
    /// From the CD-ROM (an installer ISO), then from the first disk: an installer writes the
    /// disk and the guest boots from it once the ISO no longer boots (or offers a local boot).
    Cdrom,
    /// Direct kernel boot (a kernel and initramfs shipped beside a small root image).
    Kernel {
        /// Kernel image on the host.
        kernel: PathBuf,
        /// Initramfs on the host.
        initrd: Option<PathBuf>,
        /// Kernel command line.
        cmdline: String,
    },
}

/// A disk attached to a guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskSpec {
    /// Where the block store put it (a qcow2 file or an RBD image).
    pub source: DiskSource,
    /// Guest device name (`vda`, `vdb`, …).
    pub target: String,
    /// Read-only (an ISO).
    pub read_only: bool,
    /// What the guest sees: a disk or a CD-ROM drive.
    pub media: DiskMedia,
}

/// The kind of drive a disk appears as inside the guest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DiskMedia {
    /// A paravirtual disk (`virtio-blk`, Xen's `xvd`): volumes and root disks.
    #[default]
    Disk,
    /// A read-only CD-ROM drive on the machine's emulated IDE/SATA bus, as BIOSes boot ISOs
    /// from (El Torito). The hypervisor names its device; `DiskSpec::target` is ignored.
    Cdrom,
}

/// The backing of a disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskSource {
    /// A local file and its format (`qcow2`, `raw`).
    File {
        /// Path on the host.
        path: PathBuf,
        /// `qcow2` or `raw`.
        format: String,
    },
    /// An RBD image reached through librbd (QEMU's `rbd` driver; libvirt's network disk).
    Rbd {
        /// `pool/image` or `pool/namespace/image`.
        name: String,
        /// The cluster's monitors as `host:port` (legacy v1 ports, which every librbd
        /// reads as such); empty means whatever QEMU's default `ceph.conf` says.
        hosts: Vec<String>,
        /// The cephx identity; `None` when the cluster needs none.
        auth: Option<RbdAuth>,
    },
}

/// A cephx identity a hypervisor hands to librbd (libvirt keeps the key in a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RbdAuth {
    /// The user without `client.` (`admin`).
    pub username: String,
    /// Its key.
    pub key: CephxKey,
}

/// A cephx key (base64, as keyrings hold it); `Debug` never shows it, so specs can be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct CephxKey(String);

impl CephxKey {
    /// Wraps a base64 key.
    pub fn new(base64: impl Into<String>) -> Self {
        Self(base64.into())
    }

    /// The key itself, for the one place that hands it to libvirt or QEMU.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for CephxKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CephxKey(<redacted>)")
    }
}

/// A network interface: the guest side of an ENI. The hypervisor creates the tap named
/// `tap`; the network fabric plumbs it into the VPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicSpec {
    /// Host-side tap device name (at most 15 bytes).
    pub tap: String,
    /// The ENI's MAC address (`02:…`).
    pub mac: String,
}

/// Everything needed to define a guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainSpec {
    /// Domain name: the instance id.
    pub name: String,
    /// Virtual CPUs.
    pub vcpus: u32,
    /// Memory in MiB.
    pub memory_mib: u64,
    /// Boot method.
    pub boot: Boot,
    /// Disks, root first.
    pub disks: Vec<DiskSpec>,
    /// NICs, primary first.
    pub nics: Vec<NicSpec>,
}

/// A guest's observed state, as libvirt reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainState {
    /// Running (or blocked waiting for I/O).
    Running,
    /// Paused by the hypervisor.
    Paused,
    /// Shutting down (ACPI requested).
    ShuttingDown,
    /// Defined but not running.
    ShutOff,
    /// The guest crashed.
    Crashed,
}

/// CPU and memory use of a guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DomainStats {
    /// CPU time used, nanoseconds.
    pub cpu_time_ns: u64,
    /// Memory currently assigned, KiB.
    pub memory_kib: u64,
}

/// A host's capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostInfo {
    /// Logical CPUs.
    pub vcpus: u32,
    /// Memory, MiB.
    pub memory_mib: u64,
}

/// Lifecycle changes the hypervisor reports (libvirt domain events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainEvent {
    /// Domain name (instance id).
    pub name: String,
    /// The state after the change.
    pub state: DomainState,
    /// Why, in libvirt's words (`shutdown`, `crashed`, `destroyed`, …).
    pub reason: String,
}

/// What went wrong talking to the hypervisor.
#[derive(Debug, thiserror::Error)]
pub enum HypervisorError {
    /// No domain of this name.
    #[error("no domain named {0}")]
    NoDomain(String),
    /// The hypervisor refused or failed the call.
    #[error("hypervisor: {0}")]
    Failed(String),
    /// The hypervisor is unreachable.
    #[error("hypervisor unavailable: {0}")]
    Unavailable(String),
}

/// A hypervisor host (one libvirt connection).
pub trait Hypervisor: Send + Sync + 'static {
    /// The host's capacity.
    fn host_info(&self) -> Result<HostInfo, HypervisorError>;
    /// Defines (or redefines) a persistent domain; does not start it.
    fn define(&self, spec: &DomainSpec) -> Result<(), HypervisorError>;
    /// Starts a defined domain; succeeds if it runs already.
    fn start(&self, name: &str) -> Result<(), HypervisorError>;
    /// Asks the guest to power off (ACPI); returns at once.
    fn shutdown(&self, name: &str) -> Result<(), HypervisorError>;
    /// Powers the guest off at once; succeeds if it is off already.
    fn destroy(&self, name: &str) -> Result<(), HypervisorError>;
    /// Asks the guest to reboot (ACPI); returns at once. A guest that ignores the request keeps
    /// running: the caller's policy falls back to [`Hypervisor::reset`] after a timeout (EC2's
    /// RebootInstances hard-reboots after a few minutes).
    fn reboot(&self, name: &str) -> Result<(), HypervisorError>;
    /// Hard reset, without asking the guest (the power-cycle fallback of a reboot).
    ///
    /// The default powers the guest off and starts it again; backends with a real reset
    /// (libvirt's `virDomainReset`) override it.
    fn reset(&self, name: &str) -> Result<(), HypervisorError> {
        self.destroy(name)?;
        self.start(name)
    }
    /// Removes the definition (the domain must be off); succeeds if it does not exist.
    fn undefine(&self, name: &str) -> Result<(), HypervisorError>;
    /// The domain's state, `None` if it does not exist.
    fn state(&self, name: &str) -> Result<Option<DomainState>, HypervisorError>;
    /// Names of every domain on the host.
    fn list(&self) -> Result<Vec<String>, HypervisorError>;
    /// CPU and memory statistics.
    fn stats(&self, name: &str) -> Result<DomainStats, HypervisorError>;
    /// Hot-plugs a disk into a running (or defined) domain, persistently.
    fn attach_disk(&self, name: &str, disk: &DiskSpec) -> Result<(), HypervisorError>;
    /// Hot-unplugs the disk with guest device `target`; `Ok` only once the disk has left the
    /// running domain (the guest released it, so its image is free), an error while the
    /// unplug is still pending (call again: the request is repeated).
    fn detach_disk(&self, name: &str, target: &str) -> Result<(), HypervisorError>;
    /// The latest `max` bytes the guest wrote to its serial console, kept across reboots.
    fn console_output(&self, name: &str, max: usize) -> Result<Vec<u8>, HypervisorError>;
    /// Waits up to `timeout` for the next lifecycle event.
    fn next_event(&self, timeout: std::time::Duration) -> Option<DomainEvent>;
}
