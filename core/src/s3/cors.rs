//! Bucket CORS: the rules of PutBucketCors, validated as S3 validates them, and the matching
//! S3 performs for browser preflights (`OPTIONS`) and for actual cross-origin requests.
//!
//! S3's behaviour, reproduced here:
//! - the FIRST rule whose AllowedOrigin (one `*` wildcard allowed), AllowedMethod and (for a
//!   preflight) AllowedHeader patterns all match is used;
//! - a preflight without a matching rule, or on a bucket without CORS, is refused with 403
//!   (`CORSResponse`); an actual request without a match simply gets no CORS headers;
//! - `Access-Control-Allow-Origin` is `*` when the matching origin pattern is exactly `*`,
//!   else the request's Origin (then with `Access-Control-Allow-Credentials: true`);
//!   `Vary` names the request headers the answer depends on.
//!
//! The outcome is a list of header (name, value) pairs: the protocol layer owns HTTP.

use serde::{Deserialize, Serialize};

use super::glob;
use crate::{Error, Result};

/// AWS's limit on rules per configuration.
pub const MAX_RULES: usize = 100;

/// Methods a CORS rule may allow.
pub const METHODS: &[&str] = &["GET", "PUT", "POST", "DELETE", "HEAD"];

/// One CORS rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsRule {
    /// Optional rule id (≤ 255 characters).
    #[serde(default)]
    pub id: Option<String>,
    /// Origins, each with at most one `*`.
    pub allowed_origins: Vec<String>,
    /// Methods among [`METHODS`].
    pub allowed_methods: Vec<String>,
    /// Request headers a preflight may ask for, each with at most one `*`.
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    /// Response headers the browser may expose to scripts.
    #[serde(default)]
    pub expose_headers: Vec<String>,
    /// How long the browser may cache a preflight answer.
    #[serde(default)]
    pub max_age_seconds: Option<i32>,
}

/// A bucket's CORS configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsConfiguration {
    /// The rules, in order; the first match wins.
    pub rules: Vec<CorsRule>,
}

fn one_wildcard(kind: &str, value: &str) -> Result<()> {
    if value.matches('*').count() > 1 {
        return Err(Error::InvalidCors(format!(
            "{kind} \"{value}\" can not have more than one wildcard."
        )));
    }
    Ok(())
}

impl CorsConfiguration {
    /// Validates as PutBucketCors does.
    pub fn validate(&self) -> Result<()> {
        if self.rules.is_empty() {
            return Err(Error::MalformedConfiguration(
                "a CORS configuration needs at least one CORSRule".to_owned(),
            ));
        }
        if self.rules.len() > MAX_RULES {
            return Err(Error::MalformedConfiguration(format!(
                "a CORS configuration may have at most {MAX_RULES} rules"
            )));
        }
        for rule in &self.rules {
            if rule.id.as_ref().is_some_and(|id| id.len() > 255) {
                return Err(Error::InvalidCors(
                    "the ID of a CORS rule is longer than 255 characters".to_owned(),
                ));
            }
            if rule.allowed_origins.is_empty() || rule.allowed_methods.is_empty() {
                return Err(Error::MalformedConfiguration(
                    "every CORSRule needs an AllowedOrigin and an AllowedMethod".to_owned(),
                ));
            }
            for method in &rule.allowed_methods {
                if !METHODS.contains(&method.as_str()) {
                    return Err(Error::InvalidCors(format!(
                        "Found unsupported HTTP method in CORS config. Unsupported method is {method}"
                    )));
                }
            }
            for origin in &rule.allowed_origins {
                one_wildcard("AllowedOrigin", origin)?;
            }
            for header in &rule.allowed_headers {
                one_wildcard("AllowedHeader", header)?;
            }
            if rule.max_age_seconds.is_some_and(|age| age < 0) {
                return Err(Error::InvalidCors(
                    "MaxAgeSeconds must not be negative".to_owned(),
                ));
            }
        }
        Ok(())
    }
}

/// A browser preflight: the `OPTIONS` request's CORS headers.
#[derive(Debug, Clone, Copy)]
pub struct Preflight<'a> {
    /// `Origin`.
    pub origin: &'a str,
    /// `Access-Control-Request-Method`.
    pub method: &'a str,
    /// `Access-Control-Request-Headers`, comma-separated as sent (may be empty).
    pub request_headers: &'a str,
}

/// Why a preflight is refused (S3 answers 403 `CORSResponse` with these messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreflightDenial {
    /// The bucket has no CORS configuration.
    NotEnabled,
    /// No rule matches the origin, method and headers.
    NotAllowed,
}

impl PreflightDenial {
    /// S3's message for the denial.
    #[must_use]
    pub fn message(self) -> &'static str {
        match self {
            Self::NotEnabled => "CORS is not enabled for this bucket.",
            Self::NotAllowed => {
                "This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."
            }
        }
    }
}

/// Response headers to add: (name, value), names in canonical case.
pub type Headers = Vec<(&'static str, String)>;

fn origin_matches(rule: &CorsRule, origin: &str) -> Option<bool> {
    // Some(true): matched by a bare `*`.
    rule.allowed_origins.iter().find_map(|pattern| {
        if pattern == "*" {
            Some(true)
        } else if glob_star(pattern, origin, false) {
            Some(false)
        } else {
            None
        }
    })
}

/// CORS patterns know `*` only (`?` is literal).
fn glob_star(pattern: &str, text: &str, ignore_case: bool) -> bool {
    if pattern.contains('?') {
        // Compare literally around the single `*` (validated: at most one).
        let (head, tail) = match pattern.split_once('*') {
            Some((h, t)) => (h, Some(t)),
            None => (pattern, None),
        };
        let eq = |a: &str, b: &str| {
            if ignore_case {
                a.eq_ignore_ascii_case(b)
            } else {
                a == b
            }
        };
        return match tail {
            None => eq(head, text),
            Some(tail) => {
                text.len() >= head.len() + tail.len()
                    && text.is_char_boundary(head.len())
                    && text.is_char_boundary(text.len() - tail.len())
                    && eq(&text[..head.len()], head)
                    && eq(&text[text.len() - tail.len()..], tail)
            }
        };
    }
    glob::matches(pattern, text, ignore_case)
}

fn header_allowed(rule: &CorsRule, header: &str) -> bool {
    rule.allowed_headers
        .iter()
        .any(|pattern| glob_star(pattern, header, true))
}

fn common_headers(rule: &CorsRule, origin: &str, star: bool, out: &mut Headers) {
    if star {
        out.push(("Access-Control-Allow-Origin", "*".to_owned()));
    } else {
        out.push(("Access-Control-Allow-Origin", origin.to_owned()));
        out.push(("Access-Control-Allow-Credentials", "true".to_owned()));
    }
    out.push((
        "Access-Control-Allow-Methods",
        rule.allowed_methods.join(", "),
    ));
    if !rule.expose_headers.is_empty() {
        out.push((
            "Access-Control-Expose-Headers",
            rule.expose_headers.join(", "),
        ));
    }
    if let Some(age) = rule.max_age_seconds {
        out.push(("Access-Control-Max-Age", age.to_string()));
    }
}

/// Answers a preflight: the headers of the 200 response, or why it is refused.
pub fn preflight(
    config: Option<&CorsConfiguration>,
    request: &Preflight<'_>,
) -> std::result::Result<Headers, PreflightDenial> {
    let config = config.ok_or(PreflightDenial::NotEnabled)?;
    let requested: Vec<String> = request
        .request_headers
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    for rule in &config.rules {
        let Some(star) = origin_matches(rule, request.origin) else {
            continue;
        };
        if !rule.allowed_methods.iter().any(|m| m == request.method) {
            continue;
        }
        if !requested.iter().all(|h| header_allowed(rule, h)) {
            continue;
        }
        let mut out = Headers::new();
        common_headers(rule, request.origin, star, &mut out);
        if !requested.is_empty() {
            out.push(("Access-Control-Allow-Headers", requested.join(", ")));
        }
        out.push((
            "Vary",
            "Origin, Access-Control-Request-Headers, Access-Control-Request-Method".to_owned(),
        ));
        return Ok(out);
    }
    Err(PreflightDenial::NotAllowed)
}

/// The CORS headers for an actual request carrying `Origin`, or `None` when no rule matches
/// (the response then goes out unchanged, as S3 does).
#[must_use]
pub fn actual(config: Option<&CorsConfiguration>, origin: &str, method: &str) -> Option<Headers> {
    let config = config?;
    for rule in &config.rules {
        let Some(star) = origin_matches(rule, origin) else {
            continue;
        };
        if !rule.allowed_methods.iter().any(|m| m == method) {
            continue;
        }
        let mut out = Headers::new();
        common_headers(rule, origin, star, &mut out);
        out.push((
            "Vary",
            "Origin, Access-Control-Request-Headers, Access-Control-Request-Method".to_owned(),
        ));
        return Some(out);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
        CorsRule {
            id: None,
            allowed_origins: origins.iter().map(|s| (*s).to_owned()).collect(),
            allowed_methods: methods.iter().map(|s| (*s).to_owned()).collect(),
            allowed_headers: headers.iter().map(|s| (*s).to_owned()).collect(),
            expose_headers: vec![],
            max_age_seconds: None,
        }
    }

    fn config() -> CorsConfiguration {
        let mut first = rule(
            &["https://app.example.com", "http://*.example.org"],
            &["GET", "PUT"],
            &["content-type", "x-amz-*"],
        );
        first.expose_headers = vec!["ETag".into(), "x-amz-request-id".into()];
        first.max_age_seconds = Some(3000);
        CorsConfiguration {
            rules: vec![first, rule(&["*"], &["GET", "HEAD"], &[])],
        }
    }

    fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn validation() {
        assert!(config().validate().is_ok());
        let bad_method = CorsConfiguration {
            rules: vec![rule(&["*"], &["PATCH"], &[])],
        };
        assert!(matches!(bad_method.validate(), Err(Error::InvalidCors(m)) if m.contains("PATCH")));
        let two_stars = CorsConfiguration {
            rules: vec![rule(&["http://*.*.com"], &["GET"], &[])],
        };
        assert!(
            matches!(two_stars.validate(), Err(Error::InvalidCors(m)) if m.contains("wildcard"))
        );
        let too_many = CorsConfiguration {
            rules: vec![rule(&["*"], &["GET"], &[]); MAX_RULES + 1],
        };
        assert!(matches!(
            too_many.validate(),
            Err(Error::MalformedConfiguration(_))
        ));
        assert!(matches!(
            CorsConfiguration::default().validate(),
            Err(Error::MalformedConfiguration(_))
        ));
        let no_origin = CorsConfiguration {
            rules: vec![rule(&[], &["GET"], &[])],
        };
        assert!(no_origin.validate().is_err());
    }

    #[test]
    fn preflight_table() {
        let cfg = config();
        let cases: [(&str, &str, &str, Option<&str>); 9] = [
            (
                "https://app.example.com",
                "PUT",
                "Content-Type, X-Amz-Date",
                Some("https://app.example.com"),
            ),
            ("https://app.example.com", "DELETE", "", None),
            ("https://app.example.com", "PUT", "authorization", None),
            (
                "http://a.b.example.org",
                "GET",
                "",
                Some("http://a.b.example.org"),
            ),
            ("https://a.example.org", "GET", "", Some("*")),
            ("https://evil.com", "GET", "", Some("*")),
            ("https://evil.com", "HEAD", "", Some("*")),
            ("https://evil.com", "PUT", "", None),
            ("https://evil.com", "GET", "x-custom", None),
        ];
        for (origin, method, hdrs, want) in cases {
            let got = preflight(
                Some(&cfg),
                &Preflight {
                    origin,
                    method,
                    request_headers: hdrs,
                },
            );
            match want {
                Some(allow) => {
                    let h = got.expect("allowed");
                    assert_eq!(
                        header(&h, "access-control-allow-origin"),
                        Some(allow),
                        "{origin}"
                    );
                    assert!(header(&h, "vary").is_some());
                }
                None => assert_eq!(
                    got,
                    Err(PreflightDenial::NotAllowed),
                    "{origin} {method} {hdrs}"
                ),
            }
        }
    }

    #[test]
    fn preflight_headers_of_the_first_rule() {
        let cfg = config();
        let h = preflight(
            Some(&cfg),
            &Preflight {
                origin: "https://app.example.com",
                method: "PUT",
                request_headers: "Content-Type,x-amz-meta-a",
            },
        )
        .expect("allowed");
        assert_eq!(header(&h, "access-control-allow-methods"), Some("GET, PUT"));
        assert_eq!(
            header(&h, "access-control-allow-headers"),
            Some("content-type, x-amz-meta-a")
        );
        assert_eq!(
            header(&h, "access-control-expose-headers"),
            Some("ETag, x-amz-request-id")
        );
        assert_eq!(header(&h, "access-control-max-age"), Some("3000"));
        assert_eq!(header(&h, "access-control-allow-credentials"), Some("true"));
        assert_eq!(
            preflight(
                None,
                &Preflight {
                    origin: "x",
                    method: "GET",
                    request_headers: ""
                }
            ),
            Err(PreflightDenial::NotEnabled)
        );
    }

    #[test]
    fn actual_requests() {
        let cfg = config();
        let h = actual(Some(&cfg), "https://app.example.com", "PUT").expect("match");
        assert_eq!(
            header(&h, "access-control-allow-origin"),
            Some("https://app.example.com")
        );
        let h = actual(Some(&cfg), "https://other.net", "GET").expect("star rule");
        assert_eq!(header(&h, "access-control-allow-origin"), Some("*"));
        assert!(header(&h, "access-control-allow-credentials").is_none());
        assert!(actual(Some(&cfg), "https://other.net", "DELETE").is_none());
        assert!(actual(None, "https://other.net", "GET").is_none());
    }

    #[test]
    fn question_mark_is_literal_in_cors() {
        let cfg = CorsConfiguration {
            rules: vec![rule(&["http://a?.com"], &["GET"], &[])],
        };
        assert!(actual(Some(&cfg), "http://ab.com", "GET").is_none());
        assert!(actual(Some(&cfg), "http://a?.com", "GET").is_some());
    }
}
