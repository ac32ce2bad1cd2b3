//! Bucket CORS on the wire: PutBucketCors, GetBucketCors, DeleteBucketCors, and the two hooks
//! the HTTP router calls around s3s, because s3s routes no `OPTIONS` requests and adds no CORS
//! headers:
//!
//! - [`CorsFront::preflight`] answers a browser preflight (`OPTIONS`) entirely: 200 with the
//!   `Access-Control-*` headers of the first matching rule, or 403 `AccessForbidden` /
//!   400 `BadRequest` in S3's XML shape.
//! - [`CorsFront::capture`] + [`CorsFront::decorate`] add the CORS headers to the response of
//!   an actual request that carried `Origin` (errors included, as S3 does).
//!
//! The bucket is found as s3s finds it: virtual-hosted-style from `Host` through
//! [`KumoHost`], else the first path segment.

use http::header::{HOST, ORIGIN};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, Uri};
use kumo_core::s3::ObjectService;
use kumo_core::s3::cors::{self, CorsConfiguration, CorsRule, Preflight};
use s3s::dto::*;
use s3s::host::S3Host;
use s3s::{Body, S3Request, S3Response, S3Result};

use crate::conv::principal;
use crate::error::CoreResultExt;
use crate::host::KumoHost;
use crate::service::KumoS3;

fn rule_in(r: CORSRule) -> CorsRule {
    CorsRule {
        id: r.id,
        allowed_origins: r.allowed_origins,
        allowed_methods: r.allowed_methods,
        allowed_headers: r.allowed_headers.unwrap_or_default(),
        expose_headers: r.expose_headers.unwrap_or_default(),
        max_age_seconds: r.max_age_seconds,
    }
}

fn rule_out(r: CorsRule) -> CORSRule {
    let non_empty = |v: Vec<String>| (!v.is_empty()).then_some(v);
    CORSRule {
        id: r.id,
        allowed_origins: r.allowed_origins,
        allowed_methods: r.allowed_methods,
        allowed_headers: non_empty(r.allowed_headers),
        expose_headers: non_empty(r.expose_headers),
        max_age_seconds: r.max_age_seconds,
    }
}

pub async fn put_bucket_cors(
    s: &KumoS3,
    req: S3Request<PutBucketCorsInput>,
) -> S3Result<S3Response<PutBucketCorsOutput>> {
    let p = principal(&s.iam, &req)?;
    let i = req.input;
    let config = CorsConfiguration {
        rules: i
            .cors_configuration
            .cors_rules
            .into_iter()
            .map(rule_in)
            .collect(),
    };
    s.core
        .put_bucket_cors(p.as_ref(), &i.bucket, config)
        .await
        .s3()?;
    Ok(S3Response::new(PutBucketCorsOutput {}))
}

pub async fn get_bucket_cors(
    s: &KumoS3,
    req: S3Request<GetBucketCorsInput>,
) -> S3Result<S3Response<GetBucketCorsOutput>> {
    let p = principal(&s.iam, &req)?;
    let config = s.core.bucket_cors(p.as_ref(), &req.input.bucket).s3()?;
    Ok(S3Response::new(GetBucketCorsOutput {
        cors_rules: Some(config.rules.into_iter().map(rule_out).collect()),
    }))
}

pub async fn delete_bucket_cors(
    s: &KumoS3,
    req: S3Request<DeleteBucketCorsInput>,
) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
    let p = principal(&s.iam, &req)?;
    s.core
        .delete_bucket_cors(p.as_ref(), &req.input.bucket)
        .await
        .s3()?;
    Ok(S3Response::new(DeleteBucketCorsOutput {}))
}

/// What [`CorsFront::decorate`] needs from a request, taken before s3s consumes it.
#[derive(Debug, Clone)]
pub struct CorsRequest {
    bucket: String,
    origin: String,
    method: String,
}

/// The CORS hooks for the HTTP router (see the module docs).
#[derive(Debug, Clone)]
pub struct CorsFront {
    core: ObjectService,
    host: KumoHost,
}

const VARY_PREFLIGHT: &str =
    "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";

impl CorsFront {
    /// Hooks over `core`, resolving virtual hosts under `base_domain`.
    #[must_use]
    pub fn new(core: ObjectService, base_domain: &str) -> Self {
        Self {
            core,
            host: KumoHost::new(base_domain),
        }
    }

    /// The bucket a request addresses, if any.
    fn bucket_of(&self, uri: &Uri, headers: &HeaderMap) -> Option<String> {
        if let Some(host) = headers.get(HOST).and_then(|h| h.to_str().ok())
            && let Ok(vh) = self.host.parse_host_header(host)
            && let Some(bucket) = vh.bucket()
        {
            return Some(bucket.to_owned());
        }
        let path = uri.path().trim_start_matches('/');
        let bucket = path.split('/').next().unwrap_or_default();
        (!bucket.is_empty()).then(|| bucket.to_owned())
    }

    fn rules(&self, bucket: &str) -> Option<CorsConfiguration> {
        match self.core.cors_rules(bucket) {
            Ok(rules) => rules,
            Err(err) => {
                tracing::error!(bucket, error = %err, "reading CORS rules failed");
                None
            }
        }
    }

    /// Answers an `OPTIONS` request (a browser preflight); `None` for any other method.
    #[must_use]
    pub fn preflight(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Option<Response<Body>> {
        if method != Method::OPTIONS {
            return None;
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let Some(origin) = header("origin") else {
            return Some(error_response(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Insufficient information. Origin request header needed.",
                None,
            ));
        };
        let Some(request_method) = header("access-control-request-method") else {
            return Some(error_response(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Invalid Access-Control-Request-Method: null",
                None,
            ));
        };
        if !cors::METHODS.contains(&request_method) {
            return Some(error_response(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("Invalid Access-Control-Request-Method: {request_method}"),
                None,
            ));
        }
        let Some(bucket) = self.bucket_of(uri, headers) else {
            return Some(error_response(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Insufficient information. Bucket not specified.",
                None,
            ));
        };
        let resource_type = if self.is_object_uri(uri, headers) {
            "OBJECT"
        } else {
            "BUCKET"
        };
        let rules = self.rules(&bucket);
        let request = Preflight {
            origin,
            method: request_method,
            request_headers: header("access-control-request-headers").unwrap_or(""),
        };
        match cors::preflight(rules.as_ref(), &request) {
            Ok(cors_headers) => {
                let mut resp = Response::new(Body::empty());
                add_headers(resp.headers_mut(), cors_headers);
                Some(resp)
            }
            Err(denial) => {
                let mut resp = error_response(
                    StatusCode::FORBIDDEN,
                    "AccessForbidden",
                    &format!("CORSResponse: {}", denial.message()),
                    Some((request_method, resource_type)),
                );
                if let Ok(v) = HeaderValue::from_str(VARY_PREFLIGHT) {
                    resp.headers_mut().insert(http::header::VARY, v);
                }
                Some(resp)
            }
        }
    }

    fn is_object_uri(&self, uri: &Uri, headers: &HeaderMap) -> bool {
        let path = uri.path().trim_start_matches('/');
        let virtual_hosted = headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| self.host.parse_host_header(h).ok())
            .is_some_and(|vh| vh.bucket().is_some());
        if virtual_hosted {
            !path.is_empty()
        } else {
            path.split_once('/').is_some_and(|(_, key)| !key.is_empty())
        }
    }

    /// For a request with `Origin` (not a preflight): what [`Self::decorate`] will need.
    #[must_use]
    pub fn capture(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Option<CorsRequest> {
        if method == Method::OPTIONS {
            return None;
        }
        let origin = headers.get(ORIGIN)?.to_str().ok()?.to_owned();
        let bucket = self.bucket_of(uri, headers)?;
        Some(CorsRequest {
            bucket,
            origin,
            method: method.as_str().to_owned(),
        })
    }

    /// Adds the CORS headers of the first rule matching the captured request, if any.
    pub fn decorate(&self, request: &CorsRequest, response_headers: &mut HeaderMap) {
        let Some(rules) = self.rules(&request.bucket) else {
            return;
        };
        if let Some(cors_headers) = cors::actual(Some(&rules), &request.origin, &request.method) {
            add_headers(response_headers, cors_headers);
        }
    }
}

fn add_headers(map: &mut HeaderMap, headers: cors::Headers) {
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            map.insert(name, value);
        }
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An S3 error document; the router adds `<RequestId>` to small error bodies.
fn error_response(
    status: StatusCode,
    code: &str,
    message: &str,
    method_and_type: Option<(&str, &str)>,
) -> Response<Body> {
    let mut body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{}</Message>",
        xml_escape(message)
    );
    if let Some((method, resource_type)) = method_and_type {
        body.push_str(&format!(
            "<Method>{}</Method><ResourceType>{resource_type}</ResourceType>",
            xml_escape(method)
        ));
    }
    body.push_str("</Error>");
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use kumo_core::iam::Iam;
    use kumo_core::s3::cors::{CorsConfiguration, CorsRule};
    use kumo_driver_api::{ObjectStore, StateStore};

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).expect("header"));
        }
        map
    }

    #[tokio::test]
    async fn preflight_and_decorate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state: Arc<dyn StateStore> = Arc::new(
            kumo_state_redb::RedbStateStore::open(&dir.path().join("s.redb")).expect("redb"),
        );
        let objects: Arc<dyn ObjectStore> = Arc::new(
            kumo_objects_local::LocalObjectStore::open(&dir.path().join("o")).expect("objects"),
        );
        let (_, key, _) = Iam::new(state.clone()).bootstrap_admin().expect("admin");
        let owner = key.principal();
        let core = ObjectService::new(state, objects, "us-east-1", 1 << 20);
        core.create_bucket(Some(&owner), "web", None, None)
            .await
            .expect("bucket");
        let front = CorsFront::new(core.clone(), "s3.localhost");
        let uri: Uri = "/web/index.html".parse().expect("uri");
        let pre = headers(&[
            ("origin", "https://site.example"),
            ("access-control-request-method", "GET"),
        ]);
        // No CORS yet: 403 with S3's message.
        let resp = front
            .preflight(&Method::OPTIONS, &uri, &pre)
            .expect("answered");
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        core.put_bucket_cors(
            Some(&owner),
            "web",
            CorsConfiguration {
                rules: vec![CorsRule {
                    allowed_origins: vec!["https://*.example".into()],
                    allowed_methods: vec!["GET".into()],
                    ..CorsRule::default()
                }],
            },
        )
        .await
        .expect("cors");
        let resp = front
            .preflight(&Method::OPTIONS, &uri, &pre)
            .expect("answered");
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers()
                .get("access-control-allow-origin")
                .and_then(|v| v.to_str().ok()),
            Some("https://site.example")
        );
        // Virtual-hosted style: the bucket comes from Host.
        let mut vh = pre.clone();
        vh.insert(HOST, HeaderValue::from_static("web.s3.localhost:8773"));
        let root: Uri = "/index.html".parse().expect("uri");
        let resp = front
            .preflight(&Method::OPTIONS, &root, &vh)
            .expect("answered");
        assert_eq!(resp.status(), StatusCode::OK);
        // Missing Origin: 400.
        let resp = front
            .preflight(&Method::OPTIONS, &uri, &HeaderMap::new())
            .expect("answered");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        // Not OPTIONS: not ours.
        assert!(front.preflight(&Method::GET, &uri, &pre).is_none());
        // Actual request.
        let get = headers(&[("origin", "https://site.example")]);
        let captured = front.capture(&Method::GET, &uri, &get).expect("captured");
        let mut out = HeaderMap::new();
        front.decorate(&captured, &mut out);
        assert!(out.contains_key("access-control-allow-origin"));
        let put = front.capture(&Method::PUT, &uri, &get).expect("captured");
        let mut out = HeaderMap::new();
        front.decorate(&put, &mut out);
        assert!(out.is_empty());
        assert!(
            front
                .capture(&Method::GET, &uri, &HeaderMap::new())
                .is_none()
        );
    }
}
