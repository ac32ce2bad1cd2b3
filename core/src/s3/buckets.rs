//! Buckets: create, look up, delete, list. Names are global across accounts, as in AWS.

use kumo_driver_api::{KeyRange, WriteTxn, transact};

use crate::iam::Principal;
use crate::records::{blocking, decode, encode};
use crate::{Error, Result};

use super::access::{Action, require_principal};
use super::model::Bucket;
use super::{BUCKET_CONFIG, BUCKETS, ObjectService, PARTS, UPLOADS, VERSIONS, keys, now_ms};

/// Checks AWS's bucket naming rules (3-63 characters of `a-z0-9.-`, starting and ending with a
/// letter or digit, no `..`, not an IP address, no reserved prefix or suffix).
pub fn validate_bucket_name(name: &str) -> Result<()> {
    let bad = || Error::InvalidBucketName(name.to_owned());
    let bytes = name.as_bytes();
    if !(3..=63).contains(&bytes.len()) {
        return Err(bad());
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-')
    {
        return Err(bad());
    }
    let edge = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !edge(bytes[0]) || !edge(bytes[bytes.len() - 1]) {
        return Err(bad());
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return Err(bad());
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(bad());
    }
    if name.starts_with("xn--")
        || name.starts_with("sthree-")
        || name.ends_with("-s3alias")
        || name.ends_with("--ol-s3")
    {
        return Err(bad());
    }
    Ok(())
}

impl ObjectService {
    /// Reads a bucket record (no authorisation).
    pub fn bucket(&self, name: &str) -> Result<Bucket> {
        if let Some(bucket) = self.buckets.get(name) {
            return Ok(bucket);
        }
        let generation = self.buckets.generation();
        match self.state.get(BUCKETS, name.as_bytes())? {
            Some(v) => {
                let bucket: Bucket = decode(BUCKETS, &v)?;
                self.buckets.put(generation, &bucket);
                Ok(bucket)
            }
            None => Err(Error::NoSuchBucket(name.to_owned())),
        }
    }

    /// Runs a transaction that may write bucket records (off the async workers) and retires
    /// the bucket cache after it, before the caller is answered: every write of `BUCKETS`
    /// goes through here.
    pub(crate) async fn write_buckets<T, F>(&self, f: F) -> Result<T>
    where
        F: FnMut(&mut dyn WriteTxn) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let state = self.state.clone();
        let result = blocking(move || transact(state.as_ref(), f)).await;
        self.buckets.invalidate();
        result
    }

    /// Reads a bucket and authorises `action` on it.
    pub fn authorized_bucket(
        &self,
        principal: Option<&Principal>,
        name: &str,
        action: Action,
        key: Option<&str>,
    ) -> Result<Bucket> {
        let bucket = self.bucket(name)?;
        self.authorize_on(principal, action, &bucket, key)?;
        Ok(bucket)
    }

    /// Creates a bucket owned by the caller's account in `location` (default: this region).
    pub async fn create_bucket(
        &self,
        principal: Option<&Principal>,
        name: &str,
        location: Option<&str>,
        acl: Option<&str>,
    ) -> Result<Bucket> {
        let principal = require_principal(principal)?.clone();
        validate_bucket_name(name)?;
        let acl = match acl {
            Some(a) => Some(super::acl::CannedAcl::parse(a)?.as_str()),
            None => None,
        };
        let region = match location {
            None | Some("") => self.region.clone(),
            Some(l) if l == self.region || (l == "US" && self.region == "us-east-1") => {
                self.region.clone()
            }
            Some(l) => {
                return Err(Error::InvalidLocationConstraint(l.to_owned()));
            }
        };
        let bucket = Bucket {
            name: name.to_owned(),
            owner_account_id: principal.account_id.clone(),
            region,
            created_ms: now_ms(),
            acl: acl.unwrap_or("private").to_owned(),
            versioning: Default::default(),
        };
        self.write_buckets(move |txn| {
            if let Some(v) = txn.get(BUCKETS, bucket.name.as_bytes())? {
                let existing: Bucket = decode(BUCKETS, &v)?;
                return Err(if existing.owner_account_id == principal.account_id {
                    Error::BucketAlreadyOwnedByYou(bucket.name.clone())
                } else {
                    Error::BucketAlreadyExists(bucket.name.clone())
                });
            }
            txn.put(BUCKETS, bucket.name.as_bytes(), &encode(BUCKETS, &bucket)?)?;
            Ok(bucket.clone())
        })
        .await
    }

    /// HeadBucket: the bucket, if it exists and the caller may list it.
    pub fn head_bucket(&self, principal: Option<&Principal>, name: &str) -> Result<Bucket> {
        self.authorized_bucket(principal, name, Action::ListBucket, None)
    }

    /// The bucket's region (GetBucketLocation).
    pub fn bucket_location(&self, principal: Option<&Principal>, name: &str) -> Result<String> {
        Ok(self
            .authorized_bucket(principal, name, Action::GetBucketLocation, None)?
            .region)
    }

    /// Deletes an empty bucket: no objects, versions or delete markers. In-progress multipart
    /// uploads are aborted with it, and its configuration rows are removed.
    pub async fn delete_bucket(&self, principal: Option<&Principal>, name: &str) -> Result<()> {
        self.authorized_bucket(principal, name, Action::DeleteBucket, None)?;
        let name = name.to_owned();
        let blobs = self
            .write_buckets(move |txn| {
                if txn.get(BUCKETS, name.as_bytes())?.is_none() {
                    return Err(Error::NoSuchBucket(name.clone()));
                }
                let prefix = keys::bucket_prefix(&name);
                if !txn
                    .scan(VERSIONS, &prefix, KeyRange::prefix(&prefix), 1)?
                    .is_empty()
                {
                    return Err(Error::BucketNotEmpty(name.clone()));
                }
                let mut blobs = Vec::new();
                for (k, v) in txn.scan(UPLOADS, &prefix, KeyRange::prefix(&prefix), usize::MAX)? {
                    let upload: super::model::Upload = decode(UPLOADS, &v)?;
                    let pp = keys::parts_prefix(&upload.upload_id);
                    for (pk, pv) in txn.scan(PARTS, &pp, KeyRange::prefix(&pp), usize::MAX)? {
                        let part: super::model::Part = decode(PARTS, &pv)?;
                        blobs.push(part.blob);
                        txn.delete(PARTS, &pk)?;
                    }
                    txn.delete(UPLOADS, &k)?;
                }
                for (k, _) in txn.scan(
                    BUCKET_CONFIG,
                    &prefix,
                    KeyRange::prefix(&prefix),
                    usize::MAX,
                )? {
                    txn.delete(BUCKET_CONFIG, &k)?;
                }
                txn.delete(BUCKETS, name.as_bytes())?;
                Ok(blobs)
            })
            .await?;
        self.delete_blobs(blobs).await;
        Ok(())
    }

    /// The caller's buckets, by name.
    pub fn list_buckets(&self, principal: Option<&Principal>) -> Result<Vec<Bucket>> {
        let principal = require_principal(principal)?;
        let mut out = Vec::new();
        for (_, v) in self.state.scan(BUCKETS, b"", KeyRange::all(), usize::MAX)? {
            let bucket: Bucket = decode(BUCKETS, &v)?;
            if bucket.owner_account_id == principal.account_id {
                out.push(bucket);
            }
        }
        Ok(out)
    }
}
