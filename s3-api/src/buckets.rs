//! CreateBucket, HeadBucket, DeleteBucket, ListBuckets, GetBucketLocation.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use crate::conv::{owner, principal, ts};
use crate::error::CoreResultExt;
use crate::service::KumoS3;

pub async fn create_bucket(
    s: &KumoS3,
    req: S3Request<CreateBucketInput>,
) -> S3Result<S3Response<CreateBucketOutput>> {
    let p = principal(&s.iam, &req)?;
    let input = req.input;
    let location = input
        .create_bucket_configuration
        .as_ref()
        .and_then(|c| c.location_constraint.as_ref())
        .map(|l| l.as_str().to_owned());
    let acl = input.acl.as_ref().map(|a| a.as_str().to_owned());
    let bucket = s
        .core
        .create_bucket(
            p.as_ref(),
            &input.bucket,
            location.as_deref(),
            acl.as_deref(),
        )
        .await
        .s3()?;
    Ok(S3Response::new(CreateBucketOutput {
        location: Some(format!("/{}", bucket.name)),
    }))
}

pub async fn head_bucket(
    s: &KumoS3,
    req: S3Request<HeadBucketInput>,
) -> S3Result<S3Response<HeadBucketOutput>> {
    let p = principal(&s.iam, &req)?;
    let bucket = s.core.head_bucket(p.as_ref(), &req.input.bucket).s3()?;
    Ok(S3Response::new(HeadBucketOutput {
        bucket_region: Some(bucket.region),
        ..Default::default()
    }))
}

pub async fn delete_bucket(
    s: &KumoS3,
    req: S3Request<DeleteBucketInput>,
) -> S3Result<S3Response<DeleteBucketOutput>> {
    let p = principal(&s.iam, &req)?;
    s.core
        .delete_bucket(p.as_ref(), &req.input.bucket)
        .await
        .s3()?;
    Ok(S3Response::new(DeleteBucketOutput {}))
}

pub async fn list_buckets(
    s: &KumoS3,
    req: S3Request<ListBucketsInput>,
) -> S3Result<S3Response<ListBucketsOutput>> {
    let p = principal(&s.iam, &req)?;
    let buckets = s.core.list_buckets(p.as_ref()).s3()?;
    let prefix = req.input.prefix.clone();
    let list = buckets
        .into_iter()
        .filter(|b| prefix.as_deref().is_none_or(|pre| b.name.starts_with(pre)))
        .map(|b| Bucket {
            bucket_region: Some(b.region),
            creation_date: Some(ts(b.created_ms)),
            name: Some(b.name),
        })
        .collect();
    Ok(S3Response::new(ListBucketsOutput {
        buckets: Some(list),
        owner: p.as_ref().map(|p| owner(&p.account_id)),
        prefix,
        continuation_token: None,
    }))
}

pub async fn get_bucket_location(
    s: &KumoS3,
    req: S3Request<GetBucketLocationInput>,
) -> S3Result<S3Response<GetBucketLocationOutput>> {
    let p = principal(&s.iam, &req)?;
    let region = s.core.bucket_location(p.as_ref(), &req.input.bucket).s3()?;
    // AWS reports us-east-1 as an empty LocationConstraint.
    let location_constraint = if region == "us-east-1" {
        None
    } else {
        Some(BucketLocationConstraint::from(region))
    };
    Ok(S3Response::new(GetBucketLocationOutput {
        location_constraint,
    }))
}
