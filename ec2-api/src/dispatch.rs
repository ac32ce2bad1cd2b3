//! Authentication and dispatch of Query-protocol requests.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use kumo_core::ec2::Ec2;
use kumo_core::iam::{Iam, Principal};
use kumo_core::query::idempotency::{ClientTokens, Replay};

use crate::error::{QueryError, ServiceProtocol};
use crate::params::Params;
use crate::query::decode::decode_input;
use crate::query::encode::{encode_response, result_fragment, wrap_response};
use crate::query::fingerprint::fingerprint;
use crate::query::{Node, Operation, Service, Shape, Typed};
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

    /// The service's generated model.
    #[must_use]
    pub fn model(self) -> &'static Service {
        match self {
            Self::Ec2 => &crate::generated::ec2::SERVICE,
            Self::Elbv2 => &crate::generated::elbv2::SERVICE,
            Self::Sts => &crate::generated::sts::SERVICE,
            Self::Iam => &crate::generated::iam::SERVICE,
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
    client_tokens: Option<ClientTokens>,
    ec2: Option<Ec2>,
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
            client_tokens: None,
            ec2: None,
        }
    }

    /// Serves EC2 (and ELBv2, which shares its resource store) from `ec2`. Without it, EC2
    /// actions answer `UnsupportedOperation`.
    #[must_use]
    pub fn with_ec2(mut self, ec2: Ec2) -> Self {
        self.ec2 = Some(ec2);
        self
    }

    /// Makes `ClientToken` idempotency durable through `tokens` (the server passes its state
    /// store). Without it, create calls run without replay protection.
    #[must_use]
    pub fn with_client_tokens(mut self, tokens: ClientTokens) -> Self {
        self.client_tokens = Some(tokens);
        self
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
        let ctx = Context {
            principal,
            request_id: &req.request_id,
            client_tokens: self.client_tokens.as_ref(),
            ec2: self.ec2.as_ref(),
        };
        dispatch_params(service, &params, &ctx)
    }
}

/// What a handler knows about the request besides its typed input.
#[derive(Debug)]
pub struct Context<'a> {
    /// The authenticated caller.
    pub principal: &'a Principal,
    /// The request id.
    pub request_id: &'a str,
    /// The `ClientToken` register, when the front has one.
    pub client_tokens: Option<&'a ClientTokens>,
    /// The EC2 control plane, when the front serves it.
    pub ec2: Option<&'a Ec2>,
}

impl Context<'_> {
    /// The EC2 control plane (`UnsupportedOperation` when this front has none).
    pub fn ec2(&self) -> Result<&Ec2, QueryError> {
        self.ec2
            .ok_or_else(|| QueryError::unsupported_operation("EC2 on this endpoint"))
    }

    /// The caller's account id.
    #[must_use]
    pub fn account(&self) -> &str {
        &self.principal.account_id
    }
}

/// A handler: a decoded input node in, an output node out (see [`typed`]).
pub(crate) type Handler = fn(&Context<'_>, Node) -> Result<Node, QueryError>;

/// Runs a handler written against the generated types.
pub(crate) fn typed<I: Typed, O: Typed>(
    input: Node,
    f: impl FnOnce(I) -> Result<O, QueryError>,
) -> Result<Node, QueryError> {
    let input = I::from_node(input).ok_or_else(QueryError::internal)?;
    f(input).map(|o| o.to_node())
}

/// The operations Kumo implements. Every other operation of the four models is still decoded
/// and validated, then answered `UnsupportedOperation`.
fn handler(service: QueryService, action: &str) -> Option<Handler> {
    use crate::generated::sts;
    match (service, action) {
        (QueryService::Sts, "GetCallerIdentity") => Some(|ctx, input| {
            typed(input, |_: sts::GetCallerIdentityRequest| {
                Ok(crate::sts::get_caller_identity(ctx.principal))
            })
        }),
        (QueryService::Ec2, action) => crate::ec2::handler(action),
        (QueryService::Elbv2, action) => crate::elbv2::handler(action),
        _ => None,
    }
}

/// Whether `principal` may call the action. Kumo has no IAM policy evaluation yet: every
/// access key acts with its account's full authority, so an authenticated caller is allowed.
/// `DryRun` answers from this decision, so it stays right when policies arrive.
fn authorized(_principal: &Principal, _service: QueryService, _action: &str) -> bool {
    true
}

/// EC2's `DryRun`: when the input asks for it, answer whether the call would have been
/// authorised instead of making it — `DryRunOperation` (412) or `UnauthorizedOperation` (403).
fn dry_run(
    op: &Operation,
    input: &Node,
    service: QueryService,
    ctx: &Context<'_>,
) -> Result<(), QueryError> {
    let (Some(Shape::Structure(s)), Node::Struct(fields)) = (op.input, input) else {
        return Ok(());
    };
    let requested = s
        .members
        .iter()
        .zip(fields)
        .any(|(m, f)| m.name == "DryRun" && matches!(f, Some(Node::Bool(true))));
    if !requested {
        return Ok(());
    }
    if authorized(ctx.principal, service, op.name) {
        Err(QueryError::new(
            StatusCode::PRECONDITION_FAILED,
            "DryRunOperation",
            "Request would have succeeded, but DryRun flag is set.",
        ))
    } else {
        Err(QueryError::new(
            StatusCode::FORBIDDEN,
            "UnauthorizedOperation",
            "You are not authorized to perform this operation.",
        ))
    }
}

/// Dispatches decoded parameters: the action is looked up in the service's model
/// (`InvalidAction` if absent), its input decoded and validated, then handled — or answered
/// `UnsupportedOperation` when Kumo does not implement it yet.
pub fn dispatch_params(
    service: QueryService,
    params: &Params,
    ctx: &Context<'_>,
) -> Result<String, QueryError> {
    let Some(action) = params.action() else {
        return Err(QueryError::client(
            "MissingAction",
            "The request must contain the parameter Action",
        ));
    };
    let model = service.model();
    let Some(op) = model.operation(action) else {
        return Err(QueryError::invalid_action(action));
    };
    let input = match op.input {
        Some(shape) => decode_input(model.protocol, shape, params)?,
        None => Node::Struct(Vec::new()),
    };
    let Some(handle) = handler(service, op.name) else {
        return Err(QueryError::unsupported_operation(op.name));
    };
    run(service, op, input, handle, ctx)
}

/// The string member `name` of a top-level input node.
fn top_level_str<'n>(op: &Operation, input: &'n Node, name: &str) -> Option<&'n str> {
    let (Some(Shape::Structure(s)), Node::Struct(fields)) = (op.input, input) else {
        return None;
    };
    s.members.iter().zip(fields).find_map(|(m, f)| match f {
        Some(Node::Str(v)) if m.name == name => Some(v.as_str()),
        _ => None,
    })
}

/// Runs an implemented operation with the hygiene every operation shares: `DryRun`, then
/// `ClientToken` idempotency (the same token and parameters answer the first result again;
/// other parameters answer `IdempotentParameterMismatch`).
fn run(
    service: QueryService,
    op: &Operation,
    input: Node,
    handle: Handler,
    ctx: &Context<'_>,
) -> Result<String, QueryError> {
    let model = service.model();
    dry_run(op, &input, service, ctx)?;
    let token = top_level_str(op, &input, "ClientToken").map(str::to_owned);
    let (Some(token), Some(tokens), Some(shape)) = (token, ctx.client_tokens, op.input) else {
        let output = handle(ctx, input)?;
        return Ok(encode_response(model, op, Some(&output), ctx.request_id));
    };
    kumo_core::query::idempotency::validate(&token)?;
    let account = ctx.principal.account_id.as_str();
    let fp = fingerprint(shape, &input);
    match tokens.lookup(account, op.name, &token, &fp)? {
        Replay::Same(fragment) => {
            return Ok(wrap_response(
                model,
                op,
                Some(&fragment)
                    .filter(|f| !f.is_empty())
                    .map(String::as_str),
                ctx.request_id,
            ));
        }
        Replay::Mismatch => return Err(QueryError::idempotent_parameter_mismatch(&token)),
        Replay::New => {}
    }
    let output = handle(ctx, input)?;
    let fragment = result_fragment(op, &output).unwrap_or_default();
    let fragment = match tokens.record(account, op.name, &token, &fp, &fragment)? {
        Replay::New => fragment,
        Replay::Same(first) => first,
        Replay::Mismatch => return Err(QueryError::idempotent_parameter_mismatch(&token)),
    };
    let fragment = Some(fragment.as_str()).filter(|f| !f.is_empty());
    Ok(wrap_response(model, op, fragment, ctx.request_id))
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

/// Test access to the shared hygiene with a stand-in handler.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::{Context, Handler, Node, QueryError, QueryService, decode_input, run};
    use crate::params::Params;

    /// Decodes `params` for `service` and runs `handle` through `DryRun` and `ClientToken` handling.
    pub(crate) fn run_with(
        service: QueryService,
        params: &Params,
        ctx: &Context<'_>,
        handle: Handler,
    ) -> Result<String, QueryError> {
        let model = service.model();
        let op = params
            .action()
            .and_then(|a| model.operation(a))
            .ok_or_else(QueryError::internal)?;
        let input = match op.input {
            Some(shape) => decode_input(model.protocol, shape, params)?,
            None => Node::Struct(Vec::new()),
        };
        run(service, op, input, handle, ctx)
    }
}
