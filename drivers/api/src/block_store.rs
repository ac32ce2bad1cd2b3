//! `BlockStore`: where EBS volumes, instance root disks, snapshots and machine images live
//! (qcow2 files on the local disk; RBD images on Ceph).
//!
//! Names are chosen by the core (`vol-…`, `snap-…`, `ami-…`) and never reused. Root disks and
//! volumes created from an image or a snapshot are copy-on-write clones of it, so the
//! store refuses to delete a base that clones still use ([`BlockStoreError::InUse`]).
//!
//! Architecture invariant: a call that returned `Ok` left its result durable; a crash in the
//! middle leaves at most an unreferenced volume, which [`BlockStore::list`] reveals to the
//! reconciler.
//!
//! Names are `[A-Za-z0-9-]`, 1 to 64 characters, in every backend: creating under any other
//! name is [`BlockStoreError::InvalidArgument`]; `info` of one is `None` and `delete` of one
//! succeeds (it cannot exist). Sizes are bytes; a backend may round up to its sector size
//! (512 B) and reports the size it made.
//!
//! Calls block (they run `qemu-img` or librbd and may copy gigabytes): call them from
//! `spawn_blocking` or a dedicated pool, never inline on a runtime thread.
//!
//! Snapshot consistency: [`BlockStore::snapshot`] copies what the volume holds at the time of
//! the call. When a running guest has the volume attached, the compute layer must first make
//! the volume stable (a libvirt external disk-only snapshot so the guest writes to an overlay,
//! or pause + fsfreeze); a backend that cannot read a volume a guest holds open answers
//! [`BlockStoreError::InUse`] instead of copying torn data.

use std::path::Path;

use crate::hypervisor::DiskSource;

/// What the store knows about one block device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeInfo {
    /// The name the core chose.
    pub name: String,
    /// Virtual size in bytes.
    pub size: u64,
    /// The image or snapshot it was cloned from, if any.
    pub base: Option<String>,
}

/// What went wrong in the block store.
#[derive(Debug, thiserror::Error)]
pub enum BlockStoreError {
    /// No volume, snapshot or image of this name.
    #[error("no block device named {0}")]
    NotFound(String),
    /// The name is taken.
    #[error("a block device named {0} exists")]
    Exists(String),
    /// Clones still depend on it, or a running guest holds it open for writing.
    #[error("{0} is in use")]
    InUse(String),
    /// The request itself is wrong: an invalid name (`[A-Za-z0-9-]`, 1 to 64 characters) or a
    /// resize that would shrink. Added so bad input maps to a 400, not to `Io` (a 500).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The source is not a disk image this store can use.
    #[error("invalid image: {0}")]
    InvalidImage(String),
    /// I/O or a tool failed.
    #[error("block store: {0}")]
    Io(String),
}

/// A store of block devices.
pub trait BlockStore: Send + Sync + 'static {
    /// Imports an image from a local file (qcow2 or raw, detected) under `name`. The result is
    /// self-contained: an image that names a backing file or an external data file is refused
    /// as [`BlockStoreError::InvalidImage`] (it could make the host read any of its files).
    fn import_image(&self, name: &str, file: &Path) -> Result<VolumeInfo, BlockStoreError>;
    /// Creates an empty volume of `size` bytes.
    fn create(&self, name: &str, size: u64) -> Result<VolumeInfo, BlockStoreError>;
    /// Creates `name` as a copy-on-write clone of image or snapshot `base`, grown to `size`
    /// bytes when larger than the base.
    fn clone_from(
        &self,
        name: &str,
        base: &str,
        size: Option<u64>,
    ) -> Result<VolumeInfo, BlockStoreError>;
    /// Takes a consistent point-in-time snapshot `snapshot` of `volume`.
    fn snapshot(&self, volume: &str, snapshot: &str) -> Result<VolumeInfo, BlockStoreError>;
    /// Takes a snapshot of a volume a running guest is using, without pausing it: the copy
    /// is crash-consistent at best (as an EBS snapshot taken without freezing the file
    /// system). The default answers what [`BlockStore::snapshot`] answers.
    fn snapshot_live(&self, volume: &str, snapshot: &str) -> Result<VolumeInfo, BlockStoreError> {
        self.snapshot(volume, snapshot)
    }
    /// Grows a volume to `size` bytes (the same size is a no-op; smaller is
    /// [`BlockStoreError::InvalidArgument`]).
    fn resize(&self, name: &str, size: u64) -> Result<VolumeInfo, BlockStoreError>;
    /// Deletes a volume, snapshot or image; succeeds if it does not exist.
    fn delete(&self, name: &str) -> Result<(), BlockStoreError>;
    /// Describes one block device.
    fn info(&self, name: &str) -> Result<Option<VolumeInfo>, BlockStoreError>;
    /// Every block device in the store.
    fn list(&self) -> Result<Vec<VolumeInfo>, BlockStoreError>;
    /// How a hypervisor reaches it ([`BlockStoreError::NotFound`] when it does not exist).
    fn source(&self, name: &str) -> Result<DiskSource, BlockStoreError>;
}
