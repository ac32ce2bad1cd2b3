//! A synchronous handle on one pool (and namespace) of a cluster, over the `ceph` crate, with
//! errors as `std::io::Error` carrying the errno librados answered.
//!
//! Connection: librados reads only one configuration file and the `ceph` crate connects right
//! after reading it, so the store writes a derived file (the operator's conf plus a `[client]`
//! section with operation timeouts and, if configured, the keyring) to a private temporary
//! directory, connects with it and removes it. The timeouts make a sick cluster answer
//! `ETIMEDOUT` instead of blocking a thread forever.
//!
//! The `ceph` crate's cluster handle is `Sync` but not `Send`, and its pool handle does not
//! borrow it; the handle is therefore leaked (`&'static`): one connection per store, for the
//! life of the process, which is how librados expects to be used.

use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use ceph::ceph::{IoCtx, Pool, Rados, connect_to_ceph};
use ceph::error::RadosError;

/// Name of the cls_lock that claims a head.
const CLAIM_LOCK: &str = "kumo.put";

/// One pool (namespace) of a connected cluster.
pub(crate) struct Handle {
    ioctx: IoCtx,
    _cluster: &'static Rados,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("rados::Handle")
    }
}

fn io(e: RadosError) -> io::Error {
    match e {
        RadosError::ApiError(errno) => io::Error::from_raw_os_error(errno as i32),
        RadosError::IoError(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

fn is(e: &io::Error, errno: i32) -> bool {
    e.raw_os_error() == Some(errno)
}

/// What to connect to.
pub(crate) struct Target<'a> {
    pub conf: &'a Path,
    pub user: &'a str,
    pub keyring: Option<&'a Path>,
    pub pool: &'a str,
    pub namespace: Option<&'a str>,
    pub op_timeout: Duration,
}

impl Handle {
    /// Connects and opens the pool (blocking: monitors are contacted).
    pub fn connect(target: &Target<'_>) -> io::Result<Self> {
        let operator_conf = std::fs::read_to_string(target.conf)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", target.conf.display())))?;
        let secs = target.op_timeout.as_secs().max(1);
        let mut conf = format!(
            "{operator_conf}\n[client]\nrados_osd_op_timeout = {secs}\nrados_mon_op_timeout = {secs}\nclient_mount_timeout = {secs}\n"
        );
        if let Some(keyring) = target.keyring {
            conf.push_str(&format!("keyring = {}\n", keyring.display()));
        }
        let dir = private_temp_dir()?;
        let path = dir.join("ceph.conf");
        let written = std::fs::write(&path, conf);
        let connected = written.and_then(|()| {
            let path = path
                .to_str()
                .ok_or_else(|| io::Error::other("non-UTF-8 path"))?;
            connect_to_ceph(target.user, path).map_err(io)
        });
        let _ = std::fs::remove_dir_all(&dir);
        let cluster: &'static Rados = Box::leak(Box::new(connected?));
        let ioctx = cluster.get_rados_ioctx(target.pool).map_err(|e| {
            let e = io(e);
            io::Error::new(e.kind(), format!("pool {}: {e}", target.pool))
        })?;
        if let Some(ns) = target.namespace {
            ioctx.rados_set_namespace(ns).map_err(io)?;
        }
        Ok(Self {
            ioctx,
            _cluster: cluster,
        })
    }

    /// Claims `object` for a writer: creates it, empty and locked. `false` when another
    /// writer holds the claim (or a blob holds the name).
    pub fn claim(&self, object: &str) -> io::Result<bool> {
        let cookie = format!("{:016x}", rand::random::<u64>());
        // A zero duration never expires: the claim stays with the head until it is removed.
        let mut forever = libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        };
        match self
            .ioctx
            .rados_object_lock_exclusive(object, CLAIM_LOCK, &cookie, "kumo put", &mut forever, 0)
            .map_err(io)
        {
            Ok(()) => Ok(true),
            Err(e) if is(&e, libc::EBUSY) || is(&e, libc::EEXIST) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Replaces the whole content of `object` (creating it).
    pub fn write_full(&self, object: &str, data: &[u8]) -> io::Result<()> {
        self.ioctx.rados_object_write_full(object, data).map_err(io)
    }

    /// Reads `len` bytes at `offset`; fewer only where the object ends.
    pub fn read(&self, object: &str, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        // Usually one read answers whole: its buffer is the result (no copy).
        let mut first = Vec::with_capacity(len);
        let got = self
            .ioctx
            .rados_object_read(object, &mut first, offset)
            .map_err(io)?;
        first.truncate(len);
        if usize::try_from(got).unwrap_or(0) < len || first.len() == len {
            return Ok(first);
        }
        let mut out = first;
        while out.len() < len {
            let want = len - out.len();
            let mut buf = Vec::with_capacity(want);
            let got = self
                .ioctx
                .rados_object_read(object, &mut buf, offset + out.len() as u64)
                .map_err(io)?;
            // The crate reads up to the buffer's capacity, which may exceed what was asked.
            buf.truncate(want);
            out.extend_from_slice(&buf);
            // A short read is the object's end (librados reads whole requests otherwise).
            if usize::try_from(got).unwrap_or(0) < want {
                break;
            }
        }
        Ok(out)
    }

    /// Size and modification time, `None` when the object does not exist.
    pub fn stat(&self, object: &str) -> io::Result<Option<(u64, SystemTime)>> {
        match self.ioctx.rados_object_stat(object).map_err(io) {
            Ok(stat) => Ok(Some(stat)),
            Err(e) if is(&e, libc::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes `object`; `false` when it did not exist.
    pub fn remove(&self, object: &str) -> io::Result<bool> {
        match self.ioctx.rados_object_remove(object).map_err(io) {
            Ok(()) => Ok(true),
            Err(e) if is(&e, libc::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every object name in the pool (namespace).
    pub fn names(&self) -> io::Result<Vec<String>> {
        let ctx = self.ioctx.rados_list_pool_objects().map_err(io)?;
        Ok(Pool { ctx }.map(|o| o.name).collect())
    }
}

fn private_temp_dir() -> io::Result<std::path::PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = std::env::temp_dir().join(format!(
        "kumo-rados-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    Ok(dir)
}
