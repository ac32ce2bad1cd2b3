//! `ObjectStore`: where the bytes of S3 objects (and later images and snapshots) live.
//!
//! The store holds immutable blobs named by ids the core chooses (never reused). The core
//! records which blobs make up which object in the [`StateStore`](crate::StateStore); a blob
//! becomes reachable only after that metadata commits, so a crash mid-write leaves at most an
//! unreferenced blob, which the core's garbage collector removes.
//!
//! Architecture invariant: `put` returns only after the blob's bytes are durable (fsynced) and
//! the blob is visible under its id in full; a partial blob is never visible under its id.

use std::ops::Range;
use std::pin::Pin;
use std::time::SystemTime;

use bytes::Bytes;
use futures::Stream;

/// A stream of body bytes.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// A blob's name: ASCII letters, digits, `-` and `_`, 1 to 128 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobId(String);

impl BlobId {
    /// Validates and wraps a blob id.
    pub fn new(id: impl Into<String>) -> Result<Self, ObjectStoreError> {
        let id = id.into();
        let valid = !id.is_empty()
            && id.len() <= 128
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid {
            Ok(Self(id))
        } else {
            Err(ObjectStoreError::InvalidId(id))
        }
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for BlobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a listing tells about a blob.
#[derive(Debug, Clone)]
pub struct BlobInfo {
    /// Its id.
    pub id: BlobId,
    /// Its size in bytes.
    pub len: u64,
    /// When it was written.
    pub modified: SystemTime,
}

/// Errors of an object store.
#[derive(Debug, thiserror::Error)]
pub enum ObjectStoreError {
    /// No blob has this id.
    #[error("blob {0} not found")]
    NotFound(BlobId),
    /// A blob with this id already exists.
    #[error("blob {0} already exists")]
    AlreadyExists(BlobId),
    /// The id is not a valid blob id.
    #[error("invalid blob id {0:?}")]
    InvalidId(String),
    /// The requested range lies outside the blob.
    #[error("range {start}..{end} outside blob of {len} bytes")]
    InvalidRange {
        /// Range start.
        start: u64,
        /// Range end.
        end: u64,
        /// Blob length.
        len: u64,
    },
    /// The body stream failed while being written (client went away, checksum failed, ...);
    /// nothing was stored.
    #[error("body stream failed: {0}")]
    Body(std::io::Error),
    /// The backend failed.
    #[error("object store I/O failure: {0}")]
    Io(#[from] std::io::Error),
}

/// A store of immutable blobs.
#[async_trait::async_trait]
pub trait ObjectStore: Send + Sync + 'static {
    /// Writes a new blob from `body` and returns its length. Returns only once the bytes are
    /// durable; on any error nothing is visible under `id`.
    async fn put(&self, id: &BlobId, body: ByteStream) -> Result<u64, ObjectStoreError>;

    /// Streams `range` of a blob (end exclusive, within the blob).
    async fn get(&self, id: &BlobId, range: Range<u64>) -> Result<ByteStream, ObjectStoreError>;

    /// The blob's length.
    async fn len(&self, id: &BlobId) -> Result<u64, ObjectStoreError>;

    /// Removes a blob. Removing a missing blob is not an error.
    async fn delete(&self, id: &BlobId) -> Result<(), ObjectStoreError>;

    /// Every blob, for garbage collection.
    async fn list(&self) -> Result<Vec<BlobInfo>, ObjectStoreError>;
}
