//! The core's one error type. Each protocol crate maps it to its wire format in one place
//! (`s3-api/src/error.rs`, `ec2-api/src/error.rs`).

use kumo_driver_api::{ObjectStoreError, StateError};

/// The core's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong in the core, in the resource model's own words.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The access key id is not known.
    #[error("the access key id {0} does not exist")]
    UnknownAccessKey(String),
    /// The access key exists but was revoked.
    #[error("the access key id {0} is inactive")]
    InactiveAccessKey(String),
    /// The account does not exist.
    #[error("account {0} does not exist")]
    NoSuchAccount(String),
    /// An account with this name exists already.
    #[error("an account named {0:?} already exists")]
    AccountExists(String),
    /// The caller may not do this.
    #[error("access denied: {0}")]
    AccessDenied(String),
    /// An argument is malformed or out of range; the message names it.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    // ---- S3 ----
    /// The bucket does not exist.
    #[error("the bucket {0} does not exist")]
    NoSuchBucket(String),
    /// The key does not exist (or its latest version is a delete marker).
    #[error("the key {0} does not exist")]
    NoSuchKey(String),
    /// The version does not exist.
    #[error("the version {0} does not exist")]
    NoSuchVersion(String),
    /// The multipart upload does not exist (aborted, or never created).
    #[error("the multipart upload {0} does not exist")]
    NoSuchUpload(String),
    /// The bucket name is taken by another account.
    #[error("the bucket {0} already exists")]
    BucketAlreadyExists(String),
    /// The caller's account already owns this bucket.
    #[error("the bucket {0} is already owned by you")]
    BucketAlreadyOwnedByYou(String),
    /// The bucket still holds objects, versions, delete markers or uploads.
    #[error("the bucket {0} is not empty")]
    BucketNotEmpty(String),
    /// The LocationConstraint names another region.
    #[error("invalid location constraint {0:?}")]
    InvalidLocationConstraint(String),
    /// The bucket name breaks the naming rules.
    #[error("invalid bucket name {0:?}")]
    InvalidBucketName(String),
    /// The key is longer than 1024 bytes.
    #[error("the key is longer than 1024 bytes")]
    KeyTooLong,
    /// A precondition (If-Match, If-None-Match on write, If-Unmodified-Since, copy-source
    /// conditions) failed.
    #[error("a precondition failed: {0}")]
    PreconditionFailed(&'static str),
    /// A read precondition says the client's copy is current (If-None-Match, If-Modified-Since).
    #[error("not modified")]
    NotModified {
        /// The object's ETag, quoted.
        etag: String,
        /// Last modification, milliseconds since the epoch.
        last_modified_ms: i64,
    },
    /// The requested range does not overlap the object.
    #[error("the range is not satisfiable for an object of {size} bytes")]
    InvalidRange {
        /// The object's size.
        size: u64,
    },
    /// The body does not match a digest the client sent (Content-MD5 or a checksum).
    #[error("the body does not match its {0}")]
    BadDigest(String),
    /// A digest the client sent is malformed.
    #[error("the {0} is malformed")]
    InvalidDigest(String),
    /// The body was shorter or longer than announced, or the client went away.
    #[error("the body was incomplete: {0}")]
    IncompleteBody(String),
    /// A body stream failed with an error from the protocol layer (e.g. a bad chunk
    /// signature); the protocol crate recovers its own error from the source.
    #[error("the body stream failed: {0}")]
    BodyStream(std::io::Error),
    /// The body exceeds the configured maximum object (or part) size.
    #[error("the body exceeds the maximum size of {max} bytes")]
    EntityTooLarge {
        /// The limit.
        max: u64,
    },
    /// A part other than the last is smaller than 5 MiB.
    #[error("part {0} is smaller than the minimum part size")]
    EntityTooSmall(u32),
    /// A part named in CompleteMultipartUpload was not uploaded or its ETag differs.
    #[error("part {0} was not uploaded or its ETag does not match")]
    InvalidPart(u32),
    /// The parts named in CompleteMultipartUpload are not in ascending order.
    #[error("the part list is not in ascending order")]
    InvalidPartOrder,
    /// The request is inconsistent (the message says how).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The operation does not apply to this resource (e.g. GET of a delete marker by version).
    #[error("method not allowed: {0}")]
    MethodNotAllowed(String),
    /// The tag set breaks the tagging rules.
    #[error("invalid tag: {0}")]
    InvalidTag(String),
    /// The state store failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// The object store failed.
    #[error(transparent)]
    Objects(#[from] ObjectStoreError),
    /// A stored record could not be decoded: a bug or corruption, never the caller's fault.
    #[error("corrupt record in {table}: {detail}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What failed.
        detail: String,
    },
    /// A background task failed (panicked or was cancelled).
    #[error("internal task failure: {0}")]
    Task(String),
    // ---- S3 bucket configuration (policy, ACL, CORS, tagging, sub-resources) ----
    /// A bucket policy document is invalid; the message says why (as AWS's MalformedPolicy).
    #[error("malformed policy: {0}")]
    MalformedPolicy(String),
    /// A configuration document is structurally invalid (too many rules, missing fields).
    #[error("malformed configuration: {0}")]
    MalformedConfiguration(String),
    /// A CORS configuration breaks a rule S3 enforces (unsupported method, two wildcards).
    #[error("invalid CORS configuration: {0}")]
    InvalidCors(String),
    /// The bucket has no configuration of this kind.
    #[error("the bucket {bucket} has no {kind:?} configuration")]
    NoSuchBucketConfig {
        /// The bucket.
        bucket: String,
        /// Which sub-resource is missing.
        kind: crate::s3::bucket_config::ConfigKind,
    },
    // ---- EC2 and ELBv2 ----
    /// A request the EC2 or ELBv2 control plane refuses, with AWS's error code.
    #[error(transparent)]
    Fault(#[from] crate::ec2::Fault),
    /// The bucket has ACLs disabled (ownership `BucketOwnerEnforced`) and the request sets
    /// an ACL that grants access to others.
    #[error("the bucket does not allow ACLs")]
    AclNotSupported,
}
