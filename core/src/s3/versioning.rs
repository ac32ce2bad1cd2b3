//! Versioning: the bucket setting, and the version bookkeeping every write goes through.
//!
//! [`commit_version`] and [`remove_version`] run inside the caller's transaction and keep
//! `s3_versions` (all versions, newest first) and `s3_objects` (the latest live version) in
//! step. They return the blobs that became unreferenced; the caller deletes them after commit.

use kumo_driver_api::{KeyRange, WriteTxn};

use crate::iam::Principal;
use crate::records::{decode, encode};
use crate::{Error, Result};

use super::access::Action;
use super::model::{Bucket, ObjectVersion, Versioning};
use super::{BUCKETS, META, OBJECTS, ObjectService, VERSIONS, keys};

const SEQ: &[u8] = b"seq";
/// Upper bound on versions of one key examined in a transaction.
const MAX_VERSIONS_SCAN: usize = 1_000_000;

/// The next global sequence number.
pub(crate) fn next_seq(txn: &mut dyn WriteTxn) -> Result<u64> {
    let current = match txn.get(META, SEQ)? {
        Some(v) if v.len() == 8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&v);
            u64::from_be_bytes(b)
        }
        _ => 0,
    };
    let next = current + 1;
    txn.put(META, SEQ, &next.to_be_bytes())?;
    Ok(next)
}

/// A fresh version id: 32 URL-safe characters.
fn new_version_id(seq: u64) -> String {
    format!(
        "{seq:016x}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..16]
    )
}

/// Every version row of one key, newest first.
pub(crate) fn key_versions(
    txn: &mut dyn WriteTxn,
    bucket: &str,
    key: &str,
) -> Result<Vec<(Vec<u8>, ObjectVersion)>> {
    let prefix = keys::key_rows_prefix(bucket, key);
    txn.scan(
        VERSIONS,
        &prefix,
        KeyRange::prefix(&prefix),
        MAX_VERSIONS_SCAN,
    )?
    .into_iter()
    .map(|(k, v)| Ok((k, decode(VERSIONS, &v)?)))
    .collect()
}

/// Reads the bucket inside a transaction (it may have been deleted since the request began).
pub(crate) fn txn_bucket(txn: &mut dyn WriteTxn, name: &str) -> Result<Bucket> {
    match txn.get(BUCKETS, name.as_bytes())? {
        Some(v) => decode(BUCKETS, &v),
        None => Err(Error::NoSuchBucket(name.to_owned())),
    }
}

/// Makes `version` the key's newest version, assigning its sequence number and version id
/// per the bucket's versioning state. A `null` version it replaces is removed. Returns the
/// stored version and the blobs no longer referenced.
pub(crate) fn commit_version(
    txn: &mut dyn WriteTxn,
    bucket: &Bucket,
    mut version: ObjectVersion,
) -> Result<(ObjectVersion, Vec<String>)> {
    let seq = next_seq(txn)?;
    version.seq = seq;
    let mut freed = Vec::new();
    if bucket.versioning == Versioning::Enabled {
        version.version_id = new_version_id(seq);
    } else {
        version.version_id = "null".to_owned();
        for (row, old) in key_versions(txn, &bucket.name, &version.key)? {
            if old.version_id == "null" {
                txn.delete(VERSIONS, &row)?;
                freed.extend(old.segments.into_iter().map(|s| s.blob));
            }
        }
    }
    let encoded = encode(VERSIONS, &version)?;
    txn.put(
        VERSIONS,
        &keys::version_key(&bucket.name, &version.key, seq),
        &encoded,
    )?;
    let object_row = keys::object_key(&bucket.name, &version.key);
    if version.delete_marker {
        txn.delete(OBJECTS, &object_row)?;
    } else {
        txn.put(OBJECTS, &object_row, &encoded)?;
    }
    Ok((version, freed))
}

/// Removes one version by id; when it was the newest, the next one (if live) becomes current.
/// Returns the removed version and the blobs no longer referenced.
pub(crate) fn remove_version(
    txn: &mut dyn WriteTxn,
    bucket: &str,
    key: &str,
    version_id: &str,
) -> Result<Option<(ObjectVersion, Vec<String>)>> {
    let versions = key_versions(txn, bucket, key)?;
    let Some(pos) = versions
        .iter()
        .position(|(_, v)| v.version_id == version_id)
    else {
        return Ok(None);
    };
    let (row, removed) = versions[pos].clone();
    txn.delete(VERSIONS, &row)?;
    if pos == 0 {
        let object_row = keys::object_key(bucket, key);
        match versions.get(1) {
            Some((_, next)) if !next.delete_marker => {
                txn.put(OBJECTS, &object_row, &encode(OBJECTS, next)?)?;
            }
            _ => {
                txn.delete(OBJECTS, &object_row)?;
            }
        }
    }
    let freed = removed.segments.iter().map(|s| s.blob.clone()).collect();
    Ok(Some((removed, freed)))
}

/// Rewrites a stored version in place (tagging), in both tables.
pub(crate) fn rewrite_version(
    txn: &mut dyn WriteTxn,
    bucket: &str,
    version: &ObjectVersion,
) -> Result<()> {
    let encoded = encode(VERSIONS, version)?;
    txn.put(
        VERSIONS,
        &keys::version_key(bucket, &version.key, version.seq),
        &encoded,
    )?;
    let object_row = keys::object_key(bucket, &version.key);
    if let Some(current) = txn.get(OBJECTS, &object_row)? {
        let current: ObjectVersion = decode(OBJECTS, &current)?;
        if current.seq == version.seq {
            txn.put(OBJECTS, &object_row, &encoded)?;
        }
    }
    Ok(())
}

impl ObjectService {
    /// PutBucketVersioning: `Enabled` or `Suspended` (a bucket never returns to unversioned).
    pub async fn put_bucket_versioning(
        &self,
        principal: Option<&Principal>,
        name: &str,
        enabled: bool,
    ) -> Result<()> {
        self.authorized_bucket(principal, name, Action::PutBucketVersioning, None)?;
        let name = name.to_owned();
        self.write_buckets(move |txn| {
            let mut bucket = txn_bucket(txn, &name)?;
            // Suspending a never-versioned bucket changes only the reported status, as in AWS.
            bucket.versioning = if enabled {
                Versioning::Enabled
            } else {
                Versioning::Suspended
            };
            txn.put(BUCKETS, name.as_bytes(), &encode(BUCKETS, &bucket)?)?;
            Ok(())
        })
        .await
    }

    /// GetBucketVersioning.
    pub fn bucket_versioning(
        &self,
        principal: Option<&Principal>,
        name: &str,
    ) -> Result<Versioning> {
        Ok(self
            .authorized_bucket(principal, name, Action::GetBucketVersioning, None)?
            .versioning)
    }

    /// Reads one version (by id) or the current object; `Ok(None)` when the latest is a delete
    /// marker or the key does not exist.
    pub(crate) fn read_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<ObjectVersion> {
        match version_id {
            None => match self.state.get(OBJECTS, &keys::object_key(bucket, key))? {
                Some(v) => decode(OBJECTS, &v),
                None => Err(Error::NoSuchKey(key.to_owned())),
            },
            Some(id) => {
                let prefix = keys::key_rows_prefix(bucket, key);
                let rows = self.state.scan(
                    VERSIONS,
                    &prefix,
                    KeyRange::prefix(&prefix),
                    MAX_VERSIONS_SCAN,
                )?;
                for (_, v) in rows {
                    let version: ObjectVersion = decode(VERSIONS, &v)?;
                    if version.version_id == id {
                        return Ok(version);
                    }
                }
                Err(Error::NoSuchVersion(id.to_owned()))
            }
        }
    }
}

impl ObjectService {
    /// The version id of the key's latest version when that is a delete marker (for the
    /// `x-amz-delete-marker` header of a 404).
    #[must_use]
    pub fn latest_delete_marker(&self, bucket: &str, key: &str) -> Option<String> {
        let prefix = keys::key_rows_prefix(bucket, key);
        let rows = self
            .state
            .scan(VERSIONS, &prefix, KeyRange::prefix(&prefix), 1)
            .ok()?;
        let (_, v) = rows.into_iter().next()?;
        let version: ObjectVersion = decode(VERSIONS, &v).ok()?;
        version.delete_marker.then_some(version.version_id)
    }
}
