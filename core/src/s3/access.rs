//! Who may do what to a bucket: the ONE place S3 authorisation is decided.
//!
//! Today the rule is ownership: a signed request from the bucket owner's account is allowed,
//! anything else (another account, anonymous) is denied. ACL grants and bucket policies plug in
//! here later: they extend [`authorize`], and every S3 operation already calls it with its
//! [`Action`], the bucket record and the key.

use crate::iam::Principal;
use crate::{Error, Result};

use super::model::Bucket;

/// S3 actions, named as in IAM policies (`s3:GetObject`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `s3:ListBucket` (ListObjects, HeadBucket).
    ListBucket,
    /// `s3:ListBucketVersions`.
    ListBucketVersions,
    /// `s3:ListBucketMultipartUploads`.
    ListBucketMultipartUploads,
    /// `s3:DeleteBucket`.
    DeleteBucket,
    /// `s3:GetBucketLocation`.
    GetBucketLocation,
    /// `s3:GetBucketVersioning`.
    GetBucketVersioning,
    /// `s3:PutBucketVersioning`.
    PutBucketVersioning,
    /// `s3:GetObject` (GET, HEAD, copy source).
    GetObject,
    /// `s3:PutObject` (PUT, copy target, multipart).
    PutObject,
    /// `s3:DeleteObject`.
    DeleteObject,
    /// `s3:GetObjectTagging`.
    GetObjectTagging,
    /// `s3:PutObjectTagging` (and delete).
    PutObjectTagging,
    /// `s3:ListMultipartUploadParts`.
    ListMultipartUploadParts,
    /// `s3:AbortMultipartUpload`.
    AbortMultipartUpload,
}

impl Action {
    /// The IAM action name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::ListBucket => "s3:ListBucket",
            Self::ListBucketVersions => "s3:ListBucketVersions",
            Self::ListBucketMultipartUploads => "s3:ListBucketMultipartUploads",
            Self::DeleteBucket => "s3:DeleteBucket",
            Self::GetBucketLocation => "s3:GetBucketLocation",
            Self::GetBucketVersioning => "s3:GetBucketVersioning",
            Self::PutBucketVersioning => "s3:PutBucketVersioning",
            Self::GetObject => "s3:GetObject",
            Self::PutObject => "s3:PutObject",
            Self::DeleteObject => "s3:DeleteObject",
            Self::GetObjectTagging => "s3:GetObjectTagging",
            Self::PutObjectTagging => "s3:PutObjectTagging",
            Self::ListMultipartUploadParts => "s3:ListMultipartUploadParts",
            Self::AbortMultipartUpload => "s3:AbortMultipartUpload",
        }
    }
}

/// Decides whether `principal` (None: anonymous) may perform `action` on `bucket` (and `key`).
pub fn authorize(
    principal: Option<&Principal>,
    action: Action,
    bucket: &Bucket,
    key: Option<&str>,
) -> Result<()> {
    let _ = key;
    match principal {
        Some(p) if p.account_id == bucket.owner_account_id => Ok(()),
        Some(_) => Err(Error::AccessDenied(format!(
            "{} on bucket {} is not granted to this account",
            action.name(),
            bucket.name
        ))),
        None => Err(Error::AccessDenied(format!(
            "anonymous {} on bucket {} is not allowed",
            action.name(),
            bucket.name
        ))),
    }
}

/// Account-level operations (ListBuckets, CreateBucket) need a signed request.
pub fn require_principal(principal: Option<&Principal>) -> Result<&Principal> {
    principal.ok_or_else(|| Error::AccessDenied("anonymous requests are not allowed".to_owned()))
}
