//! Integrity of uploaded data: the MD5 ETag, Content-MD5, and the five S3 checksum algorithms.
//!
//! Everything is computed while the body streams into the `ObjectStore` ([`HashingStream`]), and
//! verified after the blob is durable but BEFORE any metadata commits — so a body that fails a
//! check never replaces the previous object; its blob is deleted.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use futures::Stream;
use kumo_driver_api::ByteStream;
use md5::Digest as _;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// S3's checksum algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChecksumAlgorithm {
    /// CRC-32 (ISO-HDLC).
    Crc32,
    /// CRC-32C (Castagnoli).
    Crc32c,
    /// CRC-64/NVME.
    Crc64nvme,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

impl ChecksumAlgorithm {
    /// Parses the wire name (`CRC32`, `crc32c`, ...).
    pub fn parse(name: &str) -> Result<Self> {
        match name.to_ascii_uppercase().as_str() {
            "CRC32" => Ok(Self::Crc32),
            "CRC32C" => Ok(Self::Crc32c),
            "CRC64NVME" => Ok(Self::Crc64nvme),
            "SHA1" => Ok(Self::Sha1),
            "SHA256" => Ok(Self::Sha256),
            _ => Err(Error::InvalidArgument(format!(
                "unknown checksum algorithm {name:?}"
            ))),
        }
    }

    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Crc32 => "CRC32",
            Self::Crc32c => "CRC32C",
            Self::Crc64nvme => "CRC64NVME",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
        }
    }

    /// Digest length in bytes.
    #[must_use]
    pub fn digest_len(self) -> usize {
        match self {
            Self::Crc32 | Self::Crc32c => 4,
            Self::Crc64nvme => 8,
            Self::Sha1 => 20,
            Self::Sha256 => 32,
        }
    }

    fn is_crc(self) -> bool {
        matches!(self, Self::Crc32 | Self::Crc32c | Self::Crc64nvme)
    }

    fn crc(self) -> Option<crc_fast::CrcAlgorithm> {
        match self {
            Self::Crc32 => Some(crc_fast::CrcAlgorithm::Crc32IsoHdlc),
            Self::Crc32c => Some(crc_fast::CrcAlgorithm::Crc32Iscsi),
            Self::Crc64nvme => Some(crc_fast::CrcAlgorithm::Crc64Nvme),
            Self::Sha1 | Self::Sha256 => None,
        }
    }
}

/// Whole-object checksum, or checksum of the part checksums (`…-N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChecksumKind {
    /// Over the whole object's bytes.
    FullObject,
    /// Over the concatenated binary part checksums.
    Composite,
}

enum Hasher {
    Crc(crc_fast::Digest, ChecksumAlgorithm),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl Hasher {
    fn new(algorithm: ChecksumAlgorithm) -> Self {
        match (algorithm, algorithm.crc()) {
            (_, Some(crc)) => Self::Crc(crc_fast::Digest::new(crc), algorithm),
            (ChecksumAlgorithm::Sha1, None) => Self::Sha1(sha1::Sha1::new()),
            _ => Self::Sha256(sha2::Sha256::new()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Self::Crc(d, _) => d.update(data),
            Self::Sha1(d) => d.update(data),
            Self::Sha256(d) => d.update(data),
        }
    }

    fn finish(self) -> Vec<u8> {
        match self {
            Self::Crc(d, algorithm) => crc_bytes(algorithm, d.finalize()),
            Self::Sha1(d) => d.finalize().to_vec(),
            Self::Sha256(d) => d.finalize().to_vec(),
        }
    }
}

fn crc_bytes(algorithm: ChecksumAlgorithm, value: u64) -> Vec<u8> {
    if algorithm == ChecksumAlgorithm::Crc64nvme {
        value.to_be_bytes().to_vec()
    } else {
        // CRC-32 values fit in the low 32 bits.
        (value as u32).to_be_bytes().to_vec()
    }
}

/// Base64 of a digest.
#[must_use]
pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// Checksum of `data` in one call (tests, small bodies).
#[must_use]
pub fn checksum_of(algorithm: ChecksumAlgorithm, data: &[u8]) -> String {
    let mut h = Hasher::new(algorithm);
    h.update(data);
    b64(&h.finish())
}

/// What was computed over a body.
#[derive(Debug, Clone, Default)]
pub struct Digests {
    /// Bytes seen.
    pub len: u64,
    /// MD5 of the body (binary).
    pub md5: [u8; 16],
    /// The requested checksum (base64), if any.
    pub checksum: Option<(ChecksumAlgorithm, String)>,
}

impl Digests {
    /// Hex MD5: the ETag of a single-part object.
    #[must_use]
    pub fn md5_hex(&self) -> String {
        hex::encode(self.md5)
    }
}

/// Why a hashing stream stopped a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamVerdict {
    /// The body exceeded the size limit.
    TooLarge,
}

#[derive(Default)]
struct Shared {
    digests: Option<Digests>,
    verdict: Option<StreamVerdict>,
}

/// Reads what a [`HashingStream`] computed, after the stream ended.
#[derive(Clone)]
pub struct HashingHandle(Arc<Mutex<Shared>>);

impl HashingHandle {
    /// The digests, once the stream reached its end.
    #[must_use]
    pub fn digests(&self) -> Option<Digests> {
        self.0.lock().ok().and_then(|s| s.digests.clone())
    }

    /// Why the stream stopped the body, if it did.
    #[must_use]
    pub fn verdict(&self) -> Option<StreamVerdict> {
        self.0.lock().ok().and_then(|s| s.verdict)
    }
}

/// Passes a body through while computing MD5 and, optionally, one checksum, and enforcing a
/// size limit.
pub struct HashingStream {
    inner: ByteStream,
    md5: Option<md5::Md5>,
    checksum: Option<(ChecksumAlgorithm, Hasher)>,
    len: u64,
    max: u64,
    shared: Arc<Mutex<Shared>>,
}

impl HashingStream {
    /// Wraps `inner`; `algorithm` adds a checksum; bodies longer than `max` fail.
    #[must_use]
    pub fn new(
        inner: ByteStream,
        algorithm: Option<ChecksumAlgorithm>,
        max: u64,
    ) -> (Self, HashingHandle) {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let stream = Self {
            inner,
            md5: Some(md5::Md5::new()),
            checksum: algorithm.map(|a| (a, Hasher::new(a))),
            len: 0,
            max,
            shared: shared.clone(),
        };
        (stream, HashingHandle(shared))
    }

    fn finish(&mut self) {
        let md5 = self
            .md5
            .take()
            .map(|m| m.finalize().into())
            .unwrap_or_default();
        let checksum = self.checksum.take().map(|(a, h)| (a, b64(&h.finish())));
        if let Ok(mut shared) = self.shared.lock() {
            shared.digests = Some(Digests {
                len: self.len,
                md5,
                checksum,
            });
        }
    }
}

impl Stream for HashingStream {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match this.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.len += chunk.len() as u64;
                if this.len > this.max {
                    if let Ok(mut shared) = this.shared.lock() {
                        shared.verdict = Some(StreamVerdict::TooLarge);
                    }
                    return Poll::Ready(Some(Err(std::io::Error::other("body too large"))));
                }
                if let Some(md5) = &mut this.md5 {
                    md5.update(&chunk);
                }
                if let Some((_, h)) = &mut this.checksum {
                    h.update(&chunk);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(None) => {
                if this.md5.is_some() {
                    this.finish();
                }
                Poll::Ready(None)
            }
            other => other,
        }
    }
}

/// A checksum the client announced: the algorithm and, when already known, the value. When the
/// value comes in a trailer, `trailer` reads it after the body has been consumed.
pub struct ExpectedChecksum {
    /// The algorithm.
    pub algorithm: ChecksumAlgorithm,
    /// The value from a header, base64.
    pub value: Option<String>,
    /// Reads the value from the trailing headers (aws-chunked uploads).
    pub trailer: Option<Box<dyn FnOnce() -> Option<String> + Send>>,
}

impl std::fmt::Debug for ExpectedChecksum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExpectedChecksum")
            .field("algorithm", &self.algorithm)
            .field("value", &self.value)
            .field("trailer", &self.trailer.is_some())
            .finish()
    }
}

/// Integrity expectations of one upload.
#[derive(Debug, Default)]
pub struct Integrity {
    /// `Content-MD5` (base64), if sent.
    pub content_md5: Option<String>,
    /// A checksum to verify, or only an algorithm to compute and store.
    pub checksum: Option<ExpectedChecksum>,
    /// `Content-Length` (decoded length for aws-chunked), if known.
    pub content_length: Option<u64>,
}

impl Integrity {
    /// Checks malformed digests before any byte is stored.
    pub fn validate(&self) -> Result<()> {
        if let Some(md5) = &self.content_md5
            && B64.decode(md5.trim()).map(|d| d.len()) != Ok(16)
        {
            return Err(Error::InvalidDigest("Content-MD5".to_owned()));
        }
        if let Some(expected) = &self.checksum
            && let Some(value) = &expected.value
        {
            check_checksum_format(expected.algorithm, value)?;
        }
        Ok(())
    }

    /// Verifies the digests of a fully received body. Runs before any metadata commit.
    pub fn verify(self, digests: &Digests) -> Result<Option<(ChecksumAlgorithm, String)>> {
        if let Some(expected) = self.content_length
            && expected != digests.len
        {
            return Err(Error::IncompleteBody(format!(
                "received {} of {expected} announced bytes",
                digests.len
            )));
        }
        if let Some(md5) = &self.content_md5
            && B64.decode(md5.trim()).ok().as_deref() != Some(&digests.md5[..])
        {
            return Err(Error::BadDigest("Content-MD5".to_owned()));
        }
        let computed = digests.checksum.clone();
        let Some(expected) = self.checksum else {
            return Ok(computed);
        };
        let value = match (expected.value, expected.trailer) {
            (Some(v), _) => Some(v),
            (None, Some(read)) => Some(read().ok_or_else(|| {
                Error::IncompleteBody("the announced checksum trailer was not sent".to_owned())
            })?),
            (None, None) => None,
        };
        if let Some(value) = value {
            check_checksum_format(expected.algorithm, &value)?;
            match &computed {
                Some((algorithm, c)) if *algorithm == expected.algorithm && *c == value.trim() => {}
                _ => {
                    return Err(Error::BadDigest(format!(
                        "x-amz-checksum-{}",
                        expected.algorithm.as_str().to_ascii_lowercase()
                    )));
                }
            }
        }
        Ok(computed)
    }
}

fn check_checksum_format(algorithm: ChecksumAlgorithm, value: &str) -> Result<()> {
    match B64.decode(value.trim()) {
        Ok(d) if d.len() == algorithm.digest_len() => Ok(()),
        _ => Err(Error::InvalidDigest(format!(
            "x-amz-checksum-{}",
            algorithm.as_str().to_ascii_lowercase()
        ))),
    }
}

/// The checksum of a multipart object from its parts' checksums: composite (hash of the binary
/// part checksums, `-N`) or, for CRCs asked as full-object, the CRC of the whole data obtained
/// by combining the part CRCs.
pub fn multipart_checksum(
    algorithm: ChecksumAlgorithm,
    kind: ChecksumKind,
    parts: &[(u64, String)],
) -> Option<String> {
    let mut decoded = Vec::with_capacity(parts.len());
    for (len, value) in parts {
        decoded.push((*len, B64.decode(value).ok()?));
    }
    if kind == ChecksumKind::FullObject && algorithm.is_crc() {
        let crc = algorithm.crc()?;
        let mut acc: Option<u64> = None;
        for (len, bytes) in &decoded {
            let value = if bytes.len() == 8 {
                u64::from_be_bytes(bytes.as_slice().try_into().ok()?)
            } else {
                u64::from(u32::from_be_bytes(bytes.as_slice().try_into().ok()?))
            };
            acc = Some(match acc {
                None => value,
                Some(a) => crc_fast::checksum_combine(crc, a, value, *len),
            });
        }
        let value = match acc {
            Some(v) => v,
            None => crc_fast::checksum(crc, b""),
        };
        return Some(b64(&crc_bytes(algorithm, value)));
    }
    let mut h = Hasher::new(algorithm);
    for (_, bytes) in &decoded {
        h.update(bytes);
    }
    Some(format!("{}-{}", b64(&h.finish()), parts.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // CRC32 of "hello" as S3 reports it: 0x3610a686.
        assert_eq!(
            checksum_of(ChecksumAlgorithm::Crc32, b"hello"),
            b64(&0x3610_a686u32.to_be_bytes())
        );
        assert_eq!(
            checksum_of(ChecksumAlgorithm::Crc32c, b"hello"),
            b64(&0x9a71_bb4cu32.to_be_bytes())
        );
        // The CRC-64/NVME check value of "123456789".
        assert_eq!(
            checksum_of(ChecksumAlgorithm::Crc64nvme, b"123456789"),
            b64(&0xae8b_1486_0a79_9888u64.to_be_bytes())
        );
        assert_eq!(
            checksum_of(ChecksumAlgorithm::Sha256, b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn full_object_crc_combines_parts() {
        let a = b"hello ".as_slice();
        let b = b"world".as_slice();
        let parts = vec![
            (a.len() as u64, checksum_of(ChecksumAlgorithm::Crc32, a)),
            (b.len() as u64, checksum_of(ChecksumAlgorithm::Crc32, b)),
        ];
        let whole = multipart_checksum(ChecksumAlgorithm::Crc32, ChecksumKind::FullObject, &parts);
        assert_eq!(
            whole,
            Some(checksum_of(ChecksumAlgorithm::Crc32, b"hello world"))
        );
        let composite =
            multipart_checksum(ChecksumAlgorithm::Crc32, ChecksumKind::Composite, &parts)
                .expect("composite");
        assert!(composite.ends_with("-2"));
    }
}
