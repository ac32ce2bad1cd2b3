//! Bucket features Kumo does not provide (website hosting, lifecycle, server-side encryption,
//! replication, object lock, public access blocks, logging, notifications, transfer
//! acceleration, requester pays, analytics/metrics/inventory/tiering), answered truthfully:
//!
//! - GETs report "not configured" in S3's words (`NoSuchWebsiteConfiguration`, ...) or the
//!   default document (logging off, BucketOwner pays, no notifications, empty lists) — what
//!   the Terraform AWS provider and SDKs read when refreshing a bucket;
//! - DELETEs succeed (the feature is off afterwards, which it already is);
//! - PUTs that ask for the default state succeed; PUTs that would turn a feature on are
//!   NotImplemented (s3s's default for the operations not wired here).
//!
//! Each checks the bucket exists and the caller may use it first.

use kumo_core::Error;
use kumo_core::s3::access::Action;
use kumo_core::s3::bucket_config::ConfigKind;
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use crate::conv::principal;
use crate::error::{CoreResultExt, to_s3};
use crate::service::KumoS3;

/// Checks existence and access for `action` on `bucket`.
fn check<T>(s: &KumoS3, req: &S3Request<T>, bucket: &str, action: &'static str) -> S3Result<()> {
    let p = principal(&s.iam, req)?;
    s.core
        .bucket_for_config(p.as_ref(), bucket, Action::BucketConfig(action))
        .s3()?;
    Ok(())
}

fn absent(bucket: &str, kind: ConfigKind) -> S3Error {
    to_s3(Error::NoSuchBucketConfig {
        bucket: bucket.to_owned(),
        kind,
    })
}

fn not_implemented(what: &str) -> S3Error {
    S3Error::with_message(
        S3ErrorCode::NotImplemented,
        format!("Kumo does not implement {what}."),
    )
}

macro_rules! not_configured {
    ($name:ident, $input:ty, $output:ty, $action:literal, $kind:expr) => {
        pub async fn $name(s: &KumoS3, req: S3Request<$input>) -> S3Result<S3Response<$output>> {
            check(s, &req, &req.input.bucket, $action)?;
            Err(absent(&req.input.bucket, $kind))
        }
    };
}

macro_rules! delete_ok {
    ($name:ident, $input:ty, $output:ty, $action:literal) => {
        pub async fn $name(s: &KumoS3, req: S3Request<$input>) -> S3Result<S3Response<$output>> {
            check(s, &req, &req.input.bucket, $action)?;
            Ok(S3Response::new(<$output>::default()))
        }
    };
}

macro_rules! default_answer {
    ($name:ident, $input:ty, $output:ty, $action:literal, $value:expr) => {
        pub async fn $name(s: &KumoS3, req: S3Request<$input>) -> S3Result<S3Response<$output>> {
            check(s, &req, &req.input.bucket, $action)?;
            Ok(S3Response::new($value))
        }
    };
}

not_configured!(
    get_bucket_website,
    GetBucketWebsiteInput,
    GetBucketWebsiteOutput,
    "s3:GetBucketWebsite",
    ConfigKind::Website
);
not_configured!(
    get_bucket_lifecycle_configuration,
    GetBucketLifecycleConfigurationInput,
    GetBucketLifecycleConfigurationOutput,
    "s3:GetLifecycleConfiguration",
    ConfigKind::Lifecycle
);
not_configured!(
    get_bucket_encryption,
    GetBucketEncryptionInput,
    GetBucketEncryptionOutput,
    "s3:GetEncryptionConfiguration",
    ConfigKind::Encryption
);
not_configured!(
    get_object_lock_configuration,
    GetObjectLockConfigurationInput,
    GetObjectLockConfigurationOutput,
    "s3:GetBucketObjectLockConfiguration",
    ConfigKind::ObjectLock
);
not_configured!(
    get_bucket_replication,
    GetBucketReplicationInput,
    GetBucketReplicationOutput,
    "s3:GetReplicationConfiguration",
    ConfigKind::Replication
);
not_configured!(
    get_public_access_block,
    GetPublicAccessBlockInput,
    GetPublicAccessBlockOutput,
    "s3:GetBucketPublicAccessBlock",
    ConfigKind::PublicAccessBlock
);

delete_ok!(
    delete_bucket_website,
    DeleteBucketWebsiteInput,
    DeleteBucketWebsiteOutput,
    "s3:DeleteBucketWebsite"
);
delete_ok!(
    delete_bucket_lifecycle,
    DeleteBucketLifecycleInput,
    DeleteBucketLifecycleOutput,
    "s3:PutLifecycleConfiguration"
);
delete_ok!(
    delete_bucket_encryption,
    DeleteBucketEncryptionInput,
    DeleteBucketEncryptionOutput,
    "s3:PutEncryptionConfiguration"
);
delete_ok!(
    delete_bucket_replication,
    DeleteBucketReplicationInput,
    DeleteBucketReplicationOutput,
    "s3:PutReplicationConfiguration"
);
delete_ok!(
    delete_public_access_block,
    DeletePublicAccessBlockInput,
    DeletePublicAccessBlockOutput,
    "s3:PutBucketPublicAccessBlock"
);

default_answer!(
    get_bucket_logging,
    GetBucketLoggingInput,
    GetBucketLoggingOutput,
    "s3:GetBucketLogging",
    GetBucketLoggingOutput {
        logging_enabled: None
    }
);
default_answer!(
    get_bucket_request_payment,
    GetBucketRequestPaymentInput,
    GetBucketRequestPaymentOutput,
    "s3:GetBucketRequestPayment",
    GetBucketRequestPaymentOutput {
        payer: Some(Payer::from_static(Payer::BUCKET_OWNER)),
    }
);
default_answer!(
    get_bucket_accelerate_configuration,
    GetBucketAccelerateConfigurationInput,
    GetBucketAccelerateConfigurationOutput,
    "s3:GetAccelerateConfiguration",
    GetBucketAccelerateConfigurationOutput::default()
);
default_answer!(
    get_bucket_notification_configuration,
    GetBucketNotificationConfigurationInput,
    GetBucketNotificationConfigurationOutput,
    "s3:GetBucketNotification",
    GetBucketNotificationConfigurationOutput::default()
);
default_answer!(
    list_bucket_analytics_configurations,
    ListBucketAnalyticsConfigurationsInput,
    ListBucketAnalyticsConfigurationsOutput,
    "s3:GetAnalyticsConfiguration",
    ListBucketAnalyticsConfigurationsOutput {
        is_truncated: Some(false),
        ..Default::default()
    }
);
default_answer!(
    list_bucket_metrics_configurations,
    ListBucketMetricsConfigurationsInput,
    ListBucketMetricsConfigurationsOutput,
    "s3:GetMetricsConfiguration",
    ListBucketMetricsConfigurationsOutput {
        is_truncated: Some(false),
        ..Default::default()
    }
);
default_answer!(
    list_bucket_inventory_configurations,
    ListBucketInventoryConfigurationsInput,
    ListBucketInventoryConfigurationsOutput,
    "s3:GetInventoryConfiguration",
    ListBucketInventoryConfigurationsOutput {
        is_truncated: Some(false),
        ..Default::default()
    }
);
default_answer!(
    list_bucket_intelligent_tiering_configurations,
    ListBucketIntelligentTieringConfigurationsInput,
    ListBucketIntelligentTieringConfigurationsOutput,
    "s3:GetIntelligentTieringConfiguration",
    ListBucketIntelligentTieringConfigurationsOutput {
        is_truncated: Some(false),
        ..Default::default()
    }
);

/// PutBucketLogging: turning logging off is the current state; turning it on is not offered.
pub async fn put_bucket_logging(
    s: &KumoS3,
    req: S3Request<PutBucketLoggingInput>,
) -> S3Result<S3Response<PutBucketLoggingOutput>> {
    check(s, &req, &req.input.bucket, "s3:PutBucketLogging")?;
    if req.input.bucket_logging_status.logging_enabled.is_some() {
        return Err(not_implemented("server access logging"));
    }
    Ok(S3Response::new(PutBucketLoggingOutput {}))
}

/// PutBucketRequestPayment: the bucket owner pays, always.
pub async fn put_bucket_request_payment(
    s: &KumoS3,
    req: S3Request<PutBucketRequestPaymentInput>,
) -> S3Result<S3Response<PutBucketRequestPaymentOutput>> {
    check(s, &req, &req.input.bucket, "s3:PutBucketRequestPayment")?;
    if req.input.request_payment_configuration.payer.as_str() != Payer::BUCKET_OWNER {
        return Err(not_implemented("requester-pays buckets"));
    }
    Ok(S3Response::new(PutBucketRequestPaymentOutput {}))
}

/// PutBucketAccelerateConfiguration: `Suspended` is the current state.
pub async fn put_bucket_accelerate_configuration(
    s: &KumoS3,
    req: S3Request<PutBucketAccelerateConfigurationInput>,
) -> S3Result<S3Response<PutBucketAccelerateConfigurationOutput>> {
    check(s, &req, &req.input.bucket, "s3:PutAccelerateConfiguration")?;
    let enabled = req
        .input
        .accelerate_configuration
        .status
        .as_ref()
        .is_some_and(|st| st.as_str() == BucketAccelerateStatus::ENABLED);
    if enabled {
        return Err(not_implemented("transfer acceleration"));
    }
    Ok(S3Response::new(PutBucketAccelerateConfigurationOutput {}))
}

/// PutBucketNotificationConfiguration: an empty configuration is the current state.
pub async fn put_bucket_notification_configuration(
    s: &KumoS3,
    req: S3Request<PutBucketNotificationConfigurationInput>,
) -> S3Result<S3Response<PutBucketNotificationConfigurationOutput>> {
    check(s, &req, &req.input.bucket, "s3:PutBucketNotification")?;
    let n = &req.input.notification_configuration;
    let empty = n.event_bridge_configuration.is_none()
        && n.lambda_function_configurations
            .as_ref()
            .is_none_or(Vec::is_empty)
        && n.queue_configurations.as_ref().is_none_or(Vec::is_empty)
        && n.topic_configurations.as_ref().is_none_or(Vec::is_empty);
    if !empty {
        return Err(not_implemented("event notifications"));
    }
    Ok(S3Response::new(PutBucketNotificationConfigurationOutput {}))
}
