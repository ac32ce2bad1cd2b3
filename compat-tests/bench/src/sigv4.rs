//! A small AWS Signature Version 4 signer for S3 requests.
//!
//! The bench signs its own requests rather than pulling in an SDK: an SDK would add its own
//! per-request work (retries, checksums, endpoint resolution) that would be measured as if it
//! were the server's. The signer follows the S3 rules: the path is URI-encoded once (not
//! twice as for other services), query parameters are sorted, and the payload hash is sent in
//! `x-amz-content-sha256` (`UNSIGNED-PAYLOAD` for bodies, so hashing 64 MiB on the client
//! does not dominate the figures). The derived signing key is cached per day.

use std::sync::Mutex;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::macros::format_description;

type HmacSha256 = Hmac<Sha256>;

/// `x-amz-content-sha256` for a request whose body is not hashed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// `x-amz-content-sha256` for an empty body (the SHA-256 of nothing).
pub const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// An access key pair.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// What a request needs to carry once signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The `Authorization` header value.
    pub authorization: String,
    /// The `x-amz-date` header value.
    pub amz_date: String,
}

/// One request to sign. Header names must be lower case; `host`, `x-amz-content-sha256` and
/// `x-amz-date` are always signed, `extra_headers` are signed in addition.
#[derive(Debug, Clone)]
pub struct RequestToSign<'a> {
    pub method: &'a str,
    /// The path before encoding (e.g. `/bucket/key`).
    pub path: &'a str,
    /// Query parameters before encoding, in any order.
    pub query: &'a [(&'a str, &'a str)],
    pub host: &'a str,
    pub payload_sha256: &'a str,
    pub extra_headers: &'a [(&'a str, &'a str)],
}

/// Signs S3 requests for one key, region and service.
#[derive(Debug)]
pub struct Signer {
    credentials: Credentials,
    region: String,
    service: String,
    /// (yyyymmdd, signing key) of the last day signed for.
    key_cache: Mutex<Option<(String, [u8; 32])>>,
}

impl Signer {
    #[must_use]
    pub fn new(credentials: Credentials, region: &str, service: &str) -> Self {
        Self {
            credentials,
            region: region.to_owned(),
            service: service.to_owned(),
            key_cache: Mutex::new(None),
        }
    }

    /// Signs `req` at `now`.
    #[must_use]
    pub fn sign(&self, req: &RequestToSign<'_>, now: OffsetDateTime) -> Signature {
        let amz_date = format_amz_date(now);
        let date = &amz_date[..8];
        let scope = format!("{date}/{}/{}/aws4_request", self.region, self.service);

        let mut headers: Vec<(&str, &str)> = vec![
            ("host", req.host),
            ("x-amz-content-sha256", req.payload_sha256),
            ("x-amz-date", &amz_date),
        ];
        headers.extend_from_slice(req.extra_headers);
        headers.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let signed_headers = headers
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(";");
        let mut canonical_headers = String::new();
        for (name, value) in &headers {
            canonical_headers.push_str(name);
            canonical_headers.push(':');
            canonical_headers.push_str(value.trim());
            canonical_headers.push('\n');
        }

        let canonical_request = format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            req.method,
            encode_path(req.path),
            canonical_query(req.query),
            canonical_headers,
            signed_headers,
            req.payload_sha256
        );
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical_request.as_bytes()))
        );
        let key = self.signing_key(date);
        let signature = hex::encode(hmac(&key, string_to_sign.as_bytes()));
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            self.credentials.access_key_id
        );
        Signature {
            authorization,
            amz_date,
        }
    }

    fn signing_key(&self, date: &str) -> [u8; 32] {
        // A poisoned lock only means another signer thread panicked; the cache is still valid.
        let mut cache = self
            .key_cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((day, key)) = cache.as_ref()
            && day == date
        {
            return *key;
        }
        let k_date = hmac(
            format!("AWS4{}", self.credentials.secret_access_key).as_bytes(),
            date.as_bytes(),
        );
        let k_region = hmac(&k_date, self.region.as_bytes());
        let k_service = hmac(&k_region, self.service.as_bytes());
        let key = hmac(&k_service, b"aws4_request");
        *cache = Some((date.to_owned(), key));
        key
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn format_amz_date(now: OffsetDateTime) -> String {
    let fmt = format_description!("[year][month][day]T[hour][minute][second]Z");
    now.to_offset(time::UtcOffset::UTC)
        .format(fmt)
        .unwrap_or_else(|_| unreachable!("every UTC date formats"))
}

/// URI-encodes `s` as SigV4 requires: unreserved characters stay, everything else becomes
/// `%XX`; `/` stays only when `keep_slash` (paths).
fn uri_encode(s: &str, keep_slash: bool, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// The path as it goes on the wire and into the canonical request (S3 encodes it once).
#[must_use]
pub fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    uri_encode(path, true, &mut out);
    out
}

/// The sorted, encoded query string (also usable on the wire).
#[must_use]
pub fn canonical_query(query: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| {
            let (mut ek, mut ev) = (String::new(), String::new());
            uri_encode(k, false, &mut ek);
            uri_encode(v, false, &mut ev);
            (ek, ev)
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example_signer() -> Signer {
        Signer::new(
            Credentials {
                access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
                secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            },
            "us-east-1",
            "s3",
        )
    }

    fn example_time() -> OffsetDateTime {
        time::macros::datetime!(2013-05-24 00:00:00 UTC)
    }

    /// The "GET Object" example of the AWS SigV4 documentation (Authorization header, S3).
    #[test]
    fn aws_documentation_get_object_example() {
        let signer = example_signer();
        let sig = signer.sign(
            &RequestToSign {
                method: "GET",
                path: "/test.txt",
                query: &[],
                host: "examplebucket.s3.amazonaws.com",
                payload_sha256: EMPTY_PAYLOAD_SHA256,
                extra_headers: &[("range", "bytes=0-9")],
            },
            example_time(),
        );
        assert_eq!(sig.amz_date, "20130524T000000Z");
        assert_eq!(
            sig.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    /// The "GET Bucket Lifecycle" example: an empty-valued query parameter.
    #[test]
    fn aws_documentation_get_bucket_lifecycle_example() {
        let signer = example_signer();
        let sig = signer.sign(
            &RequestToSign {
                method: "GET",
                path: "/",
                query: &[("lifecycle", "")],
                host: "examplebucket.s3.amazonaws.com",
                payload_sha256: EMPTY_PAYLOAD_SHA256,
                extra_headers: &[],
            },
            example_time(),
        );
        assert!(
            sig.authorization.ends_with(
                "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
            ),
            "{}",
            sig.authorization
        );
    }

    /// The "GET Bucket (List Objects)" example: sorted, encoded query parameters.
    #[test]
    fn aws_documentation_list_objects_example() {
        let signer = example_signer();
        let sig = signer.sign(
            &RequestToSign {
                method: "GET",
                path: "/",
                query: &[("prefix", "J"), ("max-keys", "2")],
                host: "examplebucket.s3.amazonaws.com",
                payload_sha256: EMPTY_PAYLOAD_SHA256,
                extra_headers: &[],
            },
            example_time(),
        );
        assert!(
            sig.authorization.ends_with(
                "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
            ),
            "{}",
            sig.authorization
        );
    }

    #[test]
    fn path_is_encoded_once_and_keeps_slashes() {
        assert_eq!(
            encode_path("/bucket/a b/c~d+e%"),
            "/bucket/a%20b/c~d%2Be%25"
        );
        assert_eq!(canonical_query(&[("b", "x/y"), ("a", "")]), "a=&b=x%2Fy");
    }

    #[test]
    fn signing_key_is_cached_per_day() {
        let signer = example_signer();
        let req = RequestToSign {
            method: "GET",
            path: "/test.txt",
            query: &[],
            host: "examplebucket.s3.amazonaws.com",
            payload_sha256: EMPTY_PAYLOAD_SHA256,
            extra_headers: &[("range", "bytes=0-9")],
        };
        let first = signer.sign(&req, example_time());
        let next_day = signer.sign(&req, example_time() + time::Duration::days(1));
        let again = signer.sign(&req, example_time());
        assert_ne!(first, next_day);
        assert_eq!(first, again);
    }
}
