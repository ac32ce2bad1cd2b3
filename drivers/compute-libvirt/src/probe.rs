//! Choosing the accelerator by booting a guest, never by looking at `/dev/kvm`.
//!
//! On some hosts `/dev/kvm` exists, libvirt advertises `kvm`, and a KVM guest reports `running`
//! while it hangs without printing a byte. The only trustworthy evidence is a guest that booted:
//! [`probe_accelerator`] boots the tiny image under KVM and waits, within a deadline, for its init
//! to print its first marker on the serial console. Anything else means TCG.

use std::path::Path;
use std::time::{Duration, Instant};

use kumo_driver_api::{Boot, DomainSpec, Hypervisor, HypervisorError};

use crate::config::{Accelerator, HypervisorKind, LibvirtConfig};
use crate::driver::LibvirtHypervisor;

/// The first line the tiny image's init prints (see `image/init.sh`).
pub const FIRST_MARKER: &str = "KUMO-INIT";

/// Boots the tiny image (`kernel`, `initrd`) with KVM through `base.uri` and returns
/// [`Accelerator::Kvm`] if its init printed [`FIRST_MARKER`] within `deadline`, else
/// [`Accelerator::Tcg`]. The probe domain (`kumo-probe-…`) and its console log are removed.
/// Xen URIs need no accelerator: they return `base.accelerator` unchanged.
/// Errors only when libvirt itself is unreachable.
pub fn probe_accelerator(
    base: &LibvirtConfig,
    kernel: &Path,
    initrd: &Path,
    deadline: Duration,
) -> Result<Accelerator, HypervisorError> {
    if base.kind() == HypervisorKind::Xen {
        return Ok(base.accelerator);
    }
    let cfg = LibvirtConfig {
        accelerator: Accelerator::Kvm,
        ..base.clone()
    };
    let hv = LibvirtHypervisor::connect(cfg)?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!("kumo-probe-{:x}{:08x}", std::process::id(), nanos);
    let spec = DomainSpec {
        name: name.clone(),
        vcpus: 1,
        memory_mib: 128,
        boot: Boot::Kernel {
            kernel: kernel.to_path_buf(),
            initrd: Some(initrd.to_path_buf()),
            cmdline: "console=ttyS0 quiet panic=-1".to_string(),
        },
        disks: vec![],
        nics: vec![],
    };
    let booted =
        hv.define(&spec).and_then(|()| hv.start(&name)).is_ok() && saw_marker(&hv, &name, deadline);
    let _ = hv.destroy(&name);
    let _ = hv.undefine(&name);
    let _ = std::fs::remove_file(hv.config().console_log_path(&name));
    Ok(if booted {
        Accelerator::Kvm
    } else {
        Accelerator::Tcg
    })
}

fn saw_marker(hv: &LibvirtHypervisor, name: &str, deadline: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if let Ok(out) = hv.console_output(name, 64 * 1024)
            && String::from_utf8_lossy(&out).contains(FIRST_MARKER)
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}
