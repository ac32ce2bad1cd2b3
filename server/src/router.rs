//! The one endpoint: every request is classified by its SigV4 credential scope and its shape,
//! then handed to S3 (s3s) or to the Query front (EC2, ELBv2, STS, IAM).
//!
//! Also here, once for all services: request ids (`x-amz-request-id` and in error bodies), the
//! per-request tracing span, the access log line, and the health endpoint.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use kumo_ec2_api::dispatch::unauthenticated;
use kumo_ec2_api::{QueryFront, QueryRequest, QueryService, ServiceProtocol};
use s3s::Body;
use tracing::Instrument;

/// Largest Query-protocol body accepted (EC2 user data is at most 16 KiB; this leaves room).
const MAX_QUERY_BODY: usize = 8 * 1024 * 1024;
/// S3 error bodies larger than this are passed through without adding a request id.
const MAX_ERROR_BODY: u64 = 64 * 1024;
/// The health endpoint; `_` cannot appear in a bucket name, so it never shadows S3.
pub const HEALTH_PATH: &str = "/_kumo/health";

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Health,
    S3,
    Query(QueryService),
    /// A Query-shaped request with no signature: answered with the protocol's auth error.
    UnsignedQuery(ServiceProtocol),
    /// Signed for a service Kumo does not run.
    UnknownService(String),
}

/// Shared state of the endpoint.
pub struct Router {
    s3: s3s::service::S3Service,
    /// CORS for S3: s3s routes no `OPTIONS` and adds no CORS headers, so the router does.
    cors: kumo_s3_api::cors::CorsFront,
    query: QueryFront,
    ready: AtomicBool,
    /// Request ids: a random per-process prefix and a counter (no system call per request).
    id_prefix: u32,
    id_counter: AtomicU64,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router").finish_non_exhaustive()
    }
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"))
}

fn query_has(query: Option<&str>, name: &str) -> bool {
    query.is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == name))
}

fn classify(method: &Method, uri: &http::Uri, headers: &HeaderMap) -> Route {
    let path = uri.path();
    let query = uri.query();
    if path == HEALTH_PATH && matches!(*method, Method::GET | Method::HEAD) {
        return Route::Health;
    }
    let authorization = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Some((_, service)) = kumo_ec2_api::sigv4::credential_scope(authorization, query) {
        if service == "s3" {
            return Route::S3;
        }
        return match QueryService::from_signing_name(&service) {
            Some(s) => Route::Query(s),
            None => Route::UnknownService(service),
        };
    }
    // No SigV4 scope: SigV2 and anonymous requests are S3's, unless the request is plainly a
    // Query call (`Action=` on `/`).
    let query_shaped = path == "/"
        && authorization.is_none()
        && ((*method == Method::POST && is_form(headers)) || query_has(query, "Action"));
    if query_shaped {
        // EC2 requests always carry Version=2016-11-15; the body is not read for an unsigned call.
        let protocol = if query.is_some_and(|q| q.contains("Version=2016-11-15")) {
            ServiceProtocol::Ec2Query
        } else {
            ServiceProtocol::AwsQuery
        };
        return Route::UnsignedQuery(protocol);
    }
    Route::S3
}

fn xml_response(status: StatusCode, body: String) -> Response<Body> {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml;charset=UTF-8"),
    );
    resp
}

/// Longest validity of a presigned SigV4 URL, as AWS enforces it (7 days).
const MAX_PRESIGN_SECS: u64 = 7 * 24 * 3600;

/// AWS refuses presigned URLs valid for more than 7 days; s3s does not check it.
fn presign_expiry_violation(query: Option<&str>) -> Option<&'static str> {
    let query = query?;
    let expires = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "X-Amz-Expires")?
        .1;
    match expires.parse::<u64>() {
        Ok(secs) if secs <= MAX_PRESIGN_SECS => None,
        Ok(_) => Some("X-Amz-Expires must be less than a week (in seconds) that is 604800"),
        Err(_) => Some("X-Amz-Expires should be a number"),
    }
}

/// An S3 error document.
fn s3_error(status: StatusCode, code: &str, message: &str, request_id: &str) -> Response<Body> {
    let mut body = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>");
    body.push_str(code);
    body.push_str("</Code><Message>");
    kumo_ec2_api::xml::escape_into(&mut body, message);
    body.push_str("</Message><RequestId>");
    kumo_ec2_api::xml::escape_into(&mut body, request_id);
    body.push_str("</RequestId></Error>");
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    resp
}

/// Inserts `<RequestId>` into an S3 error document that lacks one.
fn add_request_id(body: &[u8], request_id: &str) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(body).ok()?;
    if text.contains("<RequestId>") {
        return None;
    }
    let at = text.rfind("</Error>")?;
    let mut out = String::with_capacity(text.len() + 64);
    out.push_str(&text[..at]);
    out.push_str("<RequestId>");
    kumo_ec2_api::xml::escape_into(&mut out, request_id);
    out.push_str("</RequestId>");
    out.push_str(&text[at..]);
    Some(out.into_bytes())
}

impl Router {
    /// A router over the S3 service and the Query front; not ready until [`Router::set_ready`].
    pub fn new(
        s3: s3s::service::S3Service,
        cors: kumo_s3_api::cors::CorsFront,
        query: QueryFront,
    ) -> Self {
        Self {
            s3,
            cors,
            query,
            ready: AtomicBool::new(false),
            id_prefix: uuid::Uuid::new_v4().as_fields().0,
            id_counter: AtomicU64::new(0),
        }
    }

    /// A request id in AWS's S3 style: 16 upper-case hex digits, unique per process run.
    fn next_request_id(&self) -> String {
        let n = self.id_counter.fetch_add(1, Ordering::Relaxed);
        format!("{:08X}{:08X}", self.id_prefix, n & 0xFFFF_FFFF)
    }

    /// Marks start-up as finished: the health endpoint answers 200 from now on.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Serves one request. Never fails: every failure is an AWS-shaped response.
    pub async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<Body>, Infallible> {
        let started = Instant::now();
        let request_id = self.next_request_id();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let route = classify(req.method(), req.uri(), req.headers());
        let span = tracing::info_span!("request", id = %request_id);
        let mut resp = self
            .dispatch(route.clone(), req, &request_id)
            .instrument(span.clone())
            .await;
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert("x-amz-request-id", v.clone());
            resp.headers_mut().insert("x-amzn-requestid", v);
        }
        let service = match &route {
            Route::Health => "health",
            Route::S3 => "s3",
            Route::Query(QueryService::Ec2) => "ec2",
            Route::Query(QueryService::Elbv2) => "elasticloadbalancing",
            Route::Query(QueryService::Sts) => "sts",
            Route::Query(QueryService::Iam) => "iam",
            Route::UnsignedQuery(_) => "query",
            Route::UnknownService(_) => "unknown",
        };
        // The query string is not logged: presigned URLs carry credentials in it.
        crate::access_log::AccessLine {
            request_id: &request_id,
            method: &method,
            path: &path,
            service,
            status: resp.status().as_u16(),
            latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        }
        .emit(&span);
        Ok(resp)
    }

    async fn dispatch(
        &self,
        route: Route,
        req: Request<Incoming>,
        request_id: &str,
    ) -> Response<Body> {
        match route {
            Route::Health => {
                let ready = self.ready.load(Ordering::Acquire);
                let (status, text) = if ready {
                    (StatusCode::OK, "ok\n")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "starting\n")
                };
                let mut resp = Response::new(Body::from(text.to_owned()));
                *resp.status_mut() = status;
                resp
            }
            Route::S3 => self.s3(req, request_id).await,
            Route::Query(service) => self.query(service, req, request_id).await,
            Route::UnsignedQuery(protocol) => {
                let r = unauthenticated(request_id, protocol);
                xml_response(r.status, r.body)
            }
            Route::UnknownService(service) => {
                let err = kumo_ec2_api::QueryError::client(
                    "UnknownService",
                    format!("The service {service:?} is not offered by this Kumo endpoint."),
                );
                xml_response(
                    err.status,
                    err.to_xml(ServiceProtocol::AwsQuery, request_id),
                )
            }
        }
    }

    async fn s3(&self, req: Request<Incoming>, request_id: &str) -> Response<Body> {
        if let Some(message) = presign_expiry_violation(req.uri().query()) {
            return s3_error(
                StatusCode::BAD_REQUEST,
                "AuthorizationQueryParametersError",
                message,
                request_id,
            );
        }
        if let Some(resp) = self.cors.preflight(req.method(), req.uri(), req.headers()) {
            return resp;
        }
        let cors = self.cors.capture(req.method(), req.uri(), req.headers());
        let mut resp = self.s3_call(req, request_id).await;
        if let Some(cors) = &cors {
            self.cors.decorate(cors, resp.headers_mut());
        }
        resp
    }

    async fn s3_call(&self, req: Request<Incoming>, request_id: &str) -> Response<Body> {
        // Policy conditions (aws:SecureTransport, aws:SourceIp) read the connection's facts.
        let conn = req
            .extensions()
            .get::<kumo_s3_api::client::Connection>()
            .copied();
        let mut req = req.map(Body::from);
        if kumo_s3_api::post_form::applies(&req) {
            // Browser uploads: `${filename}` in the key, which s3s leaves alone.
            req = match kumo_s3_api::post_form::substitute_filename(req).await {
                Ok(req) => req,
                Err(e) => {
                    return s3_error(
                        StatusCode::BAD_REQUEST,
                        "IncompleteBody",
                        &e.to_string(),
                        request_id,
                    );
                }
            };
        }
        // Boxed: s3s's future is several KiB, and unboxed it is copied into every enclosing
        // future (this one, the request span's, hyper's slot) as each is created.
        let call = Box::pin(self.s3.call(req));
        let result = match conn {
            Some(c) => kumo_s3_api::client::scope(c.tls, Some(c.peer.ip()), call).await,
            None => call.await,
        };
        let resp = match result {
            Ok(resp) => resp,
            Err(err) => {
                tracing::error!(error = ?err, "s3 service failed");
                return s3_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "We encountered an internal error. Please try again.",
                    request_id,
                );
            }
        };
        if resp.status().as_u16() < 400 {
            return resp;
        }
        // Error documents are small: make sure they carry the request id.
        let small = http_body::Body::size_hint(resp.body())
            .upper()
            .is_some_and(|n| n <= MAX_ERROR_BODY);
        if !small {
            return resp;
        }
        let (mut parts, body) = resp.into_parts();
        let bytes = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(err) => {
                tracing::warn!(error = %err, "reading an S3 error body failed");
                Bytes::new()
            }
        };
        let bytes = match add_request_id(&bytes, request_id) {
            Some(b) => Bytes::from(b),
            None => bytes,
        };
        parts.headers.remove(http::header::CONTENT_LENGTH);
        if let Ok(len) = HeaderValue::from_str(&bytes.len().to_string())
            && parts.headers.contains_key(http::header::CONTENT_TYPE)
        {
            parts.headers.insert(http::header::CONTENT_LENGTH, len);
        }
        Response::from_parts(parts, Body::from(bytes))
    }

    async fn query(
        &self,
        service: QueryService,
        req: Request<Incoming>,
        request_id: &str,
    ) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, MAX_QUERY_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(err) => {
                let e = kumo_ec2_api::QueryError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "RequestEntityTooLarge",
                    format!(
                        "The request body could not be read or exceeds {MAX_QUERY_BODY} bytes: {err}"
                    ),
                );
                return xml_response(e.status, e.to_xml(service.protocol(), request_id));
            }
        };
        let qreq = QueryRequest {
            method: parts.method,
            raw_path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts.headers,
            body,
            request_id: request_id.to_owned(),
        };
        let front = self.query.clone();
        // Authentication reads the state store; keep it off the async workers.
        let answer = tokio::task::spawn_blocking(move || front.handle(service, &qreq)).await;
        match answer {
            Ok(r) => {
                if let Some(code) = &r.error_code {
                    tracing::debug!(code = %code, "query error");
                }
                xml_response(r.status, r.body)
            }
            Err(err) => {
                tracing::error!(error = %err, "query handler failed");
                let e = kumo_ec2_api::QueryError::internal();
                xml_response(e.status, e.to_xml(service.protocol(), request_id))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: Method, uri: &str, headers: &[(&'static str, &str)]) -> Route {
        let uri: http::Uri = uri.parse().expect("uri");
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, HeaderValue::from_str(v).expect("header"));
        }
        classify(&method, &uri, &map)
    }

    fn sigv4(service: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20260101/us-east-1/{service}/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=00"
        )
    }

    #[test]
    fn routes_by_credential_scope() {
        let form = (
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        );
        assert_eq!(route(Method::GET, "/_kumo/health", &[]), Route::Health);
        assert_eq!(
            route(
                Method::GET,
                "/bucket/key",
                &[("authorization", &sigv4("s3"))]
            ),
            Route::S3
        );
        assert_eq!(
            route(Method::POST, "/", &[("authorization", &sigv4("ec2")), form]),
            Route::Query(QueryService::Ec2)
        );
        assert_eq!(
            route(Method::POST, "/", &[("authorization", &sigv4("sts")), form]),
            Route::Query(QueryService::Sts)
        );
        assert_eq!(
            route(
                Method::POST,
                "/",
                &[("authorization", &sigv4("elasticloadbalancing")), form]
            ),
            Route::Query(QueryService::Elbv2)
        );
        assert_eq!(
            route(Method::POST, "/", &[("authorization", &sigv4("iam")), form]),
            Route::Query(QueryService::Iam)
        );
        assert_eq!(
            route(Method::POST, "/", &[("authorization", &sigv4("lambda"))]),
            Route::UnknownService("lambda".to_owned())
        );
        // Presigned S3 URLs carry the scope in the query.
        assert_eq!(
            route(
                Method::GET,
                "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20260101%2Fus-east-1%2Fs3%2Faws4_request",
                &[]
            ),
            Route::S3
        );
    }

    #[test]
    fn unsigned_requests() {
        // SigV2 and anonymous requests are S3's.
        assert_eq!(
            route(
                Method::GET,
                "/b/k?AWSAccessKeyId=AKIA&Signature=x&Expires=1",
                &[]
            ),
            Route::S3
        );
        assert_eq!(
            route(Method::GET, "/b/k", &[("authorization", "AWS AKIA:sig")]),
            Route::S3
        );
        assert_eq!(route(Method::GET, "/", &[]), Route::S3);
        // Browser POST uploads are multipart forms to a bucket: S3.
        assert_eq!(
            route(
                Method::POST,
                "/bucket",
                &[("content-type", "multipart/form-data; boundary=x")]
            ),
            Route::S3
        );
        // Unsigned Query calls get the protocol's authentication error.
        assert_eq!(
            route(
                Method::GET,
                "/?Action=DescribeInstances&Version=2016-11-15",
                &[]
            ),
            Route::UnsignedQuery(ServiceProtocol::Ec2Query)
        );
        assert_eq!(
            route(
                Method::POST,
                "/",
                &[("content-type", "application/x-www-form-urlencoded")]
            ),
            Route::UnsignedQuery(ServiceProtocol::AwsQuery)
        );
    }

    #[test]
    fn presigned_expiry_is_capped_at_seven_days() {
        assert_eq!(presign_expiry_violation(None), None);
        assert_eq!(presign_expiry_violation(Some("X-Amz-Expires=604800")), None);
        assert!(presign_expiry_violation(Some("X-Amz-Expires=604801")).is_some());
        assert!(presign_expiry_violation(Some("X-Amz-Expires=abc")).is_some());
        assert_eq!(presign_expiry_violation(Some("versioning")), None);
    }

    #[test]
    fn request_id_is_added_once() {
        let body = b"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code></Error>";
        let out = add_request_id(body, "ABC").expect("added");
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><RequestId>ABC</RequestId></Error>"
        );
        let with = b"<Error><RequestId>X</RequestId></Error>";
        assert!(add_request_id(with, "ABC").is_none());
        assert!(add_request_id(b"\xff", "ABC").is_none());
    }
}
