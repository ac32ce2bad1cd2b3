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
}
