//! The S3 client of the bench: hyper's pooled HTTP/1.1 client plus the SigV4 signer.
//!
//! Path-style URLs (`http://127.0.0.1:PORT/bucket/key`), keep-alive, TCP_NODELAY. The same
//! signed requests go to the baseline and to Kumo, so both pay the same client cost.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use time::OffsetDateTime;

use crate::body::ChunkedBody;
use crate::sigv4::{EMPTY_PAYLOAD_SHA256, RequestToSign, Signer, UNSIGNED_PAYLOAD, encode_path};

/// The most of an error body kept for a message.
const ERROR_BODY_LIMIT: usize = 1024;

/// A client bound to one server (`host` is `127.0.0.1:PORT`).
#[derive(Debug, Clone)]
pub struct S3Client {
    http: Client<HttpConnector, ChunkedBody>,
    host: String,
    signer: Arc<Signer>,
}

impl S3Client {
    #[must_use]
    pub fn new(host: String, signer: Arc<Signer>) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Self { http, host, signer }
    }

    fn request(
        &self,
        method: &Method,
        path: &str,
        body: ChunkedBody,
    ) -> anyhow::Result<Request<ChunkedBody>> {
        let len = http_body::Body::size_hint(&body).exact().unwrap_or(0);
        let payload_sha256 = if len == 0 {
            EMPTY_PAYLOAD_SHA256
        } else {
            UNSIGNED_PAYLOAD
        };
        let signature = self.signer.sign(
            &RequestToSign {
                method: method.as_str(),
                path,
                query: &[],
                host: &self.host,
                payload_sha256,
                extra_headers: &[],
            },
            OffsetDateTime::now_utc(),
        );
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("http://{}{}", self.host, encode_path(path)))
            .header(http::header::HOST, &self.host)
            .header("x-amz-content-sha256", payload_sha256)
            .header("x-amz-date", signature.amz_date)
            .header(http::header::AUTHORIZATION, signature.authorization);
        if *method == Method::PUT {
            builder = builder.header(http::header::CONTENT_LENGTH, len);
        }
        Ok(builder.body(body)?)
    }

    /// Sends an unsigned GET and returns its status (the health endpoint).
    pub async fn get_status_unsigned(&self, path: &str) -> anyhow::Result<StatusCode> {
        let req =
            Request::get(format!("http://{}{}", self.host, path)).body(ChunkedBody::empty())?;
        let resp = self.http.request(req).await?;
        let status = resp.status();
        // Drain so the connection can be reused.
        let _ = resp.into_body().collect().await;
        Ok(status)
    }

    /// PUT /bucket; "already owned by you" counts as success.
    pub async fn create_bucket(&self, bucket: &str) -> anyhow::Result<()> {
        let path = format!("/{bucket}");
        let resp = self
            .http
            .request(self.request(&Method::PUT, &path, ChunkedBody::empty())?)
            .await?;
        let status = resp.status();
        let body = read_limited(resp.into_body()).await;
        if status.is_success()
            || (status == StatusCode::CONFLICT && body.contains("BucketAlreadyOwnedByYou"))
        {
            return Ok(());
        }
        bail!("PUT {path}: {status}: {body}")
    }

    /// PUT `path` with `data` streamed in `chunk`-byte frames; returns the bytes sent.
    pub async fn put(&self, path: &str, data: Bytes, chunk: usize) -> anyhow::Result<u64> {
        let len = data.len() as u64;
        let resp = self
            .http
            .request(self.request(&Method::PUT, path, ChunkedBody::new(data, chunk))?)
            .await
            .with_context(|| format!("PUT {path}"))?;
        let status = resp.status();
        if !status.is_success() {
            bail!(
                "PUT {path}: {status}: {}",
                read_limited(resp.into_body()).await
            );
        }
        if !resp.headers().contains_key(http::header::ETAG) {
            bail!("PUT {path}: {status} without an ETag");
        }
        resp.into_body()
            .collect()
            .await
            .with_context(|| format!("PUT {path}: reading the response"))?;
        Ok(len)
    }

    /// GET `path`, consuming the body frame by frame (never buffered); fails unless exactly
    /// `expected_len` bytes arrive. Returns the bytes received.
    pub async fn get(&self, path: &str, expected_len: u64) -> anyhow::Result<u64> {
        let resp = self
            .http
            .request(self.request(&Method::GET, path, ChunkedBody::empty())?)
            .await
            .with_context(|| format!("GET {path}"))?;
        let status = resp.status();
        if !status.is_success() {
            bail!(
                "GET {path}: {status}: {}",
                read_limited(resp.into_body()).await
            );
        }
        let mut body = resp.into_body();
        let mut received: u64 = 0;
        while let Some(frame) = body.frame().await {
            let frame = frame.with_context(|| format!("GET {path}: reading the body"))?;
            if let Some(data) = frame.data_ref() {
                received += data.len() as u64;
            }
        }
        if received != expected_len {
            bail!("GET {path}: {received} bytes, expected {expected_len}");
        }
        Ok(received)
    }

    /// GET `path` and return the whole body (for checking content once, small objects only).
    pub async fn get_bytes(&self, path: &str) -> anyhow::Result<Bytes> {
        let resp = self
            .http
            .request(self.request(&Method::GET, path, ChunkedBody::empty())?)
            .await?;
        let status = resp.status();
        if !status.is_success() {
            bail!(
                "GET {path}: {status}: {}",
                read_limited(resp.into_body()).await
            );
        }
        Ok(resp.into_body().collect().await?.to_bytes())
    }
}

/// The start of an error body, as text, for messages.
async fn read_limited(mut body: hyper::body::Incoming) -> String {
    let mut out = Vec::new();
    while out.len() < ERROR_BODY_LIMIT {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    out.extend_from_slice(data);
                }
            }
            _ => break,
        }
    }
    out.truncate(ERROR_BODY_LIMIT);
    String::from_utf8_lossy(&out).replace('\n', " ")
}
