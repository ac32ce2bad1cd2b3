//! Storage wiring: the one place that picks the object and block store backends from
//! `[storage.objects]` and `[storage.blocks]` (local files, or Ceph RADOS and RBD).
//!
//! Why the RADOS backend sits behind the `rados` cargo feature (on by default): it links
//! librados, so a binary built with it needs Debian's `librados2` at run time; building with
//! `--no-default-features` gives a binary without that dependency, which refuses
//! `backend = "rados"` with a clear message. The RBD backend drives the `rbd` and `qemu-img`
//! tools and links nothing.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use kumo_config::{BlockBackend, BlockStorageConfig, ObjectBackend, ObjectStorageConfig};
use kumo_driver_api::{BlockStore, ObjectStore};

/// Opens the object store (blocking: a RADOS store contacts the cluster).
pub fn open_objects(
    cfg: &ObjectStorageConfig,
    data_dir: &Path,
) -> anyhow::Result<Arc<dyn ObjectStore>> {
    match cfg.backend {
        ObjectBackend::Local => {
            let dir = data_dir.join("objects");
            let store = kumo_objects_local::LocalObjectStore::open(&dir)
                .with_context(|| format!("opening the object store in {}", dir.display()))?;
            crate::serve::restrict(&dir, 0o700)?;
            Ok(Arc::new(store))
        }
        ObjectBackend::Rados => open_rados(cfg),
    }
}

#[cfg(feature = "rados")]
fn open_rados(cfg: &ObjectStorageConfig) -> anyhow::Result<Arc<dyn ObjectStore>> {
    let mut rados = kumo_objects_rados::Config::new(&cfg.ceph_conf, &cfg.pool);
    rados.user.clone_from(&cfg.ceph_user);
    rados.keyring.clone_from(&cfg.ceph_keyring);
    rados.namespace.clone_from(&cfg.namespace);
    rados.stripe_size = cfg.stripe_size;
    rados.pending_grace = std::time::Duration::from_secs(cfg.pending_grace_secs);
    let store = kumo_objects_rados::RadosObjectStore::open(rados).with_context(|| {
        format!(
            "opening the RADOS object store (pool {}, cluster {})",
            cfg.pool,
            cfg.ceph_conf.display()
        )
    })?;
    tracing::info!(pool = %cfg.pool, conf = %cfg.ceph_conf.display(), "object data in RADOS");
    Ok(Arc::new(store))
}

#[cfg(not(feature = "rados"))]
fn open_rados(_: &ObjectStorageConfig) -> anyhow::Result<Arc<dyn ObjectStore>> {
    anyhow::bail!(
        "[storage.objects] backend = \"rados\" needs a kumo built with the `rados` feature (links librados)"
    )
}

/// Opens the block store (blocking: runs `rbd` for the RBD backend). `local_dir` holds the
/// local backend's qcow2 files.
pub fn open_blocks(
    cfg: &BlockStorageConfig,
    local_dir: &Path,
) -> anyhow::Result<Arc<dyn BlockStore>> {
    match cfg.backend {
        BlockBackend::Local => Ok(Arc::new(
            kumo_blocks_local::LocalBlockStore::open(local_dir)
                .context("opening the block store")?,
        )),
        BlockBackend::Rbd => {
            let mut rbd = kumo_blocks_rbd::Config::new(&cfg.ceph_conf, &cfg.pool);
            rbd.user.clone_from(&cfg.ceph_user);
            rbd.keyring.clone_from(&cfg.ceph_keyring);
            rbd.namespace.clone_from(&cfg.namespace);
            let store = kumo_blocks_rbd::RbdBlockStore::open(rbd).with_context(|| {
                format!(
                    "opening the RBD block store (pool {}, cluster {})",
                    cfg.pool,
                    cfg.ceph_conf.display()
                )
            })?;
            tracing::info!(pool = %cfg.pool, conf = %cfg.ceph_conf.display(), "block devices in RBD");
            Ok(Arc::new(store))
        }
    }
}
