//! The `BlockStore` contract: what every backend (qcow2 files, RBD) must do alike.
//!
//! Checking copy-on-write and snapshot semantics needs the bytes of a volume, which the
//! production trait deliberately does not expose (guests read volumes, Kumo does not). The
//! suite therefore takes a [`VolumeIo`] from the harness. [`QemuIo`] implements it through
//! `qemu-io` on whatever [`BlockStore::source`] returns, so using it also proves that the
//! source is something QEMU (hence a hypervisor) can open. Import fixtures are made with
//! `qemu-img`; harnesses call [`qemu_tools_missing`] first and print `SKIPPED` when it says so.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{BlockStore, BlockStoreError, DiskSource, VolumeInfo};

const MIB: u64 = 1024 * 1024;

/// Test-only access to the bytes of a volume.
pub trait VolumeIo {
    /// Writes `len` bytes of value `byte` at `offset` of volume `name`.
    fn fill(&self, name: &str, offset: u64, len: u64, byte: u8) -> Result<(), String>;
    /// Reads `len` bytes at `offset` of volume `name`.
    fn read(&self, name: &str, offset: u64, len: usize) -> Result<Vec<u8>, String>;
}

/// [`VolumeIo`] through `qemu-io` on the store's [`DiskSource`].
pub struct QemuIo<'a> {
    store: &'a dyn BlockStore,
    rbd_options: String,
}

impl std::fmt::Debug for QemuIo<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QemuIo")
    }
}

impl<'a> QemuIo<'a> {
    /// Reads and writes the volumes of `store`.
    pub fn new(store: &'a dyn BlockStore) -> Self {
        Self {
            store,
            rbd_options: String::new(),
        }
    }

    /// Appends `options` to `rbd:pool/image` for RBD sources (e.g.
    /// `:conf=/run/ceph/ceph.conf:id=admin`, QEMU's rbd filename syntax).
    pub fn with_rbd_options(mut self, options: &str) -> Self {
        options.clone_into(&mut self.rbd_options);
        self
    }

    fn qemu_io(&self, name: &str, read_only: bool, command: &str) -> Result<String, String> {
        let source = self.store.source(name).map_err(|e| e.to_string())?;
        let (format, target) = match source {
            DiskSource::File { path, format } => (format, path.display().to_string()),
            DiskSource::Rbd { name, .. } => {
                ("raw".to_owned(), format!("rbd:{name}{}", self.rbd_options))
            }
        };
        let mut cmd = Command::new("qemu-io");
        cmd.arg("-f").arg(&format);
        if read_only {
            cmd.arg("-r");
        }
        cmd.arg("-c").arg(command).arg(&target);
        let out = run(&mut cmd, Duration::from_secs(60))?;
        // qemu-io reports failures of its commands and still exits 0.
        let complaint = out
            .lines()
            .filter(|l| !is_dump_line(l))
            .any(|l| l.contains("failed") || l.contains("rror"));
        if complaint {
            return Err(format!("qemu-io {command} on {target}: {out}"));
        }
        Ok(out)
    }
}

impl VolumeIo for QemuIo<'_> {
    fn fill(&self, name: &str, offset: u64, len: u64, byte: u8) -> Result<(), String> {
        self.qemu_io(
            name,
            false,
            &format!("write -P 0x{byte:02x} {offset} {len}"),
        )
        .map(|_| ())
    }

    fn read(&self, name: &str, offset: u64, len: usize) -> Result<Vec<u8>, String> {
        let out = self.qemu_io(name, true, &format!("read -v {offset} {len}"))?;
        // Lines look like `00000ffa:  00 ab ab … ab  ................`.
        let mut bytes = Vec::with_capacity(len);
        for line in out.lines() {
            if !is_dump_line(line) {
                continue;
            }
            let rest = &line[11..];
            for token in rest.split(' ').take(16) {
                if token.len() != 2 {
                    break;
                }
                let b = u8::from_str_radix(token, 16).map_err(|e| format!("{line}: {e}"))?;
                bytes.push(b);
            }
        }
        if bytes.len() != len {
            return Err(format!("read {} of {len} bytes: {out}", bytes.len()));
        }
        Ok(bytes)
    }
}

/// `00000ffa:  00 ab …`: a line of `qemu-io read -v` output.
fn is_dump_line(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 11 && b[..8].iter().all(u8::is_ascii_hexdigit) && &b[8..11] == b":  "
}

/// Why the suite cannot run here (`qemu-img` or `qemu-io` missing), if it cannot.
pub fn qemu_tools_missing() -> Option<String> {
    for tool in ["qemu-img", "qemu-io"] {
        let ok = Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Some(format!("{tool} not found (Debian package qemu-utils)"));
        }
    }
    None
}

/// Runs every `BlockStore` check against `store`, which must be empty. `io` reads and writes
/// its volumes; `scratch` is an empty directory outside the store for import fixtures.
pub fn block_store_suite(store: &dyn BlockStore, io: &dyn VolumeIo, scratch: &Path) {
    empty_store(store);
    create_info_list_delete(store, io);
    invalid_names(store);
    import_raw_and_qcow2(store, io, scratch);
    import_refuses_foreign_backing_files(store, scratch);
    clones_are_copy_on_write(store, io);
    snapshots_are_point_in_time(store, io);
    resize_grows(store, io);
    sources_are_openable(store);
    delete_everything(store);
}

fn names(store: &dyn BlockStore) -> Vec<String> {
    let mut names: Vec<String> = store
        .list()
        .expect("list")
        .into_iter()
        .map(|v| v.name)
        .collect();
    names.sort();
    names
}

#[track_caller]
fn info(store: &dyn BlockStore, name: &str) -> VolumeInfo {
    store
        .info(name)
        .expect("info")
        .unwrap_or_else(|| panic!("{name} exists"))
}

#[track_caller]
fn assert_bytes(io: &dyn VolumeIo, name: &str, offset: u64, len: usize, byte: u8) {
    let got = io.read(name, offset, len).expect("read volume");
    assert!(
        got.iter().all(|b| *b == byte),
        "{name} at {offset}+{len}: expected all 0x{byte:02x}, got {:02x?}…",
        &got[..got.len().min(16)]
    );
}

fn empty_store(store: &dyn BlockStore) {
    assert!(store.list().expect("list").is_empty(), "store starts empty");
    assert_eq!(store.info("vol-missing").expect("info"), None);
    store
        .delete("vol-missing")
        .expect("deleting nothing succeeds");
    assert!(matches!(
        store.source("vol-missing"),
        Err(BlockStoreError::NotFound(_))
    ));
}

fn create_info_list_delete(store: &dyn BlockStore, io: &dyn VolumeIo) {
    let created = store.create("vol-a", 4 * MIB).expect("create");
    assert_eq!(
        created,
        VolumeInfo {
            name: "vol-a".into(),
            size: 4 * MIB,
            base: None
        }
    );
    assert_eq!(info(store, "vol-a"), created);
    assert_eq!(names(store), ["vol-a"]);
    assert!(matches!(
        store.create("vol-a", MIB),
        Err(BlockStoreError::Exists(_))
    ));
    assert_eq!(
        info(store, "vol-a").size,
        4 * MIB,
        "a refused create changes nothing"
    );

    // A new volume reads as zeroes and keeps what is written.
    assert_bytes(io, "vol-a", 0, 4096, 0);
    io.fill("vol-a", 65_536, 8192, 0x11).expect("write");
    assert_bytes(io, "vol-a", 65_536, 8192, 0x11);
    assert_bytes(io, "vol-a", 65_536 + 8192, 512, 0);

    store.create("vol-b", MIB).expect("create");
    assert_eq!(names(store), ["vol-a", "vol-b"]);
    store.delete("vol-b").expect("delete");
    store.delete("vol-b").expect("delete is idempotent");
    assert_eq!(store.info("vol-b").expect("info"), None);
    assert_eq!(names(store), ["vol-a"]);
}

fn invalid_names(store: &dyn BlockStore) {
    let long = "v".repeat(65);
    for bad in [
        "",
        "../etc",
        "a/b",
        "vol.a",
        "vol a",
        "vol_a",
        long.as_str(),
    ] {
        assert!(
            matches!(
                store.create(bad, MIB),
                Err(BlockStoreError::InvalidArgument(_))
            ),
            "create {bad:?} is refused"
        );
        assert_eq!(store.info(bad).expect("info of a bad name"), None);
        store
            .delete(bad)
            .expect("deleting a bad name deletes nothing");
    }
    store
        .create(&"v".repeat(64), MIB)
        .expect("64 characters are allowed");
    store.delete(&"v".repeat(64)).expect("delete");
    assert_eq!(names(store), ["vol-a"]);
}

fn raw_fixture(scratch: &Path) -> PathBuf {
    // 2 MiB: 64 KiB of 0x5a at 0, 4 KiB of 0xa5 at 1 MiB, zeroes elsewhere.
    let mut data = vec![0u8; 2 * MIB as usize];
    data[..65_536].fill(0x5a);
    data[MIB as usize..MIB as usize + 4096].fill(0xa5);
    let path = scratch.join("image.raw");
    std::fs::write(&path, &data).expect("write raw fixture");
    path
}

fn qemu_img(args: &[&str]) {
    let mut cmd = Command::new("qemu-img");
    cmd.args(args);
    run(&mut cmd, Duration::from_secs(60)).expect("qemu-img for a fixture");
}

fn import_raw_and_qcow2(store: &dyn BlockStore, io: &dyn VolumeIo, scratch: &Path) {
    let raw = raw_fixture(scratch);
    let qcow2 = scratch.join("image.qcow2");
    qemu_img(&[
        "convert",
        "-f",
        "raw",
        "-O",
        "qcow2",
        &raw.display().to_string(),
        &qcow2.display().to_string(),
    ]);

    for (name, file) in [("ami-raw", &raw), ("ami-qcow", &qcow2)] {
        let imported = store.import_image(name, file).expect("import");
        assert_eq!(
            imported,
            VolumeInfo {
                name: name.into(),
                size: 2 * MIB,
                base: None
            }
        );
        assert_eq!(info(store, name), imported);
        assert_bytes(io, name, 0, 65_536, 0x5a);
        assert_bytes(io, name, 65_536, 4096, 0);
        assert_bytes(io, name, MIB, 4096, 0xa5);
        assert!(matches!(
            store.import_image(name, file),
            Err(BlockStoreError::Exists(_))
        ));
    }
    assert!(
        std::fs::metadata(&raw).is_ok(),
        "import leaves the source in place"
    );
    assert!(
        store
            .import_image("ami-none", &scratch.join("no-such-file"))
            .is_err()
    );
    assert!(matches!(
        store.import_image("bad/name", &raw),
        Err(BlockStoreError::InvalidArgument(_))
    ));
    assert_eq!(names(store), ["ami-qcow", "ami-raw", "vol-a"]);
}

fn import_refuses_foreign_backing_files(store: &dyn BlockStore, scratch: &Path) {
    // A qcow2 whose backing file is a host file: importing (flattening) it would copy the
    // host file into a guest-visible disk.
    let secret = scratch.join("host-secret");
    std::fs::write(&secret, vec![0x42u8; 65_536]).expect("write secret");
    let evil = scratch.join("evil.qcow2");
    qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-b",
        &secret.display().to_string(),
        "-F",
        "raw",
        &evil.display().to_string(),
        "1M",
    ]);
    assert!(
        matches!(
            store.import_image("ami-evil", &evil),
            Err(BlockStoreError::InvalidImage(_))
        ),
        "an image with a backing file outside the store is refused"
    );
    // The same with the backing file given as a relative path.
    let relative = scratch.join("evil-relative.qcow2");
    qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-b",
        "host-secret",
        "-F",
        "raw",
        &relative.display().to_string(),
        "1M",
    ]);
    assert!(matches!(
        store.import_image("ami-evil", &relative),
        Err(BlockStoreError::InvalidImage(_))
    ));
    assert_eq!(store.info("ami-evil").expect("info"), None);
}

fn clones_are_copy_on_write(store: &dyn BlockStore, io: &dyn VolumeIo) {
    let clone = store.clone_from("vol-c1", "ami-qcow", None).expect("clone");
    assert_eq!(
        clone,
        VolumeInfo {
            name: "vol-c1".into(),
            size: 2 * MIB,
            base: Some("ami-qcow".into())
        }
    );
    assert_eq!(info(store, "vol-c1"), clone);
    assert_bytes(io, "vol-c1", 0, 65_536, 0x5a);
    assert_bytes(io, "vol-c1", MIB, 4096, 0xa5);
    io.fill("vol-c1", 0, 4096, 0x77).expect("write clone");
    assert_bytes(io, "vol-c1", 0, 4096, 0x77);
    assert_bytes(io, "vol-c1", 4096, 4096, 0x5a);
    assert_bytes(io, "ami-qcow", 0, 65_536, 0x5a);

    // A larger clone keeps the base's bytes and reads zeroes past them.
    let grown = store
        .clone_from("vol-c2", "ami-raw", Some(8 * MIB))
        .expect("clone grown");
    assert_eq!(grown.size, 8 * MIB);
    assert_eq!(grown.base.as_deref(), Some("ami-raw"));
    assert_bytes(io, "vol-c2", MIB, 4096, 0xa5);
    assert_bytes(io, "vol-c2", 6 * MIB, 4096, 0);
    io.fill("vol-c2", 6 * MIB, 4096, 0x66)
        .expect("write past the base");
    assert_bytes(io, "vol-c2", 6 * MIB, 4096, 0x66);
    // A smaller size never shrinks.
    let same = store
        .clone_from("vol-c3", "ami-raw", Some(MIB))
        .expect("clone with a smaller size");
    assert_eq!(same.size, 2 * MIB);
    store.delete("vol-c3").expect("delete");

    assert!(matches!(
        store.clone_from("vol-c1", "ami-raw", None),
        Err(BlockStoreError::Exists(_))
    ));
    assert!(matches!(
        store.clone_from("vol-c9", "ami-missing", None),
        Err(BlockStoreError::NotFound(_))
    ));
    assert_eq!(store.info("vol-c9").expect("info"), None);

    // Bases with clones cannot go; they stay intact when refused.
    assert!(matches!(
        store.delete("ami-qcow"),
        Err(BlockStoreError::InUse(_))
    ));
    assert!(matches!(
        store.delete("ami-raw"),
        Err(BlockStoreError::InUse(_))
    ));
    assert_bytes(io, "vol-c1", 4096, 4096, 0x5a);
    assert_bytes(io, "ami-qcow", 0, 4096, 0x5a);
}

fn snapshots_are_point_in_time(store: &dyn BlockStore, io: &dyn VolumeIo) {
    store.create("vol-s", 4 * MIB).expect("create");
    io.fill("vol-s", 0, 65_536, 0x21).expect("write");
    let snap = store.snapshot("vol-s", "snap-1").expect("snapshot");
    assert_eq!(snap.name, "snap-1");
    assert_eq!(snap.size, 4 * MIB);
    io.fill("vol-s", 0, 65_536, 0x22)
        .expect("write after the snapshot");
    io.fill("vol-s", 2 * MIB, 4096, 0x23)
        .expect("write after the snapshot");
    assert_bytes(io, "vol-s", 0, 65_536, 0x22);
    assert_bytes(io, "snap-1", 0, 65_536, 0x21);
    assert_bytes(io, "snap-1", 2 * MIB, 4096, 0);

    // A volume restored from the snapshot shows the snapshot's content.
    let restored = store
        .clone_from("vol-r", "snap-1", None)
        .expect("clone from snapshot");
    assert_eq!(restored.base.as_deref(), Some("snap-1"));
    assert_bytes(io, "vol-r", 0, 65_536, 0x21);
    assert_bytes(io, "vol-r", 2 * MIB, 4096, 0);
    io.fill("vol-r", 0, 4096, 0x24).expect("write restored");
    assert_bytes(io, "snap-1", 0, 4096, 0x21);
    assert!(matches!(
        store.delete("snap-1"),
        Err(BlockStoreError::InUse(_))
    ));

    // A snapshot of a clone holds the base's bytes and the clone's writes.
    store
        .snapshot("vol-c1", "snap-c1")
        .expect("snapshot a clone");
    assert_bytes(io, "snap-c1", 0, 4096, 0x77);
    assert_bytes(io, "snap-c1", 4096, 4096, 0x5a);
    assert_bytes(io, "snap-c1", MIB, 4096, 0xa5);

    assert!(matches!(
        store.snapshot("vol-s", "snap-1"),
        Err(BlockStoreError::Exists(_))
    ));
    assert!(matches!(
        store.snapshot("vol-missing", "snap-2"),
        Err(BlockStoreError::NotFound(_))
    ));
    assert_eq!(store.info("snap-2").expect("info"), None);
}

fn resize_grows(store: &dyn BlockStore, io: &dyn VolumeIo) {
    let grown = store.resize("vol-a", 8 * MIB).expect("resize");
    assert_eq!(grown.size, 8 * MIB);
    assert_eq!(info(store, "vol-a").size, 8 * MIB);
    assert_bytes(io, "vol-a", 65_536, 8192, 0x11);
    assert_bytes(io, "vol-a", 7 * MIB, 4096, 0);
    io.fill("vol-a", 7 * MIB, 4096, 0x12)
        .expect("write the new space");
    assert_bytes(io, "vol-a", 7 * MIB, 4096, 0x12);
    assert_eq!(
        store.resize("vol-a", 8 * MIB).expect("same size").size,
        8 * MIB
    );
    assert!(matches!(
        store.resize("vol-a", 4 * MIB),
        Err(BlockStoreError::InvalidArgument(_))
    ));
    assert_eq!(info(store, "vol-a").size, 8 * MIB);
    assert!(matches!(
        store.resize("vol-missing", 8 * MIB),
        Err(BlockStoreError::NotFound(_))
    ));

    // A clone grows without touching its base.
    let clone = store.resize("vol-c1", 16 * MIB).expect("resize a clone");
    assert_eq!(clone.base.as_deref(), Some("ami-qcow"));
    assert_eq!(info(store, "ami-qcow").size, 2 * MIB);
    assert_bytes(io, "vol-c1", 4096, 4096, 0x5a);
}

fn sources_are_openable(store: &dyn BlockStore) {
    for volume in store.list().expect("list") {
        match store.source(&volume.name).expect("source") {
            DiskSource::File { path, format } => {
                assert!(path.is_absolute(), "{path:?} is absolute");
                assert!(path.is_file(), "{path:?} exists");
                assert!(format == "qcow2" || format == "raw", "format {format}");
            }
            DiskSource::Rbd { name, .. } => assert!(name.contains('/'), "{name} is pool/image"),
        }
    }
}

fn delete_everything(store: &dyn BlockStore) {
    // Clones first, then their bases; the refused deletes above changed nothing.
    for name in ["vol-c1", "vol-c2", "vol-r", "snap-c1", "vol-s", "vol-a"] {
        store.delete(name).expect("delete a volume");
        store.delete(name).expect("delete again");
    }
    for name in ["snap-1", "ami-qcow", "ami-raw"] {
        store.delete(name).expect("delete a base without clones");
    }
    assert!(store.list().expect("list").is_empty());
}

/// Runs `cmd` to completion within `timeout`, returning its stdout (and stderr on failure).
fn run(cmd: &mut Command, timeout: Duration) -> Result<String, String> {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{what}: {e}"))?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{what}: timed out after {timeout:?}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    if status.success() {
        Ok(format!("{out}{err}"))
    } else {
        Err(format!("{what}: {status}: {err}{out}"))
    }
}
