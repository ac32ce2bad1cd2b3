//! PutBucketVersioning, GetBucketVersioning.

use kumo_core::s3::model::Versioning;
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use crate::conv::principal;
use crate::error::CoreResultExt;
use crate::service::KumoS3;

pub async fn put_bucket_versioning(
    s: &KumoS3,
    req: S3Request<PutBucketVersioningInput>,
) -> S3Result<S3Response<PutBucketVersioningOutput>> {
    let p = principal(&s.iam, &req)?;
    let enabled = match req
        .input
        .versioning_configuration
        .status
        .as_ref()
        .map(BucketVersioningStatus::as_str)
    {
        Some(BucketVersioningStatus::ENABLED) => true,
        Some(BucketVersioningStatus::SUSPENDED) => false,
        _ => {
            return Err(S3Error::with_message(
                S3ErrorCode::MalformedXML,
                "The versioning status must be Enabled or Suspended",
            ));
        }
    };
    s.core
        .put_bucket_versioning(p.as_ref(), &req.input.bucket, enabled)
        .await
        .s3()?;
    Ok(S3Response::new(PutBucketVersioningOutput {}))
}

pub async fn get_bucket_versioning(
    s: &KumoS3,
    req: S3Request<GetBucketVersioningInput>,
) -> S3Result<S3Response<GetBucketVersioningOutput>> {
    let p = principal(&s.iam, &req)?;
    let status = match s
        .core
        .bucket_versioning(p.as_ref(), &req.input.bucket)
        .s3()?
    {
        Versioning::Unversioned => None,
        Versioning::Enabled => Some(BucketVersioningStatus::from_static(
            BucketVersioningStatus::ENABLED,
        )),
        Versioning::Suspended => Some(BucketVersioningStatus::from_static(
            BucketVersioningStatus::SUSPENDED,
        )),
    };
    Ok(S3Response::new(GetBucketVersioningOutput {
        mfa_delete: None,
        status,
    }))
}
