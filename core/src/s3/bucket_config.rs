//! Bucket sub-resources (CORS, policy, tagging, ownership controls, ...) stored as JSON
//! documents in the `bucket_config` table, keyed `bucket \0 name`.
//!
//! Why one table for all of them: each is a small document read whole and written whole, and
//! DeleteBucket removes every row with the prefix `bucket \0` in its own transaction, so a
//! recreated bucket never inherits an old configuration.

use kumo_driver_api::{StateStore, WriteTxn};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Result;
use crate::records::{decode, encode};

/// The table.
pub const TABLE: &str = "bucket_config";

/// Which sub-resource a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigKind {
    /// `?cors`: a [`super::cors::CorsConfiguration`].
    Cors,
    /// `?policy`: a [`StoredPolicy`].
    Policy,
    /// `?tagging`: a [`super::bucket_tagging::BucketTags`].
    Tagging,
    /// `?ownershipControls`: a [`super::bucket_config::OwnershipControls`].
    OwnershipControls,
    /// `?website` (never stored: Kumo serves no website endpoint).
    Website,
    /// `?lifecycle` (never stored: no lifecycle engine).
    Lifecycle,
    /// `?encryption` (never stored: no server-side encryption).
    Encryption,
    /// `?replication` (never stored: no replication).
    Replication,
    /// `?object-lock` (never stored: no object lock).
    ObjectLock,
    /// `?publicAccessBlock` (never stored).
    PublicAccessBlock,
}

impl ConfigKind {
    /// The row name after `bucket \0`.
    #[must_use]
    pub fn row_name(self) -> &'static str {
        match self {
            Self::Cors => "cors",
            Self::Policy => "policy",
            Self::Tagging => "tagging",
            Self::OwnershipControls => "ownershipControls",
            Self::Website => "website",
            Self::Lifecycle => "lifecycle",
            Self::Encryption => "encryption",
            Self::Replication => "replication",
            Self::ObjectLock => "object-lock",
            Self::PublicAccessBlock => "publicAccessBlock",
        }
    }
}

/// A bucket policy as stored: the document exactly as the client sent it (GetBucketPolicy
/// returns it unchanged); it was validated by [`super::policy::BucketPolicy::parse`] on PUT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct StoredPolicy {
    /// The JSON document.
    pub document: String,
}

/// Who owns objects written to the bucket, and whether ACLs apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum ObjectOwnership {
    /// ACLs are disabled; the bucket owner owns every object.
    BucketOwnerEnforced,
    /// Objects uploaded with `bucket-owner-full-control` belong to the bucket owner.
    BucketOwnerPreferred,
    /// The writer owns the object; ACLs apply.
    ObjectWriter,
}

impl ObjectOwnership {
    /// Parses the wire value.
    #[must_use]
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "BucketOwnerEnforced" => Some(Self::BucketOwnerEnforced),
            "BucketOwnerPreferred" => Some(Self::BucketOwnerPreferred),
            "ObjectWriter" => Some(Self::ObjectWriter),
            _ => None,
        }
    }

    /// The wire value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BucketOwnerEnforced => "BucketOwnerEnforced",
            Self::BucketOwnerPreferred => "BucketOwnerPreferred",
            Self::ObjectWriter => "ObjectWriter",
        }
    }
}

/// `?ownershipControls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct OwnershipControls {
    /// The single rule S3 allows.
    pub object_ownership: ObjectOwnership,
}

/// The row key `bucket \0 name`.
#[must_use]
pub fn row_key(bucket: &str, kind: ConfigKind) -> Vec<u8> {
    let mut key = Vec::with_capacity(bucket.len() + 1 + kind.row_name().len());
    key.extend_from_slice(bucket.as_bytes());
    key.push(0);
    key.extend_from_slice(kind.row_name().as_bytes());
    key
}

/// Reads a document.
pub fn get<T: DeserializeOwned>(
    store: &dyn StateStore,
    bucket: &str,
    kind: ConfigKind,
) -> Result<Option<T>> {
    match store.get(TABLE, &row_key(bucket, kind))? {
        Some(bytes) => Ok(Some(decode(TABLE, &bytes)?)),
        None => Ok(None),
    }
}

/// Writes a document inside a transaction (the caller checks the bucket exists in the same
/// transaction, so a concurrent DeleteBucket cannot leave an orphan row).
pub fn put_in<T: Serialize>(
    txn: &mut dyn WriteTxn,
    bucket: &str,
    kind: ConfigKind,
    value: &T,
) -> Result<()> {
    txn.put(TABLE, &row_key(bucket, kind), &encode(TABLE, value)?)?;
    Ok(())
}

/// Deletes a document inside a transaction; returns whether it existed.
pub fn delete_in(txn: &mut dyn WriteTxn, bucket: &str, kind: ConfigKind) -> Result<bool> {
    Ok(txn.delete(TABLE, &row_key(bucket, kind))?)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use kumo_driver_api::transact;

    use super::*;
    use crate::s3::cors::{CorsConfiguration, CorsRule};

    #[test]
    fn roundtrip_and_isolation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn StateStore> = Arc::new(
            kumo_state_redb::RedbStateStore::open(&dir.path().join("s.redb")).expect("open"),
        );
        let cfg = CorsConfiguration {
            rules: vec![CorsRule {
                allowed_origins: vec!["*".into()],
                allowed_methods: vec!["GET".into()],
                ..CorsRule::default()
            }],
        };
        transact(store.as_ref(), |txn| {
            put_in(txn, "b", ConfigKind::Cors, &cfg)
        })
        .expect("put");
        let got: Option<CorsConfiguration> =
            get(store.as_ref(), "b", ConfigKind::Cors).expect("get");
        assert_eq!(got, Some(cfg));
        // `b` and `bb` do not share rows; other kinds are separate.
        let none: Option<CorsConfiguration> =
            get(store.as_ref(), "bb", ConfigKind::Cors).expect("get");
        assert!(none.is_none());
        let none: Option<StoredPolicy> = get(store.as_ref(), "b", ConfigKind::Policy).expect("get");
        assert!(none.is_none());
        let existed =
            transact(store.as_ref(), |txn| delete_in(txn, "b", ConfigKind::Cors)).expect("delete");
        assert!(existed);
        let existed = transact(store.as_ref(), |txn| delete_in(txn, "b", ConfigKind::Cors))
            .expect("delete again");
        assert!(!existed);
    }

    #[test]
    fn row_keys() {
        assert_eq!(row_key("b", ConfigKind::Policy), b"b\0policy".to_vec());
        assert_eq!(
            ObjectOwnership::parse("ObjectWriter").map(ObjectOwnership::as_str),
            Some("ObjectWriter")
        );
    }
}
