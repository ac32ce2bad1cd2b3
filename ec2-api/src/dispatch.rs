//! Authentication and dispatch of Query-protocol requests.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use kumo_core::iam::{Iam, Principal};

use crate::error::{QueryError, ServiceProtocol};
use crate::params::Params;
use crate::sigv4;

/// The Query-protocol services behind Kumo's endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryService {
    /// EC2 (`ec2Query`).
    Ec2,
    /// Elastic Load Balancing v2 (`awsQuery`).
    Elbv2,
    /// STS (`awsQuery`).
    Sts,
    /// IAM (`awsQuery`).
    Iam,
}

impl QueryService {
    /// The service named by a SigV4 credential scope.
    #[must_use]
    pub fn from_signing_name(name: &str) -> Option<Self> {
        match name {
            "ec2" => Some(Self::Ec2),
            "elasticloadbalancing" => Some(Self::Elbv2),
            "sts" => Some(Self::Sts),
            "iam" => Some(Self::Iam),
            _ => None,
        }
    }

    /// The wire shape it speaks.
    #[must_use]
    pub fn protocol(self) -> ServiceProtocol {
        match self {
            Self::Ec2 => ServiceProtocol::Ec2Query,
            Self::Elbv2 | Self::Sts | Self::Iam => ServiceProtocol::AwsQuery,
        }
    }

    /// Global services accept credentials scoped to any region.
    fn is_global(self) -> bool {
        matches!(self, Self::Sts | Self::Iam)
    }
}

/// A Query-protocol request, body already read (Query bodies are small and bounded).
#[derive(Debug)]
pub struct QueryRequest {
    /// Method.
    pub method: Method,
    /// Path as sent.
    pub raw_path: String,
    /// Query string as sent.
    pub query: Option<String>,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
    /// Request id for the response and the logs.
    pub request_id: String,
}

/// The XML answer.
#[derive(Debug)]
pub struct QueryResponse {
    /// HTTP status.
    pub status: StatusCode,
    /// XML document.
    pub body: String,
    /// Error code, when it is an error (for the access log).
    pub error_code: Option<String>,
}

/// The Query-protocol front.
#[derive(Debug, Clone)]
pub struct QueryFront {
    iam: Iam,
    region: Arc<str>,
}

fn header_values(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect()
}

impl QueryFront {
    /// A front authenticating against `iam`, serving `region`.
    #[must_use]
    pub fn new(iam: Iam, region: &str) -> Self {
        Self {
            iam,
            region: region.into(),
        }
    }

    /// Handles one request for `service`.
    pub fn handle(&self, service: QueryService, req: &QueryRequest) -> QueryResponse {
        let protocol = service.protocol();
        match self
            .authenticate(service, req)
            .and_then(|p| self.dispatch(service, req, &p))
        {
            Ok(body) => QueryResponse {
                status: StatusCode::OK,
                body,
                error_code: None,
            },
            Err(err) => QueryResponse {
                status: err.status,
                body: err.to_xml(protocol, &req.request_id),
                error_code: Some(err.code),
            },
        }
    }

    fn authenticate(
        &self,
        service: QueryService,
        req: &QueryRequest,
    ) -> Result<Principal, QueryError> {
        let protocol = service.protocol();
        let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
        let signed = sigv4::parse(
            header("authorization"),
            header("x-amz-date"),
            req.query.as_deref(),
        )
        .map_err(|e| QueryError::from_auth(protocol, &e))?;
        sigv4::check_time(&signed, time::OffsetDateTime::now_utc())
            .map_err(|e| QueryError::from_auth(protocol, &e))?;
        if !service.is_global() && signed.region != *self.region {
            let message = format!(
                "Credential should be scoped to a valid region, not '{}'. This endpoint serves '{}'.",
                signed.region, self.region
            );
            return Err(match protocol {
                ServiceProtocol::Ec2Query => {
                    QueryError::new(StatusCode::UNAUTHORIZED, "AuthFailure", message)
                }
                ServiceProtocol::AwsQuery => {
                    QueryError::new(StatusCode::FORBIDDEN, "SignatureDoesNotMatch", message)
                }
            });
        }
        let key = match self.iam.authenticate(&signed.access_key_id) {
            Ok(key) => key,
            Err(kumo_core::Error::UnknownAccessKey(_) | kumo_core::Error::InactiveAccessKey(_)) => {
                return Err(QueryError::unknown_key(protocol));
            }
            Err(other) => return Err(other.into()),
        };
        let payload_hash = match header("x-amz-content-sha256") {
            Some(h) => h.to_owned(),
            None => sigv4::payload_hash(&req.body),
        };
        let headers = |name: &str| header_values(&req.headers, name);
        let parts = sigv4::RequestParts {
            method: req.method.as_str(),
            raw_path: &req.raw_path,
            query: req.query.as_deref(),
            headers: &headers,
            payload_hash: &payload_hash,
        };
        sigv4::verify(key.secret.expose(), &signed, &parts)
            .map_err(|e| QueryError::from_auth(protocol, &e))?;
        if payload_hash != "UNSIGNED-PAYLOAD" && payload_hash != sigv4::payload_hash(&req.body) {
            return Err(QueryError::from_auth(
                protocol,
                &sigv4::SigV4Error::Mismatch,
            ));
        }
        Ok(key.principal())
    }

    fn dispatch(
        &self,
        service: QueryService,
        req: &QueryRequest,
        principal: &Principal,
    ) -> Result<String, QueryError> {
        let is_form = req
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        let params = Params::parse(req.query.as_deref(), is_form.then_some(&req.body[..]));
        let Some(action) = params.action() else {
            return Err(QueryError::client(
                "MissingAction",
                "The request must contain the parameter Action",
            ));
        };
        tracing::debug!(action, "query action");
        match (service, action) {
            (QueryService::Sts, "GetCallerIdentity") => {
                Ok(crate::sts::get_caller_identity(principal, &req.request_id))
            }
            _ => Err(QueryError::unsupported_operation(action)),
        }
    }
}

/// Answers a request that carries no SigV4 credential scope but looks like a Query request
/// (form body with `Action`): the service is unknown, so the error uses the awsQuery shape
/// unless the action is plainly EC2's.
#[must_use]
pub fn unauthenticated(request_id: &str, protocol: ServiceProtocol) -> QueryResponse {
    let err = QueryError::from_auth(protocol, &sigv4::SigV4Error::Missing);
    QueryResponse {
        status: err.status,
        body: err.to_xml(protocol, request_id),
        error_code: Some(err.code),
    }
}
