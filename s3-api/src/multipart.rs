//! CreateMultipartUpload, UploadPart, UploadPartCopy, CompleteMultipartUpload,
//! AbortMultipartUpload, ListParts, ListMultipartUploads.

use kumo_core::s3::checksum::ChecksumKind;
use kumo_core::s3::multipart::{
    CompletedPart as CorePart, CreateUploadRequest, ListUploadsRequest, PartCopySource,
};
use kumo_core::s3::objects::{ByteRange, Conditions};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use crate::conv::{
    self, ChecksumIn, body_in, checksum_out, content_headers, encoder, etag, etag_match, integrity,
    metadata_in, owner, principal, secs, stored_checksum_out, tagging_header, ts,
};
use crate::error::CoreResultExt;
use crate::objects::copy_source;
use crate::service::KumoS3;

fn part_number(n: i32) -> S3Result<u32> {
    u32::try_from(n).map_err(|_| {
        conv::invalid_argument("Part number must be an integer between 1 and 10000, inclusive")
    })
}

pub async fn create_multipart_upload(
    s: &KumoS3,
    req: S3Request<CreateMultipartUploadInput>,
) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    let p = principal(&s.iam, &req)?;
    let i = req.input;
    let algorithm = conv::algorithm(i.checksum_algorithm.as_ref())?;
    let kind = match i.checksum_type.as_ref().map(ChecksumType::as_str) {
        None => None,
        Some(ChecksumType::FULL_OBJECT) => Some(ChecksumKind::FullObject),
        Some(ChecksumType::COMPOSITE) => Some(ChecksumKind::Composite),
        Some(_) => return Err(conv::invalid_argument("Unknown checksum type")),
    };
    let upload = s
        .core
        .create_multipart_upload(
            p.as_ref(),
            CreateUploadRequest {
                bucket: i.bucket.clone(),
                key: i.key.clone(),
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
                checksum_algorithm: algorithm,
                checksum_kind: kind,
            },
        )
        .await
        .s3()?;
    Ok(S3Response::new(CreateMultipartUploadOutput {
        bucket: Some(i.bucket),
        key: Some(i.key),
        upload_id: Some(upload.upload_id),
        checksum_algorithm: i.checksum_algorithm,
        checksum_type: upload.checksum_kind.map(|k| {
            ChecksumType::from_static(match k {
                ChecksumKind::FullObject => ChecksumType::FULL_OBJECT,
                ChecksumKind::Composite => ChecksumType::COMPOSITE,
            })
        }),
        ..Default::default()
    }))
}

pub async fn upload_part(
    s: &KumoS3,
    req: S3Request<UploadPartInput>,
) -> S3Result<S3Response<UploadPartOutput>> {
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
    let part = s
        .core
        .upload_part(
            p.as_ref(),
            &i.bucket,
            &i.key,
            &i.upload_id,
            part_number(i.part_number)?,
            body_in(i.body),
            integrity,
        )
        .await
        .s3()?;
    let c = checksum_out(part.checksum_algorithm, part.checksum.as_deref(), None);
    Ok(S3Response::new(UploadPartOutput {
        e_tag: Some(etag(&part.etag)),
        checksum_crc32: c.crc32,
        checksum_crc32c: c.crc32c,
        checksum_crc64nvme: c.crc64nvme,
        checksum_sha1: c.sha1,
        checksum_sha256: c.sha256,
        ..Default::default()
    }))
}

fn copy_range(r: Option<&str>) -> S3Result<Option<ByteRange>> {
    let Some(r) = r else { return Ok(None) };
    let bad = || {
        S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
        )
    };
    let spec = r.trim().strip_prefix("bytes=").ok_or_else(bad)?;
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let first = a.trim().parse::<u64>().map_err(|_| bad())?;
    let last = b.trim().parse::<u64>().map_err(|_| bad())?;
    Ok(Some(ByteRange::FromTo(first, Some(last))))
}

pub async fn upload_part_copy(
    s: &KumoS3,
    req: S3Request<UploadPartCopyInput>,
) -> S3Result<S3Response<UploadPartCopyOutput>> {
    let p = principal(&s.iam, &req)?;
    let i = req.input;
    let (bucket, key, version_id) = copy_source(&i.copy_source)?;
    let source = PartCopySource {
        bucket,
        key,
        version_id: version_id.clone(),
        range: copy_range(i.copy_source_range.as_deref())?,
        conditions: Conditions {
            if_match: etag_match(i.copy_source_if_match),
            if_none_match: etag_match(i.copy_source_if_none_match),
            if_modified_since: i.copy_source_if_modified_since.map(secs),
            if_unmodified_since: i.copy_source_if_unmodified_since.map(secs),
        },
    };
    let part = s
        .core
        .upload_part_copy(
            p.as_ref(),
            &i.bucket,
            &i.key,
            &i.upload_id,
            part_number(i.part_number)?,
            source,
        )
        .await
        .s3()?;
    Ok(S3Response::new(UploadPartCopyOutput {
        copy_part_result: Some(CopyPartResult {
            e_tag: Some(etag(&part.etag)),
            last_modified: Some(ts(part.last_modified_ms)),
            ..Default::default()
        }),
        copy_source_version_id: version_id.filter(|v| v != "null"),
        ..Default::default()
    }))
}

pub async fn complete_multipart_upload(
    s: &KumoS3,
    req: S3Request<CompleteMultipartUploadInput>,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let p = principal(&s.iam, &req)?;
    let i = req.input;
    let parts = i
        .multipart_upload
        .and_then(|m| m.parts)
        .unwrap_or_default()
        .into_iter()
        .map(|part| {
            Ok(CorePart {
                part_number: part_number(part.part_number.unwrap_or(0))?,
                etag: part.e_tag.map(ETag::into_value).unwrap_or_default(),
            })
        })
        .collect::<S3Result<Vec<_>>>()?;
    if parts.is_empty() {
        return Err(S3Error::with_message(
            S3ErrorCode::MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema",
        ));
    }
    let v = s
        .core
        .complete_multipart_upload(p.as_ref(), &i.bucket, &i.key, &i.upload_id, parts)
        .await
        .s3()?;
    let c = stored_checksum_out(v.checksum.as_ref());
    Ok(S3Response::new(CompleteMultipartUploadOutput {
        bucket: Some(i.bucket.clone()),
        key: Some(i.key.clone()),
        e_tag: Some(etag(&v.etag)),
        location: Some(format!("/{}/{}", i.bucket, i.key)),
        version_id: Some(v.version_id).filter(|v| v != "null"),
        checksum_crc32: c.crc32,
        checksum_crc32c: c.crc32c,
        checksum_crc64nvme: c.crc64nvme,
        checksum_sha1: c.sha1,
        checksum_sha256: c.sha256,
        checksum_type: c.kind,
        ..Default::default()
    }))
}

pub async fn abort_multipart_upload(
    s: &KumoS3,
    req: S3Request<AbortMultipartUploadInput>,
) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
    let p = principal(&s.iam, &req)?;
    let i = req.input;
    s.core
        .abort_multipart_upload(p.as_ref(), &i.bucket, &i.key, &i.upload_id)
        .await
        .s3()?;
    Ok(S3Response::new(AbortMultipartUploadOutput::default()))
}

pub async fn list_parts(
    s: &KumoS3,
    req: S3Request<ListPartsInput>,
) -> S3Result<S3Response<ListPartsOutput>> {
    let p = principal(&s.iam, &req)?;
    let i = req.input;
    let max = usize::try_from(i.max_parts.unwrap_or(1000).clamp(0, 1000)).unwrap_or(1000);
    let marker = i.part_number_marker.map(|m| u32::try_from(m).unwrap_or(0));
    let page = s
        .core
        .list_parts(p.as_ref(), &i.bucket, &i.key, &i.upload_id, marker, max)
        .s3()?;
    let algorithm = page.upload.as_ref().and_then(|u| u.checksum_algorithm);
    let owner_id = page
        .upload
        .as_ref()
        .map(|u| u.owner_account_id.clone())
        .unwrap_or_default();
    let parts = page
        .parts
        .iter()
        .map(|part| {
            let c = checksum_out(
                part.checksum_algorithm.or(algorithm),
                part.checksum.as_deref(),
                None,
            );
            Part {
                e_tag: Some(etag(&part.etag)),
                last_modified: Some(ts(part.last_modified_ms)),
                part_number: i32::try_from(part.part_number).ok(),
                size: i64::try_from(part.size).ok(),
                checksum_crc32: c.crc32,
                checksum_crc32c: c.crc32c,
                checksum_crc64nvme: c.crc64nvme,
                checksum_sha1: c.sha1,
                checksum_sha256: c.sha256,
            }
        })
        .collect();
    Ok(S3Response::new(ListPartsOutput {
        bucket: Some(i.bucket),
        key: Some(i.key),
        upload_id: Some(i.upload_id),
        is_truncated: Some(page.is_truncated),
        max_parts: Some(i.max_parts.unwrap_or(1000)),
        part_number_marker: i.part_number_marker,
        next_part_number_marker: page.next_marker.and_then(|m| i32::try_from(m).ok()),
        parts: Some(parts),
        owner: Some(owner(&owner_id)),
        initiator: Some(Initiator {
            display_name: Some(owner_id.clone()),
            id: Some(owner_id),
        }),
        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
        checksum_algorithm: algorithm.map(|a| ChecksumAlgorithm::from(a.as_str().to_owned())),
        ..Default::default()
    }))
}

pub async fn list_multipart_uploads(
    s: &KumoS3,
    req: S3Request<ListMultipartUploadsInput>,
) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
    let p = principal(&s.iam, &req)?;
    let i = req.input;
    let enc = encoder(i.encoding_type.as_ref());
    let max = usize::try_from(i.max_uploads.unwrap_or(1000).clamp(0, 1000)).unwrap_or(1000);
    let page = s
        .core
        .list_multipart_uploads(
            p.as_ref(),
            &ListUploadsRequest {
                bucket: i.bucket.clone(),
                prefix: i.prefix.clone().unwrap_or_default(),
                delimiter: i.delimiter.clone().filter(|d| !d.is_empty()),
                key_marker: i.key_marker.clone().filter(|k| !k.is_empty()),
                upload_id_marker: i.upload_id_marker.clone().filter(|u| !u.is_empty()),
                max_uploads: max,
            },
        )
        .s3()?;
    let uploads = page
        .uploads
        .into_iter()
        .map(|u| MultipartUpload {
            checksum_algorithm: u
                .checksum_algorithm
                .map(|a| ChecksumAlgorithm::from(a.as_str().to_owned())),
            checksum_type: None,
            initiated: Some(ts(u.initiated_ms)),
            initiator: Some(Initiator {
                display_name: Some(u.owner_account_id.clone()),
                id: Some(u.owner_account_id.clone()),
            }),
            key: Some(enc(&u.key)),
            owner: Some(owner(&u.owner_account_id)),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            upload_id: Some(u.upload_id),
        })
        .collect();
    Ok(S3Response::new(ListMultipartUploadsOutput {
        bucket: Some(i.bucket),
        common_prefixes: Some(
            page.common_prefixes
                .into_iter()
                .map(|p| CommonPrefix {
                    prefix: Some(enc(&p)),
                })
                .collect(),
        ),
        delimiter: i.delimiter.as_deref().map(enc),
        encoding_type: i.encoding_type,
        is_truncated: Some(page.is_truncated),
        key_marker: Some(i.key_marker.as_deref().map(enc).unwrap_or_default()),
        max_uploads: Some(i.max_uploads.unwrap_or(1000)),
        next_key_marker: page.next_key_marker.as_deref().map(enc),
        next_upload_id_marker: page.next_upload_id_marker,
        prefix: Some(i.prefix.as_deref().map(enc).unwrap_or_default()),
        request_charged: None,
        upload_id_marker: Some(i.upload_id_marker.unwrap_or_default()),
        uploads: Some(uploads),
    }))
}
