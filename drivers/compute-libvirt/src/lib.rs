//! Kumo's [`Hypervisor`](kumo_driver_api::Hypervisor) driver over libvirt.
//!
//! One [`LibvirtHypervisor`] wraps one libvirt connection (`qemu:///system` with KVM or TCG, or
//! `xen:///system`). The domain XML is a pure function ([`xml::domain_xml`]) so every device and
//! tuning choice is unit-tested without libvirt; lifecycle events come from libvirt's default
//! event loop on its own thread ([`events`]); console output is the tail of the virtlogd log file
//! ([`console`]), which survives reboots.
//!
//! The accelerator is configuration, not discovery: [`probe_accelerator`] is the only way to
//! pick KVM automatically, and it rests on a guest that really booted.
//!
//! The guest image the integration tests and the single-machine setup boot is built by
//! `image/build-image.sh`; libvirt itself is installed and started by `setup-libvirt.sh`.

mod ceph_secret;
pub mod config;
pub mod console;
mod driver;
mod error;
pub mod events;
mod probe;
pub mod xml;

pub use config::{Accelerator, HypervisorKind, LibvirtConfig};
pub use driver::LibvirtHypervisor;
pub use probe::{FIRST_MARKER, probe_accelerator};
