//! Stored bucket sub-resources without a module of their own: bucket tagging
//! (Put/Get/DeleteBucketTagging) and ownership controls (Put/Get/DeleteBucketOwnershipControls).

use kumo_core::s3::bucket_config::{
    ObjectOwnership as CoreOwnership, OwnershipControls as CoreControls,
};
use kumo_core::s3::bucket_tagging::{BucketTag, BucketTags};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use crate::conv::principal;
use crate::error::CoreResultExt;
use crate::service::KumoS3;

pub async fn put_bucket_tagging(
    s: &KumoS3,
    req: S3Request<PutBucketTaggingInput>,
) -> S3Result<S3Response<PutBucketTaggingOutput>> {
    let p = principal(&s.iam, &req)?;
    let i = req.input;
    let tags = BucketTags {
        tags: i
            .tagging
            .tag_set
            .into_iter()
            .map(|t| BucketTag {
                key: t.key.unwrap_or_default(),
                value: t.value.unwrap_or_default(),
            })
            .collect(),
    };
    s.core
        .put_bucket_tagging(p.as_ref(), &i.bucket, tags)
        .await
        .s3()?;
    Ok(S3Response::new(PutBucketTaggingOutput {}))
}

pub async fn get_bucket_tagging(
    s: &KumoS3,
    req: S3Request<GetBucketTaggingInput>,
) -> S3Result<S3Response<GetBucketTaggingOutput>> {
    let p = principal(&s.iam, &req)?;
    let tags = s.core.bucket_tagging(p.as_ref(), &req.input.bucket).s3()?;
    Ok(S3Response::new(GetBucketTaggingOutput {
        tag_set: tags
            .tags
            .into_iter()
            .map(|t| Tag {
                key: Some(t.key),
                value: Some(t.value),
            })
            .collect(),
    }))
}

pub async fn delete_bucket_tagging(
    s: &KumoS3,
    req: S3Request<DeleteBucketTaggingInput>,
) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
    let p = principal(&s.iam, &req)?;
    s.core
        .delete_bucket_tagging(p.as_ref(), &req.input.bucket)
        .await
        .s3()?;
    Ok(S3Response::new(DeleteBucketTaggingOutput {}))
}

pub async fn put_bucket_ownership_controls(
    s: &KumoS3,
    req: S3Request<PutBucketOwnershipControlsInput>,
) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
    let p = principal(&s.iam, &req)?;
    let i = req.input;
    let malformed = || {
        S3Error::with_message(
            S3ErrorCode::MalformedXML,
            "OwnershipControls needs exactly one Rule with a valid ObjectOwnership",
        )
    };
    let [rule] = i.ownership_controls.rules.as_slice() else {
        return Err(malformed());
    };
    let ownership = CoreOwnership::parse(rule.object_ownership.as_str()).ok_or_else(malformed)?;
    let controls = CoreControls {
        object_ownership: ownership,
    };
    s.core
        .put_bucket_ownership_controls(p.as_ref(), &i.bucket, controls)
        .await
        .s3()?;
    Ok(S3Response::new(PutBucketOwnershipControlsOutput {}))
}

pub async fn get_bucket_ownership_controls(
    s: &KumoS3,
    req: S3Request<GetBucketOwnershipControlsInput>,
) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
    let p = principal(&s.iam, &req)?;
    let controls = s
        .core
        .bucket_ownership_controls(p.as_ref(), &req.input.bucket)
        .s3()?;
    Ok(S3Response::new(GetBucketOwnershipControlsOutput {
        ownership_controls: Some(OwnershipControls {
            rules: vec![OwnershipControlsRule {
                object_ownership: ObjectOwnership::from_static(controls.object_ownership.as_str()),
            }],
        }),
    }))
}

pub async fn delete_bucket_ownership_controls(
    s: &KumoS3,
    req: S3Request<DeleteBucketOwnershipControlsInput>,
) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
    let p = principal(&s.iam, &req)?;
    s.core
        .delete_bucket_ownership_controls(p.as_ref(), &req.input.bucket)
        .await
        .s3()?;
    Ok(S3Response::new(DeleteBucketOwnershipControlsOutput {}))
}
