//! Who may do what to a bucket: the ONE place S3 authorisation is decided.
//!
//! Order of evaluation (as AWS evaluates a request against a bucket without IAM policies):
//! 1. An explicit `Deny` in the bucket policy refuses the request — for the owner's IAM users
//!    too. Only the owner account's root may still read, replace or delete the policy, so an
//!    owner can never lock themselves out.
//! 2. The bucket owner's account is allowed everything else.
//! 3. An `Allow` in the bucket policy admits other accounts and anonymous callers.
//! 4. Canned ACLs: the bucket's for listing and writes, the object's for reads of that object,
//!    unless the bucket's ownership controls disable ACLs (`BucketOwnerEnforced`).
//! 5. Otherwise `AccessDenied`.
//!
//! Conditions in policies may test the transport and client address: the front end supplies
//! them per request with [`with_request_context`] (a task-local, so every operation sees them
//! without threading them through each signature). Without it, those keys are absent.

use std::future::Future;

use crate::iam::Principal;
use crate::{Error, Result};

use super::acl::{self, CannedAcl, Permission};
use super::model::Bucket;
use super::policy::{BucketPolicy, Decision, RequestContext, resource_arn};

/// S3 actions, named as in IAM policies (`s3:GetObject`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `s3:ListBucket` (ListObjects, HeadBucket).
    ListBucket,
    /// `s3:ListBucketVersions`.
    ListBucketVersions,
    /// `s3:ListBucketMultipartUploads`.
    ListBucketMultipartUploads,
    /// `s3:DeleteBucket`.
    DeleteBucket,
    /// `s3:GetBucketLocation`.
    GetBucketLocation,
    /// `s3:GetBucketVersioning`.
    GetBucketVersioning,
    /// `s3:PutBucketVersioning`.
    PutBucketVersioning,
    /// `s3:GetObject` (GET, HEAD, copy source).
    GetObject,
    /// `s3:PutObject` (PUT, copy target, multipart, POST).
    PutObject,
    /// `s3:DeleteObject`.
    DeleteObject,
    /// `s3:GetObjectTagging`.
    GetObjectTagging,
    /// `s3:PutObjectTagging` (and delete).
    PutObjectTagging,
    /// `s3:ListMultipartUploadParts`.
    ListMultipartUploadParts,
    /// `s3:AbortMultipartUpload`.
    AbortMultipartUpload,
    /// `s3:GetBucketPolicy`.
    GetBucketPolicy,
    /// `s3:PutBucketPolicy`.
    PutBucketPolicy,
    /// `s3:DeleteBucketPolicy`.
    DeleteBucketPolicy,
    /// `s3:GetBucketPolicyStatus`.
    GetBucketPolicyStatus,
    /// `s3:GetBucketCORS`.
    GetBucketCors,
    /// `s3:PutBucketCORS` (and delete).
    PutBucketCors,
    /// `s3:GetBucketTagging`.
    GetBucketTagging,
    /// `s3:PutBucketTagging` (and delete).
    PutBucketTagging,
    /// `s3:GetBucketAcl`.
    GetBucketAcl,
    /// `s3:PutBucketAcl`.
    PutBucketAcl,
    /// `s3:GetObjectAcl`.
    GetObjectAcl,
    /// `s3:PutObjectAcl`.
    PutObjectAcl,
    /// `s3:GetBucketOwnershipControls`.
    GetBucketOwnershipControls,
    /// `s3:PutBucketOwnershipControls` (and delete).
    PutBucketOwnershipControls,
    /// Another bucket-configuration read or write, by its IAM name (`s3:GetBucketWebsite`,
    /// `s3:GetLifecycleConfiguration`, ...): owner or bucket policy only.
    BucketConfig(&'static str),
}

impl Action {
    /// The IAM action name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::ListBucket => "s3:ListBucket",
            Self::ListBucketVersions => "s3:ListBucketVersions",
            Self::ListBucketMultipartUploads => "s3:ListBucketMultipartUploads",
            Self::DeleteBucket => "s3:DeleteBucket",
            Self::GetBucketLocation => "s3:GetBucketLocation",
            Self::GetBucketVersioning => "s3:GetBucketVersioning",
            Self::PutBucketVersioning => "s3:PutBucketVersioning",
            Self::GetObject => "s3:GetObject",
            Self::PutObject => "s3:PutObject",
            Self::DeleteObject => "s3:DeleteObject",
            Self::GetObjectTagging => "s3:GetObjectTagging",
            Self::PutObjectTagging => "s3:PutObjectTagging",
            Self::ListMultipartUploadParts => "s3:ListMultipartUploadParts",
            Self::AbortMultipartUpload => "s3:AbortMultipartUpload",
            Self::GetBucketPolicy => "s3:GetBucketPolicy",
            Self::PutBucketPolicy => "s3:PutBucketPolicy",
            Self::DeleteBucketPolicy => "s3:DeleteBucketPolicy",
            Self::GetBucketPolicyStatus => "s3:GetBucketPolicyStatus",
            Self::GetBucketCors => "s3:GetBucketCORS",
            Self::PutBucketCors => "s3:PutBucketCORS",
            Self::GetBucketTagging => "s3:GetBucketTagging",
            Self::PutBucketTagging => "s3:PutBucketTagging",
            Self::GetBucketAcl => "s3:GetBucketAcl",
            Self::PutBucketAcl => "s3:PutBucketAcl",
            Self::GetObjectAcl => "s3:GetObjectAcl",
            Self::PutObjectAcl => "s3:PutObjectAcl",
            Self::GetBucketOwnershipControls => "s3:GetBucketOwnershipControls",
            Self::PutBucketOwnershipControls => "s3:PutBucketOwnershipControls",
            Self::BucketConfig(name) => name,
        }
    }

    /// Whether the action applies to an object (its policy resource is `bucket/key`).
    #[must_use]
    pub fn is_object_action(self) -> bool {
        matches!(
            self,
            Self::GetObject
                | Self::PutObject
                | Self::DeleteObject
                | Self::GetObjectTagging
                | Self::PutObjectTagging
                | Self::ListMultipartUploadParts
                | Self::AbortMultipartUpload
                | Self::GetObjectAcl
                | Self::PutObjectAcl
        )
    }

    /// Which ACL decides it: (permission, on the object rather than the bucket), or `None`
    /// for actions no ACL grants (configuration, deletion of the bucket).
    fn acl_permission(self) -> Option<(Permission, bool)> {
        match self {
            Self::ListBucket | Self::ListBucketVersions | Self::ListBucketMultipartUploads => {
                Some((Permission::Read, false))
            }
            Self::PutObject
            | Self::DeleteObject
            | Self::AbortMultipartUpload
            | Self::ListMultipartUploadParts => Some((Permission::Write, false)),
            Self::GetObject | Self::GetObjectTagging => Some((Permission::Read, true)),
            Self::GetObjectAcl => Some((Permission::ReadAcp, true)),
            Self::PutObjectAcl => Some((Permission::WriteAcp, true)),
            Self::GetBucketAcl => Some((Permission::ReadAcp, false)),
            Self::PutBucketAcl => Some((Permission::WriteAcp, false)),
            _ => None,
        }
    }

    fn manages_policy(self) -> bool {
        matches!(
            self,
            Self::GetBucketPolicy | Self::PutBucketPolicy | Self::DeleteBucketPolicy
        )
    }
}

/// Everything besides the principal and the bucket record that a decision may depend on.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccessFacts<'a> {
    /// The bucket policy, if the bucket has one.
    pub policy: Option<&'a BucketPolicy>,
    /// Whether ACLs are disabled on the bucket (`BucketOwnerEnforced`).
    pub acls_disabled: bool,
    /// For object actions: the object's canned ACL and owner account, when it exists.
    pub object_acl: Option<(CannedAcl, &'a str)>,
    /// Transport and client address for policy conditions.
    pub context: RequestContext,
}

tokio::task_local! {
    static REQUEST_CONTEXT: RequestContext;
}

/// Runs `fut` (one S3 request) with `ctx` visible to policy conditions.
pub async fn with_request_context<F: Future>(ctx: RequestContext, fut: F) -> F::Output {
    REQUEST_CONTEXT.scope(ctx, fut).await
}

/// The context of the request being served, or an empty one outside [`with_request_context`].
#[must_use]
pub fn current_request_context() -> RequestContext {
    REQUEST_CONTEXT.try_with(|c| *c).unwrap_or_default()
}

fn denied(principal: Option<&Principal>, action: Action, bucket: &Bucket) -> Error {
    match principal {
        Some(_) => Error::AccessDenied(format!(
            "{} on bucket {} is not granted to this caller",
            action.name(),
            bucket.name
        )),
        None => Error::AccessDenied(format!(
            "anonymous {} on bucket {} is not allowed",
            action.name(),
            bucket.name
        )),
    }
}

/// Decides without the bucket policy, ownership controls or object ACL: the owner rule and the
/// bucket's canned ACL only. It ignores a policy's Deny too, so S3 operations must not use it:
/// they call `ObjectService::authorized_bucket`, which loads those facts for [`authorize_with`].
pub fn authorize(
    principal: Option<&Principal>,
    action: Action,
    bucket: &Bucket,
    key: Option<&str>,
) -> Result<()> {
    authorize_with(principal, action, bucket, key, &AccessFacts::default())
}

/// Decides whether `principal` (None: anonymous) may perform `action` on `bucket` (and `key`),
/// given the bucket's policy and ACL facts. See the module docs for the order.
pub fn authorize_with(
    principal: Option<&Principal>,
    action: Action,
    bucket: &Bucket,
    key: Option<&str>,
    facts: &AccessFacts<'_>,
) -> Result<()> {
    let is_owner = principal.is_some_and(|p| p.account_id == bucket.owner_account_id);
    let decision = match facts.policy {
        Some(policy) => {
            let resource_key = if action.is_object_action() { key } else { None };
            policy.evaluate(
                principal,
                action.name(),
                &resource_arn(&bucket.name, resource_key),
                &facts.context,
            )
        }
        None => Decision::NotApplicable,
    };
    if decision == Decision::Deny {
        let owner_root = is_owner && principal.is_some_and(|p| p.arn.ends_with(":root"));
        if owner_root && action.manages_policy() {
            return Ok(());
        }
        return Err(denied(principal, action, bucket));
    }
    if is_owner || decision == Decision::Allow {
        return Ok(());
    }
    if !facts.acls_disabled
        && let Some((permission, on_object)) = action.acl_permission()
    {
        let grants = if on_object {
            match facts.object_acl {
                Some((acl, object_owner)) => {
                    acl::object_grants(acl, object_owner, &bucket.owner_account_id)
                }
                None => Vec::new(),
            }
        } else {
            acl::bucket_grants(
                CannedAcl::from_stored(&bucket.acl),
                &bucket.owner_account_id,
            )
        };
        if acl::permits(&grants, principal, permission) {
            return Ok(());
        }
    }
    Err(denied(principal, action, bucket))
}

/// Account-level operations (ListBuckets, CreateBucket) need a signed request.
pub fn require_principal(principal: Option<&Principal>) -> Result<&Principal> {
    principal.ok_or_else(|| Error::AccessDenied("anonymous requests are not allowed".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: &str = "111111111111";
    const OTHER: &str = "222222222222";

    fn bucket(acl: &str) -> Bucket {
        Bucket {
            name: "b".to_owned(),
            owner_account_id: OWNER.to_owned(),
            region: "us-east-1".to_owned(),
            created_ms: 0,
            acl: acl.to_owned(),
            versioning: Default::default(),
        }
    }

    fn root(acct: &str) -> Principal {
        Principal {
            account_id: acct.to_owned(),
            user_id: acct.to_owned(),
            arn: format!("arn:aws:iam::{acct}:root"),
            access_key_id: "AKIA".to_owned(),
        }
    }

    fn user(acct: &str) -> Principal {
        Principal {
            account_id: acct.to_owned(),
            user_id: "AIDA".to_owned(),
            arn: format!("arn:aws:iam::{acct}:user/u"),
            access_key_id: "AKIAU".to_owned(),
        }
    }

    fn ok(r: Result<()>) -> bool {
        match r {
            Ok(()) => true,
            Err(Error::AccessDenied(_)) => false,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }

    #[test]
    fn owner_and_strangers_without_policy() {
        let b = bucket("private");
        let f = AccessFacts::default();
        let cases: [(Option<Principal>, Action, bool); 4] = [
            (Some(root(OWNER)), Action::DeleteBucket, true),
            (Some(user(OWNER)), Action::PutObject, true),
            (Some(root(OTHER)), Action::GetObject, false),
            (None, Action::ListBucket, false),
        ];
        for (who, action, want) in cases {
            assert_eq!(
                ok(authorize_with(who.as_ref(), action, &b, Some("k"), &f)),
                want,
                "{action:?}"
            );
        }
    }

    #[test]
    fn canned_acls() {
        let public = bucket("public-read");
        let none = AccessFacts::default();
        assert!(ok(authorize_with(
            None,
            Action::ListBucket,
            &public,
            None,
            &none
        )));
        assert!(!ok(authorize_with(
            None,
            Action::PutObject,
            &public,
            Some("k"),
            &none
        )));
        // The bucket ACL does not make objects readable: the object's own ACL does.
        assert!(!ok(authorize_with(
            None,
            Action::GetObject,
            &public,
            Some("k"),
            &none
        )));
        let public_obj = AccessFacts {
            object_acl: Some((CannedAcl::PublicRead, OWNER)),
            ..AccessFacts::default()
        };
        let private = bucket("private");
        assert!(ok(authorize_with(
            None,
            Action::GetObject,
            &private,
            Some("k"),
            &public_obj
        )));
        assert!(!ok(authorize_with(
            None,
            Action::GetObjectAcl,
            &private,
            Some("k"),
            &public_obj
        )));
        let rw = bucket("public-read-write");
        assert!(ok(authorize_with(
            None,
            Action::PutObject,
            &rw,
            Some("k"),
            &none
        )));
        assert!(!ok(authorize_with(
            None,
            Action::DeleteBucket,
            &rw,
            None,
            &none
        )));
        let auth = bucket("authenticated-read");
        assert!(ok(authorize_with(
            Some(&root(OTHER)),
            Action::ListBucket,
            &auth,
            None,
            &none
        )));
        assert!(!ok(authorize_with(
            None,
            Action::ListBucket,
            &auth,
            None,
            &none
        )));
        // Ownership enforced: ACLs are ignored.
        let disabled = AccessFacts {
            acls_disabled: true,
            ..AccessFacts::default()
        };
        assert!(!ok(authorize_with(
            None,
            Action::ListBucket,
            &public,
            None,
            &disabled
        )));
    }

    #[test]
    fn policies() {
        let b = bucket("private");
        let allow_read = BucketPolicy::parse(
            "b",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]}]}"#,
        )
        .expect("policy");
        let f = AccessFacts {
            policy: Some(&allow_read),
            ..AccessFacts::default()
        };
        assert!(ok(authorize_with(
            None,
            Action::GetObject,
            &b,
            Some("k"),
            &f
        )));
        assert!(ok(authorize_with(None, Action::ListBucket, &b, None, &f)));
        assert!(!ok(authorize_with(
            None,
            Action::PutObject,
            &b,
            Some("k"),
            &f
        )));
        assert!(ok(authorize_with(
            Some(&root(OTHER)),
            Action::GetObject,
            &b,
            Some("k"),
            &f
        )));

        let deny_all = BucketPolicy::parse(
            "b",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]}]}"#,
        )
        .expect("policy");
        let f = AccessFacts {
            policy: Some(&deny_all),
            ..AccessFacts::default()
        };
        // Explicit deny beats ownership, ...
        assert!(!ok(authorize_with(
            Some(&root(OWNER)),
            Action::GetObject,
            &b,
            Some("k"),
            &f
        )));
        assert!(!ok(authorize_with(
            Some(&user(OWNER)),
            Action::DeleteBucketPolicy,
            &b,
            None,
            &f
        )));
        // ... but the owner's root can always manage the policy.
        assert!(ok(authorize_with(
            Some(&root(OWNER)),
            Action::DeleteBucketPolicy,
            &b,
            None,
            &f
        )));
        assert!(ok(authorize_with(
            Some(&root(OWNER)),
            Action::PutBucketPolicy,
            &b,
            None,
            &f
        )));
        // And it beats ACLs.
        let public = bucket("public-read");
        assert!(!ok(authorize_with(
            None,
            Action::ListBucket,
            &public,
            None,
            &f
        )));
    }

    #[test]
    fn secure_transport_from_context() {
        let b = bucket("private");
        let tls_only = BucketPolicy::parse(
            "b",
            r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#,
        )
        .expect("policy");
        let facts = |secure| AccessFacts {
            policy: Some(&tls_only),
            context: RequestContext {
                secure_transport: Some(secure),
                source_ip: None,
            },
            ..AccessFacts::default()
        };
        let owner = root(OWNER);
        assert!(ok(authorize_with(
            Some(&owner),
            Action::GetObject,
            &b,
            Some("k"),
            &facts(true)
        )));
        assert!(!ok(authorize_with(
            Some(&owner),
            Action::GetObject,
            &b,
            Some("k"),
            &facts(false)
        )));
    }

    #[tokio::test]
    async fn context_is_scoped() {
        assert_eq!(current_request_context(), RequestContext::default());
        let ctx = RequestContext {
            secure_transport: Some(true),
            source_ip: None,
        };
        let seen = with_request_context(ctx, async { current_request_context() }).await;
        assert_eq!(seen, ctx);
    }
}
