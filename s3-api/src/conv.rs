//! Conversions between s3s's wire types and the core's: identity, bodies, times, ETags,
//! checksums, headers, tags, URL encoding of listed keys.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use kumo_core::iam::{Iam, Principal};
use kumo_core::s3::checksum::{ChecksumAlgorithm, ExpectedChecksum, Integrity};
use kumo_core::s3::model::{ContentHeaders, StoredChecksum, Tag};
use kumo_core::s3::objects::EtagMatch;
use kumo_driver_api::ByteStream;
use s3s::dto::{ETag, ETagCondition, StreamingBlob, Timestamp};
use s3s::stream::RemainingLength;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Result};

use crate::error::CoreResultExt;

/// The authenticated caller, or `None` for an anonymous request. s3s has already verified the
/// signature with this key's secret (so the key is known and active); `Iam` caches keys, so
/// this costs no state lookup on the hot path.
pub fn principal<T>(iam: &Iam, req: &S3Request<T>) -> S3Result<Option<Principal>> {
    let Some(c) = &req.credentials else {
        return Ok(None);
    };
    lookup(iam, &c.access_key).map(Some)
}

fn lookup(iam: &Iam, access_key: &str) -> S3Result<Principal> {
    Ok(iam.authenticate(access_key).s3()?.principal())
}

/// A request body as the core's byte stream; s3s errors travel inside `io::Error`.
pub fn body_in(blob: Option<StreamingBlob>) -> ByteStream {
    match blob {
        Some(blob) => Box::pin(blob.map(|r| r.map_err(std::io::Error::other))),
        None => Box::pin(futures::stream::empty()),
    }
}

/// A response body of known length. (`ByteStream` is `Send` but not `Sync`; s3s wants both,
/// and a stream is only ever polled through `&mut`, so a `Mutex` used via `get_mut` is free.)
struct SyncBody {
    inner: std::sync::Mutex<ByteStream>,
    remaining: u64,
}

impl Stream for SyncBody {
    type Item = Result<Bytes, s3s::StdError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let inner = match this.inner.get_mut() {
            Ok(inner) => inner,
            Err(poisoned) => poisoned.into_inner(),
        };
        match inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.remaining = this.remaining.saturating_sub(chunk.len() as u64);
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Box::new(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl s3s::stream::ByteStream for SyncBody {
    fn remaining_length(&self) -> RemainingLength {
        usize::try_from(self.remaining)
            .map_or_else(|_| RemainingLength::unknown(), RemainingLength::new_exact)
    }
}

/// A response body of `len` bytes.
pub fn body_out(stream: ByteStream, len: u64) -> StreamingBlob {
    StreamingBlob::new(SyncBody {
        inner: std::sync::Mutex::new(stream),
        remaining: len,
    })
}

/// Milliseconds since the epoch → s3s timestamp.
pub fn ts(ms: i64) -> Timestamp {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    Timestamp::from(t)
}

/// s3s timestamp → seconds since the epoch.
pub fn secs(t: Timestamp) -> i64 {
    time::OffsetDateTime::from(t).unix_timestamp()
}

/// An unquoted ETag value → the wire type.
pub fn etag(value: &str) -> ETag {
    ETag::Strong(value.to_owned())
}

/// An `If-Match`-style condition → the core's.
pub fn etag_match(c: Option<ETagCondition>) -> Option<EtagMatch> {
    c.map(|c| match c {
        ETagCondition::Any => EtagMatch::Any,
        ETagCondition::ETag(e) => EtagMatch::Tags(vec![e.into_value()]),
    })
}

/// Checksum output fields.
#[derive(Debug, Default)]
pub struct ChecksumOut {
    pub crc32: Option<String>,
    pub crc32c: Option<String>,
    pub crc64nvme: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    pub kind: Option<s3s::dto::ChecksumType>,
}

/// Spreads a stored checksum over the five output fields.
pub fn checksum_out(
    algorithm: Option<ChecksumAlgorithm>,
    value: Option<&str>,
    kind: Option<kumo_core::s3::checksum::ChecksumKind>,
) -> ChecksumOut {
    let mut out = ChecksumOut::default();
    let (Some(algorithm), Some(value)) = (algorithm, value) else {
        return out;
    };
    let v = Some(value.to_owned());
    match algorithm {
        ChecksumAlgorithm::Crc32 => out.crc32 = v,
        ChecksumAlgorithm::Crc32c => out.crc32c = v,
        ChecksumAlgorithm::Crc64nvme => out.crc64nvme = v,
        ChecksumAlgorithm::Sha1 => out.sha1 = v,
        ChecksumAlgorithm::Sha256 => out.sha256 = v,
    }
    out.kind = kind.map(|k| {
        s3s::dto::ChecksumType::from_static(match k {
            kumo_core::s3::checksum::ChecksumKind::FullObject => {
                s3s::dto::ChecksumType::FULL_OBJECT
            }
            kumo_core::s3::checksum::ChecksumKind::Composite => s3s::dto::ChecksumType::COMPOSITE,
        })
    });
    out
}

/// Output fields of an object's stored checksum.
pub fn stored_checksum_out(c: Option<&StoredChecksum>) -> ChecksumOut {
    match c {
        Some(c) => checksum_out(Some(c.algorithm), Some(&c.value), Some(c.kind)),
        None => ChecksumOut::default(),
    }
}

/// The five checksum input fields of an upload request.
pub struct ChecksumIn<'a> {
    pub algorithm: Option<&'a s3s::dto::ChecksumAlgorithm>,
    pub crc32: Option<&'a String>,
    pub crc32c: Option<&'a String>,
    pub crc64nvme: Option<&'a String>,
    pub sha1: Option<&'a String>,
    pub sha256: Option<&'a String>,
}

/// Parses a checksum algorithm name.
pub fn algorithm(a: Option<&s3s::dto::ChecksumAlgorithm>) -> S3Result<Option<ChecksumAlgorithm>> {
    a.map(|a| ChecksumAlgorithm::parse(a.as_str()))
        .transpose()
        .s3()
}

/// What to verify for an upload: Content-MD5, a checksum from a header or from the aws-chunked
/// trailer (read after the body is consumed), and the announced length.
pub fn integrity<T>(
    req: &S3Request<T>,
    content_md5: Option<&String>,
    content_length: Option<i64>,
    sums: &ChecksumIn<'_>,
) -> S3Result<Integrity> {
    let headers = &req.headers;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let streaming = header("x-amz-content-sha256").is_some_and(|v| v.starts_with("STREAMING-"));
    let content_length = match header("x-amz-decoded-content-length") {
        Some(v) => Some(v.trim().parse::<u64>().map_err(|_| {
            S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "invalid x-amz-decoded-content-length",
            )
        })?),
        None if streaming => None,
        None => content_length.and_then(|l| u64::try_from(l).ok()),
    };
    let given = [
        (ChecksumAlgorithm::Crc32, sums.crc32),
        (ChecksumAlgorithm::Crc32c, sums.crc32c),
        (ChecksumAlgorithm::Crc64nvme, sums.crc64nvme),
        (ChecksumAlgorithm::Sha1, sums.sha1),
        (ChecksumAlgorithm::Sha256, sums.sha256),
    ];
    let mut checksum = given.iter().find_map(|(a, v)| {
        v.map(|v| ExpectedChecksum {
            algorithm: *a,
            value: Some(v.clone()),
            trailer: None,
        })
    });
    if checksum.is_none()
        && let Some(trailer) = header("x-amz-trailer")
    {
        let name = trailer.trim().to_ascii_lowercase();
        if let Some(alg) = name.strip_prefix("x-amz-checksum-") {
            let algorithm = ChecksumAlgorithm::parse(alg).s3()?;
            let handle = req.trailing_headers.clone();
            checksum = Some(ExpectedChecksum {
                algorithm,
                value: None,
                trailer: Some(Box::new(move || {
                    let handle = handle?;
                    handle.read(|h| {
                        h.get(name.as_str())
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned)
                    })?
                })),
            });
        }
    }
    if checksum.is_none()
        && let Some(a) = algorithm(sums.algorithm)?
    {
        checksum = Some(ExpectedChecksum {
            algorithm: a,
            value: None,
            trailer: None,
        });
    }
    Ok(Integrity {
        content_md5: content_md5.cloned(),
        checksum,
        content_length,
    })
}

/// `Content-Encoding` without the `aws-chunked` transfer coding.
pub fn content_encoding(v: Option<String>) -> Option<String> {
    let v = v?;
    let kept: Vec<&str> = v
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("aws-chunked"))
        .collect();
    if kept.is_empty() {
        None
    } else {
        Some(kept.join(", "))
    }
}

/// Content headers of a write.
pub fn content_headers(
    content_type: Option<String>,
    content_encoding_header: Option<String>,
    content_disposition: Option<String>,
    content_language: Option<String>,
    cache_control: Option<String>,
    expires: Option<Timestamp>,
) -> ContentHeaders {
    ContentHeaders {
        content_type,
        content_encoding: content_encoding(content_encoding_header),
        content_disposition,
        content_language,
        cache_control,
        expires: expires.map(secs),
    }
}

/// User metadata with lower-case names.
pub fn metadata_in(m: Option<s3s::dto::Metadata>) -> BTreeMap<String, String> {
    m.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

/// User metadata for a response.
pub fn metadata_out(m: &BTreeMap<String, String>) -> Option<s3s::dto::Metadata> {
    if m.is_empty() {
        None
    } else {
        Some(m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }
}

/// Parses `x-amz-tagging` (`k1=v1&k2=v2`, URL-encoded).
pub fn tagging_header(v: Option<&str>) -> Vec<Tag> {
    match v {
        None => Vec::new(),
        Some(v) => form_urlencoded::parse(v.as_bytes())
            .map(|(k, v)| Tag {
                key: k.into_owned(),
                value: v.into_owned(),
            })
            .collect(),
    }
}

/// Tags from the XML body.
pub fn tags_in(set: Vec<s3s::dto::Tag>) -> Vec<Tag> {
    set.into_iter()
        .map(|t| Tag {
            key: t.key.unwrap_or_default(),
            value: t.value.unwrap_or_default(),
        })
        .collect()
}

/// Tags for the XML body.
pub fn tags_out(tags: Vec<Tag>) -> Vec<s3s::dto::Tag> {
    tags.into_iter()
        .map(|t| s3s::dto::Tag {
            key: Some(t.key),
            value: Some(t.value),
        })
        .collect()
}

/// Percent-encodes a key for `encoding-type=url` (as AWS: everything but unreserved
/// characters and `/`).
pub fn url_encode(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

/// Applies `encoding-type=url` when asked.
pub fn encoder(encoding_type: Option<&s3s::dto::EncodingType>) -> fn(&str) -> String {
    if encoding_type.is_some_and(|e| e.as_str().eq_ignore_ascii_case("url")) {
        url_encode
    } else {
        str::to_owned
    }
}

/// The owner element of listings.
pub fn owner(account_id: &str) -> s3s::dto::Owner {
    s3s::dto::Owner {
        display_name: Some(account_id.to_owned()),
        id: Some(account_id.to_owned()),
    }
}

/// An `InvalidArgument` error.
pub fn invalid_argument(msg: &'static str) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, msg)
}
