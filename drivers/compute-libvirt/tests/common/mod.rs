//! Shared set-up for the libvirt integration tests: find the guest image and libvirtd or SKIP,
//! unique names, and a guard that removes the domain and the test's files even when a test fails.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kumo_compute_libvirt::{LibvirtConfig, LibvirtHypervisor};
use kumo_driver_api::{Boot, DomainSpec, Hypervisor};

/// Where `image/build-image.sh` puts the tiny guest by default (override: KUMO_GUEST_IMAGE_DIR).
pub const DEFAULT_IMAGE_DIR: &str = "/var/lib/kumo/images/tiny";

pub struct Image {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
}

pub fn image() -> Result<Image, String> {
    let dir = PathBuf::from(
        std::env::var("KUMO_GUEST_IMAGE_DIR").unwrap_or_else(|_| DEFAULT_IMAGE_DIR.to_string()),
    );
    let img = Image {
        kernel: dir.join("vmlinuz"),
        initrd: dir.join("initramfs.gz"),
    };
    if img.kernel.is_file() && img.initrd.is_file() {
        Ok(img)
    } else {
        Err(format!(
            "guest image not built in {} (run drivers/compute-libvirt/image/build-image.sh {})",
            dir.display(),
            dir.display()
        ))
    }
}

/// A scratch directory that qemu (running as libvirt-qemu) can traverse.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("kumo-lvtest-{tag}"));
        std::fs::create_dir_all(&p).expect("create scratch dir");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))
            .expect("chmod scratch dir");
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// libvirtd + image, or the reason to skip.
pub fn setup(tag: &str) -> Result<(LibvirtHypervisor, Image, Scratch), String> {
    let img = image()?;
    if !Path::new("/run/libvirt/libvirt-sock").exists() {
        return Err("libvirtd not running (run drivers/compute-libvirt/setup-libvirt.sh)".into());
    }
    let scratch = Scratch::new(tag);
    let cfg = LibvirtConfig {
        console_log_dir: scratch.0.join("console"),
        ..LibvirtConfig::default()
    };
    let hv = LibvirtHypervisor::connect(cfg).map_err(|e| format!("libvirt unreachable: {e}"))?;
    Ok((hv, img, scratch))
}

pub fn unique_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

pub fn tiny_spec(name: &str, img: &Image) -> DomainSpec {
    DomainSpec {
        name: name.to_string(),
        vcpus: 1,
        memory_mib: 128,
        boot: Boot::Kernel {
            kernel: img.kernel.clone(),
            initrd: Some(img.initrd.clone()),
            cmdline: "console=ttyS0 quiet panic=-1".into(),
        },
        disks: vec![],
        nics: vec![],
    }
}

/// Destroys and undefines the domain when dropped (also on panic).
pub struct DomainGuard<'a> {
    pub hv: &'a LibvirtHypervisor,
    pub name: String,
}

impl Drop for DomainGuard<'_> {
    fn drop(&mut self) {
        let _ = self.hv.destroy(&self.name);
        let _ = self.hv.undefine(&self.name);
    }
}

pub fn console(hv: &LibvirtHypervisor, name: &str) -> String {
    String::from_utf8_lossy(&hv.console_output(name, 1 << 20).expect("console_output")).into_owned()
}

/// Polls the console until `pred` holds or `limit` passes; returns the console and elapsed time.
pub fn wait_console(
    hv: &LibvirtHypervisor,
    name: &str,
    limit: Duration,
    pred: impl Fn(&str) -> bool,
) -> Result<(String, Duration), String> {
    let t0 = Instant::now();
    loop {
        let out = console(hv, name);
        if pred(&out) {
            return Ok((out, t0.elapsed()));
        }
        if t0.elapsed() > limit {
            return Err(out);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}
