//! Compute: where instances run. Only the pure scheduler so far; the `Hypervisor` seam, the
//! libvirt driver and the reconciler come with the compute issue.

pub mod scheduler;
