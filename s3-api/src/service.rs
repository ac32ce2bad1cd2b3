//! The `s3s::S3` implementation: one delegation line per operation; the work happens in the
//! per-area modules. To add operations, add lines here and a module for their area.

use kumo_core::iam::Iam;
use kumo_core::s3::ObjectService;
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result};

use crate::{acl, bucket_config, cors, policy, post_object, unconfigured};
use crate::{buckets, listing, multipart, objects, tagging, versioning};

/// Kumo's S3: the core's object service plus the account lookup for callers.
#[derive(Debug, Clone)]
pub struct KumoS3 {
    pub(crate) core: ObjectService,
    pub(crate) iam: Iam,
}

impl KumoS3 {
    /// Serves `core`, identifying callers through `iam`.
    #[must_use]
    pub fn new(core: ObjectService, iam: Iam) -> Self {
        Self { core, iam }
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

    // Bucket configuration: CORS, policy, ACLs, tags, ownership controls
    async fn put_bucket_cors(&self, req: S3Request<PutBucketCorsInput>) -> R<PutBucketCorsOutput> {
        cors::put_bucket_cors(self, req).await
    }
    async fn get_bucket_cors(&self, req: S3Request<GetBucketCorsInput>) -> R<GetBucketCorsOutput> {
        cors::get_bucket_cors(self, req).await
    }
    async fn delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> R<DeleteBucketCorsOutput> {
        cors::delete_bucket_cors(self, req).await
    }
    async fn put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> R<PutBucketPolicyOutput> {
        policy::put_bucket_policy(self, req).await
    }
    async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> R<GetBucketPolicyOutput> {
        policy::get_bucket_policy(self, req).await
    }
    async fn delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> R<DeleteBucketPolicyOutput> {
        policy::delete_bucket_policy(self, req).await
    }
    async fn get_bucket_policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> R<GetBucketPolicyStatusOutput> {
        policy::get_bucket_policy_status(self, req).await
    }
    async fn get_bucket_acl(&self, req: S3Request<GetBucketAclInput>) -> R<GetBucketAclOutput> {
        acl::get_bucket_acl(self, req).await
    }
    async fn put_bucket_acl(&self, req: S3Request<PutBucketAclInput>) -> R<PutBucketAclOutput> {
        acl::put_bucket_acl(self, req).await
    }
    async fn get_object_acl(&self, req: S3Request<GetObjectAclInput>) -> R<GetObjectAclOutput> {
        acl::get_object_acl(self, req).await
    }
    async fn put_object_acl(&self, req: S3Request<PutObjectAclInput>) -> R<PutObjectAclOutput> {
        acl::put_object_acl(self, req).await
    }
    async fn put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> R<PutBucketTaggingOutput> {
        bucket_config::put_bucket_tagging(self, req).await
    }
    async fn get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> R<GetBucketTaggingOutput> {
        bucket_config::get_bucket_tagging(self, req).await
    }
    async fn delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> R<DeleteBucketTaggingOutput> {
        bucket_config::delete_bucket_tagging(self, req).await
    }
    async fn put_bucket_ownership_controls(
        &self,
        req: S3Request<PutBucketOwnershipControlsInput>,
    ) -> R<PutBucketOwnershipControlsOutput> {
        bucket_config::put_bucket_ownership_controls(self, req).await
    }
    async fn get_bucket_ownership_controls(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> R<GetBucketOwnershipControlsOutput> {
        bucket_config::get_bucket_ownership_controls(self, req).await
    }
    async fn delete_bucket_ownership_controls(
        &self,
        req: S3Request<DeleteBucketOwnershipControlsInput>,
    ) -> R<DeleteBucketOwnershipControlsOutput> {
        bucket_config::delete_bucket_ownership_controls(self, req).await
    }

    // Browser uploads
    async fn post_object(&self, req: S3Request<PostObjectInput>) -> R<PostObjectOutput> {
        post_object::post_object(self, req).await
    }

    // Features Kumo does not offer: "not configured" reads, default documents, no-op deletes
    async fn get_bucket_website(
        &self,
        req: S3Request<GetBucketWebsiteInput>,
    ) -> R<GetBucketWebsiteOutput> {
        unconfigured::get_bucket_website(self, req).await
    }
    async fn delete_bucket_website(
        &self,
        req: S3Request<DeleteBucketWebsiteInput>,
    ) -> R<DeleteBucketWebsiteOutput> {
        unconfigured::delete_bucket_website(self, req).await
    }
    async fn get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> R<GetBucketLifecycleConfigurationOutput> {
        unconfigured::get_bucket_lifecycle_configuration(self, req).await
    }
    async fn delete_bucket_lifecycle(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> R<DeleteBucketLifecycleOutput> {
        unconfigured::delete_bucket_lifecycle(self, req).await
    }
    async fn get_bucket_encryption(
        &self,
        req: S3Request<GetBucketEncryptionInput>,
    ) -> R<GetBucketEncryptionOutput> {
        unconfigured::get_bucket_encryption(self, req).await
    }
    async fn delete_bucket_encryption(
        &self,
        req: S3Request<DeleteBucketEncryptionInput>,
    ) -> R<DeleteBucketEncryptionOutput> {
        unconfigured::delete_bucket_encryption(self, req).await
    }
    async fn get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> R<GetObjectLockConfigurationOutput> {
        unconfigured::get_object_lock_configuration(self, req).await
    }
    async fn get_bucket_replication(
        &self,
        req: S3Request<GetBucketReplicationInput>,
    ) -> R<GetBucketReplicationOutput> {
        unconfigured::get_bucket_replication(self, req).await
    }
    async fn delete_bucket_replication(
        &self,
        req: S3Request<DeleteBucketReplicationInput>,
    ) -> R<DeleteBucketReplicationOutput> {
        unconfigured::delete_bucket_replication(self, req).await
    }
    async fn get_public_access_block(
        &self,
        req: S3Request<GetPublicAccessBlockInput>,
    ) -> R<GetPublicAccessBlockOutput> {
        unconfigured::get_public_access_block(self, req).await
    }
    async fn delete_public_access_block(
        &self,
        req: S3Request<DeletePublicAccessBlockInput>,
    ) -> R<DeletePublicAccessBlockOutput> {
        unconfigured::delete_public_access_block(self, req).await
    }
    async fn get_bucket_logging(
        &self,
        req: S3Request<GetBucketLoggingInput>,
    ) -> R<GetBucketLoggingOutput> {
        unconfigured::get_bucket_logging(self, req).await
    }
    async fn put_bucket_logging(
        &self,
        req: S3Request<PutBucketLoggingInput>,
    ) -> R<PutBucketLoggingOutput> {
        unconfigured::put_bucket_logging(self, req).await
    }
    async fn get_bucket_request_payment(
        &self,
        req: S3Request<GetBucketRequestPaymentInput>,
    ) -> R<GetBucketRequestPaymentOutput> {
        unconfigured::get_bucket_request_payment(self, req).await
    }
    async fn put_bucket_request_payment(
        &self,
        req: S3Request<PutBucketRequestPaymentInput>,
    ) -> R<PutBucketRequestPaymentOutput> {
        unconfigured::put_bucket_request_payment(self, req).await
    }
    async fn get_bucket_accelerate_configuration(
        &self,
        req: S3Request<GetBucketAccelerateConfigurationInput>,
    ) -> R<GetBucketAccelerateConfigurationOutput> {
        unconfigured::get_bucket_accelerate_configuration(self, req).await
    }
    async fn put_bucket_accelerate_configuration(
        &self,
        req: S3Request<PutBucketAccelerateConfigurationInput>,
    ) -> R<PutBucketAccelerateConfigurationOutput> {
        unconfigured::put_bucket_accelerate_configuration(self, req).await
    }
    async fn get_bucket_notification_configuration(
        &self,
        req: S3Request<GetBucketNotificationConfigurationInput>,
    ) -> R<GetBucketNotificationConfigurationOutput> {
        unconfigured::get_bucket_notification_configuration(self, req).await
    }
    async fn put_bucket_notification_configuration(
        &self,
        req: S3Request<PutBucketNotificationConfigurationInput>,
    ) -> R<PutBucketNotificationConfigurationOutput> {
        unconfigured::put_bucket_notification_configuration(self, req).await
    }
    async fn list_bucket_analytics_configurations(
        &self,
        req: S3Request<ListBucketAnalyticsConfigurationsInput>,
    ) -> R<ListBucketAnalyticsConfigurationsOutput> {
        unconfigured::list_bucket_analytics_configurations(self, req).await
    }
    async fn list_bucket_metrics_configurations(
        &self,
        req: S3Request<ListBucketMetricsConfigurationsInput>,
    ) -> R<ListBucketMetricsConfigurationsOutput> {
        unconfigured::list_bucket_metrics_configurations(self, req).await
    }
    async fn list_bucket_inventory_configurations(
        &self,
        req: S3Request<ListBucketInventoryConfigurationsInput>,
    ) -> R<ListBucketInventoryConfigurationsOutput> {
        unconfigured::list_bucket_inventory_configurations(self, req).await
    }
    async fn list_bucket_intelligent_tiering_configurations(
        &self,
        req: S3Request<ListBucketIntelligentTieringConfigurationsInput>,
    ) -> R<ListBucketIntelligentTieringConfigurationsOutput> {
        unconfigured::list_bucket_intelligent_tiering_configurations(self, req).await
    }
}
