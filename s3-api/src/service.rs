//! The `s3s::S3` implementation: one delegation line per operation; the work happens in the
//! per-area modules. To add operations, add lines here and a module for their area.

use kumo_core::iam::Iam;
use kumo_core::s3::ObjectService;
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result};

use crate::{buckets, listing, multipart, objects, tagging, versioning};

/// Kumo's S3: the core's object service plus the account lookup for callers.
#[derive(Debug, Clone)]
pub struct KumoS3 {
    pub(crate) core: ObjectService,
    pub(crate) iam: Iam,
    pub(crate) principals: std::sync::Arc<crate::conv::PrincipalCache>,
}

impl KumoS3 {
    /// Serves `core`, identifying callers through `iam`.
    #[must_use]
    pub fn new(core: ObjectService, iam: Iam) -> Self {
        Self {
            core,
            iam,
            principals: std::sync::Arc::default(),
        }
    }
}

type R<T> = S3Result<S3Response<T>>;

#[async_trait::async_trait]
impl S3 for KumoS3 {
    // Buckets
    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> R<CreateBucketOutput> {
        buckets::create_bucket(self, req).await
    }
    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> R<HeadBucketOutput> {
        buckets::head_bucket(self, req).await
    }
    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> R<DeleteBucketOutput> {
        buckets::delete_bucket(self, req).await
    }
    async fn list_buckets(&self, req: S3Request<ListBucketsInput>) -> R<ListBucketsOutput> {
        buckets::list_buckets(self, req).await
    }
    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> R<GetBucketLocationOutput> {
        buckets::get_bucket_location(self, req).await
    }

    // Versioning
    async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> R<PutBucketVersioningOutput> {
        versioning::put_bucket_versioning(self, req).await
    }
    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> R<GetBucketVersioningOutput> {
        versioning::get_bucket_versioning(self, req).await
    }

    // Objects
    async fn put_object(&self, req: S3Request<PutObjectInput>) -> R<PutObjectOutput> {
        objects::put_object(self, req).await
    }
    async fn get_object(&self, req: S3Request<GetObjectInput>) -> R<GetObjectOutput> {
        objects::get_object(self, req).await
    }
    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> R<HeadObjectOutput> {
        objects::head_object(self, req).await
    }
    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> R<DeleteObjectOutput> {
        objects::delete_object(self, req).await
    }
    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> R<DeleteObjectsOutput> {
        objects::delete_objects(self, req).await
    }
    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> R<CopyObjectOutput> {
        objects::copy_object(self, req).await
    }

    // Listings
    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> R<ListObjectsOutput> {
        listing::list_objects(self, req).await
    }
    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> R<ListObjectsV2Output> {
        listing::list_objects_v2(self, req).await
    }
    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> R<ListObjectVersionsOutput> {
        listing::list_object_versions(self, req).await
    }

    // Multipart
    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> R<CreateMultipartUploadOutput> {
        multipart::create_multipart_upload(self, req).await
    }
    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> R<UploadPartOutput> {
        multipart::upload_part(self, req).await
    }
    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> R<UploadPartCopyOutput> {
        multipart::upload_part_copy(self, req).await
    }
    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> R<CompleteMultipartUploadOutput> {
        multipart::complete_multipart_upload(self, req).await
    }
    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> R<AbortMultipartUploadOutput> {
        multipart::abort_multipart_upload(self, req).await
    }
    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> R<ListPartsOutput> {
        multipart::list_parts(self, req).await
    }
    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> R<ListMultipartUploadsOutput> {
        multipart::list_multipart_uploads(self, req).await
    }

    // Object tagging
    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> R<PutObjectTaggingOutput> {
        tagging::put_object_tagging(self, req).await
    }
    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> R<GetObjectTaggingOutput> {
        tagging::get_object_tagging(self, req).await
    }
    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> R<DeleteObjectTaggingOutput> {
        tagging::delete_object_tagging(self, req).await
    }
}
