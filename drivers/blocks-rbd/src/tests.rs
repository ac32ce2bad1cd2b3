//! The `BlockStore` contract and the RBD store's own guarantees, against a real Ceph cluster.
//!
//! The cluster comes from `KUMO_CEPH_CONF` (set by `source /run/kumo-ceph/env` after
//! `drivers/ceph/setup-ceph.sh`); without it the tests print `SKIPPED` and pass. Each test
//! works in a RADOS namespace of its own, so tests run in parallel on one pool and start empty.

use kumo_driver_api::contract::{QemuIo, VolumeIo, block_store_suite, qemu_tools_missing};
use kumo_driver_api::{BlockStore, BlockStoreError, DiskSource};

use crate::{Config, RbdBlockStore};

const MIB: u64 = 1024 * 1024;

/// A store in a fresh namespace; its namespace goes when the test ends.
struct TestStore(RbdBlockStore);

impl Drop for TestStore {
    fn drop(&mut self) {
        if let Ok(all) = self.0.list() {
            // Clones before bases: repeat while something goes.
            for _ in 0..4 {
                for v in &all {
                    let _ = self.0.delete(&v.name);
                }
            }
        }
        let _ = self.0.remove_namespace();
    }
}

fn config() -> Option<Config> {
    if let Some(why) = qemu_tools_missing() {
        eprintln!("SKIPPED: {why}");
        return None;
    }
    let Some(conf) = std::env::var_os("KUMO_CEPH_CONF") else {
        eprintln!(
            "SKIPPED: no Ceph cluster (KUMO_CEPH_CONF unset; run drivers/ceph/setup-ceph.sh and source /run/kumo-ceph/env)"
        );
        return None;
    };
    let pool = std::env::var("KUMO_CEPH_BLOCK_POOL").unwrap_or_else(|_| "kumo-blocks".into());
    let mut config = Config::new(conf, pool);
    config.namespace = Some(format!("t-{}", uuid::Uuid::new_v4().simple()));
    Some(config)
}

fn store() -> Option<TestStore> {
    let config = config()?;
    Some(TestStore(
        RbdBlockStore::open(config).expect("open the RBD store"),
    ))
}

#[test]
fn contract() {
    let Some(store) = store() else { return };
    let store = &store.0;
    let scratch = tempfile::tempdir().expect("tempdir");
    let started = std::time::Instant::now();
    let io = QemuIo::new(store).with_rbd_options(&store.qemu_options());
    block_store_suite(store, &io, scratch.path());
    eprintln!("RBD BlockStore contract passed in {:?}", started.elapsed());
}

#[test]
fn snapshots_outlive_their_volume() {
    let Some(store) = store() else { return };
    let store = &store.0;
    let io = QemuIo::new(store).with_rbd_options(&store.qemu_options());
    store.create("vol-1", 4 * MIB).expect("create");
    io.fill("vol-1", 0, 65_536, 0x31).expect("write");
    store.snapshot("vol-1", "snap-1").expect("snapshot");
    io.fill("vol-1", 0, 4096, 0x32).expect("write after");
    let restored = store.clone_from("vol-2", "snap-1", None).expect("restore");
    assert_eq!(restored.base.as_deref(), Some("snap-1"));
    store
        .delete("vol-1")
        .expect("a volume with snapshots can go");
    assert_eq!(store.info("vol-1").expect("info"), None);
    let read = io.read("snap-1", 0, 65_536).expect("read the snapshot");
    assert!(
        read.iter().all(|b| *b == 0x31),
        "the snapshot kept its bytes"
    );
    let read = io.read("vol-2", 0, 4096).expect("read the restored volume");
    assert!(read.iter().all(|b| *b == 0x31));
    assert!(matches!(
        store.delete("snap-1"),
        Err(BlockStoreError::InUse(_))
    ));
    store.delete("vol-2").expect("delete");
    store.delete("snap-1").expect("delete");
    assert!(store.list().expect("list").is_empty());
}

#[test]
fn leftovers_of_a_crash_go_at_open_and_sources_name_the_namespace() {
    let Some(config) = config() else { return };
    let store = TestStore(RbdBlockStore::open(config.clone()).expect("open"));
    store.0.create("vol-keep", MIB).expect("create");
    // What a crash mid-import and mid-snapshot leave behind.
    store.0.create("vol-half", MIB).expect("create");
    let spec = |s: &str| {
        format!(
            "{}/{}/{s}",
            config.pool,
            config.namespace.as_deref().unwrap_or("")
        )
    };
    let rbd = |args: &[&str]| {
        let status = std::process::Command::new("rbd")
            .arg("-c")
            .arg(&config.conf)
            .args(args)
            .status()
            .expect("rbd runs");
        assert!(status.success(), "rbd {args:?}");
    };
    rbd(&["mv", &spec("vol-half"), &spec("tmp_vol-half_1_0")]);
    rbd(&["snap", "create", &spec("vol-keep@snap-lost")]);
    rbd(&["snap", "protect", &spec("vol-keep@snap-lost")]);
    let reopened = RbdBlockStore::open(config.clone()).expect("reopen");
    let names: Vec<String> = reopened
        .list()
        .expect("list")
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(names, ["vol-keep"]);
    reopened
        .delete("vol-keep")
        .expect("no snapshot is left to block it");
    assert!(reopened.list().expect("list").is_empty());
    reopened.create("vol-src", MIB).expect("create");
    match reopened.source("vol-src").expect("source") {
        DiskSource::Rbd { name, .. } => assert_eq!(name, spec("vol-src")),
        other => panic!("unexpected source {other:?}"),
    }
}

/// The source alone (monitors and key, no conf, no keyring) is enough for QEMU, as it must be
/// for a confined guest: QEMU's `rbd:` filename gets exactly what libvirt would pass.
#[test]
fn sources_carry_what_qemu_needs_without_the_conf() {
    let Some(store) = store() else { return };
    let store = &store.0;
    store.create("vol-g", MIB).expect("create");
    let DiskSource::Rbd { name, hosts, auth } = store.source("vol-g").expect("source") else {
        panic!("an RBD store gives RBD sources");
    };
    assert!(!hosts.is_empty(), "monitors are named");
    let auth = auth.expect("the test cluster uses cephx");
    assert_eq!(auth.username, "admin");
    assert!(
        !format!("{auth:?}").contains(auth.key.expose()),
        "Debug hides the key"
    );
    let options = format!(
        ":mon_host={}:id={}:key={}:auth_supported=cephx",
        hosts.join("\\;").replace(':', "\\:"),
        auth.username,
        auth.key.expose()
    );
    // The ambient configuration must not help: point CEPH_CONF at nothing.
    let out = std::process::Command::new("qemu-io")
        .args(["-f", "raw", "-c", "write -P 0x5c 0 4096"])
        .arg(format!("rbd:{name}{options}:conf=/dev/null"))
        .env("CEPH_CONF", "/dev/null")
        .output()
        .expect("qemu-io runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("wrote 4096/4096"),
        "qemu-io: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let io = QemuIo::new(store).with_rbd_options(&store.qemu_options());
    assert!(
        io.read("vol-g", 0, 4096)
            .expect("read")
            .iter()
            .all(|b| *b == 0x5c)
    );
}
