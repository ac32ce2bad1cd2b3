//! The client connection's facts (TLS or not, peer address) for bucket-policy conditions
//! (`aws:SecureTransport`, `aws:SourceIp`). s3s does not know them; the HTTP server does, so
//! the router runs each S3 request inside [`scope`] (the server can carry them from the
//! connection to the router as a [`Connection`] request extension). Outside [`scope`] those
//! keys are absent from policy evaluation: a `Bool aws:SecureTransport false` Deny then does
//! not apply.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};

use kumo_core::s3::access::with_request_context;
use kumo_core::s3::policy::RequestContext;

/// How a client is connected; for the server to attach to each request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    /// The request arrived over TLS.
    pub tls: bool,
    /// The client's address.
    pub peer: SocketAddr,
}

/// Runs `fut` (the S3 service call for one request) knowing how the client connected.
pub async fn scope<F: Future>(tls: bool, peer: Option<IpAddr>, fut: F) -> F::Output {
    let ctx = RequestContext {
        secure_transport: Some(tls),
        source_ip: peer,
    };
    with_request_context(ctx, fut).await
}
