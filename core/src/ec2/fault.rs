//! EC2's and ELBv2's client errors.
//!
//! These APIs answer with hundreds of precise error codes (`InvalidVpcID.NotFound`,
//! `DependencyViolation`, `InvalidPermission.Duplicate`, …) that SDK waiters and Terraform
//! match on; the code *is* the resource model's vocabulary, so the core names it. A [`Fault`]
//! is always the caller's fault and maps to HTTP 400 unless [`Fault::status`] says otherwise;
//! the protocol crate renders it in one place (`ec2-api/src/error.rs`).

/// A refused request: an AWS error code and a message for humans.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Fault {
    /// The AWS error code.
    pub code: &'static str,
    /// The message.
    pub message: String,
    /// HTTP status when not 400 (e.g. 503 for capacity).
    pub status: Option<u16>,
}

impl Fault {
    /// A fault with `code` and `message` (HTTP 400).
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            status: None,
        }
    }

    /// The same fault answered with another HTTP status.
    #[must_use]
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// `InvalidParameterValue`.
    pub fn invalid_value(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterValue", message)
    }

    /// `InvalidParameterCombination`.
    pub fn invalid_combination(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterCombination", message)
    }

    /// `MissingParameter`.
    pub fn missing(name: &str) -> Self {
        Self::new(
            "MissingParameter",
            format!("The request must contain the parameter {name}"),
        )
    }

    /// `DependencyViolation`.
    pub fn dependency(message: impl Into<String>) -> Self {
        Self::new("DependencyViolation", message)
    }

    /// `<code>` for an id that does not exist in the caller's account (e.g.
    /// `not_found("InvalidVpcID.NotFound", "vpc", id)`). Resources of other accounts are
    /// reported exactly like missing ones.
    pub fn not_found(code: &'static str, what: &str, id: &str) -> Self {
        Self::new(code, format!("The {what} ID '{id}' does not exist"))
    }
}

impl From<crate::query::Rejection> for Fault {
    fn from(r: crate::query::Rejection) -> Self {
        match r {
            crate::query::Rejection::InvalidParameterValue(m) => Self::invalid_value(m),
            crate::query::Rejection::InvalidPaginationToken(_) => {
                Self::new("InvalidPaginationToken", r.to_string())
            }
        }
    }
}
