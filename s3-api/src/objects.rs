//! PutObject, GetObject, HeadObject, DeleteObject, DeleteObjects, CopyObject.

use kumo_core::s3::model::ObjectVersion;
use kumo_core::s3::objects::{
    ByteRange, Conditions, CopyObjectRequest, GetObjectRequest, PutObjectRequest,
};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use crate::conv::{
    self, ChecksumIn, body_in, body_out, content_headers, etag, etag_match, integrity, metadata_in,
    metadata_out, principal, secs, stored_checksum_out, tagging_header, ts,
};
use crate::error::{CoreResultExt, to_s3};
use crate::service::KumoS3;

fn version_out(v: &ObjectVersion) -> Option<String> {
    if v.version_id == "null" {
        None
    } else {
        Some(v.version_id.clone())
    }
}

/// Version ids are echoed as given, `null` included, when the request named one.
fn version_echo(v: &ObjectVersion, asked: bool) -> Option<String> {
    if asked {
        Some(v.version_id.clone())
    } else {
        version_out(v)
    }
}

pub async fn put_object(
    s: &KumoS3,
    req: S3Request<PutObjectInput>,
) -> S3Result<S3Response<PutObjectOutput>> {
    let p = principal(&s.iam, &req)?;
    let integrity = {
        let i = &req.input;
        integrity(
            &req,
            i.content_md5.as_ref(),
            i.content_length,
            &ChecksumIn {
                algorithm: i.checksum_algorithm.as_ref(),
                crc32: i.checksum_crc32.as_ref(),
                crc32c: i.checksum_crc32c.as_ref(),
                crc64nvme: i.checksum_crc64nvme.as_ref(),
                sha1: i.checksum_sha1.as_ref(),
                sha256: i.checksum_sha256.as_ref(),
            },
        )?
    };
    let i = req.input;
    let if_none_match_any = match &i.if_none_match {
        None => false,
        Some(ETagCondition::Any) => true,
        Some(_) => {
            return Err(S3Error::with_message(
                S3ErrorCode::NotImplemented,
                "If-None-Match on PUT supports only *",
            ));
        }
    };
    let put = PutObjectRequest {
        bucket: i.bucket,
        key: i.key,
        body: body_in(i.body),
        integrity,
        headers: content_headers(
            i.content_type,
            i.content_encoding,
            i.content_disposition,
            i.content_language,
            i.cache_control,
            i.expires,
        ),
        metadata: metadata_in(i.metadata),
        tags: tagging_header(i.tagging.as_deref()),
        if_none_match_any,
        if_match: etag_match(i.if_match),
        acl: i.acl.as_ref().map(|a| a.as_str().to_owned()),
    };
    let v = s.core.put_object(p.as_ref(), put).await.s3()?;
    let c = stored_checksum_out(v.checksum.as_ref());
    Ok(S3Response::new(PutObjectOutput {
        e_tag: Some(etag(&v.etag)),
        version_id: version_out(&v),
        checksum_crc32: c.crc32,
        checksum_crc32c: c.crc32c,
        checksum_crc64nvme: c.crc64nvme,
        checksum_sha1: c.sha1,
        checksum_sha256: c.sha256,
        checksum_type: c.kind,
        size: i64::try_from(v.size).ok(),
        ..Default::default()
    }))
}

fn byte_range(r: Option<Range>) -> Option<ByteRange> {
    r.map(|r| match r {
        Range::Int { first, last } => ByteRange::FromTo(first, last),
        Range::Suffix { length } => ByteRange::Suffix(length),
    })
}

fn part_number(n: Option<i32>) -> S3Result<Option<u32>> {
    n.map(|n| {
        u32::try_from(n).map_err(|_| {
            conv::invalid_argument("Part number must be an integer between 1 and 10000, inclusive")
        })
    })
    .transpose()
}

/// The fields GET and HEAD share.
struct ReadHeaders {
    content_type: Option<String>,
    content_encoding: Option<String>,
    content_disposition: Option<String>,
    content_language: Option<String>,
    cache_control: Option<String>,
    expires: Option<Timestamp>,
}

fn read_headers(v: &ObjectVersion, o: &Overrides) -> ReadHeaders {
    let h = &v.headers;
    ReadHeaders {
        content_type: o
            .content_type
            .clone()
            .or_else(|| h.content_type.clone())
            .or_else(|| Some("binary/octet-stream".to_owned())),
        content_encoding: o
            .content_encoding
            .clone()
            .or_else(|| h.content_encoding.clone()),
        content_disposition: o
            .content_disposition
            .clone()
            .or_else(|| h.content_disposition.clone()),
        content_language: o
            .content_language
            .clone()
            .or_else(|| h.content_language.clone()),
        cache_control: o.cache_control.clone().or_else(|| h.cache_control.clone()),
        expires: o
            .expires
            .clone()
            .or_else(|| h.expires.map(|e| ts(e.saturating_mul(1000)))),
    }
}

/// `response-*` query overrides.
#[derive(Default)]
struct Overrides {
    content_type: Option<String>,
    content_encoding: Option<String>,
    content_disposition: Option<String>,
    content_language: Option<String>,
    cache_control: Option<String>,
    expires: Option<Timestamp>,
}

fn conditions(
    if_match: Option<ETagCondition>,
    if_none_match: Option<ETagCondition>,
    if_modified_since: Option<Timestamp>,
    if_unmodified_since: Option<Timestamp>,
) -> Conditions {
    Conditions {
        if_match: etag_match(if_match),
        if_none_match: etag_match(if_none_match),
        if_modified_since: if_modified_since.map(secs),
        if_unmodified_since: if_unmodified_since.map(secs),
    }
}

fn checksum_enabled(mode: Option<&ChecksumMode>) -> bool {
    mode.is_some_and(|m| m.as_str().eq_ignore_ascii_case("ENABLED"))
}

fn tag_count(v: &ObjectVersion) -> Option<i32> {
    if v.tags.is_empty() {
        None
    } else {
        i32::try_from(v.tags.len()).ok()
    }
}

/// `x-amz-mp-parts-count`: for multipart objects, and for partNumber reads (1 for others).
fn parts_count(v: &ObjectVersion, asked_part: bool) -> Option<i32> {
    if !v.parts.is_empty() {
        i32::try_from(v.parts.len()).ok()
    } else if asked_part {
        Some(1)
    } else {
        None
    }
}

/// Bytes served and the `Content-Range` value for a read of an object of `size` bytes.
fn extent(range: Option<&std::ops::Range<u64>>, size: u64) -> (u64, Option<String>) {
    match range {
        Some(r) => (
            r.end - r.start,
            Some(format!("bytes {}-{}/{}", r.start, r.end - 1, size)),
        ),
        None => (size, None),
    }
}

/// The stored checksum, returned only when asked for and for whole-object reads.
fn checksum_out(
    mode: Option<&ChecksumMode>,
    ranged: bool,
    v: &kumo_core::s3::model::ObjectVersion,
) -> conv::ChecksumOut {
    if checksum_enabled(mode) && !ranged {
        stored_checksum_out(v.checksum.as_ref())
    } else {
        conv::ChecksumOut::default()
    }
}

pub async fn get_object(
    s: &KumoS3,
    req: S3Request<GetObjectInput>,
) -> S3Result<S3Response<GetObjectOutput>> {
    let p = principal(&s.iam, &req)?;
    let i = req.input;
    let asked_version = i.version_id.is_some();
    let get = GetObjectRequest {
        bucket: i.bucket,
        key: i.key,
        version_id: i.version_id,
        range: byte_range(i.range),
        part_number: part_number(i.part_number)?,
        conditions: conditions(
            i.if_match,
            i.if_none_match,
            i.if_modified_since,
            i.if_unmodified_since,
        ),
    };
    let read = s
        .core
        .get_object(p.as_ref(), &get, true)
        .await
        .map_err(|e| with_delete_marker(e, &s.core, &get))?;
    let v = read.version;
    let overrides = Overrides {
        content_type: i.response_content_type,
        content_encoding: i.response_content_encoding,
        content_disposition: i.response_content_disposition,
        content_language: i.response_content_language,
        cache_control: i.response_cache_control,
        expires: i.response_expires,
    };
    let h = read_headers(&v, &overrides);
    let (len, content_range) = extent(read.range.as_ref(), v.size);
    let c = checksum_out(i.checksum_mode.as_ref(), read.range.is_some(), &v);
    let body = read.body.map(|b| body_out(b, len));
    Ok(S3Response::new(GetObjectOutput {
        accept_ranges: Some("bytes".to_owned()),
        body,
        content_length: i64::try_from(len).ok(),
        content_range,
        content_type: h.content_type,
        content_encoding: h.content_encoding,
        content_disposition: h.content_disposition,
        content_language: h.content_language,
        cache_control: h.cache_control,
        expires: h.expires,
        e_tag: Some(etag(&v.etag)),
        last_modified: Some(ts(v.last_modified_ms)),
        metadata: metadata_out(&v.metadata),
        version_id: version_echo(&v, asked_version),
        checksum_crc32: c.crc32,
        checksum_crc32c: c.crc32c,
        checksum_crc64nvme: c.crc64nvme,
        checksum_sha1: c.sha1,
        checksum_sha256: c.sha256,
        checksum_type: c.kind,
        tag_count: tag_count(&v),
        parts_count: parts_count(&v, get.part_number.is_some()),
        ..Default::default()
    }))
}

/// A GET/HEAD of a key whose latest version is a delete marker answers 404 with
/// `x-amz-delete-marker: true` (and 405 for a delete marker named by version).
fn with_delete_marker(
    err: kumo_core::Error,
    core: &kumo_core::s3::ObjectService,
    get: &GetObjectRequest,
) -> S3Error {
    let marker = match &err {
        kumo_core::Error::MethodNotAllowed(_) => get.version_id.clone(),
        kumo_core::Error::NoSuchKey(_) => core.latest_delete_marker(&get.bucket, &get.key),
        _ => None,
    };
    let mut s3 = to_s3(err);
    if let Some(version_id) = marker {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "x-amz-delete-marker",
            http::HeaderValue::from_static("true"),
        );
        if let Ok(v) = http::HeaderValue::from_str(&version_id) {
            headers.insert("x-amz-version-id", v);
        }
        s3.set_headers(headers);
    }
    s3
}

pub async fn head_object(
    s: &KumoS3,
    req: S3Request<HeadObjectInput>,
) -> S3Result<S3Response<HeadObjectOutput>> {
    let p = principal(&s.iam, &req)?;
    let i = req.input;
    let asked_version = i.version_id.is_some();
    let get = GetObjectRequest {
        bucket: i.bucket,
        key: i.key,
        version_id: i.version_id,
        range: byte_range(i.range),
        part_number: part_number(i.part_number)?,
        conditions: conditions(
            i.if_match,
            i.if_none_match,
            i.if_modified_since,
            i.if_unmodified_since,
        ),
    };
    let read = s
        .core
        .get_object(p.as_ref(), &get, false)
        .await
        .map_err(|e| with_delete_marker(e, &s.core, &get))?;
    let v = read.version;
    let overrides = Overrides {
        content_type: i.response_content_type,
        content_encoding: i.response_content_encoding,
        content_disposition: i.response_content_disposition,
        content_language: i.response_content_language,
        cache_control: i.response_cache_control,
        expires: i.response_expires,
    };
    let h = read_headers(&v, &overrides);
    let (len, content_range) = extent(read.range.as_ref(), v.size);
    let c = checksum_out(i.checksum_mode.as_ref(), read.range.is_some(), &v);
    let partial = content_range.is_some();
    let resp = HeadObjectOutput {
        accept_ranges: Some("bytes".to_owned()),
        content_length: i64::try_from(len).ok(),
        content_range,
        content_type: h.content_type,
        content_encoding: h.content_encoding,
        content_disposition: h.content_disposition,
        content_language: h.content_language,
        cache_control: h.cache_control,
        expires: h.expires,
        e_tag: Some(etag(&v.etag)),
        last_modified: Some(ts(v.last_modified_ms)),
        metadata: metadata_out(&v.metadata),
        version_id: version_echo(&v, asked_version),
        checksum_crc32: c.crc32,
        checksum_crc32c: c.crc32c,
        checksum_crc64nvme: c.crc64nvme,
        checksum_sha1: c.sha1,
        checksum_sha256: c.sha256,
        checksum_type: c.kind,
        parts_count: parts_count(&v, get.part_number.is_some()),
        ..Default::default()
    };
    let mut resp = S3Response::new(resp);
    if partial {
        resp.status = Some(http::StatusCode::PARTIAL_CONTENT);
    }
    if let Some(n) = tag_count(&v) {
        resp.headers
            .insert("x-amz-tagging-count", http::HeaderValue::from(n));
    }
    Ok(resp)
}

pub async fn delete_object(
    s: &KumoS3,
    req: S3Request<DeleteObjectInput>,
) -> S3Result<S3Response<DeleteObjectOutput>> {
    let p = principal(&s.iam, &req)?;
    let i = req.input;
    let out = s
        .core
        .delete_object(p.as_ref(), &i.bucket, &i.key, i.version_id.as_deref())
        .await
        .s3()?;
    Ok(S3Response::new(DeleteObjectOutput {
        delete_marker: out.delete_marker.then_some(true),
        version_id: out
            .version_id
            .filter(|v| v != "null" || i.version_id.is_some()),
        request_charged: None,
    }))
}

pub async fn delete_objects(
    s: &KumoS3,
    req: S3Request<DeleteObjectsInput>,
) -> S3Result<S3Response<DeleteObjectsOutput>> {
    let p = principal(&s.iam, &req)?;
    let i = req.input;
    // Fail the whole request (not each key) when the bucket is missing or not the caller's.
    s.core.head_bucket(p.as_ref(), &i.bucket).s3()?;
    if i.delete.objects.len() > 1000 {
        return Err(S3Error::with_message(
            S3ErrorCode::MalformedXML,
            "DeleteObjects accepts at most 1000 keys",
        ));
    }
    let quiet = i.delete.quiet.unwrap_or(false);
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    for obj in i.delete.objects {
        match s
            .core
            .delete_object(p.as_ref(), &i.bucket, &obj.key, obj.version_id.as_deref())
            .await
        {
            Ok(out) => {
                if !quiet {
                    let (version_id, marker_version) = match (&obj.version_id, out.delete_marker) {
                        (Some(v), true) => (Some(v.clone()), Some(v.clone())),
                        (Some(v), false) => (Some(v.clone()), None),
                        (None, true) => (None, out.version_id.clone()),
                        (None, false) => (None, None),
                    };
                    deleted.push(DeletedObject {
                        delete_marker: out.delete_marker.then_some(true),
                        delete_marker_version_id: marker_version,
                        key: Some(obj.key),
                        version_id,
                    });
                }
            }
            Err(err) => {
                let e = to_s3(err);
                errors.push(Error {
                    code: Some(e.code().as_str().to_owned()),
                    key: Some(obj.key),
                    message: e.message().map(str::to_owned),
                    version_id: obj.version_id,
                });
            }
        }
    }
    Ok(S3Response::new(DeleteObjectsOutput {
        deleted: Some(deleted),
        errors: if errors.is_empty() {
            None
        } else {
            Some(errors)
        },
        request_charged: None,
    }))
}

pub async fn copy_object(
    s: &KumoS3,
    req: S3Request<CopyObjectInput>,
) -> S3Result<S3Response<CopyObjectOutput>> {
    let p = principal(&s.iam, &req)?;
    let i = req.input;
    let (source_bucket, source_key, source_version_id) = copy_source(&i.copy_source)?;
    let replace_metadata = match i.metadata_directive.as_ref().map(MetadataDirective::as_str) {
        None | Some("COPY") => false,
        Some("REPLACE") => true,
        Some(_) => return Err(conv::invalid_argument("Unknown metadata directive.")),
    };
    let replace_tags = match i.tagging_directive.as_ref().map(TaggingDirective::as_str) {
        None | Some("COPY") => None,
        Some("REPLACE") => Some(tagging_header(i.tagging.as_deref())),
        Some(_) => return Err(conv::invalid_argument("Unknown tagging directive.")),
    };
    let copy = CopyObjectRequest {
        source_bucket,
        source_key,
        source_version_id,
        conditions: conditions(
            i.copy_source_if_match,
            i.copy_source_if_none_match,
            i.copy_source_if_modified_since,
            i.copy_source_if_unmodified_since,
        ),
        bucket: i.bucket,
        key: i.key,
        replace_metadata,
        headers: content_headers(
            i.content_type,
            i.content_encoding,
            i.content_disposition,
            i.content_language,
            i.cache_control,
            i.expires,
        ),
        metadata: metadata_in(i.metadata),
        replace_tags,
        checksum_algorithm: conv::algorithm(i.checksum_algorithm.as_ref())?,
    };
    let (v, source_version) = s.core.copy_object(p.as_ref(), copy).await.s3()?;
    let c = stored_checksum_out(v.checksum.as_ref());
    Ok(S3Response::new(CopyObjectOutput {
        copy_object_result: Some(CopyObjectResult {
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_crc64nvme: c.crc64nvme,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            checksum_type: c.kind,
            e_tag: Some(etag(&v.etag)),
            last_modified: Some(ts(v.last_modified_ms)),
        }),
        copy_source_version_id: Some(source_version).filter(|v| v != "null"),
        version_id: version_out(&v),
        ..Default::default()
    }))
}

/// Bucket, key and version of `x-amz-copy-source`.
pub fn copy_source(c: &CopySource) -> S3Result<(String, String, Option<String>)> {
    match c {
        CopySource::Bucket {
            bucket,
            key,
            version_id,
        } => Ok((
            bucket.to_string(),
            key.to_string(),
            version_id.as_ref().map(|v| v.to_string()),
        )),
        _ => Err(S3Error::with_message(
            S3ErrorCode::NotImplemented,
            "Copy sources must name a bucket and key",
        )),
    }
}
