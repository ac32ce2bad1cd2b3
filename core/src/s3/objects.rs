//! Objects: PUT (with integrity checks and If-None-Match), GET/HEAD (ranges, conditions),
//! DELETE (versioned and not), DeleteObjects, CopyObject, and object tagging.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use kumo_driver_api::{BlobId, ByteStream, ObjectStore, ObjectStoreError, transact};

use crate::iam::Principal;
use crate::records::blocking;
use crate::{Error, Result};

use super::access::Action;
use super::checksum::{ChecksumAlgorithm, ChecksumKind, HashingStream, Integrity, StreamVerdict};
use super::model::{ContentHeaders, ObjectVersion, Segment, StoredChecksum, Tag, Versioning};
use super::versioning::{
    commit_version, key_versions, remove_version, rewrite_version, txn_bucket,
};
use super::{ObjectService, keys, new_blob_id, now_ms};

/// A byte range as the client asked for it (`Range: bytes=…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `first-[last]`, inclusive.
    FromTo(u64, Option<u64>),
    /// The last `n` bytes.
    Suffix(u64),
}

impl ByteRange {
    /// Resolves against an object of `size` bytes: `Err(InvalidRange)` when unsatisfiable.
    pub fn resolve(self, size: u64) -> Result<Range<u64>> {
        match self {
            Self::FromTo(first, last) => {
                if first >= size {
                    return Err(Error::InvalidRange { size });
                }
                let end = last.map_or(size, |l| l.saturating_add(1).min(size));
                if end <= first {
                    return Err(Error::InvalidRange { size });
                }
                Ok(first..end)
            }
            Self::Suffix(n) => {
                if n == 0 || size == 0 {
                    return Err(Error::InvalidRange { size });
                }
                Ok(size.saturating_sub(n)..size)
            }
        }
    }
}

/// An ETag condition: `*` or one of a list of ETags (unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtagMatch {
    /// `*`.
    Any,
    /// Listed ETags.
    Tags(Vec<String>),
}

impl EtagMatch {
    fn matches(&self, etag: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Tags(tags) => tags.iter().any(|t| t.trim_matches('"') == etag),
        }
    }
}

/// Conditional request headers (GET/HEAD, or the copy source's `x-amz-copy-source-if-*`).
#[derive(Debug, Clone, Default)]
pub struct Conditions {
    /// `If-Match`.
    pub if_match: Option<EtagMatch>,
    /// `If-None-Match`.
    pub if_none_match: Option<EtagMatch>,
    /// `If-Modified-Since`, seconds since the epoch.
    pub if_modified_since: Option<i64>,
    /// `If-Unmodified-Since`, seconds since the epoch.
    pub if_unmodified_since: Option<i64>,
}

impl Conditions {
    /// Evaluates per RFC 9110 as S3 does. `copy` turns "not modified" into a failed
    /// precondition (copy sources answer 412, never 304).
    pub fn check(&self, version: &ObjectVersion, copy: bool) -> Result<()> {
        let modified_secs = version.last_modified_ms.div_euclid(1000);
        let not_modified = || {
            if copy {
                Error::PreconditionFailed("x-amz-copy-source-if-none-match / if-modified-since")
            } else {
                Error::NotModified {
                    etag: version.quoted_etag(),
                    last_modified_ms: version.last_modified_ms,
                }
            }
        };
        if let Some(m) = &self.if_match {
            if !m.matches(&version.etag) {
                return Err(Error::PreconditionFailed("If-Match"));
            }
        } else if let Some(t) = self.if_unmodified_since
            && modified_secs > t
        {
            return Err(Error::PreconditionFailed("If-Unmodified-Since"));
        }
        if let Some(m) = &self.if_none_match {
            if m.matches(&version.etag) {
                return Err(not_modified());
            }
        } else if let Some(t) = self.if_modified_since
            && modified_secs <= t
        {
            return Err(not_modified());
        }
        Ok(())
    }
}

/// A PutObject.
pub struct PutObjectRequest {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// The body.
    pub body: ByteStream,
    /// Content-MD5, checksums, announced length.
    pub integrity: Integrity,
    /// Headers to store.
    pub headers: ContentHeaders,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
    /// Tags.
    pub tags: Vec<Tag>,
    /// `If-None-Match: *`: fail if the key exists.
    pub if_none_match_any: bool,
    /// `If-Match`: fail unless the current ETag is one of these.
    pub if_match: Option<EtagMatch>,
    /// Canned ACL (`x-amz-acl`).
    pub acl: Option<String>,
}

impl std::fmt::Debug for PutObjectRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PutObjectRequest")
            .field("bucket", &self.bucket)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// A GetObject or HeadObject.
#[derive(Debug, Clone, Default)]
pub struct GetObjectRequest {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// A specific version.
    pub version_id: Option<String>,
    /// A byte range.
    pub range: Option<ByteRange>,
    /// A part of a multipart object (1-based).
    pub part_number: Option<u32>,
    /// Conditions.
    pub conditions: Conditions,
}

/// What a GET or HEAD returns.
pub struct ObjectRead {
    /// The version read.
    pub version: ObjectVersion,
    /// The range served when partial (end exclusive).
    pub range: Option<Range<u64>>,
    /// The data (None for HEAD).
    pub body: Option<ByteStream>,
}

impl std::fmt::Debug for ObjectRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectRead")
            .field("version", &self.version)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// A CopyObject.
#[derive(Debug, Clone, Default)]
pub struct CopyObjectRequest {
    /// Source bucket.
    pub source_bucket: String,
    /// Source key.
    pub source_key: String,
    /// Source version.
    pub source_version_id: Option<String>,
    /// Conditions on the source.
    pub conditions: Conditions,
    /// Target bucket.
    pub bucket: String,
    /// Target key.
    pub key: String,
    /// `MetadataDirective: REPLACE`.
    pub replace_metadata: bool,
    /// Headers when replacing.
    pub headers: ContentHeaders,
    /// Metadata when replacing.
    pub metadata: BTreeMap<String, String>,
    /// `TaggingDirective: REPLACE` with these tags.
    pub replace_tags: Option<Vec<Tag>>,
    /// Checksum algorithm for the copy (default: the source's).
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
}

/// The outcome of a DeleteObject.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteOutcome {
    /// The version removed or the delete marker created.
    pub version_id: Option<String>,
    /// Whether a delete marker was created or removed.
    pub delete_marker: bool,
}

/// A body written to the object store and verified.
#[derive(Debug, Clone)]
pub(crate) struct StoredBody {
    pub blob: String,
    pub size: u64,
    pub md5_hex: String,
    pub checksum: Option<(ChecksumAlgorithm, String)>,
}

/// Checks a tag set: at most 10 tags, keys 1-128 and values 0-256 characters, unique keys.
pub fn validate_tags(tags: &[Tag]) -> Result<()> {
    if tags.len() > 10 {
        return Err(Error::InvalidTag(
            "an object can have at most 10 tags".to_owned(),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for tag in tags {
        if tag.key.is_empty() || tag.key.chars().count() > 128 {
            return Err(Error::InvalidTag(format!(
                "tag key {:?} must be 1-128 characters",
                tag.key
            )));
        }
        if tag.value.chars().count() > 256 {
            return Err(Error::InvalidTag(
                "tag values are at most 256 characters".to_owned(),
            ));
        }
        if !seen.insert(tag.key.as_str()) {
            return Err(Error::InvalidTag(format!(
                "duplicate tag key {:?}",
                tag.key
            )));
        }
    }
    Ok(())
}

fn io_error(err: ObjectStoreError) -> std::io::Error {
    match err {
        ObjectStoreError::Io(e) | ObjectStoreError::Body(e) => e,
        other => std::io::Error::other(other),
    }
}

/// Streams `range` of an object made of `segments`. The first blob is opened before
/// returning (so a missing blob is an error, not a cut-off body); later ones lazily.
pub(crate) async fn segments_stream(
    objects: Arc<dyn ObjectStore>,
    segments: &[Segment],
    range: Range<u64>,
) -> Result<ByteStream> {
    let mut pieces = Vec::new();
    let mut offset = 0u64;
    for segment in segments {
        let (start, end) = (offset, offset + segment.len);
        offset = end;
        if end <= range.start || start >= range.end || segment.len == 0 {
            continue;
        }
        let from = range.start.max(start) - start;
        let to = range.end.min(end) - start;
        pieces.push((BlobId::new(segment.blob.clone())?, from..to));
    }
    let mut pieces = pieces.into_iter();
    let Some((first_id, first_range)) = pieces.next() else {
        return Ok(Box::pin(futures::stream::empty()));
    };
    let first = objects.get(&first_id, first_range).await?;
    let rest = futures::stream::iter(pieces)
        .then(move |(id, r)| {
            let objects = objects.clone();
            async move { objects.get(&id, r).await.map_err(io_error) }
        })
        .try_flatten();
    Ok(Box::pin(first.chain(rest)))
}

impl ObjectService {
    /// Writes a body to a new blob, computing MD5 and the requested checksum, and verifies it
    /// against `integrity`. On any failure the blob is gone when this returns.
    pub(crate) async fn store_body(
        &self,
        body: ByteStream,
        integrity: Integrity,
        algorithm: Option<ChecksumAlgorithm>,
    ) -> Result<StoredBody> {
        integrity.validate()?;
        if let Some(len) = integrity.content_length
            && len > self.max_object_size
        {
            return Err(Error::EntityTooLarge {
                max: self.max_object_size,
            });
        }
        let algorithm = integrity
            .checksum
            .as_ref()
            .map(|c| c.algorithm)
            .or(algorithm);
        let id = new_blob_id()?;
        let (stream, handle) = HashingStream::new(body, algorithm, self.max_object_size);
        match self.objects.put(&id, Box::pin(stream)).await {
            Ok(_) => {}
            Err(ObjectStoreError::Body(err)) => {
                return Err(if handle.verdict() == Some(StreamVerdict::TooLarge) {
                    Error::EntityTooLarge {
                        max: self.max_object_size,
                    }
                } else {
                    Error::BodyStream(err)
                });
            }
            Err(err) => return Err(err.into()),
        }
        let blob = id.as_str().to_owned();
        let verified = handle
            .digests()
            .ok_or_else(|| Error::IncompleteBody("the body stream did not finish".to_owned()))
            .and_then(|digests| Ok((integrity.verify(&digests)?, digests)));
        match verified {
            Ok((checksum, digests)) => Ok(StoredBody {
                blob,
                size: digests.len,
                md5_hex: digests.md5_hex(),
                checksum,
            }),
            Err(err) => {
                self.delete_blobs(vec![blob]).await;
                Err(err)
            }
        }
    }

    /// Copies `range` of a stored version into a new blob.
    pub(crate) async fn copy_body(
        &self,
        source: &ObjectVersion,
        range: Range<u64>,
        algorithm: Option<ChecksumAlgorithm>,
    ) -> Result<StoredBody> {
        let expected = range.end - range.start;
        let stream = segments_stream(self.objects.clone(), &source.segments, range).await?;
        let integrity = Integrity {
            content_length: Some(expected),
            ..Integrity::default()
        };
        self.store_body(stream, integrity, algorithm).await
    }

    /// PutObject: stores the body, verifies it, then commits the new version. Returns it.
    pub async fn put_object(
        &self,
        principal: Option<&Principal>,
        req: PutObjectRequest,
    ) -> Result<ObjectVersion> {
        keys::validate_key(&req.key)?;
        validate_tags(&req.tags)?;
        self.authorized_bucket(principal, &req.bucket, Action::PutObject, Some(&req.key))?;
        let acl = self
            .validate_canned_acl(&req.bucket, req.acl.as_deref())?
            .map(|a| a.as_str().to_owned());
        let owner = principal.map(|p| p.account_id.clone()).unwrap_or_default();
        if req.if_none_match_any && self.read_version(&req.bucket, &req.key, None).is_ok() {
            // Fail fast; the transaction below checks again atomically.
            return Err(Error::PreconditionFailed("If-None-Match"));
        }
        let stored = self.store_body(req.body, req.integrity, None).await?;
        let version = ObjectVersion {
            key: req.key.clone(),
            version_id: String::new(),
            seq: 0,
            delete_marker: false,
            size: stored.size,
            etag: stored.md5_hex.clone(),
            last_modified_ms: now_ms(),
            segments: vec![Segment {
                blob: stored.blob.clone(),
                len: stored.size,
            }],
            headers: req.headers,
            metadata: req.metadata,
            checksum: stored.checksum.map(|(algorithm, value)| StoredChecksum {
                algorithm,
                value,
                kind: ChecksumKind::FullObject,
            }),
            parts: Vec::new(),
            tags: req.tags,
            owner_account_id: owner,
            acl,
        };
        let (if_none_match_any, if_match) = (req.if_none_match_any, req.if_match);
        let result = self
            .commit(req.bucket.clone(), move |txn, bucket| {
                if if_none_match_any || if_match.is_some() {
                    let current = txn.get(
                        super::OBJECTS,
                        &keys::object_key(&bucket.name, &version.key),
                    )?;
                    if if_none_match_any && current.is_some() {
                        return Err(Error::PreconditionFailed("If-None-Match"));
                    }
                    if let Some(m) = &if_match {
                        let Some(current) = current else {
                            return Err(Error::NoSuchKey(version.key.clone()));
                        };
                        let current: ObjectVersion =
                            crate::records::decode(super::OBJECTS, &current)?;
                        if !m.matches(&current.etag) {
                            return Err(Error::PreconditionFailed("If-Match"));
                        }
                    }
                }
                commit_version(txn, bucket, version.clone())
            })
            .await;
        match result {
            Ok(v) => Ok(v),
            Err(err) => {
                self.delete_blobs(vec![stored.blob]).await;
                Err(err)
            }
        }
    }

    /// Runs a version-writing transaction against the bucket's current record, then deletes
    /// the blobs it freed.
    pub(crate) async fn commit<F>(&self, bucket: String, mut f: F) -> Result<ObjectVersion>
    where
        F: FnMut(
                &mut dyn kumo_driver_api::WriteTxn,
                &super::model::Bucket,
            ) -> Result<(ObjectVersion, Vec<String>)>
            + Send
            + 'static,
    {
        let state = self.state.clone();
        let (version, freed) = blocking(move || {
            transact(state.as_ref(), |txn| {
                let bucket = txn_bucket(txn, &bucket)?;
                f(txn, &bucket)
            })
        })
        .await?;
        self.delete_blobs(freed).await;
        Ok(version)
    }

    /// GetObject (`with_body`) or HeadObject.
    pub async fn get_object(
        &self,
        principal: Option<&Principal>,
        req: &GetObjectRequest,
        with_body: bool,
    ) -> Result<ObjectRead> {
        self.authorized_bucket(principal, &req.bucket, Action::GetObject, Some(&req.key))?;
        // A concurrent overwrite may delete the blob between reading the metadata and opening
        // it; the metadata is then re-read (bounded) and the newer version served.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let version = self.read_version(&req.bucket, &req.key, req.version_id.as_deref())?;
            if version.delete_marker {
                return Err(Error::MethodNotAllowed(
                    "the specified version is a delete marker".to_owned(),
                ));
            }
            req.conditions.check(&version, false)?;
            let range = match (req.part_number, req.range) {
                (Some(_), Some(_)) => {
                    return Err(Error::InvalidRequest(
                        "Range and partNumber cannot both be given".to_owned(),
                    ));
                }
                (Some(n), None) => Some(part_range(&version, n)?),
                (None, Some(r)) => Some(r.resolve(version.size)?),
                (None, None) => None,
            };
            if !with_body {
                return Ok(ObjectRead {
                    version,
                    range,
                    body: None,
                });
            }
            let r = range.clone().unwrap_or(0..version.size);
            match segments_stream(self.objects.clone(), &version.segments, r).await {
                Ok(body) => {
                    return Ok(ObjectRead {
                        version,
                        range,
                        body: Some(body),
                    });
                }
                Err(Error::Objects(ObjectStoreError::NotFound(_))) if attempts < 3 => {}
                Err(err) => return Err(err),
            }
        }
    }

    /// DeleteObject, with or without a version id.
    pub async fn delete_object(
        &self,
        principal: Option<&Principal>,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<DeleteOutcome> {
        keys::validate_key(key)?;
        self.authorized_bucket(principal, bucket, Action::DeleteObject, Some(key))?;
        let owner = principal.map(|p| p.account_id.clone()).unwrap_or_default();
        let (state, bucket, key) = (self.state.clone(), bucket.to_owned(), key.to_owned());
        let version_id = version_id.map(str::to_owned);
        let (outcome, freed) = blocking(move || {
            transact(state.as_ref(), |txn| {
                let bucket = txn_bucket(txn, &bucket)?;
                if let Some(id) = &version_id {
                    return Ok(match remove_version(txn, &bucket.name, &key, id)? {
                        Some((removed, freed)) => (
                            DeleteOutcome {
                                version_id: Some(removed.version_id),
                                delete_marker: removed.delete_marker,
                            },
                            freed,
                        ),
                        None => (
                            DeleteOutcome {
                                version_id: Some(id.clone()),
                                delete_marker: false,
                            },
                            Vec::new(),
                        ),
                    });
                }
                if bucket.versioning == Versioning::Unversioned {
                    let mut freed = Vec::new();
                    if let Some((removed, f)) = remove_version(txn, &bucket.name, &key, "null")? {
                        let _ = removed;
                        freed = f;
                    }
                    return Ok((DeleteOutcome::default(), freed));
                }
                // Versioned or suspended: add a delete marker (suspended: as the null version,
                // replacing it), whether or not the key exists, as AWS does.
                let marker = ObjectVersion {
                    key: key.clone(),
                    version_id: String::new(),
                    seq: 0,
                    delete_marker: true,
                    size: 0,
                    etag: String::new(),
                    last_modified_ms: now_ms(),
                    segments: Vec::new(),
                    headers: ContentHeaders::default(),
                    metadata: BTreeMap::new(),
                    checksum: None,
                    parts: Vec::new(),
                    tags: Vec::new(),
                    owner_account_id: owner.clone(),
                    acl: None,
                };
                let (marker, freed) = commit_version(txn, &bucket, marker)?;
                Ok((
                    DeleteOutcome {
                        version_id: Some(marker.version_id),
                        delete_marker: true,
                    },
                    freed,
                ))
            })
        })
        .await?;
        self.delete_blobs(freed).await;
        Ok(outcome)
    }

    /// CopyObject: copies the source's bytes into a new blob (blobs are never shared) and
    /// commits the target version. Returns the new version and the source's version id.
    pub async fn copy_object(
        &self,
        principal: Option<&Principal>,
        req: CopyObjectRequest,
    ) -> Result<(ObjectVersion, String)> {
        keys::validate_key(&req.key)?;
        self.authorized_bucket(
            principal,
            &req.source_bucket,
            Action::GetObject,
            Some(&req.source_key),
        )?;
        self.authorized_bucket(principal, &req.bucket, Action::PutObject, Some(&req.key))?;
        let source = self.read_version(
            &req.source_bucket,
            &req.source_key,
            req.source_version_id.as_deref(),
        )?;
        if source.delete_marker {
            return Err(Error::InvalidRequest(
                "the source version is a delete marker".to_owned(),
            ));
        }
        req.conditions.check(&source, true)?;
        let same = req.source_bucket == req.bucket
            && req.source_key == req.key
            && req.source_version_id.is_none();
        if same
            && !req.replace_metadata
            && req.replace_tags.is_none()
            && req.checksum_algorithm.is_none()
        {
            return Err(Error::InvalidRequest(
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.".to_owned(),
            ));
        }
        let algorithm = req
            .checksum_algorithm
            .or(source.checksum.as_ref().map(|c| c.algorithm));
        let stored = self.copy_body(&source, 0..source.size, algorithm).await?;
        if let Some(tags) = &req.replace_tags {
            validate_tags(tags)?;
        }
        let (headers, metadata) = if req.replace_metadata {
            (req.headers, req.metadata)
        } else {
            (source.headers.clone(), source.metadata.clone())
        };
        let version = ObjectVersion {
            key: req.key.clone(),
            version_id: String::new(),
            seq: 0,
            delete_marker: false,
            size: stored.size,
            etag: stored.md5_hex.clone(),
            last_modified_ms: now_ms(),
            segments: vec![Segment {
                blob: stored.blob.clone(),
                len: stored.size,
            }],
            headers,
            metadata,
            checksum: stored.checksum.map(|(algorithm, value)| StoredChecksum {
                algorithm,
                value,
                kind: ChecksumKind::FullObject,
            }),
            parts: Vec::new(),
            tags: req.replace_tags.unwrap_or_else(|| source.tags.clone()),
            owner_account_id: principal.map(|p| p.account_id.clone()).unwrap_or_default(),
            acl: None,
        };
        let result = self
            .commit(req.bucket.clone(), move |txn, bucket| {
                commit_version(txn, bucket, version.clone())
            })
            .await;
        match result {
            Ok(v) => Ok((v, source.version_id)),
            Err(err) => {
                self.delete_blobs(vec![stored.blob]).await;
                Err(err)
            }
        }
    }

    /// GetObjectTagging: the version id and its tags.
    pub fn object_tagging(
        &self,
        principal: Option<&Principal>,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<(String, Vec<Tag>)> {
        self.authorized_bucket(principal, bucket, Action::GetObjectTagging, Some(key))?;
        let version = self.read_version(bucket, key, version_id)?;
        if version.delete_marker {
            return Err(Error::MethodNotAllowed(
                "the specified version is a delete marker".to_owned(),
            ));
        }
        Ok((version.version_id, version.tags))
    }

    /// PutObjectTagging (or DeleteObjectTagging with no tags); returns the version id.
    pub async fn put_object_tagging(
        &self,
        principal: Option<&Principal>,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        tags: Vec<Tag>,
    ) -> Result<String> {
        validate_tags(&tags)?;
        self.authorized_bucket(principal, bucket, Action::PutObjectTagging, Some(key))?;
        let (state, bucket, key) = (self.state.clone(), bucket.to_owned(), key.to_owned());
        let version_id = version_id.map(str::to_owned);
        blocking(move || {
            transact(state.as_ref(), |txn| {
                let versions = key_versions(txn, &bucket, &key)?;
                let found = match &version_id {
                    Some(id) => versions.into_iter().find(|(_, v)| &v.version_id == id),
                    None => versions.into_iter().next(),
                };
                let mut version = match found {
                    Some((_, v)) if !v.delete_marker => v,
                    Some(_) if version_id.is_some() => {
                        return Err(Error::MethodNotAllowed(
                            "the specified version is a delete marker".to_owned(),
                        ));
                    }
                    _ => {
                        return Err(match &version_id {
                            Some(id) => Error::NoSuchVersion(id.clone()),
                            None => Error::NoSuchKey(key.clone()),
                        });
                    }
                };
                version.tags = tags.clone();
                rewrite_version(txn, &bucket, &version)?;
                Ok(version.version_id)
            })
        })
        .await
    }
}

/// The byte range of part `n` of a multipart object (a single-part object has part 1).
fn part_range(version: &ObjectVersion, n: u32) -> Result<Range<u64>> {
    if version.parts.is_empty() {
        return if n == 1 {
            Ok(0..version.size)
        } else {
            Err(Error::InvalidRange { size: version.size })
        };
    }
    let index = usize::try_from(n).unwrap_or(usize::MAX);
    if index == 0 || index > version.parts.len() {
        return Err(Error::InvalidRange { size: version.size });
    }
    let start: u64 = version.parts[..index - 1].iter().map(|p| p.size).sum();
    Ok(start..start + version.parts[index - 1].size)
}
