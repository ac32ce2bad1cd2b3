//! Kumo's local [`BlockStore`](kumo_driver_api::BlockStore): EBS volumes, snapshots, machine
//! images and instance root disks as qcow2 files in one directory, driven by `qemu-img`.
//!
//! Why qcow2 files and `qemu-img`: QEMU opens them directly (no kernel block devices, which
//! these hosts lack: no nbd, no rbd module), clones are cheap copy-on-write overlays, and
//! `qemu-img` is the one tool that reads every image users bring without Kumo parsing
//! untrusted formats itself. Each call is a bounded child process (`tool`), vetted on
//! import (`probe`), and published atomically (`store`).
//!
//! Snapshots are full, flattened copies (`qemu-img convert`), so they outlive the volume and
//! its base and can be shipped elsewhere. They are consistent only if nothing writes the
//! volume meanwhile: QEMU's image lock makes [`BlockStore::snapshot`] answer `InUse` for a
//! volume a running guest holds; the compute layer then either takes a libvirt external
//! disk-only snapshot (the guest moves to an overlay and the volume file becomes a stable,
//! shareable backing file) or quiesces the guest and calls
//! [`LocalBlockStore::snapshot_quiesced`].
//!
//! [`BlockStore::snapshot`]: kumo_driver_api::BlockStore::snapshot

/// Image vetting and bounded tool runs, shared with the RBD store (same imports, same rules).
pub mod probe;
mod qcow2;
mod store;
/// Bounded child processes (`qemu-img`, and `rbd` in the RBD store).
pub mod tool;

pub use store::{LocalBlockStore, Options, valid_name};

#[cfg(test)]
mod tests;
