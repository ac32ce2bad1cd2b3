//! Composite keys of the S3 tables.
//!
//! Bucket names never contain `\0` and object keys are refused when they do, so `\0` separates
//! the parts and byte order of the encoded keys equals S3's key order (UTF-8 byte order).
//! Version rows end with the bitwise inverse of a global sequence number in big-endian, so the
//! versions of one key are stored newest first.

use crate::{Error, Result};

/// The longest key S3 accepts, in bytes.
pub const MAX_KEY_LEN: usize = 1024;

/// Checks an object key: 1..=1024 bytes, no NUL (which would break the key encoding).
pub fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::InvalidArgument(
            "the object key must not be empty".to_owned(),
        ));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(Error::KeyTooLong);
    }
    if key.contains('\0') {
        return Err(Error::InvalidArgument(
            "the object key must not contain NUL".to_owned(),
        ));
    }
    Ok(())
}

/// `bucket \0` — the prefix of every row of one bucket.
#[must_use]
pub fn bucket_prefix(bucket: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(bucket.len() + 1);
    k.extend_from_slice(bucket.as_bytes());
    k.push(0);
    k
}

/// `bucket \0 key` — a row of `s3_objects`, or the start of a key's rows in other tables.
#[must_use]
pub fn object_key(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = bucket_prefix(bucket);
    k.extend_from_slice(key.as_bytes());
    k
}

/// `bucket \0 key \0` — the prefix of one key's version (or upload) rows.
#[must_use]
pub fn key_rows_prefix(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = object_key(bucket, key);
    k.push(0);
    k
}

/// A row of `s3_versions`: `bucket \0 key \0 !seq` (newest first).
#[must_use]
pub fn version_key(bucket: &str, key: &str, seq: u64) -> Vec<u8> {
    let mut k = key_rows_prefix(bucket, key);
    k.extend_from_slice(&(!seq).to_be_bytes());
    k
}

/// A row of `s3_uploads`: `bucket \0 key \0 upload_id`.
#[must_use]
pub fn upload_key(bucket: &str, key: &str, upload_id: &str) -> Vec<u8> {
    let mut k = key_rows_prefix(bucket, key);
    k.extend_from_slice(upload_id.as_bytes());
    k
}

/// A row of `s3_parts`: `upload_id \0 part_number` (big-endian, so parts sort by number).
#[must_use]
pub fn part_key(upload_id: &str, part_number: u32) -> Vec<u8> {
    let mut k = parts_prefix(upload_id);
    k.extend_from_slice(&part_number.to_be_bytes());
    k
}

/// `upload_id \0` — the prefix of one upload's parts.
#[must_use]
pub fn parts_prefix(upload_id: &str) -> Vec<u8> {
    let mut k = upload_id.as_bytes().to_vec();
    k.push(0);
    k
}

/// The smallest encoded key greater than every key starting with `prefix`: UTF-8 never
/// contains 0xFF, so appending it skips a whole common prefix in one seek.
#[must_use]
pub fn after_prefix(mut encoded_prefix: Vec<u8>) -> Vec<u8> {
    encoded_prefix.push(0xff);
    encoded_prefix
}

/// Splits the object key out of a row key of a table keyed `bucket \0 key [\0 …]`.
pub fn split_row(bucket_len: usize, row: &[u8], with_suffix: bool) -> Result<String> {
    let rest = row.get(bucket_len + 1..).unwrap_or_default();
    let key = if with_suffix {
        match rest.iter().position(|&b| b == 0) {
            Some(i) => &rest[..i],
            None => rest,
        }
    } else {
        rest
    };
    String::from_utf8(key.to_vec()).map_err(|e| Error::Corrupt {
        table: "s3 keys",
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_newest_first_and_keys_in_order() {
        assert!(version_key("b", "k", 2) < version_key("b", "k", 1));
        assert!(version_key("b", "a", 1) < version_key("b", "a!", 9));
        assert!(version_key("b", "a/b", 1) < after_prefix(object_key("b", "a/")));
        assert!(object_key("b", "a0") > after_prefix(object_key("b", "a/")));
        assert_eq!(
            split_row(1, &version_key("b", "x/y", 5), true).expect("key"),
            "x/y"
        );
        assert!(matches!(
            validate_key(&"a".repeat(1025)),
            Err(Error::KeyTooLong)
        ));
    }
}
