//! `LocalBlockStore`: one directory, one qcow2 file per volume, snapshot or image.
//!
//! Layout: `<root>/<name>.qcow2` for every block device, `<root>/.lock` (an advisory lock held
//! while a store is open, so two processes never share a directory), and `<root>/.tmp-…` for
//! files being written. Names are `[A-Za-z0-9-]{1,64}`, so they never contain a dot and can
//! never collide with the lock or temporary files or escape the directory.
//!
//! Durability: every new file is written under a temporary name, fsynced, published with
//! `link(2)` (which, unlike `rename(2)`, fails when the name exists, so two racing creates
//! cannot overwrite each other), then the temporary name is removed and the directory
//! fsynced. A crash leaves either nothing or a complete file under its real name; temporary
//! leftovers are removed at open. Deletes are `unlink` + directory fsync.
//!
//! Clones are qcow2 overlays whose backing file is the base's absolute path in the store
//! (`-F qcow2` recorded, so QEMU never probes the base's format). Moving the directory
//! breaks clones; keep the path stable (or rebase with `qemu-img rebase -u`).
//!
//! Permissions: libvirt's DAC driver chowns disk images and their backing files to
//! `libvirt-qemu` when a guest starts and does not give backing files back. Files are
//! therefore made mode 0644 and the root directory 0755, so any QEMU uid can read every base
//! and Kumo (root) keeps full access whatever owner libvirt leaves behind. Every parent of
//! the root must be traversable by the QEMU user too (not a 0700 home or tempdir).

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kumo_driver_api::{BlockStore, BlockStoreError, DiskSource, VolumeInfo};

use crate::probe;
use crate::qcow2;
use crate::tool::{self, RunError};

const TEMP_PREFIX: &str = ".tmp-";
const SUFFIX: &str = ".qcow2";
const LOCK_FILE: &str = ".lock";

/// Tunables; [`Options::default`] suits a server.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `qemu-img` binary.
    pub qemu_img: PathBuf,
    /// Deadline for metadata operations (create, clone, resize, info).
    pub quick_timeout: Duration,
    /// Deadline for copies (import, snapshot). A 100 GiB flatten at ~500 MB/s takes minutes.
    pub copy_timeout: Duration,
    /// Run the probe of imported files under `prlimit` (when `prlimit` is installed).
    pub limit_probe: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            qemu_img: PathBuf::from("qemu-img"),
            quick_timeout: Duration::from_secs(60),
            copy_timeout: Duration::from_secs(3600),
            limit_probe: true,
        }
    }
}

/// A [`BlockStore`] over a directory of qcow2 files, driving `qemu-img`.
#[derive(Debug)]
pub struct LocalBlockStore {
    root: PathBuf,
    options: Options,
    /// Serialises `clone_from` with `delete`, so a base cannot vanish between the check that
    /// nothing depends on it and its unlink while a clone of it is being made.
    dependencies: Mutex<()>,
    temp_seq: AtomicU64,
    /// Holds the directory's advisory lock for the store's lifetime.
    _lock: File,
}

/// A temporary file removed on drop unless published.
struct Temp(PathBuf);

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

fn io_err(context: impl std::fmt::Display, e: std::io::Error) -> BlockStoreError {
    BlockStoreError::Io(format!("{context}: {e}"))
}

/// `[A-Za-z0-9-]{1,64}`: AWS-style ids (`vol-0abc…`), never a path.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
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

fn sync_dir(dir: &Path) -> Result<(), BlockStoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(format!("fsync {}", dir.display()), e))
}

/// QEMU's image locking refused: a running guest holds the file.
fn is_lock_conflict(stderr: &str) -> bool {
    stderr.contains("Failed to get") && stderr.contains("lock")
}

impl LocalBlockStore {
    /// Opens (creating if needed) the store in `root` with default [`Options`].
    pub fn open(root: impl AsRef<Path>) -> Result<Self, BlockStoreError> {
        Self::open_with(root, Options::default())
    }

    /// Opens (creating if needed) the store in `root`: takes the directory's lock, makes it
    /// 0755 and removes temporary files a crash left behind. `qemu-img` is not run here;
    /// a missing one shows as `Io` errors on first use.
    pub fn open_with(root: impl AsRef<Path>, options: Options) -> Result<Self, BlockStoreError> {
        let root = root.as_ref();
        fs::create_dir_all(root).map_err(|e| io_err(format!("create {}", root.display()), e))?;
        let root =
            fs::canonicalize(root).map_err(|e| io_err(format!("resolve {}", root.display()), e))?;
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755))
            .map_err(|e| io_err(format!("chmod {}", root.display()), e))?;
        let lock_path = root.join(LOCK_FILE);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io_err(format!("open {}", lock_path.display()), e))?;
        // A child forked by another thread of this process holds a copy of a just-closed
        // lock until its exec closes it: retry for a moment before calling it foreign.
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while let Err(e) = lock.try_lock() {
            if std::time::Instant::now() >= deadline {
                return Err(BlockStoreError::Io(format!(
                    "{} is used by another process: {e}",
                    root.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut removed = 0usize;
        for entry in fs::read_dir(&root).map_err(|e| io_err(root.display(), e))? {
            let entry = entry.map_err(|e| io_err(root.display(), e))?;
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                fs::remove_file(entry.path())
                    .map_err(|e| io_err(format!("remove {}", entry.path().display()), e))?;
                removed += 1;
            }
        }
        if removed > 0 {
            tracing::info!(root = %root.display(), removed, "removed unfinished block store files");
            sync_dir(&root)?;
        }
        Ok(Self {
            root,
            options,
            dependencies: Mutex::new(()),
            temp_seq: AtomicU64::new(0),
            _lock: lock,
        })
    }

    /// The store's directory (absolute, canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where block device `name` lives (whether or not it exists).
    fn path(&self, name: &str) -> PathBuf {
        self.root.join(format!("{name}{SUFFIX}"))
    }

    fn temp(&self, name: &str) -> Temp {
        let seq = self.temp_seq.fetch_add(1, Ordering::Relaxed);
        Temp(self.root.join(format!(
            "{TEMP_PREFIX}{name}-{}-{seq}{SUFFIX}",
            std::process::id()
        )))
    }

    fn exists(&self, name: &str) -> bool {
        valid_name(name) && self.path(name).is_file()
    }

    fn require(&self, name: &str) -> Result<PathBuf, BlockStoreError> {
        if !self.exists(name) {
            return Err(BlockStoreError::NotFound(name.to_owned()));
        }
        Ok(self.path(name))
    }

    fn require_free(&self, name: &str) -> Result<(), BlockStoreError> {
        check_name(name)?;
        if self.path(name).exists() {
            return Err(BlockStoreError::Exists(name.to_owned()));
        }
        Ok(())
    }

    /// Runs `qemu-img args…` within `timeout`; `busy` names the device a lock conflict is
    /// reported on.
    fn qemu_img(
        &self,
        args: &[&std::ffi::OsStr],
        timeout: Duration,
        busy: &str,
    ) -> Result<String, BlockStoreError> {
        let mut cmd = Command::new(&self.options.qemu_img);
        cmd.args(args);
        self.finish(cmd, timeout, busy)
    }

    fn finish(
        &self,
        mut cmd: Command,
        timeout: Duration,
        busy: &str,
    ) -> Result<String, BlockStoreError> {
        let what = format!("{cmd:?}");
        let out = tool::run(&mut cmd, timeout).map_err(|e| match e {
            RunError::Spawn(e) if e.kind() == std::io::ErrorKind::NotFound => {
                BlockStoreError::Io(format!(
                    "{} not found (install qemu-utils)",
                    self.options.qemu_img.display()
                ))
            }
            e => BlockStoreError::Io(format!("{what}: {e}")),
        })?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        if is_lock_conflict(&out.stderr) {
            return Err(BlockStoreError::InUse(busy.to_owned()));
        }
        Err(BlockStoreError::Io(format!(
            "{what}: {}: {}",
            out.status,
            out.stderr.trim()
        )))
    }

    /// Makes `temp` durable and publishes it as `name`.
    fn publish(&self, temp: Temp, name: &str) -> Result<VolumeInfo, BlockStoreError> {
        fs::set_permissions(&temp.0, fs::Permissions::from_mode(0o644))
            .map_err(|e| io_err(format!("chmod {}", temp.0.display()), e))?;
        File::open(&temp.0)
            .and_then(|f| f.sync_all())
            .map_err(|e| io_err(format!("fsync {}", temp.0.display()), e))?;
        match fs::hard_link(&temp.0, self.path(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(BlockStoreError::Exists(name.to_owned()));
            }
            Err(e) => return Err(io_err(format!("publish {name}"), e)),
        }
        drop(temp);
        sync_dir(&self.root)?;
        self.describe(name)
    }

    fn describe(&self, name: &str) -> Result<VolumeInfo, BlockStoreError> {
        let path = self.path(name);
        let header = qcow2::read_header(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                BlockStoreError::NotFound(name.to_owned())
            } else {
                io_err(format!("read {}", path.display()), e)
            }
        })?;
        Ok(VolumeInfo {
            name: name.to_owned(),
            size: header.size,
            base: header.backing.and_then(|b| self.member_name(&b)),
        })
    }

    /// The store name of `file` when it is one of the store's own files.
    fn member_name(&self, file: &Path) -> Option<String> {
        if file.parent() != Some(self.root.as_path()) {
            return None;
        }
        let stem = file.file_name()?.to_str()?.strip_suffix(SUFFIX)?;
        valid_name(stem).then(|| stem.to_owned())
    }

    /// Snapshot with QEMU's image locking bypassed (`qemu-img convert -U`), for a volume
    /// attached to a guest that the caller has made quiescent (paused, or fsfrozen through
    /// the guest agent) for the duration of the call. Without that, the copy may be torn.
    pub fn snapshot_quiesced(
        &self,
        volume: &str,
        snapshot: &str,
    ) -> Result<VolumeInfo, BlockStoreError> {
        self.copy(volume, snapshot, true)
    }

    fn copy(
        &self,
        volume: &str,
        snapshot: &str,
        force_share: bool,
    ) -> Result<VolumeInfo, BlockStoreError> {
        let source = self.require(volume)?;
        self.require_free(snapshot)?;
        let temp = self.temp(snapshot);
        let mut args: Vec<&std::ffi::OsStr> =
            vec!["convert".as_ref(), "-f".as_ref(), "qcow2".as_ref()];
        if force_share {
            args.push("-U".as_ref());
        }
        args.extend::<[&std::ffi::OsStr; 4]>([
            "-O".as_ref(),
            "qcow2".as_ref(),
            source.as_os_str(),
            temp.0.as_os_str(),
        ]);
        self.qemu_img(&args, self.options.copy_timeout, volume)?;
        self.publish(temp, snapshot)
    }

    fn probe(&self, file: &Path) -> Result<probe::Probed, BlockStoreError> {
        let cmd = probe::info_command(&self.options.qemu_img, file, self.options.limit_probe);
        let json = self
            .finish(cmd, self.options.quick_timeout, "import")
            .map_err(|e| match e {
                BlockStoreError::Io(msg) if !file.exists() => BlockStoreError::InvalidImage(
                    format!("{}: no such file ({msg})", file.display()),
                ),
                BlockStoreError::Io(msg) => BlockStoreError::InvalidImage(msg),
                other => other,
            })?;
        probe::judge(&json).map_err(BlockStoreError::InvalidImage)
    }
}

impl BlockStore for LocalBlockStore {
    fn import_image(&self, name: &str, file: &Path) -> Result<VolumeInfo, BlockStoreError> {
        self.require_free(name)?;
        // Absolute, so QEMU never reads the name as an option (`-…`) or a protocol prefix
        // (`json:{…}`, `nbd:…`): its filename parser treats only a leading `/` as a plain file.
        let file = std::path::absolute(file)
            .map_err(|e| BlockStoreError::InvalidImage(format!("{}: {e}", file.display())))?;
        let file = file.as_path();
        let probed = self.probe(file)?;
        let temp = self.temp(name);
        self.qemu_img(
            &[
                "convert".as_ref(),
                "-f".as_ref(),
                probed.format.as_ref(),
                "-O".as_ref(),
                "qcow2".as_ref(),
                file.as_os_str(),
                temp.0.as_os_str(),
            ],
            self.options.copy_timeout,
            name,
        )?;
        self.publish(temp, name)
    }

    fn create(&self, name: &str, size: u64) -> Result<VolumeInfo, BlockStoreError> {
        self.require_free(name)?;
        let temp = self.temp(name);
        let size = size.to_string();
        self.qemu_img(
            &[
                "create".as_ref(),
                "-q".as_ref(),
                "-f".as_ref(),
                "qcow2".as_ref(),
                temp.0.as_os_str(),
                size.as_ref(),
            ],
            self.options.quick_timeout,
            name,
        )?;
        self.publish(temp, name)
    }

    fn clone_from(
        &self,
        name: &str,
        base: &str,
        size: Option<u64>,
    ) -> Result<VolumeInfo, BlockStoreError> {
        self.require_free(name)?;
        let _deps = self
            .dependencies
            .lock()
            .map_err(|_| BlockStoreError::Io("block store lock poisoned".to_owned()))?;
        let base_path = self.require(base)?;
        let base_size = self.describe(base)?.size;
        let size = size.unwrap_or(0).max(base_size).to_string();
        let temp = self.temp(name);
        self.qemu_img(
            &[
                "create".as_ref(),
                "-q".as_ref(),
                "-f".as_ref(),
                "qcow2".as_ref(),
                "-b".as_ref(),
                base_path.as_os_str(),
                "-F".as_ref(),
                "qcow2".as_ref(),
                temp.0.as_os_str(),
                size.as_ref(),
            ],
            self.options.quick_timeout,
            base,
        )?;
        self.publish(temp, name)
    }

    fn snapshot(&self, volume: &str, snapshot: &str) -> Result<VolumeInfo, BlockStoreError> {
        self.copy(volume, snapshot, false)
    }

    fn snapshot_live(&self, volume: &str, snapshot: &str) -> Result<VolumeInfo, BlockStoreError> {
        // `qemu-img convert -U` reads past QEMU's image lock: writes the guest makes during
        // the copy may be partly in it, as with an EBS snapshot of an unfrozen file system.
        self.copy(volume, snapshot, true)
    }

    fn resize(&self, name: &str, size: u64) -> Result<VolumeInfo, BlockStoreError> {
        let path = self.require(name)?;
        let current = self.describe(name)?;
        if size == current.size {
            return Ok(current);
        }
        if size < current.size {
            return Err(BlockStoreError::InvalidArgument(format!(
                "{name} is {} bytes; volumes only grow (asked for {size})",
                current.size
            )));
        }
        let size = size.to_string();
        self.qemu_img(
            &[
                "resize".as_ref(),
                "-q".as_ref(),
                "-f".as_ref(),
                "qcow2".as_ref(),
                path.as_os_str(),
                size.as_ref(),
            ],
            self.options.quick_timeout,
            name,
        )?;
        File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(|e| io_err(format!("fsync {}", path.display()), e))?;
        self.describe(name)
    }

    fn delete(&self, name: &str) -> Result<(), BlockStoreError> {
        if !valid_name(name) {
            return Ok(());
        }
        let _deps = self
            .dependencies
            .lock()
            .map_err(|_| BlockStoreError::Io("block store lock poisoned".to_owned()))?;
        let path = self.path(name);
        if !path.exists() {
            return Ok(());
        }
        // Any file of the store — published or still being written — may depend on it.
        for entry in fs::read_dir(&self.root).map_err(|e| io_err(self.root.display(), e))? {
            let entry = entry.map_err(|e| io_err(self.root.display(), e))?;
            let other = entry.path();
            if other == path || !other.to_string_lossy().ends_with(SUFFIX) {
                continue;
            }
            match qcow2::read_header(&other) {
                Ok(h) if h.backing.as_deref().map(|b| self.root.join(b)) == Some(path.clone()) => {
                    return Err(BlockStoreError::InUse(name.to_owned()));
                }
                Ok(_) => {}
                // Removed meanwhile (a temporary file published or dropped).
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(file = %other.display(), error = %e, "unreadable file in block store")
                }
            }
        }
        // A running guest holding it for writing (QEMU's image lock): unlinking would leave
        // the guest on an invisible file (EC2: VolumeInUse). Other failures of the check
        // (a damaged file) must not make a volume undeletable.
        match self.qemu_img(
            &[
                "info".as_ref(),
                "-f".as_ref(),
                "qcow2".as_ref(),
                path.as_os_str(),
            ],
            self.options.quick_timeout,
            name,
        ) {
            Err(e @ BlockStoreError::InUse(_)) => return Err(e),
            Err(e) => {
                tracing::warn!(name, error = %e, "cannot check whether a guest holds the volume")
            }
            Ok(_) => {}
        }
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err(format!("delete {}", path.display()), e)),
        }
        sync_dir(&self.root)
    }

    fn info(&self, name: &str) -> Result<Option<VolumeInfo>, BlockStoreError> {
        if !valid_name(name) {
            return Ok(None);
        }
        match self.describe(name) {
            Ok(info) => Ok(Some(info)),
            Err(BlockStoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn list(&self) -> Result<Vec<VolumeInfo>, BlockStoreError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.root).map_err(|e| io_err(self.root.display(), e))? {
            let entry = entry.map_err(|e| io_err(self.root.display(), e))?;
            let Some(name) = self.member_name(&entry.path()) else {
                continue;
            };
            match self.describe(&name) {
                Ok(info) => out.push(info),
                Err(BlockStoreError::NotFound(_)) => {}
                Err(e) => tracing::warn!(name, error = %e, "unreadable file in block store"),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn source(&self, name: &str) -> Result<DiskSource, BlockStoreError> {
        Ok(DiskSource::File {
            path: self.require(name)?,
            format: "qcow2".to_owned(),
        })
    }
}
