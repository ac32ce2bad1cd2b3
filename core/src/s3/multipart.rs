//! Multipart uploads. Parts are blobs of their own; completing an upload makes the object's
//! segments the chosen parts' blobs BY REFERENCE (no data is copied) and deletes the rest.

use std::collections::BTreeMap;
use std::ops::Range;

use kumo_driver_api::{ByteStream, KeyRange, transact};

use crate::iam::Principal;
use crate::records::{blocking, decode, encode};
use crate::{Error, Result};

use super::access::Action;
use super::checksum::{ChecksumAlgorithm, ChecksumKind, Integrity, multipart_checksum};
use super::model::{
    CompletedUpload, ContentHeaders, ObjectVersion, Part, PartSummary, Segment, StoredChecksum,
    Tag, Upload,
};
use super::objects::{ByteRange, Conditions, validate_tags};
use super::versioning::{commit_version, txn_bucket};
use super::{ObjectService, PARTS, UPLOADS, keys, now_ms};

/// Smallest size of any part but the last.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// Highest part number.
pub const MAX_PART_NUMBER: u32 = 10_000;

/// A CreateMultipartUpload.
#[derive(Debug, Clone, Default)]
pub struct CreateUploadRequest {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Headers of the final object.
    pub headers: ContentHeaders,
    /// Metadata of the final object.
    pub metadata: BTreeMap<String, String>,
    /// Tags of the final object.
    pub tags: Vec<Tag>,
    /// Checksum algorithm of the parts.
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    /// Checksum type of the final object.
    pub checksum_kind: Option<ChecksumKind>,
}

/// One part named in CompleteMultipartUpload.
#[derive(Debug, Clone)]
pub struct CompletedPart {
    /// Part number.
    pub part_number: u32,
    /// ETag the client got for it (quotes optional).
    pub etag: String,
}

/// The source of an UploadPartCopy.
#[derive(Debug, Clone, Default)]
pub struct PartCopySource {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Version.
    pub version_id: Option<String>,
    /// `x-amz-copy-source-range`.
    pub range: Option<ByteRange>,
    /// `x-amz-copy-source-if-*`.
    pub conditions: Conditions,
}

/// A page of ListParts.
#[derive(Debug, Clone, Default)]
pub struct PartsPage {
    /// The upload.
    pub upload: Option<Upload>,
    /// Parts in order.
    pub parts: Vec<Part>,
    /// More parts follow.
    pub is_truncated: bool,
    /// The last part number returned.
    pub next_marker: Option<u32>,
}

/// A ListMultipartUploads request.
#[derive(Debug, Clone, Default)]
pub struct ListUploadsRequest {
    /// Bucket.
    pub bucket: String,
    /// Only keys with this prefix.
    pub prefix: String,
    /// Group keys by this delimiter.
    pub delimiter: Option<String>,
    /// Start after this key (or after this upload of it, with `upload_id_marker`).
    pub key_marker: Option<String>,
    /// Start after this upload of `key_marker`.
    pub upload_id_marker: Option<String>,
    /// At most this many uploads plus common prefixes.
    pub max_uploads: usize,
}

/// A page of ListMultipartUploads.
#[derive(Debug, Clone, Default)]
pub struct UploadsPage {
    /// In-progress uploads by key, then upload id.
    pub uploads: Vec<Upload>,
    /// Common prefixes.
    pub common_prefixes: Vec<String>,
    /// More follow.
    pub is_truncated: bool,
    /// Where the next page starts.
    pub next_key_marker: Option<String>,
    /// Where the next page starts within a key.
    pub next_upload_id_marker: Option<String>,
}

fn upload_id() -> String {
    // Time-ordered so that uploads of one key list oldest first, as in AWS.
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    format!("{:020x}{}", nanos, uuid::Uuid::new_v4().simple())
}

fn load_upload(
    txn: &mut dyn kumo_driver_api::WriteTxn,
    bucket: &str,
    key: &str,
    id: &str,
) -> Result<Upload> {
    match txn.get(UPLOADS, &keys::upload_key(bucket, key, id))? {
        Some(v) => decode(UPLOADS, &v),
        None => Err(Error::NoSuchUpload(id.to_owned())),
    }
}

impl ObjectService {
    fn upload(&self, bucket: &str, key: &str, id: &str) -> Result<Upload> {
        match self
            .state
            .get(UPLOADS, &keys::upload_key(bucket, key, id))?
        {
            Some(v) => decode(UPLOADS, &v),
            None => Err(Error::NoSuchUpload(id.to_owned())),
        }
    }

    /// CreateMultipartUpload.
    pub async fn create_multipart_upload(
        &self,
        principal: Option<&Principal>,
        req: CreateUploadRequest,
    ) -> Result<Upload> {
        keys::validate_key(&req.key)?;
        validate_tags(&req.tags)?;
        self.authorized_bucket(principal, &req.bucket, Action::PutObject, Some(&req.key))?;
        let upload = Upload {
            upload_id: upload_id(),
            key: req.key.clone(),
            initiated_ms: now_ms(),
            owner_account_id: principal.map(|p| p.account_id.clone()).unwrap_or_default(),
            headers: req.headers,
            metadata: req.metadata,
            tags: req.tags,
            checksum_algorithm: req.checksum_algorithm,
            checksum_kind: req
                .checksum_algorithm
                .map(|_| req.checksum_kind.unwrap_or(ChecksumKind::Composite)),
            completed: None,
        };
        let (state, bucket) = (self.state.clone(), req.bucket);
        blocking(move || {
            transact(state.as_ref(), |txn| {
                txn_bucket(txn, &bucket)?;
                let row = keys::upload_key(&bucket, &upload.key, &upload.upload_id);
                txn.put(UPLOADS, &row, &encode(UPLOADS, &upload)?)?;
                Ok(upload.clone())
            })
        })
        .await
    }

    /// UploadPart: stores and verifies the body, then records the part (replacing an earlier
    /// part with the same number).
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_part(
        &self,
        principal: Option<&Principal>,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: ByteStream,
        integrity: Integrity,
    ) -> Result<Part> {
        self.authorized_bucket(principal, bucket, Action::PutObject, Some(key))?;
        check_part_number(part_number)?;
        let upload = self.upload(bucket, key, upload_id)?;
        if upload.completed.is_some() {
            return Err(Error::NoSuchUpload(upload_id.to_owned()));
        }
        let stored = self
            .store_body(body, integrity, upload.checksum_algorithm)
            .await?;
        let part = Part {
            part_number,
            blob: stored.blob,
            size: stored.size,
            etag: stored.md5_hex,
            last_modified_ms: now_ms(),
            checksum_algorithm: stored.checksum.as_ref().map(|(a, _)| *a),
            checksum: stored.checksum.map(|(_, v)| v),
        };
        self.record_part(bucket, key, upload_id, part).await
    }

    /// UploadPartCopy: copies (a range of) an object into a part.
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_part_copy(
        &self,
        principal: Option<&Principal>,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        source: PartCopySource,
    ) -> Result<Part> {
        self.authorized_bucket(principal, bucket, Action::PutObject, Some(key))?;
        self.authorized_bucket(
            principal,
            &source.bucket,
            Action::GetObject,
            Some(&source.key),
        )?;
        check_part_number(part_number)?;
        let upload = self.upload(bucket, key, upload_id)?;
        if upload.completed.is_some() {
            return Err(Error::NoSuchUpload(upload_id.to_owned()));
        }
        let version =
            self.read_version(&source.bucket, &source.key, source.version_id.as_deref())?;
        if version.delete_marker {
            return Err(Error::InvalidRequest(
                "the source version is a delete marker".to_owned(),
            ));
        }
        source.conditions.check(&version, true)?;
        let range: Range<u64> = match source.range {
            Some(ByteRange::FromTo(first, Some(last))) if first <= last && last < version.size => {
                first..last + 1
            }
            Some(_) => return Err(Error::InvalidRange { size: version.size }),
            None => 0..version.size,
        };
        let stored = self
            .copy_body(&version, range, upload.checksum_algorithm)
            .await?;
        let part = Part {
            part_number,
            blob: stored.blob,
            size: stored.size,
            etag: stored.md5_hex,
            last_modified_ms: now_ms(),
            checksum_algorithm: stored.checksum.as_ref().map(|(a, _)| *a),
            checksum: stored.checksum.map(|(_, v)| v),
        };
        self.record_part(bucket, key, upload_id, part).await
    }

    async fn record_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part: Part,
    ) -> Result<Part> {
        let (state, b, k, u) = (
            self.state.clone(),
            bucket.to_owned(),
            key.to_owned(),
            upload_id.to_owned(),
        );
        let new_blob = part.blob.clone();
        let result = blocking(move || {
            transact(state.as_ref(), |txn| {
                let upload = load_upload(txn, &b, &k, &u)?;
                if upload.completed.is_some() {
                    return Err(Error::NoSuchUpload(u.clone()));
                }
                let row = keys::part_key(&u, part.part_number);
                let old = match txn.get(PARTS, &row)? {
                    Some(v) => Some(decode::<Part>(PARTS, &v)?.blob),
                    None => None,
                };
                txn.put(PARTS, &row, &encode(PARTS, &part)?)?;
                Ok((part.clone(), old))
            })
        })
        .await;
        match result {
            Ok((part, old)) => {
                self.delete_blobs(old.into_iter().collect()).await;
                Ok(part)
            }
            Err(err) => {
                self.delete_blobs(vec![new_blob]).await;
                Err(err)
            }
        }
    }

    /// CompleteMultipartUpload. A repeated Complete of a completed upload returns the same
    /// result. Returns the new version.
    pub async fn complete_multipart_upload(
        &self,
        principal: Option<&Principal>,
        bucket: &str,
        key: &str,
        upload_id: &str,
        requested: Vec<CompletedPart>,
    ) -> Result<ObjectVersion> {
        self.authorized_bucket(principal, bucket, Action::PutObject, Some(key))?;
        if requested.is_empty() {
            return Err(Error::InvalidRequest(
                "You must specify at least one part".to_owned(),
            ));
        }
        let (state, b, k, u) = (
            self.state.clone(),
            bucket.to_owned(),
            key.to_owned(),
            upload_id.to_owned(),
        );
        let owner = principal.map(|p| p.account_id.clone()).unwrap_or_default();
        let (version, freed) = blocking(move || {
            transact(state.as_ref(), |txn| {
                let bucket = txn_bucket(txn, &b)?;
                let mut upload = load_upload(txn, &b, &k, &u)?;
                if let Some(done) = &upload.completed {
                    let version = ObjectVersion {
                        key: k.clone(),
                        version_id: done.version_id.clone(),
                        seq: 0,
                        delete_marker: false,
                        size: 0,
                        etag: done.etag.clone(),
                        last_modified_ms: done.completed_ms,
                        segments: Vec::new(),
                        headers: ContentHeaders::default(),
                        metadata: BTreeMap::new(),
                        checksum: done.checksum.clone(),
                        parts: Vec::new(),
                        tags: Vec::new(),
                        owner_account_id: upload.owner_account_id.clone(),
                        acl: None,
                    };
                    return Ok((version, Vec::new()));
                }
                let prefix = keys::parts_prefix(&u);
                let mut stored: BTreeMap<u32, (Vec<u8>, Part)> = BTreeMap::new();
                for (row, v) in txn.scan(PARTS, &prefix, KeyRange::prefix(&prefix), usize::MAX)? {
                    let part: Part = decode(PARTS, &v)?;
                    stored.insert(part.part_number, (row, part));
                }
                let mut chosen = Vec::with_capacity(requested.len());
                let mut last = 0u32;
                for req in &requested {
                    if req.part_number <= last {
                        return Err(Error::InvalidPartOrder);
                    }
                    last = req.part_number;
                    let Some((_, part)) = stored.get(&req.part_number) else {
                        return Err(Error::InvalidPart(req.part_number));
                    };
                    if req.etag.trim().trim_matches('"') != part.etag {
                        return Err(Error::InvalidPart(req.part_number));
                    }
                    chosen.push(part.clone());
                }
                for part in &chosen[..chosen.len() - 1] {
                    if part.size < MIN_PART_SIZE {
                        return Err(Error::EntityTooSmall(part.part_number));
                    }
                }
                let mut md5s = Vec::with_capacity(chosen.len() * 16);
                for part in &chosen {
                    md5s.extend(hex::decode(&part.etag).map_err(|e| Error::Corrupt {
                        table: PARTS,
                        detail: e.to_string(),
                    })?);
                }
                let etag = format!("{}-{}", hex::encode(compute_md5(&md5s)), chosen.len());
                let checksum = match (upload.checksum_algorithm, upload.checksum_kind) {
                    (Some(algorithm), Some(kind)) => {
                        let sums: Option<Vec<(u64, String)>> = chosen
                            .iter()
                            .map(|p| {
                                p.checksum
                                    .clone()
                                    .filter(|_| p.checksum_algorithm.is_none_or(|a| a == algorithm))
                                    .map(|c| (p.size, c))
                            })
                            .collect();
                        sums.and_then(|s| multipart_checksum(algorithm, kind, &s))
                            .map(|value| StoredChecksum {
                                algorithm,
                                value,
                                kind,
                            })
                    }
                    _ => None,
                };
                let version = ObjectVersion {
                    key: k.clone(),
                    version_id: String::new(),
                    seq: 0,
                    delete_marker: false,
                    size: chosen.iter().map(|p| p.size).sum(),
                    etag: etag.clone(),
                    last_modified_ms: now_ms(),
                    segments: chosen
                        .iter()
                        .map(|p| Segment {
                            blob: p.blob.clone(),
                            len: p.size,
                        })
                        .collect(),
                    headers: upload.headers.clone(),
                    metadata: upload.metadata.clone(),
                    checksum: checksum.clone(),
                    parts: chosen
                        .iter()
                        .map(|p| PartSummary {
                            size: p.size,
                            checksum: p.checksum.clone(),
                        })
                        .collect(),
                    tags: upload.tags.clone(),
                    owner_account_id: owner.clone(),
                    acl: None,
                };
                let (version, mut freed) = commit_version(txn, &bucket, version)?;
                let used: std::collections::HashSet<u32> =
                    chosen.iter().map(|p| p.part_number).collect();
                for (number, (row, part)) in stored {
                    txn.delete(PARTS, &row)?;
                    if !used.contains(&number) {
                        freed.push(part.blob);
                    }
                }
                upload.completed = Some(CompletedUpload {
                    etag,
                    version_id: version.version_id.clone(),
                    completed_ms: version.last_modified_ms,
                    checksum,
                });
                txn.put(
                    UPLOADS,
                    &keys::upload_key(&b, &k, &u),
                    &encode(UPLOADS, &upload)?,
                )?;
                Ok((version, freed))
            })
        })
        .await?;
        self.delete_blobs(freed).await;
        Ok(version)
    }

    /// AbortMultipartUpload: removes the upload and its parts.
    pub async fn abort_multipart_upload(
        &self,
        principal: Option<&Principal>,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<()> {
        self.authorized_bucket(principal, bucket, Action::AbortMultipartUpload, Some(key))?;
        let (state, b, k, u) = (
            self.state.clone(),
            bucket.to_owned(),
            key.to_owned(),
            upload_id.to_owned(),
        );
        let freed = blocking(move || {
            transact(state.as_ref(), |txn| {
                let upload = load_upload(txn, &b, &k, &u)?;
                if upload.completed.is_some() {
                    return Err(Error::NoSuchUpload(u.clone()));
                }
                let prefix = keys::parts_prefix(&u);
                let mut freed = Vec::new();
                for (row, v) in txn.scan(PARTS, &prefix, KeyRange::prefix(&prefix), usize::MAX)? {
                    freed.push(decode::<Part>(PARTS, &v)?.blob);
                    txn.delete(PARTS, &row)?;
                }
                txn.delete(UPLOADS, &keys::upload_key(&b, &k, &u))?;
                Ok(freed)
            })
        })
        .await?;
        self.delete_blobs(freed).await;
        Ok(())
    }

    /// ListParts.
    pub fn list_parts(
        &self,
        principal: Option<&Principal>,
        bucket: &str,
        key: &str,
        upload_id: &str,
        marker: Option<u32>,
        max_parts: usize,
    ) -> Result<PartsPage> {
        self.authorized_bucket(
            principal,
            bucket,
            Action::ListMultipartUploadParts,
            Some(key),
        )?;
        let upload = self.upload(bucket, key, upload_id)?;
        if upload.completed.is_some() {
            return Err(Error::NoSuchUpload(upload_id.to_owned()));
        }
        let prefix = keys::parts_prefix(upload_id);
        let start = keys::part_key(upload_id, marker.unwrap_or(0));
        let range = KeyRange::after(&start);
        let rows = self
            .state
            .scan(PARTS, &prefix, range, max_parts.saturating_add(1))?;
        let mut parts: Vec<Part> = rows
            .into_iter()
            .map(|(_, v)| decode(PARTS, &v))
            .collect::<Result<_>>()?;
        let is_truncated = parts.len() > max_parts;
        parts.truncate(max_parts);
        let next_marker = parts.last().map(|p| p.part_number);
        Ok(PartsPage {
            upload: Some(upload),
            parts,
            is_truncated,
            next_marker,
        })
    }

    /// ListMultipartUploads.
    pub fn list_multipart_uploads(
        &self,
        principal: Option<&Principal>,
        req: &ListUploadsRequest,
    ) -> Result<UploadsPage> {
        let ListUploadsRequest {
            bucket,
            prefix,
            delimiter,
            key_marker,
            upload_id_marker,
            max_uploads,
        } = req;
        let (bucket, prefix, delimiter) = (bucket.as_str(), prefix.as_str(), delimiter.as_deref());
        let (key_marker, upload_id_marker, max_uploads) = (
            key_marker.as_deref(),
            upload_id_marker.as_deref(),
            *max_uploads,
        );
        self.authorized_bucket(principal, bucket, Action::ListBucketMultipartUploads, None)?;
        let scan_prefix = keys::object_key(bucket, prefix);
        let start = match (key_marker, upload_id_marker) {
            (Some(k), Some(u)) if !u.is_empty() => keys::upload_key(bucket, k, u),
            (Some(k), _) => {
                let mut s = keys::object_key(bucket, k);
                s.push(1);
                s
            }
            _ => scan_prefix.clone(),
        };
        let inclusive = key_marker.is_none() || upload_id_marker.is_none_or(str::is_empty);
        let range = KeyRange {
            start: if inclusive {
                std::ops::Bound::Included(start.as_slice())
            } else {
                std::ops::Bound::Excluded(start.as_slice())
            },
            end: std::ops::Bound::Unbounded,
        };
        let mut page = UploadsPage::default();
        let rows = self.state.scan(UPLOADS, &scan_prefix, range, usize::MAX)?;
        let mut count = 0usize;
        for (_, v) in rows {
            let upload: Upload = decode(UPLOADS, &v)?;
            if upload.completed.is_some() {
                continue;
            }
            let cp = delimiter.filter(|d| !d.is_empty()).and_then(|d| {
                let rest = upload.key.get(prefix.len()..)?;
                rest.find(d)
                    .map(|i| upload.key[..prefix.len() + i + d.len()].to_owned())
            });
            if let Some(cp) = &cp
                && page.common_prefixes.last() == Some(cp)
            {
                continue;
            }
            if count >= max_uploads {
                page.is_truncated = true;
                break;
            }
            count += 1;
            match cp {
                Some(cp) => {
                    page.next_key_marker = Some(cp.clone());
                    page.next_upload_id_marker = None;
                    page.common_prefixes.push(cp);
                }
                None => {
                    page.next_key_marker = Some(upload.key.clone());
                    page.next_upload_id_marker = Some(upload.upload_id.clone());
                    page.uploads.push(upload);
                }
            }
        }
        Ok(page)
    }
}

fn check_part_number(n: u32) -> Result<()> {
    if (1..=MAX_PART_NUMBER).contains(&n) {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive"
        )))
    }
}

fn compute_md5(data: &[u8]) -> [u8; 16] {
    use ::md5::Digest as _;
    ::md5::Md5::digest(data).into()
}
