//! Secret lookup for s3s's SigV4/SigV2 verification.

use kumo_core::iam::Iam;
use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Result, s3_error};

/// Looks access keys up in Kumo's accounts.
#[derive(Debug, Clone)]
pub struct KumoAuth {
    iam: Iam,
}

impl KumoAuth {
    /// Authenticates against `iam`.
    #[must_use]
    pub fn new(iam: Iam) -> Self {
        Self { iam }
    }
}

#[async_trait::async_trait]
impl S3Auth for KumoAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.iam.authenticate(access_key) {
            Ok(key) => Ok(SecretKey::from(key.secret.expose())),
            Err(kumo_core::Error::UnknownAccessKey(_) | kumo_core::Error::InactiveAccessKey(_)) => {
                Err(s3_error!(
                    InvalidAccessKeyId,
                    "The AWS Access Key Id you provided does not exist in our records."
                ))
            }
            Err(err) => {
                tracing::error!(error = %err, "access key lookup failed");
                Err(s3_error!(InternalError))
            }
        }
    }
}
