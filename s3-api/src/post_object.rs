//! Browser-based uploads (POST Object with a multipart form).
//!
//! s3s has already: parsed the form, verified the policy signature (SigV4 or SigV2) when the
//! form is signed, refused an expired policy, checked every policy condition (`bucket`,
//! `key` starts-with, `acl`, `success_action_status`, `success_action_redirect`,
//! `content-length-range`, `x-amz-meta-*`, ...) and that every form field is covered by one.
//! It also shapes the answer (204, 201 with the PostResponse XML, or 303 to the redirect).
//! What is left is the write itself, which goes through the PutObject path unchanged, so a
//! POST is authorised (`s3:PutObject`: owner, bucket policy or a public-read-write ACL),
//! verified and stored exactly like a PUT.
//!
//! `${filename}` in `key` was substituted before s3s parsed the form ([`crate::post_form`]).
//! A limit of s3s 0.14.1: the `acl` field is checked against the policy but not passed on —
//! the object is stored `private`, the safe reading. A form field `x-amz-acl` IS applied (s3s
//! reads that one).

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use crate::service::KumoS3;

pub async fn post_object(
    s: &KumoS3,
    req: S3Request<PostObjectInput>,
) -> S3Result<S3Response<PostObjectOutput>> {
    let put = req.map_input(put_input);
    let resp = crate::objects::put_object(s, put).await?;
    Ok(resp.map_output(post_output))
}

fn put_input(x: PostObjectInput) -> PutObjectInput {
    PutObjectInput {
        acl: x.acl,
        body: x.body,
        bucket: x.bucket,
        bucket_key_enabled: x.bucket_key_enabled,
        cache_control: x.cache_control,
        checksum_algorithm: x.checksum_algorithm,
        checksum_crc32: x.checksum_crc32,
        checksum_crc32c: x.checksum_crc32c,
        checksum_crc64nvme: x.checksum_crc64nvme,
        checksum_sha1: x.checksum_sha1,
        checksum_sha256: x.checksum_sha256,
        content_disposition: x.content_disposition,
        content_encoding: x.content_encoding,
        content_language: x.content_language,
        content_length: x.content_length,
        content_md5: x.content_md5,
        content_type: x.content_type,
        expected_bucket_owner: x.expected_bucket_owner,
        expires: x.expires,
        grant_full_control: x.grant_full_control,
        grant_read: x.grant_read,
        grant_read_acp: x.grant_read_acp,
        grant_write_acp: x.grant_write_acp,
        if_match: x.if_match,
        if_none_match: x.if_none_match,
        key: x.key,
        metadata: x.metadata,
        object_lock_legal_hold_status: x.object_lock_legal_hold_status,
        object_lock_mode: x.object_lock_mode,
        object_lock_retain_until_date: x.object_lock_retain_until_date,
        request_payer: x.request_payer,
        sse_customer_algorithm: x.sse_customer_algorithm,
        sse_customer_key: x.sse_customer_key,
        sse_customer_key_md5: x.sse_customer_key_md5,
        ssekms_encryption_context: x.ssekms_encryption_context,
        ssekms_key_id: x.ssekms_key_id,
        server_side_encryption: x.server_side_encryption,
        storage_class: x.storage_class,
        tagging: x.tagging,
        website_redirect_location: x.website_redirect_location,
        write_offset_bytes: x.write_offset_bytes,
    }
}

fn post_output(x: PutObjectOutput) -> PostObjectOutput {
    PostObjectOutput {
        bucket_key_enabled: x.bucket_key_enabled,
        checksum_crc32: x.checksum_crc32,
        checksum_crc32c: x.checksum_crc32c,
        checksum_crc64nvme: x.checksum_crc64nvme,
        checksum_sha1: x.checksum_sha1,
        checksum_sha256: x.checksum_sha256,
        checksum_type: x.checksum_type,
        e_tag: x.e_tag,
        expiration: x.expiration,
        request_charged: x.request_charged,
        sse_customer_algorithm: x.sse_customer_algorithm,
        sse_customer_key_md5: x.sse_customer_key_md5,
        ssekms_encryption_context: x.ssekms_encryption_context,
        ssekms_key_id: x.ssekms_key_id,
        server_side_encryption: x.server_side_encryption,
        size: x.size,
        version_id: x.version_id,
    }
}
