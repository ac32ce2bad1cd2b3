//! A real guest under TCG reaches an RBD volume through libvirt: the block store's source
//! (monitors + cephx identity) becomes a network disk whose key libvirt holds in a secret, the
//! hot-plugged volume shows up in the guest with its serial, and everything (domain, secret,
//! image) is removed afterwards. Prints `SKIPPED: …` without libvirtd, the image or a Ceph
//! cluster (`KUMO_CEPH_CONF`, from `drivers/ceph/setup-ceph.sh`).

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use kumo_blocks_rbd::{Config, RbdBlockStore};
use kumo_driver_api::{BlockStore, DiskSource, DiskSpec, Hypervisor};

fn has_disk(console: &str, serial: &str) -> bool {
    let want = format!(":{serial}");
    console
        .lines()
        .rfind(|l| l.starts_with("KUMO-DISKS:"))
        .is_some_and(|l| l.split_whitespace().any(|w| w.ends_with(&want)))
}

/// Removes the test's volume, namespace and libvirt secret however the test ends.
struct Cleanup<'a> {
    store: &'a RbdBlockStore,
    volume: String,
    secret_usage: Option<String>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = self.store.delete(&self.volume);
        let _ = self.store.remove_namespace();
        if let Some(usage) = &self.secret_usage {
            // `virsh secret-list` has no filter by usage; find the UUID from the listing.
            let listing = Command::new("virsh")
                .args(["-q", "secret-list"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            for line in listing.lines().filter(|l| l.contains(usage.as_str())) {
                if let Some(uuid) = line.split_whitespace().next() {
                    let _ = Command::new("virsh")
                        .args(["-q", "secret-undefine", uuid])
                        .status();
                }
            }
        }
    }
}

#[test]
fn guest_sees_a_hotplugged_rbd_volume() {
    let Some(conf) = std::env::var_os("KUMO_CEPH_CONF") else {
        eprintln!(
            "SKIPPED: no Ceph cluster (KUMO_CEPH_CONF unset; run drivers/ceph/setup-ceph.sh)"
        );
        return;
    };
    let id = unique_id();
    let (hv, img, _scratch) = match setup(&id) {
        Ok(x) => x,
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
    let pool = std::env::var("KUMO_CEPH_BLOCK_POOL").unwrap_or_else(|_| "kumo-blocks".into());
    // The pool's default namespace: libvirt 9 (Debian 12) reads `pool/ns/image` as pool and
    // image `ns/image`. The volume's name is unique to the test.
    let config = Config::new(conf, pool);
    let store = RbdBlockStore::open(config).expect("open the RBD store");
    let volume = format!("vol-{}", &id[..8]);
    let mut cleanup = Cleanup {
        store: &store,
        volume: volume.clone(),
        secret_usage: None,
    };
    store.create(&volume, 64 << 20).expect("create the volume");
    let source = store.source(&volume).expect("source");
    if let DiskSource::Rbd { hosts, auth, .. } = &source {
        let auth = auth.as_ref().expect("the test cluster uses cephx");
        cleanup.secret_usage = Some(kumo_compute_libvirt::xml::ceph_secret_usage(
            &auth.username,
            hosts,
        ));
    } else {
        panic!("an RBD store gives RBD sources");
    }

    let name = format!("i-{id}");
    let guard = DomainGuard {
        hv: &hv,
        name: name.clone(),
    };
    hv.define(&tiny_spec(&name, &img)).expect("define");
    hv.start(&name).expect("start");
    wait_console(&hv, &name, Duration::from_secs(90), |c| {
        c.contains("KUMO-READY")
    })
    .unwrap_or_else(|c| panic!("no KUMO-READY within 90 s; console:\n{c}"));

    let disk = DiskSpec {
        source,
        target: "vdb".into(),
        read_only: false,
        media: kumo_driver_api::DiskMedia::Disk,
    };
    hv.attach_disk(&name, &disk).expect("attach the RBD volume");
    hv.attach_disk(&name, &disk)
        .expect("attaching again is idempotent");
    let serial = format!("vol{}", &id[..8]);
    let (_, t) = wait_console(&hv, &name, Duration::from_secs(30), |c| {
        has_disk(c, &serial)
    })
    .unwrap_or_else(|c| panic!("guest never reported {serial}; console:\n{c}"));
    eprintln!("guest saw the RBD volume {serial} {t:?} after attach");
    assert!(
        matches!(
            store.delete(&volume),
            Err(kumo_driver_api::BlockStoreError::InUse(_))
        ),
        "a volume a running guest holds open is in use"
    );
    hv.detach_disk(&name, "vdb").expect("detach");
    wait_console(&hv, &name, Duration::from_secs(30), |c| {
        !has_disk(c, &serial)
    })
    .unwrap_or_else(|c| panic!("guest never lost {serial}; console:\n{c}"));
    hv.destroy(&name).expect("destroy");
    hv.undefine(&name).expect("undefine");
    drop(guard);
    store.delete(&volume).expect("delete once detached");
    drop(cleanup);
}
