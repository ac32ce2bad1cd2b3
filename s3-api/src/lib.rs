//! Kumo's S3 front: the `s3s` protocol layer over the core.
//!
//! `s3s` (0.14, generated from the official S3 model) parses requests, verifies SigV4/SigV2
//! (headers, presigned URLs, POST policies, aws-chunked streams and trailers) and serialises
//! responses. This crate supplies what `s3s` asks for: [`auth::KumoAuth`] (secret lookup),
//! [`host::KumoHost`] (virtual-hosted-style addressing), and [`service::KumoS3`], the `S3`
//! trait implementation that maps s3s's typed inputs to `kumo_core::s3` and back. Errors are
//! mapped in one place, [`error`].
//!
//! Authorisation is the core's (`kumo_core::s3::access`): s3s's own access hook is set to let
//! every verified or anonymous request through to it.

mod acl;
pub mod auth;
mod bucket_config;
mod buckets;
pub mod client;
mod config_errors;
mod conv;
pub mod cors;
pub mod error;
pub mod host;
mod listing;
mod multipart;
mod objects;
mod policy;
pub mod post_form;
mod post_object;
pub mod service;
mod tagging;
mod unconfigured;
mod versioning;

use std::sync::Arc;

use kumo_core::iam::Iam;
use kumo_core::s3::ObjectService;
use kumo_driver_api::{ObjectStore, StateStore};
use s3s::access::{S3Access, S3AccessContext};
use s3s::service::{S3Service, S3ServiceBuilder};

/// What the S3 front needs from the rest of Kumo.
#[derive(Debug, Clone)]
pub struct S3Options {
    /// Base domain for virtual-hosted-style requests.
    pub base_domain: String,
    /// Region name.
    pub region: String,
    /// Largest single PUT or part, in bytes.
    pub max_object_size: u64,
}

/// Defers every authorisation decision to the core (anonymous requests included).
struct CoreDecides;

#[async_trait::async_trait]
impl S3Access for CoreDecides {
    async fn check(&self, _cx: &mut S3AccessContext<'_>) -> s3s::S3Result<()> {
        Ok(())
    }
}

/// Builds the S3 service and returns it with the core service (for startup GC).
pub fn build(
    iam: Iam,
    state: Arc<dyn StateStore>,
    objects: Arc<dyn ObjectStore>,
    options: &S3Options,
) -> (S3Service, ObjectService) {
    let core = ObjectService::new(state, objects, &options.region, options.max_object_size);
    let mut builder = S3ServiceBuilder::new(service::KumoS3::new(core.clone(), iam.clone()));
    builder.set_auth(auth::KumoAuth::new(iam));
    builder.set_host(host::KumoHost::new(&options.base_domain));
    builder.set_access(CoreDecides);
    (builder.build(), core)
}
