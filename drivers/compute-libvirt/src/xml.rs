//! Domain XML: a pure function from a backend-neutral [`DomainSpec`] to libvirt's dialect.
//!
//! Pure so that every choice below is unit-tested without libvirt:
//! - `<features><acpi/>`: without it a guest's poweroff only halts and ACPI shutdown does nothing.
//! - `on_reboot=restart`: a guest reboot (or `virDomainReboot`) restarts in the same process;
//!   `on_poweroff`/`on_crash=destroy` end the process so the reconciler sees the stop.
//! - serial console on a pty with `<log append='on'>`: virtlogd keeps the output across reboots
//!   (EC2 GetConsoleOutput shows earlier boots).
//! - `<memballoon model='none'/>`: no balloon driver, no surprise memory changes.
//! - TCG only: `<tcg><tb-cache>` shrinks QEMU's 1 GiB default translation cache (~45 MiB RSS).
//! - NICs are `type='ethernet'` with a named `<target dev='TAP'/>`: libvirt creates the tap and
//!   the network fabric routes it (one tap per ENI, no shared L2, as in a VPC).
//! - Xen (`type='xen'`, libxl): HVM with PV disks (`bus='xen'`) and netfront NICs; libxl has no
//!   serial `<log>`, so console output there comes from xenconsoled, not from this driver.

use kumo_driver_api::{Boot, DiskMedia, DiskSource, DiskSpec, DomainSpec, NicSpec};

use crate::config::{HypervisorKind, LibvirtConfig};

/// Escapes text for an XML attribute or element body.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// The full `<domain>` document for `spec`.
pub fn domain_xml(spec: &DomainSpec, cfg: &LibvirtConfig) -> String {
    let kind = cfg.kind();
    let mut x = String::with_capacity(2048);
    x.push_str(&format!("<domain type='{}'>\n", cfg.domain_type()));
    x.push_str(&format!("  <name>{}</name>\n", escape(&spec.name)));
    if let Some(mark) = cfg.owner_mark() {
        x.push_str(&format!("  <description>{}</description>\n", escape(&mark)));
    }
    x.push_str(&format!(
        "  <memory unit='MiB'>{}</memory>\n",
        spec.memory_mib
    ));
    x.push_str(&format!("  <vcpu>{}</vcpu>\n", spec.vcpus));
    x.push_str("  <os>\n");
    match kind {
        HypervisorKind::Qemu => x.push_str(&format!(
            "    <type arch='x86_64' machine='{}'>hvm</type>\n",
            escape(&cfg.machine)
        )),
        HypervisorKind::Xen => x.push_str("    <type arch='x86_64' machine='xenfv'>hvm</type>\n"),
    }
    match &spec.boot {
        Boot::Disk => x.push_str("    <boot dev='hd'/>\n"),
        Boot::Cdrom => x.push_str("    <boot dev='cdrom'/>\n    <boot dev='hd'/>\n"),
        Boot::Kernel {
            kernel,
            initrd,
            cmdline,
        } => {
            x.push_str(&format!(
                "    <kernel>{}</kernel>\n",
                escape(&kernel.to_string_lossy())
            ));
            if let Some(initrd) = initrd {
                x.push_str(&format!(
                    "    <initrd>{}</initrd>\n",
                    escape(&initrd.to_string_lossy())
                ));
            }
            x.push_str(&format!("    <cmdline>{}</cmdline>\n", escape(cmdline)));
        }
    }
    x.push_str("  </os>\n");
    x.push_str("  <features>\n    <acpi/>\n");
    if cfg.domain_type() == "qemu" {
        x.push_str(&format!(
            "    <tcg>\n      <tb-cache unit='MiB'>{}</tb-cache>\n    </tcg>\n",
            cfg.tcg_tb_cache_mib
        ));
    }
    x.push_str("  </features>\n");
    x.push_str("  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>restart</on_reboot>\n  <on_crash>destroy</on_crash>\n");
    x.push_str("  <devices>\n");
    for disk in &spec.disks {
        x.push_str(&indent(&disk_xml(disk, cfg), 4));
    }
    for nic in &spec.nics {
        x.push_str(&indent(&nic_xml(nic, kind), 4));
    }
    match kind {
        HypervisorKind::Qemu => {
            x.push_str("    <rng model='virtio'>\n      <backend model='random'>/dev/urandom</backend>\n    </rng>\n");
            x.push_str("    <serial type='pty'>\n");
            x.push_str(&format!(
                "      <log file='{}' append='on'/>\n",
                escape(&cfg.console_log_path(&spec.name).to_string_lossy())
            ));
            x.push_str("      <target port='0'/>\n    </serial>\n");
            x.push_str("    <console type='pty'>\n      <target type='serial' port='0'/>\n    </console>\n");
            x.push_str("    <memballoon model='none'/>\n");
        }
        HypervisorKind::Xen => {
            x.push_str("    <serial type='pty'>\n      <target port='0'/>\n    </serial>\n");
            x.push_str("    <console type='pty'>\n      <target type='serial' port='0'/>\n    </console>\n");
        }
    }
    x.push_str("  </devices>\n</domain>\n");
    x
}

/// `doc` with a `<uuid>` after its `<name>`: redefining an existing domain must keep its UUID.
pub fn with_uuid(doc: &str, uuid: &str) -> String {
    match doc.find("</name>\n") {
        Some(i) => {
            let at = i + "</name>\n".len();
            format!(
                "{}  <uuid>{}</uuid>\n{}",
                &doc[..at],
                escape(uuid),
                &doc[at..]
            )
        }
        None => doc.to_string(),
    }
}

/// One `<disk>` element (also the document `attach_disk` sends).
///
/// Disks are paravirtual (`virtio`, Xen's `xen`). A CD-ROM sits on the emulated bus the
/// machine's BIOS boots ISOs from — IDE on `pc` and Xen's `xenfv` (which have no SATA),
/// SATA (AHCI) on `q35` (which has no IDE) — as the third device (`hdc`/`sdc`), where
/// installers look for it.
pub fn disk_xml(disk: &DiskSpec, cfg: &LibvirtConfig) -> String {
    let kind = cfg.kind();
    let (device, bus, target) = match (disk.media, kind) {
        (DiskMedia::Disk, HypervisorKind::Qemu) => ("disk", "virtio", disk.target.as_str()),
        (DiskMedia::Disk, HypervisorKind::Xen) => ("disk", "xen", disk.target.as_str()),
        (DiskMedia::Cdrom, HypervisorKind::Qemu) if cfg.machine.contains("q35") => {
            ("cdrom", "sata", "sdc")
        }
        (DiskMedia::Cdrom, _) => ("cdrom", "ide", "hdc"),
    };
    let mut x = String::new();
    match &disk.source {
        DiskSource::File { path, format } => {
            x.push_str(&format!("<disk type='file' device='{device}'>\n"));
            x.push_str(&format!(
                "  <driver name='{}' type='{}'",
                driver_name(kind),
                escape(format)
            ));
            if kind == HypervisorKind::Qemu && disk.media == DiskMedia::Disk {
                x.push_str(" discard='unmap'");
            }
            x.push_str("/>\n");
            x.push_str(&format!(
                "  <source file='{}'/>\n",
                escape(&path.to_string_lossy())
            ));
        }
        DiskSource::Rbd { name, hosts, auth } => {
            x.push_str(&format!("<disk type='network' device='{device}'>\n"));
            x.push_str(&format!(
                "  <driver name='{}' type='raw'",
                driver_name(kind)
            ));
            if kind == HypervisorKind::Qemu && disk.media == DiskMedia::Disk {
                x.push_str(" discard='unmap'");
            }
            x.push_str("/>\n");
            x.push_str(&format!("  <source protocol='rbd' name='{}'", escape(name)));
            if hosts.is_empty() {
                x.push_str("/>\n");
            } else {
                x.push_str(">\n");
                for host in hosts {
                    let (name, port) = split_host(host);
                    x.push_str(&format!("    <host name='{}'", escape(name)));
                    if let Some(port) = port {
                        x.push_str(&format!(" port='{}'", escape(port)));
                    }
                    x.push_str("/>\n");
                }
                x.push_str("  </source>\n");
            }
            if let Some(auth) = auth {
                // By usage, so the document does not depend on the secret's generated UUID.
                x.push_str(&format!(
                    "  <auth username='{}'>\n    <secret type='ceph' usage='{}'/>\n  </auth>\n",
                    escape(&auth.username),
                    escape(&ceph_secret_usage(&auth.username, hosts))
                ));
            }
        }
    }
    x.push_str(&format!(
        "  <target dev='{}' bus='{bus}'/>\n",
        escape(target)
    ));
    if disk.media == DiskMedia::Disk
        && let Some(serial) = disk_serial(&disk.source)
    {
        x.push_str(&format!("  <serial>{serial}</serial>\n"));
    }
    if disk.read_only || disk.media == DiskMedia::Cdrom {
        x.push_str("  <readonly/>\n");
    }
    x.push_str("</disk>\n");
    x
}

/// `host:port`, `[v6]:port` or a bare host.
fn split_host(host: &str) -> (&str, Option<&str>) {
    if let Some(rest) = host.strip_prefix('[')
        && let Some((addr, tail)) = rest.split_once(']')
    {
        return (addr, tail.strip_prefix(':'));
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => (name, Some(port)),
        _ => (host, None),
    }
}

/// The usage name of the libvirt secret holding `client.<username>`'s key for the cluster at
/// `hosts`: one secret per identity and cluster, found again by name on every define.
pub fn ceph_secret_usage(username: &str, hosts: &[String]) -> String {
    format!("kumo-ceph client.{username}@{}", hosts.join(","))
}

/// The `<secret>` document defining that secret (private: libvirt never shows its value).
pub fn ceph_secret_xml(usage: &str) -> String {
    format!(
        "<secret ephemeral='no' private='yes'>\n  <description>Kumo: a cephx key for RBD disks</description>\n  <usage type='ceph'>\n    <name>{}</name>\n  </usage>\n</secret>\n",
        escape(usage)
    )
}

/// The serial the guest sees (`/sys/block/vdX/serial`), which is how a guest tells volumes
/// apart: guest device names follow discovery order, not the host's `target`. Like EC2's NVMe
/// serials it is the volume id without its dash (`vol-0abc…` → `vol0abc…`), taken from the file
/// stem or the RBD image name, cut to virtio-blk's 20 bytes and to the characters libvirt accepts.
pub fn disk_serial(source: &DiskSource) -> Option<String> {
    let stem = match source {
        DiskSource::File { path, .. } => path.file_stem()?.to_string_lossy().into_owned(),
        DiskSource::Rbd { name, .. } => name.rsplit('/').next()?.to_string(),
    };
    let stem = stem
        .strip_prefix("vol-")
        .map(|rest| format!("vol{rest}"))
        .unwrap_or(stem);
    let serial: String = stem
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(20)
        .collect();
    if serial.is_empty() {
        None
    } else {
        Some(serial)
    }
}

fn driver_name(kind: HypervisorKind) -> &'static str {
    match kind {
        HypervisorKind::Qemu => "qemu",
        HypervisorKind::Xen => "qemu", // libxl's qdisk backend
    }
}

/// One `<interface>` element: a libvirt-created tap named after the ENI, no bridge.
pub fn nic_xml(nic: &NicSpec, kind: HypervisorKind) -> String {
    let mut x = String::from("<interface type='ethernet'>\n");
    x.push_str(&format!("  <mac address='{}'/>\n", escape(&nic.mac)));
    x.push_str(&format!("  <target dev='{}'/>\n", escape(&nic.tap)));
    if kind == HypervisorKind::Qemu {
        x.push_str("  <model type='virtio'/>\n  <rom enabled='no'/>\n");
    }
    x.push_str("</interface>\n");
    x
}

fn indent(block: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    block.lines().map(|l| format!("{pad}{l}\n")).collect()
}

/// The `<disk>…</disk>` element whose `<target dev='…'>` is `target`, cut out of a domain's live
/// XML (libvirt formats it with single-quoted attributes). Detaching needs the disk as libvirt
/// knows it.
pub fn find_disk_element(domain_xml: &str, target: &str) -> Option<String> {
    let needle = format!("<target dev='{}'", escape(target));
    let mut from = 0;
    while let Some(start_rel) = domain_xml[from..].find("<disk ") {
        let start = from + start_rel;
        let end = start + domain_xml[start..].find("</disk>")? + "</disk>".len();
        let element = &domain_xml[start..end];
        if element.contains(&needle) {
            return Some(element.to_string());
        }
        from = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::config::Accelerator;

    fn spec() -> DomainSpec {
        DomainSpec {
            name: "i-0123abcd".into(),
            vcpus: 2,
            memory_mib: 128,
            boot: Boot::Kernel {
                kernel: PathBuf::from("/img/vmlinuz"),
                initrd: Some(PathBuf::from("/img/initramfs.gz")),
                cmdline: "console=ttyS0 quiet panic=-1".into(),
            },
            disks: vec![DiskSpec {
                source: DiskSource::File {
                    path: PathBuf::from("/vol/vol-1.qcow2"),
                    format: "qcow2".into(),
                },
                target: "vda".into(),
                read_only: false,
                media: DiskMedia::Disk,
            }],
            nics: vec![NicSpec {
                tap: "eni-0a1b2c3d".into(),
                mac: "02:00:00:aa:bb:cc".into(),
            }],
        }
    }

    fn cfg() -> LibvirtConfig {
        LibvirtConfig {
            console_log_dir: PathBuf::from("/var/log/kumo/console"),
            ..LibvirtConfig::default()
        }
    }

    #[test]
    fn owner_is_written_as_description() {
        let c = LibvirtConfig {
            owner: Some("abc<1>".into()),
            ..cfg()
        };
        let x = domain_xml(&spec(), &c);
        assert!(
            x.contains("<description>kumo-owner:abc&lt;1&gt;</description>"),
            "{x}"
        );
        assert!(!domain_xml(&spec(), &cfg()).contains("<description>"));
    }

    #[test]
    fn tcg_domain_has_every_required_element() {
        let x = domain_xml(&spec(), &cfg());
        for want in [
            "<domain type='qemu'>",
            "<name>i-0123abcd</name>",
            "<memory unit='MiB'>128</memory>",
            "<vcpu>2</vcpu>",
            "<type arch='x86_64' machine='pc'>hvm</type>",
            "<kernel>/img/vmlinuz</kernel>",
            "<initrd>/img/initramfs.gz</initrd>",
            "<cmdline>console=ttyS0 quiet panic=-1</cmdline>",
            "<acpi/>",
            "<tb-cache unit='MiB'>16</tb-cache>",
            "<on_reboot>restart</on_reboot>",
            "<on_poweroff>destroy</on_poweroff>",
            "<source file='/vol/vol-1.qcow2'/>",
            "<driver name='qemu' type='qcow2' discard='unmap'/>",
            "<target dev='vda' bus='virtio'/>",
            "<interface type='ethernet'>",
            "<mac address='02:00:00:aa:bb:cc'/>",
            "<target dev='eni-0a1b2c3d'/>",
            "<model type='virtio'/>",
            "<serial type='pty'>",
            "<log file='/var/log/kumo/console/i-0123abcd.log' append='on'/>",
            "<memballoon model='none'/>",
        ] {
            assert!(x.contains(want), "missing {want} in\n{x}");
        }
        assert!(
            !x.contains("<boot dev="),
            "direct kernel boot needs no boot device"
        );
    }

    #[test]
    fn uuid_goes_after_name() {
        let x = with_uuid(
            &domain_xml(&spec(), &cfg()),
            "41798d63-3322-4b94-9473-b524271e785d",
        );
        assert!(x.contains("<name>i-0123abcd</name>\n  <uuid>41798d63-3322-4b94-9473-b524271e785d</uuid>\n  <memory"), "{x}");
    }

    #[test]
    fn kvm_domain_has_no_tcg_tuning() {
        let c = LibvirtConfig {
            accelerator: Accelerator::Kvm,
            ..cfg()
        };
        let x = domain_xml(&spec(), &c);
        assert!(x.starts_with("<domain type='kvm'>"));
        assert!(!x.contains("<tcg>"));
    }

    #[test]
    fn disk_boot_and_no_devices() {
        let s = DomainSpec {
            boot: Boot::Disk,
            disks: vec![],
            nics: vec![],
            ..spec()
        };
        let x = domain_xml(&s, &cfg());
        assert!(x.contains("<boot dev='hd'/>"));
        assert!(!x.contains("<kernel>"));
        assert!(!x.contains("<disk"));
        assert!(!x.contains("<interface"));
    }

    #[test]
    fn an_installer_iso_boots_from_its_cdrom_then_the_disk() {
        let iso = DiskSpec {
            source: DiskSource::File {
                path: PathBuf::from("/img/ami-1.qcow2"),
                format: "qcow2".into(),
            },
            target: "vdz".into(),
            read_only: false,
            media: DiskMedia::Cdrom,
        };
        let s = DomainSpec {
            boot: Boot::Cdrom,
            disks: vec![spec().disks[0].clone(), iso.clone()],
            ..spec()
        };
        let x = domain_xml(&s, &cfg());
        assert!(
            x.contains("<boot dev='cdrom'/>\n    <boot dev='hd'/>"),
            "{x}"
        );
        assert!(x.contains("<disk type='file' device='cdrom'>"), "{x}");
        assert!(
            x.contains("<target dev='hdc' bus='ide'/>"),
            "pc has IDE: {x}"
        );
        assert!(x.contains("<target dev='vda' bus='virtio'/>"));
        let cdrom = disk_xml(&iso, &cfg());
        assert!(
            cdrom.contains("<readonly/>"),
            "a CD-ROM is read-only: {cdrom}"
        );
        assert!(!cdrom.contains("discard="));
        assert!(!cdrom.contains("<serial>"));
        let q35 = LibvirtConfig {
            machine: "pc-q35-7.2".into(),
            ..cfg()
        };
        assert!(disk_xml(&iso, &q35).contains("<target dev='sdc' bus='sata'/>"));
    }

    #[test]
    fn xen_dialect() {
        let c = LibvirtConfig {
            uri: "xen:///system".into(),
            ..cfg()
        };
        let x = domain_xml(&spec(), &c);
        assert!(x.starts_with("<domain type='xen'>"), "{x}");
        assert!(x.contains("machine='xenfv'>hvm</type>"));
        assert!(x.contains("<target dev='vda' bus='xen'/>"));
        assert!(!x.contains("<tcg>"));
        assert!(!x.contains("<log file="), "libxl has no serial log");
        assert!(!x.contains("<model type='virtio'/>"));
    }

    #[test]
    fn rbd_and_readonly_disk() {
        let d = DiskSpec {
            source: DiskSource::Rbd {
                name: "kumo/vol-9".into(),
                hosts: vec![],
                auth: None,
            },
            target: "vdb".into(),
            read_only: true,
            media: DiskMedia::Disk,
        };
        let x = disk_xml(&d, &cfg());
        assert!(x.contains("<disk type='network' device='disk'>"));
        assert!(x.contains("<source protocol='rbd' name='kumo/vol-9'/>"));
        assert!(x.contains("<readonly/>"));
        assert!(!x.contains("<auth"));
    }

    #[test]
    fn rbd_disk_names_monitors_and_its_secret_by_usage() {
        let d = DiskSpec {
            source: DiskSource::Rbd {
                name: "kumo-blocks/ns/vol-1".into(),
                hosts: vec!["127.0.0.1:6789".into(), "[::1]:6790".into()],
                auth: Some(kumo_driver_api::RbdAuth {
                    username: "admin".into(),
                    key: kumo_driver_api::CephxKey::new("QUJD"),
                }),
            },
            target: "vdb".into(),
            read_only: false,
            media: DiskMedia::Disk,
        };
        let x = disk_xml(&d, &cfg());
        assert!(x.contains("<source protocol='rbd' name='kumo-blocks/ns/vol-1'>\n"));
        assert!(x.contains("    <host name='127.0.0.1' port='6789'/>\n"));
        assert!(x.contains("    <host name='::1' port='6790'/>\n"));
        assert!(x.contains("<auth username='admin'>"));
        assert!(x.contains(
            "<secret type='ceph' usage='kumo-ceph client.admin@127.0.0.1:6789,[::1]:6790'/>"
        ));
        assert!(
            !x.contains("QUJD"),
            "the key never enters the domain document"
        );
        assert!(ceph_secret_xml("u&").contains("<name>u&amp;</name>"));
    }

    #[test]
    fn disk_serial_is_the_volume_id_without_dash() {
        let f = |p: &str| DiskSource::File {
            path: PathBuf::from(p),
            format: "qcow2".into(),
        };
        assert_eq!(
            disk_serial(&f("/v/vol-0123456789abcdef0.qcow2")).as_deref(),
            Some("vol0123456789abcdef0")
        );
        assert_eq!(
            disk_serial(&DiskSource::Rbd {
                name: "kumo/vol-1".into(),
                hosts: vec![],
                auth: None,
            })
            .as_deref(),
            Some("vol1")
        );
        assert_eq!(
            disk_serial(&f("/v/root disk.raw")).as_deref(),
            Some("rootdisk")
        );
        assert_eq!(disk_serial(&f("/")), None);
        let x = domain_xml(&spec(), &cfg());
        assert!(x.contains("<serial>vol1</serial>"), "{x}");
    }

    #[test]
    fn text_is_escaped() {
        let mut s = spec();
        s.boot = Boot::Kernel {
            kernel: PathBuf::from("/a&b"),
            initrd: None,
            cmdline: "x='<y>'".into(),
        };
        let x = domain_xml(&s, &cfg());
        assert!(x.contains("<kernel>/a&amp;b</kernel>"));
        assert!(x.contains("<cmdline>x=&apos;&lt;y&gt;&apos;</cmdline>"));
        assert!(!x.contains("<initrd>"));
    }

    #[test]
    fn finds_disk_by_target() {
        let live = "<domain><devices>\n<disk type='file' device='disk'>\n<source file='/a'/>\n<target dev='vda' bus='virtio'/>\n</disk>\n\
                    <disk type='file' device='disk'>\n<source file='/b'/>\n<target dev='vdb' bus='virtio'/>\n</disk>\n</devices></domain>";
        let d = find_disk_element(live, "vdb").expect("vdb present");
        assert!(d.contains("/b") && !d.contains("/a"));
        assert!(find_disk_element(live, "vdc").is_none());
        assert!(
            find_disk_element(live, "vd").is_none(),
            "prefix must not match"
        );
    }
}
