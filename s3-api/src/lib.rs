//! Kumo's S3 front: the `s3s` protocol layer over the core.
//!
//! `s3s` (0.14, generated from the official S3 model) parses requests, verifies SigV4/SigV2
//! (headers, presigned URLs, POST policies, aws-chunked streams and trailers) and serialises
//! responses. This crate supplies what `s3s` asks for: [`auth::KumoAuth`] (secret lookup),
//! [`host::KumoHost`] (virtual-hosted-style addressing), and the `S3` trait implementation that
//! maps s3s's typed inputs to the core and back.

pub mod auth;
pub mod host;

use kumo_core::iam::Iam;
use s3s::service::{S3Service, S3ServiceBuilder};

/// What the S3 front needs from the rest of Kumo.
#[derive(Debug, Clone)]
pub struct S3Options {
    /// Base domain for virtual-hosted-style requests.
    pub base_domain: String,
    /// Region name.
    pub region: String,
}

/// The S3 operations; unimplemented ones answer `NotImplemented` in S3's own error shape.
#[derive(Debug, Clone)]
struct KumoS3;

#[async_trait::async_trait]
impl s3s::S3 for KumoS3 {}

/// Builds the S3 service.
pub fn build(iam: Iam, options: &S3Options) -> S3Service {
    let mut builder = S3ServiceBuilder::new(KumoS3);
    builder.set_auth(auth::KumoAuth::new(iam));
    builder.set_host(host::KumoHost::new(&options.base_domain));
    builder.build()
}
