//! The reconciler's block-store sweep: disks (`vol-…`, `snap-…`) that no record explains.
//!
//! Why: records are written before the world is changed, and the world is cleaned before the
//! record goes, so in normal operation a disk never outlives its record. But a volume or
//! snapshot whose blocks were kept because clones still needed them ("has clones; blocks
//! kept") has no record any more, and a disk restored from a backup or left by an older
//! version would otherwise stay forever. Each pass deletes such disks; the block store refuses
//! (`InUse`) while clones depend on one, so a kept parent goes only after its last clone.
//!
//! Only names with the ids Kumo gives (`vol-`, `snap-`) are candidates: image bases and
//! anything else in the directory are never touched. Records are read before the store is
//! listed, and only the reconciler (this same sequential pass) creates disks, so a disk made
//! for a record is never seen without it.

use std::collections::BTreeSet;

use kumo_driver_api::BlockStoreError;

use super::{Compute, WorldError};
use crate::ec2::image::{Image, ImageSource};
use crate::ec2::snapshot::Snapshot;
use crate::ec2::volume::Volume;

impl Compute {
    /// Names the records refer to: volumes, snapshots, their bases, image sources.
    fn referenced_blocks(&self) -> Result<BTreeSet<String>, WorldError> {
        let store = self.ec2.store();
        let mut names = BTreeSet::new();
        for v in store.scan_all(|_, v: &Volume| Some(v.clone()))? {
            names.extend(v.base.clone());
            names.insert(v.id);
        }
        for s in store.scan_all(|_, s: &Snapshot| Some(s.clone()))? {
            names.extend(s.copy_of.clone());
            names.insert(s.volume_id);
            names.insert(s.id);
        }
        for i in store.scan_all(|_, i: &Image| Some(i.source.clone()))? {
            if let ImageSource::BlockStore { name } = i {
                names.insert(name);
            }
        }
        Ok(names)
    }

    /// Deletes `vol-…`/`snap-…` disks no record refers to (kept while clones depend on them).
    pub(super) fn disk_orphans(&self) -> Result<(), WorldError> {
        let referenced = self.referenced_blocks()?;
        for info in self.blocks.list()? {
            let name = info.name;
            if !(name.starts_with("vol-") || name.starts_with("snap-"))
                || referenced.contains(&name)
            {
                continue;
            }
            match self.blocks.delete(&name) {
                Ok(()) => tracing::warn!(disk = %name, "deleted a disk with no record"),
                Err(BlockStoreError::NotFound(_) | BlockStoreError::InUse(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}
