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
    /// The bucket has ACLs disabled (ownership `BucketOwnerEnforced`) and the request sets
    /// an ACL that grants access to others.
    #[error("the bucket does not allow ACLs")]
    AclNotSupported,
}
