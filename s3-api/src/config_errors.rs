//! The "not configured" S3 errors of bucket sub-resources, one per kind. Called from
//! [`crate::error::to_s3`], the one place core errors become S3 errors; kept apart because the
//! codes and statuses are irregular (`ServerSideEncryptionConfigurationNotFoundError`, a code
//! s3s does not know, ...).

use http::StatusCode;
use kumo_core::s3::bucket_config::ConfigKind;
use s3s::{S3Error, S3ErrorCode};

/// The error S3 answers when a bucket has no configuration of `kind`.
pub fn not_configured(kind: ConfigKind) -> S3Error {
    use S3ErrorCode as C;
    let (code, message) = match kind {
        ConfigKind::Cors => (
            C::NoSuchCORSConfiguration,
            "The CORS configuration does not exist",
        ),
        ConfigKind::Policy => (C::NoSuchBucketPolicy, "The bucket policy does not exist"),
        ConfigKind::Tagging => (C::NoSuchTagSet, "The TagSet does not exist"),
        ConfigKind::OwnershipControls => (
            C::OwnershipControlsNotFoundError,
            "The bucket ownership controls were not found",
        ),
        ConfigKind::Website => (
            C::NoSuchWebsiteConfiguration,
            "The specified bucket does not have a website configuration",
        ),
        ConfigKind::Lifecycle => (
            C::NoSuchLifecycleConfiguration,
            "The lifecycle configuration does not exist",
        ),
        ConfigKind::Encryption => (
            C::ServerSideEncryptionConfigurationNotFoundError,
            "The server side encryption configuration was not found",
        ),
        ConfigKind::Replication => (
            C::ReplicationConfigurationNotFoundError,
            "The replication configuration was not found",
        ),
        ConfigKind::ObjectLock => (
            C::ObjectLockConfigurationNotFoundError,
            "Object Lock configuration does not exist for this bucket",
        ),
        ConfigKind::PublicAccessBlock => (
            C::Custom("NoSuchPublicAccessBlockConfiguration".into()),
            "The public access block configuration was not found",
        ),
    };
    let mut err = S3Error::with_message(code, message);
    // All of these are 404 in S3 (s3s has 400 for the encryption one, and none for custom codes).
    err.set_status_code(StatusCode::NOT_FOUND);
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses() {
        let e = not_configured(ConfigKind::Encryption);
        assert_eq!(
            e.code().as_str(),
            "ServerSideEncryptionConfigurationNotFoundError"
        );
        assert_eq!(e.status_code(), Some(StatusCode::NOT_FOUND));
        let e = not_configured(ConfigKind::PublicAccessBlock);
        assert_eq!(e.code().as_str(), "NoSuchPublicAccessBlockConfiguration");
        assert_eq!(e.status_code(), Some(StatusCode::NOT_FOUND));
        assert_eq!(
            not_configured(ConfigKind::Cors).code().as_str(),
            "NoSuchCORSConfiguration"
        );
    }
}
