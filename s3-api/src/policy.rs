//! Bucket policies on the wire: PutBucketPolicy, GetBucketPolicy, DeleteBucketPolicy,
//! GetBucketPolicyStatus. The document travels as JSON text; the core validates and evaluates.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use crate::conv::principal;
use crate::error::CoreResultExt;
use crate::service::KumoS3;

pub async fn put_bucket_policy(
    s: &KumoS3,
    req: S3Request<PutBucketPolicyInput>,
) -> S3Result<S3Response<PutBucketPolicyOutput>> {
    let p = principal(&s.iam, &req)?;
    let i = req.input;
    s.core
        .put_bucket_policy(p.as_ref(), &i.bucket, i.policy)
        .await
        .s3()?;
    Ok(S3Response::new(PutBucketPolicyOutput {}))
}

pub async fn get_bucket_policy(
    s: &KumoS3,
    req: S3Request<GetBucketPolicyInput>,
) -> S3Result<S3Response<GetBucketPolicyOutput>> {
    let p = principal(&s.iam, &req)?;
    let policy = s.core.bucket_policy(p.as_ref(), &req.input.bucket).s3()?;
    Ok(S3Response::new(GetBucketPolicyOutput {
        policy: Some(policy),
    }))
}

pub async fn delete_bucket_policy(
    s: &KumoS3,
    req: S3Request<DeleteBucketPolicyInput>,
) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
    let p = principal(&s.iam, &req)?;
    s.core
        .delete_bucket_policy(p.as_ref(), &req.input.bucket)
        .await
        .s3()?;
    Ok(S3Response::new(DeleteBucketPolicyOutput {}))
}

pub async fn get_bucket_policy_status(
    s: &KumoS3,
    req: S3Request<GetBucketPolicyStatusInput>,
) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
    let p = principal(&s.iam, &req)?;
    let is_public = s
        .core
        .bucket_policy_is_public(p.as_ref(), &req.input.bucket)
        .s3()?;
    Ok(S3Response::new(GetBucketPolicyStatusOutput {
        policy_status: Some(PolicyStatus {
            is_public: Some(is_public),
        }),
    }))
}
