//! The bucket sub-resource operations of [`ObjectService`]: CORS, policy, tagging, ownership
//! controls and canned ACLs of buckets and objects, plus the existence-and-access check behind
//! the "not configured" answers (website, lifecycle, encryption, ...).
//!
//! Every operation authorises through [`super::access`] first, so a missing bucket is
//! `NoSuchBucket` and a stranger gets `AccessDenied` before learning whether a configuration
//! exists. Writes re-check the bucket inside their transaction, so a concurrent DeleteBucket
//! cannot leave an orphan row behind.

use kumo_driver_api::transact;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::iam::Principal;
use crate::records::{blocking, encode};
use crate::{Error, Result};

use super::access::{AccessFacts, Action, authorize_with, current_request_context};
use super::acl::CannedAcl;
use super::bucket_config::{self, ConfigKind, ObjectOwnership, OwnershipControls, StoredPolicy};
use super::bucket_tagging::BucketTags;
use super::cors::CorsConfiguration;
use super::model::{Bucket, ObjectVersion};
use super::policy::BucketPolicy;
use super::versioning::{key_versions, rewrite_version, txn_bucket};
use super::{BUCKETS, ObjectService};

/// What GetObjectAcl needs: the object's owner, its canned ACL and the bucket's owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectAcl {
    /// The version the ACL belongs to.
    pub version_id: String,
    /// The account that wrote the object.
    pub object_owner_account_id: String,
    /// The bucket owner's account.
    pub bucket_owner_account_id: String,
    /// The canned ACL.
    pub acl: CannedAcl,
}

impl ObjectService {
    fn config_doc<T: DeserializeOwned>(&self, bucket: &str, kind: ConfigKind) -> Result<Option<T>> {
        bucket_config::get(self.state.as_ref(), bucket, kind)
    }

    /// Reads a document after authorising `action`; absent documents are `NoSuchBucketConfig`.
    fn read_config<T: DeserializeOwned>(
        &self,
        principal: Option<&Principal>,
        bucket: &str,
        kind: ConfigKind,
        action: Action,
    ) -> Result<T> {
        self.authorized_bucket(principal, bucket, action, None)?;
        self.config_doc(bucket, kind)?
            .ok_or_else(|| Error::NoSuchBucketConfig {
                bucket: bucket.to_owned(),
                kind,
            })
    }

    /// Writes (`Some`) or deletes (`None`) a document after authorising `action`.
    async fn write_config<T: Serialize + Send + 'static>(
        &self,
        principal: Option<&Principal>,
        bucket: &str,
        kind: ConfigKind,
        action: Action,
        value: Option<T>,
    ) -> Result<()> {
        self.authorized_bucket(principal, bucket, action, None)?;
        let (state, bucket) = (self.state.clone(), bucket.to_owned());
        blocking(move || {
            transact(state.as_ref(), |txn| {
                txn_bucket(txn, &bucket)?;
                match &value {
                    Some(v) => bucket_config::put_in(txn, &bucket, kind, v),
                    None => bucket_config::delete_in(txn, &bucket, kind).map(|_| ()),
                }
            })
        })
        .await
    }

    /// The bucket's policy, parsed, for authorisation (no access check: the caller is
    /// [`super::access`]). A stored policy that no longer parses counts as corrupt.
    pub(crate) fn policy_of(&self, bucket: &str) -> Result<Option<BucketPolicy>> {
        let Some(stored) = self.config_doc::<StoredPolicy>(bucket, ConfigKind::Policy)? else {
            return Ok(None);
        };
        BucketPolicy::parse(bucket, &stored.document)
            .map(Some)
            .map_err(|e| Error::Corrupt {
                table: bucket_config::TABLE,
                detail: format!("stored policy of {bucket} does not parse: {e}"),
            })
    }

    /// Authorises `action` on `bucket` with everything [`super::access::authorize_with`] may
    /// need: the bucket policy, the ownership controls, the object's ACL for object reads by
    /// other accounts, and the request's transport facts. Reads only what the decision needs.
    pub(crate) fn authorize_on(
        &self,
        principal: Option<&Principal>,
        action: Action,
        bucket: &Bucket,
        key: Option<&str>,
    ) -> Result<()> {
        let policy = self.policy_of(&bucket.name)?;
        let is_owner = principal.is_some_and(|p| p.account_id == bucket.owner_account_id);
        let needs_acl = !is_owner;
        let acls_disabled = needs_acl && self.acls_disabled(&bucket.name)?;
        let object_acl = match key {
            Some(key)
                if needs_acl
                    && !acls_disabled
                    && matches!(
                        action,
                        Action::GetObject
                            | Action::GetObjectTagging
                            | Action::GetObjectAcl
                            | Action::PutObjectAcl
                    ) =>
            {
                self.latest_object_acl(bucket, key)?
            }
            _ => None,
        };
        let facts = AccessFacts {
            policy: policy.as_ref(),
            acls_disabled,
            object_acl: object_acl
                .as_ref()
                .map(|a| (a.acl, a.object_owner_account_id.as_str())),
            context: current_request_context(),
        };
        authorize_with(principal, action, bucket, key, &facts)
    }

    /// Whether ACLs are disabled on the bucket (ownership `BucketOwnerEnforced`).
    pub(crate) fn acls_disabled(&self, bucket: &str) -> Result<bool> {
        Ok(self
            .config_doc::<OwnershipControls>(bucket, ConfigKind::OwnershipControls)?
            .is_some_and(|c| c.object_ownership == ObjectOwnership::BucketOwnerEnforced))
    }

    /// Checks that the bucket exists and the caller may perform `action` on it: the answer
    /// behind GetBucketWebsite & co. ("not configured") and the plain defaults (logging, ...).
    pub fn bucket_for_config(
        &self,
        principal: Option<&Principal>,
        bucket: &str,
        action: Action,
    ) -> Result<Bucket> {
        self.authorized_bucket(principal, bucket, action, None)
    }

    // ---- CORS ----

    /// GetBucketCors.
    pub fn bucket_cors(
        &self,
        principal: Option<&Principal>,
        bucket: &str,
    ) -> Result<CorsConfiguration> {
        self.read_config(principal, bucket, ConfigKind::Cors, Action::GetBucketCors)
    }

    /// PutBucketCors (validated).
    pub async fn put_bucket_cors(
        &self,
        principal: Option<&Principal>,
        bucket: &str,
        config: CorsConfiguration,
    ) -> Result<()> {
        config.validate()?;
        self.write_config(
            principal,
            bucket,
            ConfigKind::Cors,
            Action::PutBucketCors,
            Some(config),
        )
        .await
    }

    /// DeleteBucketCors (idempotent).
    pub async fn delete_bucket_cors(
        &self,
        principal: Option<&Principal>,
        bucket: &str,
    ) -> Result<()> {
        self.write_config::<CorsConfiguration>(
            principal,
            bucket,
            ConfigKind::Cors,
            Action::PutBucketCors,
            None,
        )
        .await
    }

    /// The CORS rules browsers are answered with. No authorisation: preflights are anonymous
    /// by design, and the rules are what the owner chose to publish. `None` when the bucket
    /// does not exist or has no CORS.
    pub fn cors_rules(&self, bucket: &str) -> Result<Option<CorsConfiguration>> {
        if self.state.get(BUCKETS, bucket.as_bytes())?.is_none() {
            return Ok(None);
        }
        self.config_doc(bucket, ConfigKind::Cors)
    }

    // ---- Policy ----

    /// GetBucketPolicy: the document as it was stored.
    pub fn bucket_policy(&self, principal: Option<&Principal>, bucket: &str) -> Result<String> {
        let stored: StoredPolicy = self.read_config(
            principal,
            bucket,
            ConfigKind::Policy,
            Action::GetBucketPolicy,
        )?;
        Ok(stored.document)
    }

    /// PutBucketPolicy: validated for this bucket, stored verbatim.
    pub async fn put_bucket_policy(
        &self,
        principal: Option<&Principal>,
        bucket: &str,
        document: String,
    ) -> Result<()> {
        BucketPolicy::parse(bucket, &document)?;
        let stored = StoredPolicy { document };
        self.write_config(
            principal,
            bucket,
            ConfigKind::Policy,
            Action::PutBucketPolicy,
            Some(stored),
        )
        .await
    }

    /// DeleteBucketPolicy (idempotent).
    pub async fn delete_bucket_policy(
        &self,
        principal: Option<&Principal>,
        bucket: &str,
    ) -> Result<()> {
        self.write_config::<StoredPolicy>(
            principal,
            bucket,
            ConfigKind::Policy,
            Action::DeleteBucketPolicy,
            None,
        )
        .await
    }

    /// GetBucketPolicyStatus: whether the policy makes the bucket public.
    pub fn bucket_policy_is_public(
        &self,
        principal: Option<&Principal>,
        bucket: &str,
    ) -> Result<bool> {
        let stored: StoredPolicy = self.read_config(
            principal,
            bucket,
            ConfigKind::Policy,
            Action::GetBucketPolicyStatus,
        )?;
        Ok(BucketPolicy::parse(bucket, &stored.document)?.is_public())
    }

    // ---- Tagging ----

    /// GetBucketTagging.
    pub fn bucket_tagging(
        &self,
        principal: Option<&Principal>,
        bucket: &str,
    ) -> Result<BucketTags> {
        self.read_config(
            principal,
            bucket,
            ConfigKind::Tagging,
            Action::GetBucketTagging,
        )
    }

    /// PutBucketTagging (validated; replaces the whole set).
    pub async fn put_bucket_tagging(
        &self,
        principal: Option<&Principal>,
        bucket: &str,
        tags: BucketTags,
    ) -> Result<()> {
        tags.validate()?;
        self.write_config(
            principal,
            bucket,
            ConfigKind::Tagging,
            Action::PutBucketTagging,
            Some(tags),
        )
        .await
    }

    /// DeleteBucketTagging (idempotent).
    pub async fn delete_bucket_tagging(
        &self,
        principal: Option<&Principal>,
        bucket: &str,
    ) -> Result<()> {
        self.write_config::<BucketTags>(
            principal,
            bucket,
            ConfigKind::Tagging,
            Action::PutBucketTagging,
            None,
        )
        .await
    }

    // ---- Ownership controls ----

    /// GetBucketOwnershipControls.
    pub fn bucket_ownership_controls(
        &self,
        principal: Option<&Principal>,
        bucket: &str,
    ) -> Result<OwnershipControls> {
        self.read_config(
            principal,
            bucket,
            ConfigKind::OwnershipControls,
            Action::GetBucketOwnershipControls,
        )
    }

    /// PutBucketOwnershipControls. Enforcing ownership on a bucket whose ACL grants others
    /// access is refused, as S3 refuses it.
    pub async fn put_bucket_ownership_controls(
        &self,
        principal: Option<&Principal>,
        bucket: &str,
        controls: OwnershipControls,
    ) -> Result<()> {
        let record =
            self.authorized_bucket(principal, bucket, Action::PutBucketOwnershipControls, None)?;
        if controls.object_ownership == ObjectOwnership::BucketOwnerEnforced
            && !matches!(
                CannedAcl::from_stored(&record.acl),
                CannedAcl::Private | CannedAcl::BucketOwnerFullControl
            )
        {
            return Err(Error::InvalidRequest(
                "Bucket ownership cannot be enforced while the bucket ACL grants access to others"
                    .to_owned(),
            ));
        }
        self.write_config(
            principal,
            bucket,
            ConfigKind::OwnershipControls,
            Action::PutBucketOwnershipControls,
            Some(controls),
        )
        .await
    }

    /// DeleteBucketOwnershipControls (idempotent).
    pub async fn delete_bucket_ownership_controls(
        &self,
        principal: Option<&Principal>,
        bucket: &str,
    ) -> Result<()> {
        self.write_config::<OwnershipControls>(
            principal,
            bucket,
            ConfigKind::OwnershipControls,
            Action::PutBucketOwnershipControls,
            None,
        )
        .await
    }

    // ---- ACLs ----

    /// GetBucketAcl: the bucket record (owner) and its canned ACL.
    pub fn bucket_acl(
        &self,
        principal: Option<&Principal>,
        bucket: &str,
    ) -> Result<(Bucket, CannedAcl)> {
        let record = self.authorized_bucket(principal, bucket, Action::GetBucketAcl, None)?;
        let acl = CannedAcl::from_stored(&record.acl);
        Ok((record, acl))
    }

    /// Refuses ACLs that grant access to others on a bucket with ACLs disabled.
    fn check_acl_allowed(&self, bucket: &str, acl: CannedAcl) -> Result<()> {
        if !matches!(acl, CannedAcl::Private | CannedAcl::BucketOwnerFullControl)
            && self.acls_disabled(bucket)?
        {
            return Err(Error::AclNotSupported);
        }
        Ok(())
    }

    /// PutBucketAcl with a canned ACL.
    pub async fn put_bucket_acl(
        &self,
        principal: Option<&Principal>,
        bucket: &str,
        acl: CannedAcl,
    ) -> Result<()> {
        self.authorized_bucket(principal, bucket, Action::PutBucketAcl, None)?;
        self.check_acl_allowed(bucket, acl)?;
        let bucket = bucket.to_owned();
        self.write_buckets(move |txn| {
            let mut record = txn_bucket(txn, &bucket)?;
            record.acl = acl.as_str().to_owned();
            txn.put(BUCKETS, record.name.as_bytes(), &encode(BUCKETS, &record)?)?;
            Ok(())
        })
        .await
    }

    /// Checks a canned ACL given on CreateBucket / PutObject / PostObject before the write.
    pub fn validate_canned_acl(
        &self,
        bucket: &str,
        acl: Option<&str>,
    ) -> Result<Option<CannedAcl>> {
        let Some(acl) = acl else { return Ok(None) };
        let acl = CannedAcl::parse(acl)?;
        if self.state.get(BUCKETS, bucket.as_bytes())?.is_some() {
            self.check_acl_allowed(bucket, acl)?;
        }
        Ok(Some(acl))
    }

    /// GetObjectAcl.
    pub fn object_acl(
        &self,
        principal: Option<&Principal>,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<ObjectAcl> {
        let record = self.authorized_bucket(principal, bucket, Action::GetObjectAcl, Some(key))?;
        let version = self.read_version(bucket, key, version_id)?;
        if version.delete_marker {
            return Err(Error::MethodNotAllowed(
                "the specified version is a delete marker".to_owned(),
            ));
        }
        Ok(object_acl_of(&version, &record))
    }

    /// PutObjectAcl with a canned ACL; returns the version id.
    pub async fn put_object_acl(
        &self,
        principal: Option<&Principal>,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        acl: CannedAcl,
    ) -> Result<String> {
        self.authorized_bucket(principal, bucket, Action::PutObjectAcl, Some(key))?;
        self.check_acl_allowed(bucket, acl)?;
        let (state, bucket, key) = (self.state.clone(), bucket.to_owned(), key.to_owned());
        let version_id = version_id.map(str::to_owned);
        blocking(move || {
            transact(state.as_ref(), |txn| {
                let versions = key_versions(txn, &bucket, &key)?;
                let found = match &version_id {
                    Some(id) => versions.into_iter().find(|(_, v)| &v.version_id == id),
                    None => versions.into_iter().next(),
                };
                let mut version = match found {
                    Some((_, v)) if !v.delete_marker => v,
                    Some(_) if version_id.is_some() => {
                        return Err(Error::MethodNotAllowed(
                            "the specified version is a delete marker".to_owned(),
                        ));
                    }
                    _ => {
                        return Err(match &version_id {
                            Some(id) => Error::NoSuchVersion(id.clone()),
                            None => Error::NoSuchKey(key.clone()),
                        });
                    }
                };
                version.acl = Some(acl.as_str().to_owned());
                rewrite_version(txn, &bucket, &version)?;
                Ok(version.version_id)
            })
        })
        .await
    }

    /// The latest version's ACL facts for authorising an object read by a non-owner, or
    /// `None` when the key has no live version (the operation then answers NoSuchKey itself).
    pub(crate) fn latest_object_acl(
        &self,
        bucket: &Bucket,
        key: &str,
    ) -> Result<Option<ObjectAcl>> {
        match self.read_version(&bucket.name, key, None) {
            Ok(v) if !v.delete_marker => Ok(Some(object_acl_of(&v, bucket))),
            Ok(_) | Err(Error::NoSuchKey(_) | Error::NoSuchVersion(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn object_acl_of(version: &ObjectVersion, bucket: &Bucket) -> ObjectAcl {
    let owner = if version.owner_account_id.is_empty() {
        // Anonymous writes (public-read-write buckets) belong to the bucket owner.
        bucket.owner_account_id.clone()
    } else {
        version.owner_account_id.clone()
    };
    ObjectAcl {
        version_id: version.version_id.clone(),
        object_owner_account_id: owner,
        bucket_owner_account_id: bucket.owner_account_id.clone(),
        acl: version
            .acl
            .as_deref()
            .map_or(CannedAcl::Private, CannedAcl::from_stored),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::ops::Range;
    use std::sync::{Arc, Mutex};

    use bytes::Bytes;
    use futures::StreamExt;
    use kumo_driver_api::{
        BlobId, BlobInfo, ByteStream, ObjectStore, ObjectStoreError, StateStore,
    };

    use super::*;
    use crate::iam::Iam;
    use crate::s3::objects::PutObjectRequest;

    /// An in-memory blob store: a test double for the object data these tests never read.
    #[derive(Default)]
    struct MemBlobs(Mutex<HashMap<String, Vec<u8>>>);

    #[async_trait::async_trait]
    impl ObjectStore for MemBlobs {
        async fn put(&self, id: &BlobId, mut body: ByteStream) -> Result<u64, ObjectStoreError> {
            let mut data = Vec::new();
            while let Some(chunk) = body.next().await {
                data.extend_from_slice(&chunk.map_err(ObjectStoreError::Body)?);
            }
            let len = data.len() as u64;
            self.0
                .lock()
                .expect("lock")
                .insert(id.as_str().to_owned(), data);
            Ok(len)
        }
        async fn get(
            &self,
            id: &BlobId,
            range: Range<u64>,
        ) -> Result<ByteStream, ObjectStoreError> {
            let map = self.0.lock().expect("lock");
            let data = map
                .get(id.as_str())
                .ok_or_else(|| ObjectStoreError::NotFound(id.clone()))?;
            let slice = Bytes::copy_from_slice(&data[range.start as usize..range.end as usize]);
            Ok(Box::pin(futures::stream::iter([Ok(slice)])))
        }
        async fn len(&self, id: &BlobId) -> Result<u64, ObjectStoreError> {
            let map = self.0.lock().expect("lock");
            map.get(id.as_str())
                .map(|d| d.len() as u64)
                .ok_or_else(|| ObjectStoreError::NotFound(id.clone()))
        }
        async fn delete(&self, id: &BlobId) -> Result<(), ObjectStoreError> {
            self.0.lock().expect("lock").remove(id.as_str());
            Ok(())
        }
        async fn list(&self) -> Result<Vec<BlobInfo>, ObjectStoreError> {
            Ok(Vec::new())
        }
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        core: ObjectService,
        owner: Principal,
        stranger: Principal,
    }

    async fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let state: Arc<dyn StateStore> = Arc::new(
            kumo_state_redb::RedbStateStore::open(&dir.path().join("s.redb")).expect("redb"),
        );
        let iam = Iam::new(state.clone());
        let (_, owner, _) = iam.bootstrap_admin().expect("admin");
        let (_, stranger) = iam.create_account("stranger").expect("account");
        let core = ObjectService::new(state, Arc::new(MemBlobs::default()), "us-east-1", 1 << 20);
        core.create_bucket(Some(&owner.principal()), "bkt", None, None)
            .await
            .expect("bucket");
        Fixture {
            _dir: dir,
            core,
            owner: owner.principal(),
            stranger: stranger.principal(),
        }
    }

    async fn put(
        core: &ObjectService,
        who: Option<&Principal>,
        key: &str,
        acl: Option<&str>,
    ) -> Result<()> {
        let body: ByteStream = Box::pin(futures::stream::iter([Ok(Bytes::from_static(b"data"))]));
        core.put_object(
            who,
            PutObjectRequest {
                bucket: "bkt".to_owned(),
                key: key.to_owned(),
                body,
                integrity: Default::default(),
                headers: Default::default(),
                metadata: Default::default(),
                tags: Vec::new(),
                if_none_match_any: false,
                if_match: None,
                acl: acl.map(str::to_owned),
            },
        )
        .await
        .map(|_| ())
    }

    fn denied<T: std::fmt::Debug>(r: Result<T>) -> bool {
        matches!(r, Err(Error::AccessDenied(_)))
    }

    #[tokio::test]
    async fn policy_and_acls_reach_authorization() {
        let f = fixture().await;
        let (core, owner, stranger) = (&f.core, Some(&f.owner), Some(&f.stranger));
        put(core, owner, "private", None).await.expect("put");
        put(core, owner, "public", Some("public-read"))
            .await
            .expect("put");
        assert!(denied(core.authorized_bucket(
            None,
            "bkt",
            Action::GetObject,
            Some("private")
        )));
        assert!(
            core.authorized_bucket(None, "bkt", Action::GetObject, Some("public"))
                .is_ok()
        );
        assert!(denied(core.authorized_bucket(
            None,
            "bkt",
            Action::ListBucket,
            None
        )));
        // Bucket ACL public-read: listing, not writing.
        core.put_bucket_acl(owner, "bkt", CannedAcl::PublicRead)
            .await
            .expect("acl");
        assert!(
            core.authorized_bucket(None, "bkt", Action::ListBucket, None)
                .is_ok()
        );
        assert!(denied(put(core, stranger, "x", None).await));
        // A policy admits another account to write.
        let doc = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{}:root"}},"Action":"s3:PutObject","Resource":"arn:aws:s3:::bkt/in/*"}}]}}"#,
            f.stranger.account_id
        );
        assert!(denied(
            core.put_bucket_policy(stranger, "bkt", doc.clone()).await
        ));
        core.put_bucket_policy(owner, "bkt", doc.clone())
            .await
            .expect("policy");
        assert_eq!(core.bucket_policy(owner, "bkt").expect("get"), doc);
        put(core, stranger, "in/x", None)
            .await
            .expect("stranger writes under in/");
        assert!(denied(put(core, stranger, "out/x", None).await));
        // The writing account owns the object (GetObjectAcl names it).
        let acl = core.object_acl(owner, "bkt", "in/x", None).expect("acl");
        assert_eq!(acl.object_owner_account_id, f.stranger.account_id);
        // Ownership enforced: ACLs that grant others are refused, and ACL grants are ignored.
        assert!(matches!(
            core.put_bucket_ownership_controls(
                owner,
                "bkt",
                OwnershipControls {
                    object_ownership: ObjectOwnership::BucketOwnerEnforced
                }
            )
            .await,
            Err(Error::InvalidRequest(_))
        ));
        core.put_bucket_acl(owner, "bkt", CannedAcl::Private)
            .await
            .expect("acl");
        core.put_bucket_ownership_controls(
            owner,
            "bkt",
            OwnershipControls {
                object_ownership: ObjectOwnership::BucketOwnerEnforced,
            },
        )
        .await
        .expect("ownership");
        assert!(matches!(
            core.put_object_acl(owner, "bkt", "public", None, CannedAcl::PublicRead)
                .await,
            Err(Error::AclNotSupported)
        ));
        assert!(denied(core.authorized_bucket(
            None,
            "bkt",
            Action::GetObject,
            Some("public")
        )));
        // Config reads: missing is NoSuchBucketConfig, strangers are denied, no bucket is NoSuchBucket.
        assert!(matches!(
            core.bucket_cors(owner, "bkt"),
            Err(Error::NoSuchBucketConfig {
                kind: ConfigKind::Cors,
                ..
            })
        ));
        assert!(denied(core.bucket_cors(stranger, "bkt")));
        assert!(matches!(
            core.bucket_tagging(owner, "nope"),
            Err(Error::NoSuchBucket(_))
        ));
        core.delete_bucket_policy(owner, "bkt")
            .await
            .expect("delete");
        assert!(matches!(
            core.bucket_policy(owner, "bkt"),
            Err(Error::NoSuchBucketConfig {
                kind: ConfigKind::Policy,
                ..
            })
        ));
    }
}
