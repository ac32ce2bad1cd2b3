//! ListObjects (v1), ListObjectsV2, ListObjectVersions. `encoding-type=url` encodes keys,
//! prefixes, markers and common prefixes, as AWS does.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as TOKEN;
use kumo_core::s3::listing::{ListObjectsRequest, ListVersionsRequest};
use kumo_core::s3::model::ObjectVersion as CoreVersion;
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use crate::conv::{encoder, etag, owner, principal, ts};
use crate::error::CoreResultExt;
use crate::service::KumoS3;

const DEFAULT_MAX_KEYS: i32 = 1000;

fn max_keys(m: Option<i32>) -> S3Result<usize> {
    let m = m.unwrap_or(DEFAULT_MAX_KEYS);
    if m < 0 {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "maxKeys should be non-negative",
        ));
    }
    Ok(usize::try_from(m.min(DEFAULT_MAX_KEYS)).unwrap_or(1000))
}

fn object(v: &CoreVersion, enc: fn(&str) -> String, with_owner: bool) -> Object {
    Object {
        checksum_algorithm: v
            .checksum
            .as_ref()
            .map(|c| vec![ChecksumAlgorithm::from(c.algorithm.as_str().to_owned())]),
        checksum_type: None,
        e_tag: Some(etag(&v.etag)),
        key: Some(enc(&v.key)),
        last_modified: Some(ts(v.last_modified_ms)),
        owner: with_owner.then(|| owner(&v.owner_account_id)),
        restore_status: None,
        size: i64::try_from(v.size).ok(),
        storage_class: Some(ObjectStorageClass::from_static(
            ObjectStorageClass::STANDARD,
        )),
    }
}

fn prefixes(list: Vec<String>, enc: fn(&str) -> String) -> Option<Vec<CommonPrefix>> {
    Some(
        list.into_iter()
            .map(|p| CommonPrefix {
                prefix: Some(enc(&p)),
            })
            .collect(),
    )
}

fn nonempty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

pub async fn list_objects(
    s: &KumoS3,
    req: S3Request<ListObjectsInput>,
) -> S3Result<S3Response<ListObjectsOutput>> {
    let p = principal(&s.iam, &req)?;
    let i = req.input;
    let enc = encoder(i.encoding_type.as_ref());
    let max = max_keys(i.max_keys)?;
    let page = s
        .core
        .list_objects(
            p.as_ref(),
            ListObjectsRequest {
                bucket: i.bucket.clone(),
                prefix: i.prefix.clone().unwrap_or_default(),
                delimiter: nonempty(i.delimiter.clone()),
                start_after: nonempty(i.marker.clone()),
                max_keys: max,
            },
        )
        .await
        .s3()?;
    // NextMarker is returned only with a delimiter (without one, clients use the last key).
    let next_marker = page.next_marker.filter(|_| i.delimiter.is_some());
    Ok(S3Response::new(ListObjectsOutput {
        name: Some(i.bucket),
        prefix: Some(i.prefix.as_deref().map(enc).unwrap_or_default()),
        marker: Some(i.marker.as_deref().map(enc).unwrap_or_default()),
        max_keys: Some(i.max_keys.unwrap_or(DEFAULT_MAX_KEYS)),
        is_truncated: Some(page.is_truncated),
        contents: Some(page.objects.iter().map(|v| object(v, enc, true)).collect()),
        common_prefixes: prefixes(page.common_prefixes, enc),
        delimiter: i.delimiter.as_deref().map(enc),
        next_marker: next_marker.as_deref().map(enc),
        encoding_type: i.encoding_type,
        request_charged: None,
    }))
}

pub async fn list_objects_v2(
    s: &KumoS3,
    req: S3Request<ListObjectsV2Input>,
) -> S3Result<S3Response<ListObjectsV2Output>> {
    let p = principal(&s.iam, &req)?;
    let i = req.input;
    let enc = encoder(i.encoding_type.as_ref());
    let max = max_keys(i.max_keys)?;
    let start_after = match i.continuation_token.as_deref() {
        Some(token) => Some(
            TOKEN
                .decode(token)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    S3Error::with_message(
                        S3ErrorCode::InvalidArgument,
                        "The continuation token provided is incorrect",
                    )
                })?,
        ),
        None => nonempty(i.start_after.clone()),
    };
    let page = s
        .core
        .list_objects(
            p.as_ref(),
            ListObjectsRequest {
                bucket: i.bucket.clone(),
                prefix: i.prefix.clone().unwrap_or_default(),
                delimiter: nonempty(i.delimiter.clone()),
                start_after,
                max_keys: max,
            },
        )
        .await
        .s3()?;
    let key_count = page.objects.len() + page.common_prefixes.len();
    let with_owner = i.fetch_owner.unwrap_or(false);
    Ok(S3Response::new(ListObjectsV2Output {
        name: Some(i.bucket),
        prefix: Some(i.prefix.as_deref().map(enc).unwrap_or_default()),
        max_keys: Some(i.max_keys.unwrap_or(DEFAULT_MAX_KEYS)),
        key_count: i32::try_from(key_count).ok(),
        continuation_token: i.continuation_token,
        is_truncated: Some(page.is_truncated),
        next_continuation_token: page.next_marker.map(|m| TOKEN.encode(m.as_bytes())),
        contents: Some(
            page.objects
                .iter()
                .map(|v| object(v, enc, with_owner))
                .collect(),
        ),
        common_prefixes: prefixes(page.common_prefixes, enc),
        delimiter: i.delimiter.as_deref().map(enc),
        encoding_type: i.encoding_type,
        start_after: i.start_after.as_deref().map(enc),
        request_charged: None,
    }))
}

pub async fn list_object_versions(
    s: &KumoS3,
    req: S3Request<ListObjectVersionsInput>,
) -> S3Result<S3Response<ListObjectVersionsOutput>> {
    let p = principal(&s.iam, &req)?;
    let i = req.input;
    let enc = encoder(i.encoding_type.as_ref());
    let max = max_keys(i.max_keys)?;
    let page = s
        .core
        .list_object_versions(
            p.as_ref(),
            ListVersionsRequest {
                bucket: i.bucket.clone(),
                prefix: i.prefix.clone().unwrap_or_default(),
                delimiter: nonempty(i.delimiter.clone()),
                key_marker: nonempty(i.key_marker.clone()),
                version_id_marker: nonempty(i.version_id_marker.clone()),
                max_keys: max,
            },
        )
        .await
        .s3()?;
    let mut versions = Vec::new();
    let mut markers = Vec::new();
    for e in page.entries {
        let v = e.version;
        if v.delete_marker {
            markers.push(DeleteMarkerEntry {
                is_latest: Some(e.is_latest),
                key: Some(enc(&v.key)),
                last_modified: Some(ts(v.last_modified_ms)),
                owner: Some(owner(&v.owner_account_id)),
                version_id: Some(v.version_id),
            });
        } else {
            versions.push(ObjectVersion {
                checksum_algorithm: v
                    .checksum
                    .as_ref()
                    .map(|c| vec![ChecksumAlgorithm::from(c.algorithm.as_str().to_owned())]),
                checksum_type: None,
                e_tag: Some(etag(&v.etag)),
                is_latest: Some(e.is_latest),
                key: Some(enc(&v.key)),
                last_modified: Some(ts(v.last_modified_ms)),
                owner: Some(owner(&v.owner_account_id)),
                restore_status: None,
                size: i64::try_from(v.size).ok(),
                storage_class: Some(ObjectVersionStorageClass::from_static(
                    ObjectVersionStorageClass::STANDARD,
                )),
                version_id: Some(v.version_id),
            });
        }
    }
    Ok(S3Response::new(ListObjectVersionsOutput {
        common_prefixes: prefixes(page.common_prefixes, enc),
        delete_markers: Some(markers),
        delimiter: i.delimiter.as_deref().map(enc),
        encoding_type: i.encoding_type,
        is_truncated: Some(page.is_truncated),
        key_marker: Some(i.key_marker.as_deref().map(enc).unwrap_or_default()),
        max_keys: Some(i.max_keys.unwrap_or(DEFAULT_MAX_KEYS)),
        name: Some(i.bucket),
        next_key_marker: page.next_key_marker.as_deref().map(enc),
        next_version_id_marker: page.next_version_id_marker,
        prefix: Some(i.prefix.as_deref().map(enc).unwrap_or_default()),
        request_charged: None,
        version_id_marker: Some(i.version_id_marker.unwrap_or_default()),
        versions: Some(versions),
    }))
}
