//! The S3 records kept in the `StateStore` (JSON, see [`crate::records`]). Fields added later
//! carry `#[serde(default)]`, so old rows keep decoding; empty optional fields are omitted, which
//! keeps the rows read on every GET small and quick to decode.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::checksum::{ChecksumAlgorithm, ChecksumKind};

/// A bucket's versioning state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Versioning {
    /// Never enabled: every write replaces the `null` version.
    #[default]
    Unversioned,
    /// New writes get fresh version ids.
    Enabled,
    /// New writes replace the `null` version; older versions are kept.
    Suspended,
}

fn private() -> String {
    "private".to_owned()
}

/// A row of `s3_buckets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// The bucket name.
    pub name: String,
    /// The owning account.
    pub owner_account_id: String,
    /// The region it was created in (its LocationConstraint).
    pub region: String,
    /// Creation time, milliseconds since the epoch.
    pub created_ms: i64,
    /// Canned ACL; only `private` is enforced today (see `access.rs`).
    #[serde(default = "private")]
    pub acl: String,
    /// Versioning state.
    #[serde(default)]
    pub versioning: Versioning,
}

/// One stretch of an object's data: a whole blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// The blob id in the `ObjectStore`.
    pub blob: String,
    /// Its length.
    pub len: u64,
}

/// Headers stored with an object and returned on GET/HEAD.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentHeaders {
    /// `Content-Type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// `Content-Encoding`, without `aws-chunked`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    /// `Content-Disposition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    /// `Content-Language`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    /// `Cache-Control`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    /// `Expires`, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<i64>,
}

impl ContentHeaders {
    /// Whether no header is set (then the record omits them).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// An object tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// Tag key.
    pub key: String,
    /// Tag value.
    pub value: String,
}

/// A stored checksum of an object or part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredChecksum {
    /// The algorithm.
    pub algorithm: ChecksumAlgorithm,
    /// Base64 digest; composite checksums end in `-N`.
    pub value: String,
    /// Whole-object or composite (of part checksums).
    pub kind: ChecksumKind,
}

/// What a multipart object remembers about each of its parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartSummary {
    /// Part size.
    pub size: u64,
    /// Part checksum (base64), when one was computed.
    pub checksum: Option<String>,
}

/// One version of an object (or a delete marker): a row of `s3_versions`, and of `s3_objects`
/// while it is the key's latest version and not a delete marker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectVersion {
    /// The object key.
    pub key: String,
    /// The version id, `null` for versions written while versioning was off or suspended.
    pub version_id: String,
    /// Global write sequence number; orders versions of a key.
    pub seq: u64,
    /// Whether this is a delete marker (no data).
    pub delete_marker: bool,
    /// Size in bytes.
    pub size: u64,
    /// ETag without quotes (`hex md5`, or `hex-N` for multipart).
    pub etag: String,
    /// Last modification, milliseconds since the epoch.
    pub last_modified_ms: i64,
    /// The data, in order.
    pub segments: Vec<Segment>,
    /// Content headers.
    #[serde(default, skip_serializing_if = "ContentHeaders::is_empty")]
    pub headers: ContentHeaders,
    /// User metadata (`x-amz-meta-*`, names lower-case without the prefix).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// The checksum, when the client sent or asked for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<StoredChecksum>,
    /// Parts of a multipart object; empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PartSummary>,
    /// Object tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    /// The account that wrote it.
    pub owner_account_id: String,
    /// Canned ACL (`x-amz-acl`); `None` is `private`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<String>,
}

impl ObjectVersion {
    /// The ETag as sent on the wire, with quotes.
    #[must_use]
    pub fn quoted_etag(&self) -> String {
        format!("\"{}\"", self.etag)
    }
}

/// The outcome of a completed multipart upload, kept so a repeated Complete succeeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletedUpload {
    /// The object's ETag (unquoted).
    pub etag: String,
    /// The version id written.
    pub version_id: String,
    /// Completion time, milliseconds since the epoch.
    pub completed_ms: i64,
    /// The object's checksum.
    #[serde(default)]
    pub checksum: Option<StoredChecksum>,
}

/// A row of `s3_uploads`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    /// The upload id.
    pub upload_id: String,
    /// The object key.
    pub key: String,
    /// Initiation time, milliseconds since the epoch.
    pub initiated_ms: i64,
    /// The initiating account.
    pub owner_account_id: String,
    /// Headers for the final object.
    #[serde(default)]
    pub headers: ContentHeaders,
    /// Metadata for the final object.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Tags for the final object.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Checksum algorithm the parts must carry.
    #[serde(default)]
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    /// Checksum type of the final object.
    #[serde(default)]
    pub checksum_kind: Option<ChecksumKind>,
    /// Set once completed.
    #[serde(default)]
    pub completed: Option<CompletedUpload>,
}

/// A row of `s3_parts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// 1..=10000.
    pub part_number: u32,
    /// The blob holding its data.
    pub blob: String,
    /// Size in bytes.
    pub size: u64,
    /// ETag (unquoted hex md5).
    pub etag: String,
    /// Upload time, milliseconds since the epoch.
    pub last_modified_ms: i64,
    /// The part's checksum (base64).
    #[serde(default)]
    pub checksum: Option<String>,
    /// The algorithm of `checksum`.
    #[serde(default)]
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
}
