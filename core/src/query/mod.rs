//! Generic rules every Query-protocol "describe" and "create" call shares, implemented once:
//! [`filter`] (EC2's `Filter.N.Name/Value.M` with wildcards and tags), [`paginate`] (opaque,
//! tamper-evident `NextToken`s, stable under concurrent inserts), [`idempotency`]
//! (`ClientToken`: the same token and parameters return the first result) and [`tags`] (tags
//! on every resource type).
//!
//! They know nothing of the wire: the protocol crate hands them typed values and maps a
//! [`Rejection`] to its error shape.

pub mod filter;
pub mod idempotency;
pub mod paginate;
pub mod tags;

/// A request these rules refuse. Kept apart from [`crate::Error`] because each variant is the
/// caller's fault with its own AWS code, which the protocol crate maps in one place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// A parameter value is not acceptable (`InvalidParameterValue`); the message names it.
    #[error("{0}")]
    InvalidParameterValue(String),
    /// A `NextToken` that Kumo did not issue for this query (`InvalidPaginationToken`).
    #[error("The specified pagination token is not valid or is expired: {0}")]
    InvalidPaginationToken(String),
}
