//! S3 semantics: buckets, objects, versions, listings, multipart uploads, tagging, checksums.
//!
//! [`ObjectService`] holds the `StateStore` (metadata) and the `ObjectStore` (data blobs).
//!
//! # Tables (JSON records, see [`model`]; key encoding in [`keys`])
//! - `s3_buckets`: `bucket` → [`model::Bucket`] (owner account, region, versioning, canned ACL).
//! - `s3_objects`: `bucket \0 key` → the key's latest [`model::ObjectVersion`] unless that is a
//!   delete marker. Why a separate table: ListObjects scans only live keys, never versions or
//!   delete markers, and GET without versionId is one point read.
//! - `s3_versions`: `bucket \0 key \0 !seq` → every [`model::ObjectVersion`] including delete
//!   markers and `null` versions, newest first per key. ListObjectVersions, GET by versionId
//!   and DeleteBucket's emptiness check read it.
//! - `s3_uploads`: `bucket \0 key \0 upload_id` → [`model::Upload`]; completed uploads stay
//!   (marked) so that a repeated CompleteMultipartUpload succeeds; the startup GC drops them
//!   after a day.
//! - `s3_parts`: `upload_id \0 part_number(BE u32)` → [`model::Part`].
//! - `s3_meta`: `seq` → the global version sequence number (BE u64).
//! - `bucket_config`: `bucket \0 subresource` → bucket configuration documents (ACL, policy,
//!   CORS, tagging, ...; written by those features). DeleteBucket removes the bucket's rows.
//!
//! # Invariants
//! - Every blob is referenced by at most ONE row: a version's segment or a part. Completing a
//!   multipart upload moves part blobs into the object by reference (no copy); CopyObject and
//!   UploadPartCopy copy bytes into new blobs. So a blob can be deleted as soon as the row that
//!   referenced it is gone, without reference counts.
//! - Data first, then metadata: a blob is written and fsynced ([`kumo_driver_api::ObjectStore`])
//!   and all digests are verified before the transaction that references it commits. Blobs a
//!   transaction displaced are deleted after the commit. A crash in between leaves unreferenced
//!   blobs, which [`gc`] removes before the server accepts requests.
//! - Checks and writes that must agree (If-None-Match, versioning bookkeeping, part lists) run
//!   inside one `StateStore` transaction.

pub mod access;
pub mod acl;
mod bucket_cache;
pub mod bucket_config;
pub mod bucket_tagging;
pub mod buckets;
pub mod checksum;
pub mod configuration;
pub mod cors;
pub mod gc;
pub mod glob;
pub mod keys;
pub mod listing;
pub mod model;
pub mod multipart;
pub mod objects;
pub mod policy;
pub mod versioning;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use kumo_driver_api::{BlobId, ObjectStore, StateStore};

use crate::{Error, Result};

pub(crate) const BUCKETS: &str = "s3_buckets";
pub(crate) const OBJECTS: &str = "s3_objects";
pub(crate) const VERSIONS: &str = "s3_versions";
pub(crate) const UPLOADS: &str = "s3_uploads";
pub(crate) const PARTS: &str = "s3_parts";
pub(crate) const META: &str = "s3_meta";
/// Bucket configuration sub-resources: `bucket \0 subresource` → document.
pub const BUCKET_CONFIG: &str = "bucket_config";

/// The S3 service of the core.
#[derive(Clone)]
pub struct ObjectService {
    state: Arc<dyn StateStore>,
    objects: Arc<dyn ObjectStore>,
    region: String,
    max_object_size: u64,
    buckets: Arc<bucket_cache::BucketCache>,
}

impl std::fmt::Debug for ObjectService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectService")
            .field("region", &self.region)
            .field("max_object_size", &self.max_object_size)
            .finish_non_exhaustive()
    }
}

impl ObjectService {
    /// A service over `state` and `objects` for `region`; single bodies (PUT, part) may be up to
    /// `max_object_size` bytes.
    #[must_use]
    pub fn new(
        state: Arc<dyn StateStore>,
        objects: Arc<dyn ObjectStore>,
        region: &str,
        max_object_size: u64,
    ) -> Self {
        Self {
            state,
            objects,
            region: region.to_owned(),
            max_object_size,
            buckets: Arc::default(),
        }
    }

    /// The region buckets are created in by default.
    #[must_use]
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Deletes blobs no longer referenced (after a commit); failures are logged, the startup GC
    /// retries them.
    pub(crate) async fn delete_blobs(&self, blobs: Vec<String>) {
        for blob in blobs {
            let Ok(id) = BlobId::new(blob.clone()) else {
                continue;
            };
            if let Err(err) = self.objects.delete(&id).await {
                tracing::warn!(blob, error = %err, "deleting an unreferenced blob failed; GC will retry");
            }
        }
    }
}

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// A fresh blob id.
pub(crate) fn new_blob_id() -> Result<BlobId> {
    BlobId::new(uuid::Uuid::new_v4().simple().to_string()).map_err(Error::from)
}
