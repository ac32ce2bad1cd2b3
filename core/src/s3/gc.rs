//! Startup garbage collection of blobs.
//!
//! Why: data is written before the metadata that references it, and freed blobs are deleted
//! after the metadata commit. A crash between the two steps leaves blobs nobody references.
//! Before the server accepts requests, this pass lists every blob and deletes those not
//! referenced by any object version (`s3_versions`) or upload part (`s3_parts`). Because no
//! request runs concurrently, nothing in flight can be mistaken for garbage. It also drops
//! records of multipart uploads completed more than a day ago (kept only so that a repeated
//! CompleteMultipartUpload succeeds).

use std::collections::HashSet;
use std::ops::Bound;

use kumo_driver_api::{KeyRange, StateStore, transact};

use crate::records::{blocking, decode};
use crate::{Error, Result};

use super::model::{ObjectVersion, Part, Upload};
use super::{ObjectService, PARTS, UPLOADS, VERSIONS, now_ms};

const BATCH: usize = 1000;
const COMPLETED_UPLOAD_TTL_MS: i64 = 24 * 3600 * 1000;

/// What a GC pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Blobs examined.
    pub blobs: usize,
    /// Unreferenced blobs deleted.
    pub deleted: usize,
    /// Completed-upload records dropped.
    pub uploads_dropped: usize,
}

fn scan_all(
    state: &dyn StateStore,
    table: &'static str,
    mut f: impl FnMut(&[u8], &[u8]) -> Result<()>,
) -> Result<()> {
    let mut after: Option<Vec<u8>> = None;
    loop {
        let range = match &after {
            Some(k) => KeyRange {
                start: Bound::Excluded(k.as_slice()),
                end: Bound::Unbounded,
            },
            None => KeyRange::all(),
        };
        let rows = state.scan(table, b"", range, BATCH)?;
        let done = rows.len() < BATCH;
        for (k, v) in &rows {
            f(k, v)?;
        }
        match rows.into_iter().last() {
            Some((k, _)) if !done => after = Some(k),
            _ => return Ok(()),
        }
    }
}

fn referenced(state: &dyn StateStore) -> Result<HashSet<String>> {
    let mut refs = HashSet::new();
    scan_all(state, VERSIONS, |_, v| {
        let version: ObjectVersion = decode(VERSIONS, v)?;
        refs.extend(version.segments.into_iter().map(|s| s.blob));
        Ok(())
    })?;
    scan_all(state, PARTS, |_, v| {
        refs.insert(decode::<Part>(PARTS, v)?.blob);
        Ok(())
    })?;
    Ok(refs)
}

impl ObjectService {
    /// Deletes unreferenced blobs. Run before serving requests (nothing may write meanwhile).
    pub async fn collect_garbage(&self) -> Result<GcReport> {
        let state = self.state.clone();
        let (refs, stale) = blocking(move || {
            let refs = referenced(state.as_ref())?;
            let cutoff = now_ms() - COMPLETED_UPLOAD_TTL_MS;
            let mut stale = Vec::new();
            scan_all(state.as_ref(), UPLOADS, |k, v| {
                let upload: Upload = decode(UPLOADS, v)?;
                if upload
                    .completed
                    .as_ref()
                    .is_some_and(|c| c.completed_ms < cutoff)
                {
                    stale.push(k.to_vec());
                }
                Ok(())
            })?;
            if !stale.is_empty() {
                transact(state.as_ref(), |txn| {
                    for k in &stale {
                        txn.delete(UPLOADS, k)?;
                    }
                    Ok::<_, Error>(())
                })?;
            }
            Ok((refs, stale.len()))
        })
        .await?;
        let blobs = self.objects.list().await?;
        let mut report = GcReport {
            blobs: blobs.len(),
            deleted: 0,
            uploads_dropped: stale,
        };
        for blob in blobs {
            if !refs.contains(blob.id.as_str()) {
                self.objects.delete(&blob.id).await?;
                report.deleted += 1;
            }
        }
        Ok(report)
    }
}
