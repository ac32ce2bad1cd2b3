//! S3 semantics. This branch holds the bucket-configuration half: bucket policies, canned ACLs,
//! CORS rules, bucket tagging and the `bucket_config` table they are stored in.

pub mod acl;
pub mod bucket_config;
pub mod bucket_tagging;
pub mod cors;
pub mod glob;
pub mod policy;
