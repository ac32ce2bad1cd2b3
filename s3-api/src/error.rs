//! Core errors → S3 errors: the ONE place where Kumo's error meanings get S3 codes (and, via
//! s3s, their HTTP statuses). Internal failures are logged here and answered `InternalError`
//! without details.

use kumo_core::Error;
use s3s::{S3Error, S3ErrorCode};

/// Maps a core error to the S3 error the client sees.
pub fn to_s3(err: Error) -> S3Error {
    use S3ErrorCode as C;
    let msg = err.to_string();
    let with = |code: S3ErrorCode, text: &str| S3Error::with_message(code, text.to_owned());
    match err {
        Error::UnknownAccessKey(_) | Error::InactiveAccessKey(_) => with(
            C::InvalidAccessKeyId,
            "The AWS Access Key Id you provided does not exist in our records.",
        ),
        Error::AccessDenied(_) => with(C::AccessDenied, "Access Denied"),
        Error::NoSuchBucket(_) => with(C::NoSuchBucket, "The specified bucket does not exist"),
        Error::NoSuchKey(_) => with(C::NoSuchKey, "The specified key does not exist."),
        Error::NoSuchVersion(_) => with(C::NoSuchVersion, "The specified version does not exist."),
        Error::NoSuchUpload(_) => with(
            C::NoSuchUpload,
            "The specified multipart upload does not exist. The upload ID might be invalid, or the multipart upload might have been aborted or completed.",
        ),
        Error::BucketAlreadyExists(_) => with(
            C::BucketAlreadyExists,
            "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
        ),
        Error::BucketAlreadyOwnedByYou(_) => with(
            C::BucketAlreadyOwnedByYou,
            "Your previous request to create the named bucket succeeded and you already own it.",
        ),
        Error::BucketNotEmpty(_) => with(
            C::BucketNotEmpty,
            "The bucket you tried to delete is not empty",
        ),
        Error::InvalidBucketName(_) => {
            with(C::InvalidBucketName, "The specified bucket is not valid.")
        }
        Error::InvalidLocationConstraint(_) => with(
            C::InvalidLocationConstraint,
            "The specified location-constraint is not valid",
        ),
        Error::KeyTooLong => with(C::KeyTooLongError, "Your key is too long"),
        Error::PreconditionFailed(_) => with(
            C::PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold",
        ),
        Error::NotModified { etag, .. } => {
            let mut e = S3Error::new(C::NotModified);
            let mut headers = http::HeaderMap::new();
            if let Ok(v) = http::HeaderValue::from_str(&etag) {
                headers.insert(http::header::ETAG, v);
            }
            e.set_headers(headers);
            e
        }
        Error::InvalidRange { .. } => {
            with(C::InvalidRange, "The requested range is not satisfiable")
        }
        Error::BadDigest(what) if what == "Content-MD5" => with(
            C::BadDigest,
            "The Content-MD5 you specified did not match what we received.",
        ),
        Error::BadDigest(what) => S3Error::with_message(
            C::BadDigest,
            format!("The {what} you specified did not match the calculated checksum."),
        ),
        Error::InvalidDigest(what) => S3Error::with_message(
            C::InvalidDigest,
            format!("The {what} you specified was invalid."),
        ),
        Error::IncompleteBody(_) => with(
            C::IncompleteBody,
            "You did not provide the number of bytes specified by the Content-Length HTTP header.",
        ),
        Error::BodyStream(io) => body_error(io),
        Error::EntityTooLarge { .. } => with(
            C::EntityTooLarge,
            "Your proposed upload exceeds the maximum allowed size",
        ),
        Error::EntityTooSmall(_) => with(
            C::EntityTooSmall,
            "Your proposed upload is smaller than the minimum allowed object size.",
        ),
        Error::InvalidPart(_) => with(
            C::InvalidPart,
            "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag.",
        ),
        Error::InvalidPartOrder => with(
            C::InvalidPartOrder,
            "The list of parts was not in ascending order. The parts list must be specified in order by part number.",
        ),
        Error::InvalidRequest(m) => S3Error::with_message(C::InvalidRequest, m),
        Error::MethodNotAllowed(_) => with(
            C::MethodNotAllowed,
            "The specified method is not allowed against this resource.",
        ),
        Error::InvalidTag(m) => S3Error::with_message(C::InvalidTag, m),
        Error::InvalidArgument(m) => S3Error::with_message(C::InvalidArgument, m),
        Error::MalformedPolicy(m) => S3Error::with_message(C::MalformedPolicy, m),
        Error::MalformedConfiguration(_) => with(
            C::MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema",
        ),
        Error::InvalidCors(m) => S3Error::with_message(C::InvalidRequest, m),
        Error::AclNotSupported => with(
            C::AccessControlListNotSupported,
            "The bucket does not allow ACLs",
        ),
        Error::NoSuchBucketConfig { kind, .. } => crate::config_errors::not_configured(kind),
        Error::NoSuchAccount(_) | Error::AccountExists(_) => with(C::AccessDenied, "Access Denied"),
        Error::Objects(kumo_driver_api::ObjectStoreError::Body(io)) => body_error(io),
        Error::State(_)
        | Error::Objects(_)
        | Error::Corrupt { .. }
        | Error::Task(_)
        | Error::Fault(_) => {
            tracing::error!(error = %msg, "internal error serving S3");
            S3Error::new(C::InternalError)
        }
    }
}

/// A body stream failed: either s3s reported a protocol error (bad chunk signature, malformed
/// aws-chunked framing), which is passed through, or the client went away.
fn body_error(io: std::io::Error) -> S3Error {
    if let Some(inner) = io.into_inner() {
        match inner.downcast::<S3Error>() {
            Ok(e) => return *e,
            Err(other) => {
                tracing::debug!(error = %other, "request body failed");
            }
        }
    }
    S3Error::with_message(
        S3ErrorCode::IncompleteBody,
        "The request body terminated unexpectedly",
    )
}

/// `?`-friendly conversion of core results.
pub trait CoreResultExt<T> {
    /// Maps the error with [`to_s3`].
    fn s3(self) -> s3s::S3Result<T>;
}

impl<T> CoreResultExt<T> for kumo_core::Result<T> {
    fn s3(self) -> s3s::S3Result<T> {
        self.map_err(to_s3)
    }
}
