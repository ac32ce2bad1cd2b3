//! Kumo's Ceph [`BlockStore`](kumo_driver_api::BlockStore): EBS volumes, snapshots, machine
//! images and instance root disks as RBD images in one pool (optionally one RADOS namespace
//! of it), driven by the `rbd` and `qemu-img` tools.
//!
//! Why processes and not a librbd binding: every call is a metadata operation or a bulk copy
//! that already takes milliseconds to minutes, a child process can be killed at a deadline
//! (a librbd call into a sick cluster cannot), and `qemu-img` is the one tool that reads the
//! images users bring (vetted exactly as the local store vets them). The hosts have no kernel
//! RBD; guests reach images through QEMU's librbd driver (`<disk type='network'>`), which is
//! what [`BlockStore::source`](kumo_driver_api::BlockStore::source) describes.
//!
//! The mapping of Kumo's flat namespace of names onto RBD:
//! - a volume or an image is the RBD image of that name;
//! - a clone is an RBD clone of the base's protected snapshot `kumo_base` (taken once, on
//!   the first clone: bases are images and snapshots, which Kumo never writes);
//! - a snapshot `snap-x` of `vol-a` is the protected RBD snapshot `vol-a@snap-x` plus the
//!   copy-on-write clone `snap-x` of it, so a snapshot has a name of its own, can be read and
//!   cloned like any image, and costs nothing until the volume changes. Deleting `vol-a`
//!   first flattens its snapshot clones (copying only what they still share with it), so
//!   snapshots outlive their volume as EBS snapshots do.
//!
//! Names are `[A-Za-z0-9-]`; RBD names the store makes for itself contain `_` (`kumo_base`,
//! `tmp_…`) so they never collide with Kumo's.

mod guest;
mod rbd;
mod store;

pub use store::{Config, RbdBlockStore};

#[cfg(test)]
mod tests;
