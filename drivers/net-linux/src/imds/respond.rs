//! What the metadata service answers to one request, as a pure function of the request, the
//! caller's instance (found from the ENI the request arrived on) and the clock.
//!
//! Rules, as EC2:
//! * `PUT /latest/api/token` with `X-aws-ec2-metadata-token-ttl-seconds` (1–21600) mints an
//!   IMDSv2 token; a missing or bad TTL is 400; a PUT carrying `X-Forwarded-For` is 403 (a
//!   proxy in the guest must not obtain tokens for others); the response leaves with the IP TTL
//!   set to the instance's hop limit.
//! * Any `GET` that presents `X-aws-ec2-metadata-token` must present a valid, unexpired token
//!   for this instance (401 otherwise); without one, the GET is IMDSv1 and is refused with 401
//!   when the instance requires tokens.
//! * Paths: `/` lists the versions, `/<version>/` lists `dynamic`, `meta-data` and, when
//!   present, `user-data`; any dated version is served like `latest`.

use kumo_driver_api::InstanceMetadata;

use super::token::{TTL_RANGE, TokenSigner};
use super::tree::{self, Node};

/// Header carrying an IMDSv2 token.
pub const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
/// Header carrying a token's TTL.
pub const TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";

/// Versions listed at `/` (cloud-init probes dated versions before `latest`).
const VERSIONS: &[&str] = &[
    "1.0",
    "2007-01-19",
    "2007-03-01",
    "2007-08-29",
    "2007-10-10",
    "2007-12-15",
    "2008-02-01",
    "2008-09-01",
    "2009-04-04",
    "2011-01-01",
    "2011-05-01",
    "2012-01-12",
    "2014-02-25",
    "2014-11-05",
    "2015-10-20",
    "2016-04-19",
    "2016-06-30",
    "2016-09-02",
    "2018-03-28",
    "2018-08-17",
    "2018-09-24",
    "2019-10-01",
    "2020-10-27",
    "2021-01-03",
    "2021-03-23",
    "2021-07-15",
    "2022-09-24",
    "latest",
];

/// The parts of a request the answer depends on.
#[derive(Debug, Clone, Default)]
pub struct ImdsRequest<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Path without the query.
    pub path: &'a str,
    /// `X-aws-ec2-metadata-token`.
    pub token: Option<&'a str>,
    /// `X-aws-ec2-metadata-token-ttl-seconds`.
    pub ttl: Option<&'a str>,
    /// Whether `X-Forwarded-For` was present.
    pub forwarded: bool,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImdsResponse {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: Vec<u8>,
    /// Content type.
    pub content_type: &'static str,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// IP TTL the response must leave with (token responses: the hop limit).
    pub ip_ttl: Option<u8>,
}

impl ImdsResponse {
    fn text(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            body: body.into(),
            content_type: "text/plain",
            headers: Vec::new(),
            ip_ttl: None,
        }
    }

    fn error(status: u16) -> Self {
        let reason = match status {
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            _ => "Error",
        };
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\"\n\t\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n<html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en\">\n <head>\n  <title>{status} - {reason}</title>\n </head>\n <body>\n  <h1>{status} - {reason}</h1>\n </body>\n</html>\n"
        );
        Self {
            status,
            body: body.into_bytes(),
            content_type: "text/html",
            headers: Vec::new(),
            ip_ttl: None,
        }
    }
}

/// Answers `req` for the instance `md` (`None`: nothing is attached to the ENI) at `now`.
pub fn respond(
    req: &ImdsRequest<'_>,
    md: Option<&InstanceMetadata>,
    tokens: &TokenSigner,
    now: u64,
) -> ImdsResponse {
    let Some(md) = md else {
        return ImdsResponse::error(404);
    };
    if !md.http_endpoint_enabled {
        return ImdsResponse::error(403);
    }
    match req.method {
        "PUT" => put_token(req, md, tokens, now),
        "GET" | "HEAD" => get(req, md, tokens, now),
        _ => {
            let mut r = ImdsResponse::error(405);
            r.headers.push(("allow", "GET, HEAD, PUT".into()));
            r
        }
    }
}

fn put_token(
    req: &ImdsRequest<'_>,
    md: &InstanceMetadata,
    tokens: &TokenSigner,
    now: u64,
) -> ImdsResponse {
    if req.path.trim_end_matches('/') != "/latest/api/token" {
        let mut r = ImdsResponse::error(405);
        r.headers.push(("allow", "GET, HEAD".into()));
        return r;
    }
    if req.forwarded {
        return ImdsResponse::error(403);
    }
    let Some(ttl) = req
        .ttl
        .and_then(|t| t.trim().parse::<u64>().ok())
        .filter(|t| TTL_RANGE.contains(t))
    else {
        return ImdsResponse::error(400);
    };
    let mut r = ImdsResponse::text(200, tokens.mint(&md.instance_id, now, ttl));
    r.headers.push((TTL_HEADER, ttl.to_string()));
    r.ip_ttl = Some(md.http_put_response_hop_limit.max(1));
    r
}

fn get(
    req: &ImdsRequest<'_>,
    md: &InstanceMetadata,
    tokens: &TokenSigner,
    now: u64,
) -> ImdsResponse {
    let mut remaining = None;
    match req.token {
        Some(t) => match tokens.verify(t, &md.instance_id, now) {
            Some(left) => remaining = Some(left),
            None => return ImdsResponse::error(401),
        },
        None if md.http_tokens_required => return ImdsResponse::error(401),
        None => {}
    }
    let mut r = route(req.path, md);
    if let Some(left) = remaining.filter(|_| r.status == 200) {
        r.headers.push((TTL_HEADER, left.to_string()));
    }
    r
}

fn is_version(v: &str) -> bool {
    VERSIONS.contains(&v)
        || (v.len() == 10
            && v.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            }))
}

fn route(path: &str, md: &InstanceMetadata) -> ImdsResponse {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let Some((version, rest)) = segs.split_first() else {
        return ImdsResponse::text(200, VERSIONS.join("\n"));
    };
    if !is_version(version) {
        return ImdsResponse::error(404);
    }
    let Some((top, rest)) = rest.split_first() else {
        let mut list = vec!["dynamic", "meta-data"];
        if md.user_data.is_some() {
            list.push("user-data");
        }
        return ImdsResponse::text(200, list.join("\n"));
    };
    let node = match *top {
        "meta-data" => tree::meta_data(md),
        "dynamic" => tree::dynamic(md),
        "user-data" if rest.is_empty() => {
            return match &md.user_data {
                Some(ud) => {
                    let mut r = ImdsResponse::text(200, ud.clone());
                    r.content_type = "application/octet-stream";
                    r
                }
                None => ImdsResponse::error(404),
            };
        }
        _ => return ImdsResponse::error(404),
    };
    match node.find(rest) {
        Some(n @ Node::Leaf(_)) if top == &"dynamic" => {
            let mut r = ImdsResponse::text(200, n.body());
            r.content_type = "application/json";
            r
        }
        Some(n) => ImdsResponse::text(200, n.body()),
        None => ImdsResponse::error(404),
    }
}
