//! `RbdBlockStore`: the [`BlockStore`] over one RBD pool (and optionally a namespace of it).
//!
//! Durability: every RBD operation the store issues is acknowledged by the cluster only once
//! it is persistent, so an `Ok` is durable. Imports are written under a temporary name
//! (`tmp_…`, never a valid Kumo name) and renamed into place (`rbd mv` fails when the name
//! exists), so a crash leaves no half-imported image under a real name; leftovers of a crash
//! (temporary images, a snapshot whose clone was never made) are removed at open.
//!
//! Concurrency: `clone_from`, `snapshot` and `delete` serialise on a lock, so a base cannot
//! lose its last protected snapshot between the check that nothing depends on it and its
//! removal while a clone is being made. One process owns a pool/namespace.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kumo_blocks_local::{probe, valid_name};
use kumo_driver_api::{BlockStore, BlockStoreError, DiskSource, VolumeInfo};
use serde_json::Value;

use crate::guest::{self, GuestAccess};
use crate::rbd::{self, Cluster};

/// The protected RBD snapshot of a base that its clones hang from.
pub const BASE_SNAP: &str = "kumo_base";
/// Prefix of images being imported (contains `_`, so never a valid Kumo name).
const TEMP_PREFIX: &str = "tmp_";

/// Where the store lives and how it runs its tools; [`Config::new`] fills the defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// The `ceph.conf` naming the monitors (and usually the keyring).
    pub conf: PathBuf,
    /// The cephx user without `client.` (`admin`).
    pub user: String,
    /// The user's keyring, when the conf does not name it.
    pub keyring: Option<PathBuf>,
    /// The pool (application `rbd`).
    pub pool: String,
    /// A RADOS namespace in the pool, created at open if missing (tests use one each).
    pub namespace: Option<String>,
    /// The `rbd` binary.
    pub rbd: PathBuf,
    /// The `qemu-img` binary (imports).
    pub qemu_img: PathBuf,
    /// Deadline for metadata operations (create, clone, snapshot, resize, info).
    pub quick_timeout: Duration,
    /// Deadline for copies (import, flatten, removal of a large image).
    pub copy_timeout: Duration,
    /// Run the probe of imported files under `prlimit` (when `prlimit` is installed).
    pub limit_probe: bool,
}

impl Config {
    /// The store in `pool` of the cluster `conf` names, as `client.admin`.
    pub fn new(conf: impl Into<PathBuf>, pool: impl Into<String>) -> Self {
        Self {
            conf: conf.into(),
            user: "admin".to_owned(),
            keyring: None,
            pool: pool.into(),
            namespace: None,
            rbd: PathBuf::from("rbd"),
            qemu_img: PathBuf::from("qemu-img"),
            quick_timeout: Duration::from_secs(60),
            copy_timeout: Duration::from_secs(3600),
            limit_probe: true,
        }
    }
}

/// A [`BlockStore`] of RBD images.
#[derive(Debug)]
pub struct RbdBlockStore {
    cluster: Cluster,
    config: Config,
    guest: GuestAccess,
    dependencies: Mutex<()>,
    temp_seq: AtomicU64,
}

fn check_name(name: &str) -> Result<(), BlockStoreError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(BlockStoreError::InvalidArgument(format!(
            "invalid block device name {name:?} (1-64 of A-Z a-z 0-9 -)"
        )))
    }
}

/// Pool and namespace names go into specs (`pool/ns/image`) and QEMU filenames.
fn check_pool_name(what: &str, name: &str) -> Result<(), BlockStoreError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(BlockStoreError::InvalidArgument(format!(
            "invalid {what} {name:?}"
        )))
    }
}

/// Sizes round up to whole 512-byte sectors, as the local store's do.
fn sectors(size: u64) -> u64 {
    size.div_ceil(512).saturating_mul(512)
}

fn volume_info(name: &str, entry: &Value) -> Result<VolumeInfo, BlockStoreError> {
    Ok(VolumeInfo {
        name: name.to_owned(),
        size: rbd::size(entry)?,
        // Snapshot images hang from their volume's snapshot of the same name; they are
        // independent copies in Kumo's model, so only clones of a base report one.
        base: rbd::parent(entry)
            .filter(|(_, snap)| snap == BASE_SNAP)
            .map(|(image, _)| image),
    })
}

impl RbdBlockStore {
    /// Opens the store: reads the monitors and key guests will need, creates the namespace if
    /// one is configured and missing, checks that the pool answers, and removes what a crash
    /// left behind.
    pub fn open(config: Config) -> Result<Self, BlockStoreError> {
        check_pool_name("pool", &config.pool)?;
        if let Some(ns) = &config.namespace {
            check_pool_name("namespace", ns)?;
        }
        let cluster = Cluster {
            program: config.rbd.clone(),
            conf: config.conf.clone(),
            user: config.user.clone(),
            keyring: config.keyring.clone(),
            pool: config.pool.clone(),
            namespace: config.namespace.clone(),
        };
        let guest = guest::resolve(&config.conf, &config.user, config.keyring.as_deref())?;
        let store = Self {
            cluster,
            guest,
            config,
            dependencies: Mutex::new(()),
            temp_seq: AtomicU64::new(0),
        };
        if store.config.namespace.is_some() {
            let spec = store.cluster.pool_spec();
            match store
                .cluster
                .run(&["namespace", "create", &spec], &spec, store.quick())
            {
                Ok(_) | Err(BlockStoreError::Exists(_)) => {}
                Err(e) => return Err(e),
            }
        }
        store.clean_leftovers()?;
        Ok(store)
    }

    /// Removes the (empty) namespace the store lives in; tests call it after deleting
    /// everything.
    pub fn remove_namespace(&self) -> Result<(), BlockStoreError> {
        if self.config.namespace.is_some() {
            let spec = self.cluster.pool_spec();
            self.cluster
                .run(&["namespace", "remove", &spec], &spec, self.quick())?;
        }
        Ok(())
    }

    /// The QEMU `rbd:` filename of a block device (for `qemu-img`/`qemu-io` on the host).
    pub fn qemu_target(&self, name: &str) -> String {
        self.cluster.qemu_target(name)
    }

    /// The options QEMU's `rbd:` filename needs after `rbd:pool/image` (`:conf=…:id=…`).
    pub fn qemu_options(&self) -> String {
        let full = self.cluster.qemu_target("x");
        let prefix = format!("rbd:{}", self.cluster.spec("x"));
        full.strip_prefix(&prefix).unwrap_or_default().to_owned()
    }

    fn quick(&self) -> Duration {
        self.config.quick_timeout
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, ()>, BlockStoreError> {
        self.dependencies
            .lock()
            .map_err(|_| BlockStoreError::Io("block store lock poisoned".to_owned()))
    }

    /// `rbd ls -l`: every image and snapshot of the pool/namespace.
    fn entries(&self) -> Result<Vec<Value>, BlockStoreError> {
        let spec = self.cluster.pool_spec();
        match self
            .cluster
            .json(&["ls", "-l", &spec], &spec, self.quick())?
        {
            Value::Array(entries) => Ok(entries),
            other => Err(BlockStoreError::Io(format!("rbd ls: unexpected {other}"))),
        }
    }

    fn clean_leftovers(&self) -> Result<(), BlockStoreError> {
        let entries = self.entries()?;
        let field = |e: &Value, k: &str| e.get(k).and_then(Value::as_str).map(str::to_owned);
        let parents: Vec<(String, String)> = entries.iter().filter_map(rbd::parent).collect();
        for entry in &entries {
            let Some(image) = field(entry, "image") else {
                continue;
            };
            match field(entry, "snapshot") {
                None if image.starts_with(TEMP_PREFIX) => {
                    tracing::info!(image, "removing an interrupted import");
                    self.remove_image(&image)?;
                }
                // A snapshot whose clone was never made (crash inside `snapshot`).
                Some(snap)
                    if snap != BASE_SNAP
                        && !parents.iter().any(|(i, s)| *i == image && *s == snap) =>
                {
                    tracing::info!(image, snap, "removing an interrupted snapshot");
                    let protected = field(entry, "protected").as_deref() == Some("true");
                    self.remove_snapshot(&image, &snap, protected)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn describe(&self, name: &str) -> Result<Option<VolumeInfo>, BlockStoreError> {
        let spec = self.cluster.spec(name);
        match self.cluster.json(&["info", &spec], name, self.quick()) {
            Ok(entry) => volume_info(name, &entry).map(Some),
            Err(BlockStoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn require(&self, name: &str) -> Result<VolumeInfo, BlockStoreError> {
        if !valid_name(name) {
            return Err(BlockStoreError::NotFound(name.to_owned()));
        }
        self.describe(name)?
            .ok_or_else(|| BlockStoreError::NotFound(name.to_owned()))
    }

    fn require_free(&self, name: &str) -> Result<(), BlockStoreError> {
        check_name(name)?;
        match self.describe(name)? {
            Some(_) => Err(BlockStoreError::Exists(name.to_owned())),
            None => Ok(()),
        }
    }

    /// `(name, protected)` of each snapshot of `image`.
    fn snapshots(&self, image: &str) -> Result<Vec<(String, bool)>, BlockStoreError> {
        let spec = self.cluster.spec(image);
        let listed = self
            .cluster
            .json(&["snap", "ls", &spec], image, self.quick())?;
        Ok(listed
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|s| {
                let name = s.get("name")?.as_str()?.to_owned();
                let protected = s.get("protected").and_then(Value::as_str) == Some("true");
                Some((name, protected))
            })
            .collect())
    }

    /// The images cloned from `image@snap`.
    fn children(&self, image: &str, snap: &str) -> Result<Vec<String>, BlockStoreError> {
        let spec = self.cluster.snap_spec(image, snap);
        let listed = self
            .cluster
            .json(&["children", &spec], image, self.quick())?;
        Ok(listed
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|c| Some(c.get("image")?.as_str()?.to_owned()))
            .collect())
    }

    /// Makes sure `image@snap` exists and is protected (clones need both).
    fn protected_snapshot(&self, image: &str, snap: &str) -> Result<(), BlockStoreError> {
        let spec = self.cluster.snap_spec(image, snap);
        let existing = self.snapshots(image)?;
        let protected = match existing.iter().find(|(n, _)| n == snap) {
            Some((_, protected)) => *protected,
            None => {
                self.cluster
                    .run(&["snap", "create", &spec], snap, self.quick())?;
                false
            }
        };
        if !protected {
            self.cluster
                .run(&["snap", "protect", &spec], snap, self.quick())?;
        }
        Ok(())
    }

    fn remove_snapshot(
        &self,
        image: &str,
        snap: &str,
        protected: bool,
    ) -> Result<(), BlockStoreError> {
        let spec = self.cluster.snap_spec(image, snap);
        if protected {
            self.cluster
                .run(&["snap", "unprotect", &spec], image, self.quick())?;
        }
        match self
            .cluster
            .run(&["snap", "rm", &spec], image, self.quick())
        {
            Ok(_) | Err(BlockStoreError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn remove_image(&self, image: &str) -> Result<(), BlockStoreError> {
        let spec = self.cluster.spec(image);
        match self
            .cluster
            .run(&["rm", &spec], image, self.config.copy_timeout)
        {
            Ok(_) | Err(BlockStoreError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn resize_image(&self, name: &str, size: u64) -> Result<(), BlockStoreError> {
        let spec = self.cluster.spec(name);
        let size = format!("{size}B");
        self.cluster
            .run(&["resize", "--size", &size, &spec], name, self.quick())
            .map(|_| ())
    }

    fn probe(&self, file: &Path) -> Result<probe::Probed, BlockStoreError> {
        let cmd = probe::info_command(&self.config.qemu_img, file, self.config.limit_probe);
        let json = rbd::finish(cmd, &file.display().to_string(), self.quick()).map_err(|e| {
            if file.exists() {
                BlockStoreError::InvalidImage(e.to_string())
            } else {
                BlockStoreError::InvalidImage(format!("{}: no such file ({e})", file.display()))
            }
        })?;
        probe::judge(&json).map_err(BlockStoreError::InvalidImage)
    }
}

impl BlockStore for RbdBlockStore {
    fn import_image(&self, name: &str, file: &Path) -> Result<VolumeInfo, BlockStoreError> {
        self.require_free(name)?;
        // Absolute, so QEMU never reads the name as an option or a protocol prefix.
        let file = std::path::absolute(file)
            .map_err(|e| BlockStoreError::InvalidImage(format!("{}: {e}", file.display())))?;
        let probed = self.probe(&file)?;
        let temp = format!(
            "{TEMP_PREFIX}{name}_{}_{}",
            std::process::id(),
            self.temp_seq.fetch_add(1, Ordering::Relaxed)
        );
        let mut convert = Command::new(&self.config.qemu_img);
        convert
            .args(["convert", "-f", probed.format, "-O", "raw"])
            .arg(&file)
            .arg(self.cluster.qemu_target(&temp));
        let imported = rbd::finish(convert, name, self.config.copy_timeout).and_then(|_| {
            let (from, to) = (self.cluster.spec(&temp), self.cluster.spec(name));
            self.cluster.run(&["mv", &from, &to], name, self.quick())
        });
        if let Err(e) = imported {
            if let Err(cleanup) = self.remove_image(&temp) {
                tracing::warn!(temp, %cleanup, "could not remove an interrupted import");
            }
            return Err(e);
        }
        self.require(name)
    }

    fn create(&self, name: &str, size: u64) -> Result<VolumeInfo, BlockStoreError> {
        check_name(name)?;
        let size = sectors(size);
        let spec = self.cluster.spec(name);
        let bytes = format!("{size}B");
        self.cluster
            .run(&["create", "--size", &bytes, &spec], name, self.quick())?;
        Ok(VolumeInfo {
            name: name.to_owned(),
            size,
            base: None,
        })
    }

    fn clone_from(
        &self,
        name: &str,
        base: &str,
        size: Option<u64>,
    ) -> Result<VolumeInfo, BlockStoreError> {
        self.require_free(name)?;
        let _deps = self.lock()?;
        let base_info = self.require(base)?;
        self.protected_snapshot(base, BASE_SNAP)?;
        let from = self.cluster.snap_spec(base, BASE_SNAP);
        let to = self.cluster.spec(name);
        self.cluster
            .run(&["clone", &from, &to], name, self.quick())?;
        let want = size.map(sectors).unwrap_or(0);
        if want > base_info.size
            && let Err(e) = self.resize_image(name, want)
        {
            let _ = self.remove_image(name);
            return Err(e);
        }
        Ok(VolumeInfo {
            name: name.to_owned(),
            size: want.max(base_info.size),
            base: Some(base.to_owned()),
        })
    }

    fn snapshot(&self, volume: &str, snapshot: &str) -> Result<VolumeInfo, BlockStoreError> {
        self.require_free(snapshot)?;
        let _deps = self.lock()?;
        self.require(volume)?;
        let spec = self.cluster.snap_spec(volume, snapshot);
        self.cluster
            .run(&["snap", "create", &spec], snapshot, self.quick())?;
        let made = self
            .cluster
            .run(&["snap", "protect", &spec], snapshot, self.quick())
            .and_then(|_| {
                let to = self.cluster.spec(snapshot);
                self.cluster
                    .run(&["clone", &spec, &to], snapshot, self.quick())
            });
        if let Err(e) = made {
            let protected = self
                .snapshots(volume)
                .map(|s| s.iter().any(|(n, p)| n == snapshot && *p))
                .unwrap_or(true);
            if let Err(cleanup) = self.remove_snapshot(volume, snapshot, protected) {
                tracing::warn!(volume, snapshot, %cleanup, "could not remove a failed snapshot");
            }
            return Err(e);
        }
        self.require(snapshot)
    }

    fn resize(&self, name: &str, size: u64) -> Result<VolumeInfo, BlockStoreError> {
        let current = self.require(name)?;
        let size = sectors(size);
        if size < current.size {
            return Err(BlockStoreError::InvalidArgument(format!(
                "{name} is {} bytes; volumes only grow",
                current.size
            )));
        }
        if size > current.size {
            self.resize_image(name, size)?;
        }
        Ok(VolumeInfo { size, ..current })
    }

    fn delete(&self, name: &str) -> Result<(), BlockStoreError> {
        if !valid_name(name) {
            return Ok(());
        }
        let _deps = self.lock()?;
        if self.describe(name)?.is_none() {
            return Ok(());
        }
        let snapshots = self.snapshots(name)?;
        // Clones of a base keep it; check before changing anything.
        for (snap, _) in snapshots.iter().filter(|(s, _)| s == BASE_SNAP) {
            let clones = self.children(name, snap)?;
            if !clones.is_empty() {
                return Err(BlockStoreError::InUse(format!(
                    "{name} is the base of {}",
                    clones.join(", ")
                )));
            }
        }
        // Snapshots outlive their volume: copy what they still share with it into them.
        for (snap, protected) in &snapshots {
            if snap != BASE_SNAP {
                for child in self.children(name, snap)? {
                    let spec = self.cluster.spec(&child);
                    self.cluster
                        .run(&["flatten", &spec], &child, self.config.copy_timeout)?;
                }
            }
            self.remove_snapshot(name, snap, *protected)?;
        }
        self.remove_image(name)
    }

    fn info(&self, name: &str) -> Result<Option<VolumeInfo>, BlockStoreError> {
        if !valid_name(name) {
            return Ok(None);
        }
        self.describe(name)
    }

    fn list(&self) -> Result<Vec<VolumeInfo>, BlockStoreError> {
        self.entries()?
            .iter()
            .filter(|e| e.get("snapshot").is_none())
            .filter_map(|e| {
                let name = e.get("image")?.as_str()?;
                valid_name(name).then(|| volume_info(name, e))
            })
            .collect()
    }

    fn source(&self, name: &str) -> Result<DiskSource, BlockStoreError> {
        self.require(name)?;
        Ok(DiskSource::Rbd {
            name: self.cluster.spec(name),
            hosts: self.guest.hosts.clone(),
            auth: self.guest.auth.clone(),
        })
    }
}
