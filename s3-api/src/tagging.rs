//! Object tagging: PutObjectTagging, GetObjectTagging, DeleteObjectTagging.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use crate::conv::{principal, tags_in, tags_out};
use crate::error::CoreResultExt;
use crate::service::KumoS3;

pub async fn put_object_tagging(
    s: &KumoS3,
    req: S3Request<PutObjectTaggingInput>,
) -> S3Result<S3Response<PutObjectTaggingOutput>> {
    let p = principal(&s.iam, &req)?;
    let i = req.input;
    let version_id = s
        .core
        .put_object_tagging(
            p.as_ref(),
            &i.bucket,
            &i.key,
            i.version_id.as_deref(),
            tags_in(i.tagging.tag_set),
        )
        .await
        .s3()?;
    Ok(S3Response::new(PutObjectTaggingOutput {
        version_id: Some(version_id),
    }))
}

pub async fn get_object_tagging(
    s: &KumoS3,
    req: S3Request<GetObjectTaggingInput>,
) -> S3Result<S3Response<GetObjectTaggingOutput>> {
    let p = principal(&s.iam, &req)?;
    let i = req.input;
    let (version_id, tags) = s
        .core
        .object_tagging(p.as_ref(), &i.bucket, &i.key, i.version_id.as_deref())
        .s3()?;
    Ok(S3Response::new(GetObjectTaggingOutput {
        tag_set: tags_out(tags),
        version_id: Some(version_id),
    }))
}

pub async fn delete_object_tagging(
    s: &KumoS3,
    req: S3Request<DeleteObjectTaggingInput>,
) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
    let p = principal(&s.iam, &req)?;
    let i = req.input;
    let version_id = s
        .core
        .put_object_tagging(
            p.as_ref(),
            &i.bucket,
            &i.key,
            i.version_id.as_deref(),
            Vec::new(),
        )
        .await
        .s3()?;
    Ok(S3Response::with_status(
        DeleteObjectTaggingOutput {
            version_id: Some(version_id),
        },
        http::StatusCode::NO_CONTENT,
    ))
}
