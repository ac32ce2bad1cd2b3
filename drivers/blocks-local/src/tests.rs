//! The `BlockStore` contract and the local store's own guarantees, against real `qemu-img`.

use std::os::unix::fs::PermissionsExt;

use kumo_driver_api::contract::{QemuIo, block_store_suite, qemu_tools_missing};
use kumo_driver_api::{BlockStore, BlockStoreError, DiskSource};

use crate::LocalBlockStore;

fn tools() -> bool {
    if let Some(why) = qemu_tools_missing() {
        eprintln!("SKIPPED: {why}");
        return false;
    }
    true
}

#[test]
fn contract() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let store = LocalBlockStore::open(dir.path().join("store")).expect("open");
    let scratch = dir.path().join("scratch");
    std::fs::create_dir(&scratch).expect("scratch dir");
    block_store_suite(&store, &QemuIo::new(&store), &scratch);
}

#[test]
fn leftovers_are_cleaned_at_open_and_lock_is_exclusive() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("store");
    {
        let store = LocalBlockStore::open(&root).expect("open");
        store.create("vol-keep", 1 << 20).expect("create");
        assert!(
            LocalBlockStore::open(&root).is_err(),
            "a second store on the same directory is refused"
        );
    }
    // A crash mid-write leaves a temporary file; it is not a volume and goes at open.
    let leftover = root.join(".tmp-vol-half-1-0.qcow2");
    std::fs::write(&leftover, b"QFI\xfbhalf").expect("leftover");
    let store = LocalBlockStore::open(&root).expect("reopen");
    assert!(!leftover.exists());
    let names: Vec<String> = store
        .list()
        .expect("list")
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(names, ["vol-keep"]);
    // Foreign files are ignored by list.
    std::fs::write(root.join("notes.txt"), b"x").expect("foreign file");
    assert_eq!(store.list().expect("list").len(), 1);
}

#[test]
fn files_stay_readable_for_qemu_and_clones_use_absolute_in_store_backing() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let store = LocalBlockStore::open(dir.path().join("store")).expect("open");
    store.create("ami-base", 1 << 20).expect("create");
    store.clone_from("vol-c", "ami-base", None).expect("clone");
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(store.root()), 0o755);
    let DiskSource::File { path, format } = store.source("vol-c").expect("source") else {
        panic!("a file source");
    };
    assert_eq!(format, "qcow2");
    assert_eq!(mode(&path), 0o644);
    assert_eq!(mode(&store.root().join("ami-base.qcow2")), 0o644);
    let out = std::process::Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(&path)
        .output()
        .expect("qemu-img info");
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        info["backing-filename"].as_str(),
        Some(store.root().join("ami-base.qcow2").to_str().expect("utf8"))
    );
    assert_eq!(info["backing-filename-format"].as_str(), Some("qcow2"));
}

#[test]
fn missing_qemu_img_is_an_io_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = LocalBlockStore::open_with(
        dir.path(),
        crate::Options {
            qemu_img: "/nonexistent/qemu-img".into(),
            ..Default::default()
        },
    )
    .expect("open");
    assert!(
        matches!(store.create("vol-x", 1 << 20), Err(BlockStoreError::Io(m)) if m.contains("not found"))
    );
    assert_eq!(store.info("vol-x").expect("info"), None);
    assert!(store.list().expect("list").is_empty());
}

#[test]
fn concurrent_creates_of_one_name_yield_one_winner() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let store = LocalBlockStore::open(dir.path()).expect("open");
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| store.create("vol-race", 1 << 20)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|r| r.is_ok() || matches!(r, Err(BlockStoreError::Exists(_))))
    );
    let leftovers = std::fs::read_dir(dir.path())
        .expect("read dir")
        .filter(|e| {
            e.as_ref()
                .map(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
                .unwrap_or(false)
        })
        .count();
    assert_eq!(leftovers, 0);
}

/// A process holding the volume open for writing, as QEMU does for a running guest.
struct Holder(std::process::Child);

impl Holder {
    /// Starts `qemu-io` on `path` and waits until its write lock is visible. Its open can
    /// lose a race against our own probe (it exits at once): then it is started again.
    fn hold(path: &std::path::Path) -> Self {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let mut child = std::process::Command::new("qemu-io")
                .args(["-f", "qcow2"])
                .arg(path)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("qemu-io");
            std::thread::sleep(std::time::Duration::from_millis(100));
            while child.try_wait().expect("try_wait").is_none() {
                let probe = std::process::Command::new("qemu-img")
                    .args(["info", "-f", "qcow2"])
                    .arg(path)
                    .output()
                    .expect("qemu-img info");
                if !probe.status.success() {
                    return Self(child);
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "qemu-io never locked the image"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            assert!(
                std::time::Instant::now() < deadline,
                "qemu-io keeps exiting"
            );
        }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_volume_held_by_a_running_guest_is_in_use_unless_quiesced() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let store = LocalBlockStore::open(dir.path()).expect("open");
    store.create("vol-live", 4 << 20).expect("create");
    let DiskSource::File { path, .. } = store.source("vol-live").expect("source") else {
        panic!("a file source");
    };
    let holder = Holder::hold(&path);
    assert!(matches!(
        store.snapshot("vol-live", "snap-torn"),
        Err(BlockStoreError::InUse(v)) if v == "vol-live"
    ));
    assert!(matches!(
        store.resize("vol-live", 8 << 20),
        Err(BlockStoreError::InUse(_))
    ));
    assert_eq!(store.info("snap-torn").expect("info"), None);
    // The caller paused / fsfroze the guest: the copy bypasses the lock.
    let snap = store
        .snapshot_quiesced("vol-live", "snap-quiet")
        .expect("quiesced snapshot");
    assert_eq!(snap.size, 4 << 20);
    drop(holder);
    assert_eq!(
        store.resize("vol-live", 8 << 20).expect("resize").size,
        8 << 20
    );
    let names: Vec<String> = store
        .list()
        .expect("list")
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(names, ["snap-quiet", "vol-live"]);
}

/// QEMU running as `libvirt-qemu` on a clone, as libvirt's DAC driver arranges it: the
/// top file chowned to the QEMU user, the base left root-owned (mode 0644 must suffice).
struct Guest(std::process::Child);

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn qemu_user_tools() -> Option<String> {
    for tool in ["qemu-system-x86_64", "setpriv"] {
        if !std::process::Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            return Some(format!("{tool} not installed"));
        }
    }
    let user = std::process::Command::new("id")
        .arg("libvirt-qemu")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    if !user.is_ok_and(|s| s.success()) {
        return Some("no libvirt-qemu user (libvirt-daemon-system)".into());
    }
    // Only root can chown and switch users.
    let uid = std::process::Command::new("id").arg("-u").output();
    if !uid.is_ok_and(|o| o.stdout.starts_with(b"0\n")) {
        return Some("not root".into());
    }
    None
}

#[test]
fn a_real_qemu_as_libvirt_qemu_opens_a_clone_and_holds_it() {
    if !tools() {
        return;
    }
    if let Some(why) = qemu_user_tools() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    // Under /var/tmp and 0755: the QEMU user must traverse every parent of the store.
    let dir = tempfile::Builder::new()
        .prefix("kumo-blocks-test-")
        .tempdir_in("/var/tmp")
        .expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let store = LocalBlockStore::open(dir.path().join("store")).expect("open");
    store.create("ami-base", 64 << 20).expect("create base");
    store
        .clone_from("vol-root", "ami-base", None)
        .expect("clone");
    let DiskSource::File { path, format } = store.source("vol-root").expect("source") else {
        panic!("a file source");
    };
    let chown = std::process::Command::new("chown")
        .arg("libvirt-qemu")
        .arg(&path)
        .status()
        .expect("chown");
    assert!(chown.success());
    let mut guest = Guest(
        // setpriv execs QEMU itself (runuser would fork), so killing the child kills QEMU.
        std::process::Command::new("setpriv")
            .args([
                "--reuid=libvirt-qemu",
                "--regid=libvirt-qemu",
                "--clear-groups",
            ])
            .arg("qemu-system-x86_64")
            .args(["-machine", "none", "-nodefaults", "-display", "none"])
            .args(["-monitor", "none", "-serial", "none", "-blockdev"])
            .arg(format!(
                "driver={format},node-name=d0,file.driver=file,file.filename={}",
                path.display()
            ))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("qemu-system"),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        assert!(
            guest.0.try_wait().expect("try_wait").is_none(),
            "QEMU could not open the clone (see stderr)"
        );
        match store.snapshot("vol-root", "snap-torn") {
            Err(BlockStoreError::InUse(_)) => break,
            Ok(_) => store.delete("snap-torn").expect("delete early snapshot"),
            Err(e) => panic!("snapshot: {e}"),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "QEMU never locked the clone"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // The guest runs: its disk cannot be deleted, resized or copied unquiesced; its base
    // cannot be deleted; new clones of the base can still be made.
    assert!(matches!(
        store.delete("vol-root"),
        Err(BlockStoreError::InUse(_))
    ));
    assert!(matches!(
        store.delete("ami-base"),
        Err(BlockStoreError::InUse(_))
    ));
    assert!(matches!(
        store.resize("vol-root", 128 << 20),
        Err(BlockStoreError::InUse(_))
    ));
    store
        .clone_from("vol-second", "ami-base", None)
        .expect("clone a base in use");
    store
        .snapshot_quiesced("vol-root", "snap-quiet")
        .expect("quiesced snapshot");
    drop(guest);
    store
        .delete("vol-root")
        .expect("delete after the guest stopped");
    store.delete("vol-second").expect("delete");
    store.delete("ami-base").expect("delete the base");
    store.delete("snap-quiet").expect("delete");
    assert!(store.list().expect("list").is_empty());
}

#[test]
fn a_hung_qemu_img_is_killed_at_the_deadline_and_leaves_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = dir.path().join("qemu-img");
    std::fs::write(&fake, "#!/bin/sh\nexec sleep 30\n").expect("fake qemu-img");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let store = LocalBlockStore::open_with(
        dir.path().join("store"),
        crate::Options {
            qemu_img: fake,
            quick_timeout: std::time::Duration::from_millis(300),
            copy_timeout: std::time::Duration::from_millis(300),
            ..Default::default()
        },
    )
    .expect("open");
    let started = std::time::Instant::now();
    let result = store.create("vol-hung", 1 << 20);
    assert!(
        matches!(&result, Err(BlockStoreError::Io(m)) if m.contains("killed after")),
        "{result:?}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let files: Vec<_> = std::fs::read_dir(store.root())
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, [".lock"], "no temporary file is left");
    assert!(store.list().expect("list").is_empty());
}
