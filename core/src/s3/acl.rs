//! Canned ACLs: the `x-amz-acl` values S3 accepts on CreateBucket, PutObject, PutBucketAcl and
//! PutObjectAcl, what each grants, and the grant list GetBucketAcl / GetObjectAcl return.
//!
//! Why canned ACLs only: they cover what tools actually send (`public-read` for static sites,
//! `bucket-owner-full-control` for cross-account uploads) and are stored as one word on the
//! bucket or object record; explicit grant lists (`x-amz-grant-*`, AccessControlPolicy bodies)
//! are answered NotImplemented by the protocol layer unless they equal a canned ACL.
//!
//! Kumo's canonical user id of an account is the account id itself (as in the `Owner` element
//! of listings).

use crate::iam::Principal;
use crate::{Error, Result};

/// A canned ACL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CannedAcl {
    /// Owner FULL_CONTROL only.
    #[default]
    Private,
    /// Owner FULL_CONTROL, everyone READ.
    PublicRead,
    /// Owner FULL_CONTROL, everyone READ and WRITE.
    PublicReadWrite,
    /// Owner FULL_CONTROL, EC2 READ (Kumo: owner only; there is no AWS EC2 reader).
    AwsExecRead,
    /// Owner FULL_CONTROL, every signed caller READ.
    AuthenticatedRead,
    /// Object owner FULL_CONTROL, bucket owner READ (objects; on buckets as `private`).
    BucketOwnerRead,
    /// Object owner and bucket owner FULL_CONTROL (objects; on buckets as `private`).
    BucketOwnerFullControl,
    /// Owner FULL_CONTROL, the log delivery group WRITE and READ_ACP (buckets).
    LogDeliveryWrite,
}

impl CannedAcl {
    /// Parses an `x-amz-acl` value; unknown values are `InvalidArgument`.
    pub fn parse(value: &str) -> Result<Self> {
        Ok(match value {
            "private" => Self::Private,
            "public-read" => Self::PublicRead,
            "public-read-write" => Self::PublicReadWrite,
            "aws-exec-read" => Self::AwsExecRead,
            "authenticated-read" => Self::AuthenticatedRead,
            "bucket-owner-read" => Self::BucketOwnerRead,
            "bucket-owner-full-control" => Self::BucketOwnerFullControl,
            "log-delivery-write" => Self::LogDeliveryWrite,
            other => {
                return Err(Error::InvalidArgument(format!(
                    "x-amz-acl {other:?} is not a canned ACL"
                )));
            }
        })
    }

    /// Reads a stored value; anything unknown (never written by Kumo) counts as `private`,
    /// the safe reading.
    #[must_use]
    pub fn from_stored(value: &str) -> Self {
        Self::parse(value).unwrap_or_default()
    }

    /// The `x-amz-acl` spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::PublicRead => "public-read",
            Self::PublicReadWrite => "public-read-write",
            Self::AwsExecRead => "aws-exec-read",
            Self::AuthenticatedRead => "authenticated-read",
            Self::BucketOwnerRead => "bucket-owner-read",
            Self::BucketOwnerFullControl => "bucket-owner-full-control",
            Self::LogDeliveryWrite => "log-delivery-write",
        }
    }
}

/// An ACL permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// All of the below.
    FullControl,
    /// Bucket: list objects. Object: read data and metadata.
    Read,
    /// Bucket: create, overwrite and delete objects.
    Write,
    /// Read the ACL.
    ReadAcp,
    /// Write the ACL.
    WriteAcp,
}

impl Permission {
    /// The wire spelling (`FULL_CONTROL`, ...).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FullControl => "FULL_CONTROL",
            Self::Read => "READ",
            Self::Write => "WRITE",
            Self::ReadAcp => "READ_ACP",
            Self::WriteAcp => "WRITE_ACP",
        }
    }

    fn covers(self, needed: Self) -> bool {
        self == Self::FullControl || self == needed
    }
}

/// Who a grant is to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grantee {
    /// A canonical user: an account id.
    Account(String),
    /// `http://acs.amazonaws.com/groups/global/AllUsers`: everyone, anonymous included.
    AllUsers,
    /// `http://acs.amazonaws.com/groups/global/AuthenticatedUsers`: every signed caller.
    AuthenticatedUsers,
    /// `http://acs.amazonaws.com/groups/s3/LogDelivery`: no Kumo caller.
    LogDelivery,
}

impl Grantee {
    /// The group URI of a group grantee.
    #[must_use]
    pub fn group_uri(&self) -> Option<&'static str> {
        match self {
            Self::Account(_) => None,
            Self::AllUsers => Some("http://acs.amazonaws.com/groups/global/AllUsers"),
            Self::AuthenticatedUsers => {
                Some("http://acs.amazonaws.com/groups/global/AuthenticatedUsers")
            }
            Self::LogDelivery => Some("http://acs.amazonaws.com/groups/s3/LogDelivery"),
        }
    }

    fn includes(&self, principal: Option<&Principal>) -> bool {
        match self {
            Self::Account(id) => principal.is_some_and(|p| p.account_id == *id),
            Self::AllUsers => true,
            Self::AuthenticatedUsers => principal.is_some(),
            Self::LogDelivery => false,
        }
    }
}

/// One grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// To whom.
    pub grantee: Grantee,
    /// What.
    pub permission: Permission,
}

fn grant(grantee: Grantee, permission: Permission) -> Grant {
    Grant {
        grantee,
        permission,
    }
}

/// The grants of a bucket's canned ACL (GetBucketAcl), owner first.
#[must_use]
pub fn bucket_grants(acl: CannedAcl, owner_account_id: &str) -> Vec<Grant> {
    let mut grants = vec![grant(
        Grantee::Account(owner_account_id.to_owned()),
        Permission::FullControl,
    )];
    match acl {
        CannedAcl::PublicRead => grants.push(grant(Grantee::AllUsers, Permission::Read)),
        CannedAcl::PublicReadWrite => {
            grants.push(grant(Grantee::AllUsers, Permission::Read));
            grants.push(grant(Grantee::AllUsers, Permission::Write));
        }
        CannedAcl::AuthenticatedRead => {
            grants.push(grant(Grantee::AuthenticatedUsers, Permission::Read));
        }
        CannedAcl::LogDeliveryWrite => {
            grants.push(grant(Grantee::LogDelivery, Permission::Write));
            grants.push(grant(Grantee::LogDelivery, Permission::ReadAcp));
        }
        CannedAcl::Private
        | CannedAcl::AwsExecRead
        | CannedAcl::BucketOwnerRead
        | CannedAcl::BucketOwnerFullControl => {}
    }
    grants
}

/// The grants of an object's canned ACL (GetObjectAcl), object owner first.
#[must_use]
pub fn object_grants(
    acl: CannedAcl,
    object_owner_account_id: &str,
    bucket_owner_account_id: &str,
) -> Vec<Grant> {
    let mut grants = vec![grant(
        Grantee::Account(object_owner_account_id.to_owned()),
        Permission::FullControl,
    )];
    let bucket_owner = || Grantee::Account(bucket_owner_account_id.to_owned());
    let distinct = object_owner_account_id != bucket_owner_account_id;
    match acl {
        CannedAcl::PublicRead => grants.push(grant(Grantee::AllUsers, Permission::Read)),
        CannedAcl::PublicReadWrite => {
            grants.push(grant(Grantee::AllUsers, Permission::Read));
            grants.push(grant(Grantee::AllUsers, Permission::Write));
        }
        CannedAcl::AuthenticatedRead => {
            grants.push(grant(Grantee::AuthenticatedUsers, Permission::Read));
        }
        CannedAcl::BucketOwnerRead if distinct => {
            grants.push(grant(bucket_owner(), Permission::Read));
        }
        CannedAcl::BucketOwnerFullControl if distinct => {
            grants.push(grant(bucket_owner(), Permission::FullControl));
        }
        _ => {}
    }
    grants
}

/// Whether `grants` give `principal` (None: anonymous) the `needed` permission.
#[must_use]
pub fn permits(grants: &[Grant], principal: Option<&Principal>, needed: Permission) -> bool {
    grants
        .iter()
        .any(|g| g.permission.covers(needed) && g.grantee.includes(principal))
}

/// The canned ACL whose grants equal `grants` (for PutBucketAcl/PutObjectAcl bodies that spell
/// out a canned ACL), or `None` when the list is not a canned one.
#[must_use]
pub fn canned_from_bucket_grants(grants: &[Grant], owner_account_id: &str) -> Option<CannedAcl> {
    let same = |a: &[Grant], b: &[Grant]| {
        a.len() == b.len() && a.iter().all(|g| b.contains(g)) && b.iter().all(|g| a.contains(g))
    };
    [
        CannedAcl::Private,
        CannedAcl::PublicRead,
        CannedAcl::PublicReadWrite,
        CannedAcl::AuthenticatedRead,
        CannedAcl::LogDeliveryWrite,
    ]
    .into_iter()
    .find(|acl| same(&bucket_grants(*acl, owner_account_id), grants))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: &str = "111111111111";
    const OTHER: &str = "222222222222";

    fn root(acct: &str) -> Principal {
        Principal {
            account_id: acct.to_owned(),
            user_id: acct.to_owned(),
            arn: format!("arn:aws:iam::{acct}:root"),
            access_key_id: "AKIA".to_owned(),
        }
    }

    #[test]
    fn parse_roundtrip() {
        for name in [
            "private",
            "public-read",
            "public-read-write",
            "aws-exec-read",
            "authenticated-read",
            "bucket-owner-read",
            "bucket-owner-full-control",
            "log-delivery-write",
        ] {
            assert_eq!(CannedAcl::parse(name).expect("canned").as_str(), name);
        }
        assert!(matches!(
            CannedAcl::parse("public"),
            Err(Error::InvalidArgument(_))
        ));
        assert_eq!(CannedAcl::from_stored("garbage"), CannedAcl::Private);
    }

    #[test]
    fn bucket_grant_lists() {
        let g = bucket_grants(CannedAcl::Private, OWNER);
        assert_eq!(
            g,
            vec![grant(
                Grantee::Account(OWNER.into()),
                Permission::FullControl
            )]
        );
        let g = bucket_grants(CannedAcl::PublicRead, OWNER);
        assert_eq!(g.len(), 2);
        assert_eq!(g[1], grant(Grantee::AllUsers, Permission::Read));
        assert_eq!(bucket_grants(CannedAcl::PublicReadWrite, OWNER).len(), 3);
        assert_eq!(
            bucket_grants(CannedAcl::BucketOwnerFullControl, OWNER),
            bucket_grants(CannedAcl::Private, OWNER)
        );
    }

    #[test]
    fn permission_table() {
        let owner = root(OWNER);
        let other = root(OTHER);
        let cases: [(CannedAcl, Option<&Principal>, Permission, bool); 12] = [
            (CannedAcl::Private, Some(&owner), Permission::Write, true),
            (CannedAcl::Private, Some(&other), Permission::Read, false),
            (CannedAcl::Private, None, Permission::Read, false),
            (CannedAcl::PublicRead, None, Permission::Read, true),
            (CannedAcl::PublicRead, None, Permission::Write, false),
            (CannedAcl::PublicRead, None, Permission::ReadAcp, false),
            (CannedAcl::PublicReadWrite, None, Permission::Write, true),
            (CannedAcl::AuthenticatedRead, None, Permission::Read, false),
            (
                CannedAcl::AuthenticatedRead,
                Some(&other),
                Permission::Read,
                true,
            ),
            (
                CannedAcl::LogDeliveryWrite,
                Some(&other),
                Permission::Write,
                false,
            ),
            (
                CannedAcl::AwsExecRead,
                Some(&other),
                Permission::Read,
                false,
            ),
            (
                CannedAcl::PublicRead,
                Some(&owner),
                Permission::WriteAcp,
                true,
            ),
        ];
        for (acl, who, needed, want) in cases {
            assert_eq!(
                permits(&bucket_grants(acl, OWNER), who, needed),
                want,
                "{acl:?} {who:?} {needed:?}"
            );
        }
    }

    #[test]
    fn object_grants_name_the_bucket_owner() {
        let g = object_grants(CannedAcl::BucketOwnerFullControl, OTHER, OWNER);
        assert!(permits(&g, Some(&root(OWNER)), Permission::Read));
        assert!(permits(&g, Some(&root(OTHER)), Permission::Write));
        let g = object_grants(CannedAcl::BucketOwnerRead, OTHER, OWNER);
        assert!(permits(&g, Some(&root(OWNER)), Permission::Read));
        assert!(!permits(&g, Some(&root(OWNER)), Permission::WriteAcp));
        // Same owner: no duplicate grant.
        assert_eq!(
            object_grants(CannedAcl::BucketOwnerFullControl, OWNER, OWNER).len(),
            1
        );
        let g = object_grants(CannedAcl::PublicRead, OWNER, OWNER);
        assert!(permits(&g, None, Permission::Read));
    }

    #[test]
    fn canned_from_grants() {
        let g = bucket_grants(CannedAcl::PublicRead, OWNER);
        assert_eq!(
            canned_from_bucket_grants(&g, OWNER),
            Some(CannedAcl::PublicRead)
        );
        let odd = vec![grant(Grantee::Account(OTHER.into()), Permission::Read)];
        assert_eq!(canned_from_bucket_grants(&odd, OWNER), None);
    }
}
