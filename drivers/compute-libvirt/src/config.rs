//! Driver configuration: which libvirt, which accelerator, where console logs go.
//!
//! The accelerator is explicit because on some hosts `/dev/kvm` exists, libvirt advertises
//! `kvm`, and a KVM guest reports `running` while it hangs without printing a byte. Only a guest
//! that really booted proves KVM works: see [`crate::probe_accelerator`].

use std::path::PathBuf;

/// How guest CPUs execute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accelerator {
    /// Hardware virtualisation (`<domain type='kvm'>`).
    Kvm,
    /// QEMU's software emulator (`<domain type='qemu'>`): slow but works everywhere.
    Tcg,
}

impl Accelerator {
    /// `kvm` or `tcg`, as in configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            Accelerator::Kvm => "kvm",
            Accelerator::Tcg => "tcg",
        }
    }
}

impl std::str::FromStr for Accelerator {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "kvm" => Ok(Accelerator::Kvm),
            "tcg" => Ok(Accelerator::Tcg),
            other => Err(format!(
                "unknown accelerator {other:?} (expected kvm or tcg)"
            )),
        }
    }
}

/// The libvirt hypervisor driver a connection URI selects; it decides the domain XML dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HypervisorKind {
    /// QEMU (`qemu:///system`, `qemu+ssh://…`), with KVM or TCG.
    Qemu,
    /// Xen through libxl (`xen:///system`). The XML is unit-tested only: no Xen host was at hand.
    Xen,
}

/// How to reach libvirt and shape the guests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibvirtConfig {
    /// Connection URI: `qemu:///system` (default) or `xen:///system`.
    pub uri: String,
    /// Accelerator for QEMU domains. Default TCG: the single-machine setup must boot everywhere.
    pub accelerator: Accelerator,
    /// Directory for serial console logs (`<name>.log`, appended across reboots). Written by
    /// virtlogd (root); the files belong to the caller, which deletes them with the instance.
    pub console_log_dir: PathBuf,
    /// TCG translation-block cache in MiB (QEMU's default, 1 GiB, costs ~45 MiB RSS per guest).
    pub tcg_tb_cache_mib: u32,
    /// Machine type for QEMU (`pc`: i440fx, whose ACPI PCI hot-plug needs no extra root ports).
    pub machine: String,
    /// The Kumo installation that owns the domains this driver defines. Written into each
    /// domain's `<description>`; when set, [`Hypervisor::list`](kumo_driver_api::Hypervisor::list)
    /// reports only domains carrying it, so a reconciler never mistakes another installation's
    /// guests on a shared libvirtd for its own orphans.
    pub owner: Option<String>,
}

impl Default for LibvirtConfig {
    fn default() -> Self {
        LibvirtConfig {
            uri: "qemu:///system".to_string(),
            accelerator: Accelerator::Tcg,
            console_log_dir: PathBuf::from("/var/log/kumo/console"),
            tcg_tb_cache_mib: 16,
            machine: "pc".to_string(),
            owner: None,
        }
    }
}

impl LibvirtConfig {
    /// Which XML dialect the URI calls for (`xen…` → Xen, anything else → QEMU).
    pub fn kind(&self) -> HypervisorKind {
        if self.uri.starts_with("xen") {
            HypervisorKind::Xen
        } else {
            HypervisorKind::Qemu
        }
    }

    /// The `<domain type='…'>` value: `kvm`, `qemu` (TCG) or `xen`.
    pub fn domain_type(&self) -> &'static str {
        match (self.kind(), self.accelerator) {
            (HypervisorKind::Xen, _) => "xen",
            (HypervisorKind::Qemu, Accelerator::Kvm) => "kvm",
            (HypervisorKind::Qemu, Accelerator::Tcg) => "qemu",
        }
    }

    /// The `<description>` marking a domain as this installation's, if an owner is set.
    pub fn owner_mark(&self) -> Option<String> {
        self.owner.as_ref().map(|o| format!("kumo-owner:{o}"))
    }

    /// Where the console log of domain `name` lives.
    pub fn console_log_path(&self, name: &str) -> PathBuf {
        self.console_log_dir.join(format!("{name}.log"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_type_follows_uri_and_accelerator() {
        let mut c = LibvirtConfig::default();
        assert_eq!(c.domain_type(), "qemu");
        c.accelerator = Accelerator::Kvm;
        assert_eq!(c.domain_type(), "kvm");
        c.uri = "xen:///system".into();
        assert_eq!(c.kind(), HypervisorKind::Xen);
        assert_eq!(c.domain_type(), "xen");
    }

    #[test]
    fn accelerator_parses() {
        assert_eq!("tcg".parse::<Accelerator>(), Ok(Accelerator::Tcg));
        assert_eq!("kvm".parse::<Accelerator>(), Ok(Accelerator::Kvm));
        assert!("hvf".parse::<Accelerator>().is_err());
    }
}
