//! ACLs on the wire: GetBucketAcl, PutBucketAcl, GetObjectAcl, PutObjectAcl.
//!
//! Kumo stores canned ACLs (see `kumo_core::s3::acl`). A PUT may name one in `x-amz-acl`, or
//! send an AccessControlPolicy body whose grants equal a canned ACL (what SDKs send after a
//! read-modify-write of an unchanged ACL); any other grant list, and the `x-amz-grant-*`
//! headers, are answered NotImplemented.

use kumo_core::s3::acl::{self as core_acl, CannedAcl};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use crate::conv::{owner, principal};
use crate::error::CoreResultExt;
use crate::service::KumoS3;

fn grant_out(g: core_acl::Grant) -> Grant {
    let grantee = match &g.grantee {
        core_acl::Grantee::Account(id) => Grantee {
            display_name: Some(id.clone()),
            email_address: None,
            id: Some(id.clone()),
            type_: Type::from_static(Type::CANONICAL_USER),
            uri: None,
        },
        group => Grantee {
            display_name: None,
            email_address: None,
            id: None,
            type_: Type::from_static(Type::GROUP),
            uri: group.group_uri().map(str::to_owned),
        },
    };
    Grant {
        grantee: Some(grantee),
        permission: Some(Permission::from_static(g.permission.as_str())),
    }
}

fn grant_in(g: &Grant) -> Option<core_acl::Grant> {
    let grantee = g.grantee.as_ref()?;
    let grantee = match grantee.type_.as_str() {
        Type::CANONICAL_USER => core_acl::Grantee::Account(grantee.id.clone()?),
        Type::GROUP => match grantee.uri.as_deref()? {
            "http://acs.amazonaws.com/groups/global/AllUsers" => core_acl::Grantee::AllUsers,
            "http://acs.amazonaws.com/groups/global/AuthenticatedUsers" => {
                core_acl::Grantee::AuthenticatedUsers
            }
            "http://acs.amazonaws.com/groups/s3/LogDelivery" => core_acl::Grantee::LogDelivery,
            _ => return None,
        },
        _ => return None,
    };
    let permission = match g.permission.as_ref()?.as_str() {
        Permission::FULL_CONTROL => core_acl::Permission::FullControl,
        Permission::READ => core_acl::Permission::Read,
        Permission::WRITE => core_acl::Permission::Write,
        Permission::READ_ACP => core_acl::Permission::ReadAcp,
        Permission::WRITE_ACP => core_acl::Permission::WriteAcp,
        _ => return None,
    };
    Some(core_acl::Grant {
        grantee,
        permission,
    })
}

fn not_implemented() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::NotImplemented,
        "Kumo supports canned ACLs only (x-amz-acl, or a grant list equal to a canned ACL).",
    )
}

/// The canned ACL a PUT asks for: the header, or a body equal to a canned ACL of `owner`.
fn requested_acl(
    canned: Option<&str>,
    policy: Option<&AccessControlPolicy>,
    has_grant_headers: bool,
    owner_account_id: &str,
) -> S3Result<CannedAcl> {
    if has_grant_headers {
        return Err(not_implemented());
    }
    match (canned, policy) {
        (Some(_), Some(_)) => Err(S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            "Specifying both Canned ACLs and Header Grants is not allowed",
        )),
        (Some(canned), None) => CannedAcl::parse(canned).s3(),
        (None, Some(policy)) => {
            let grants: Option<Vec<_>> = policy.grants.iter().flatten().map(grant_in).collect();
            grants
                .and_then(|g| core_acl::canned_from_bucket_grants(&g, owner_account_id))
                .ok_or_else(not_implemented)
        }
        (None, None) => Err(S3Error::with_message(
            S3ErrorCode::MalformedACLError,
            "The XML you provided was not well-formed or did not validate against our published schema",
        )),
    }
}

pub async fn get_bucket_acl(
    s: &KumoS3,
    req: S3Request<GetBucketAclInput>,
) -> S3Result<S3Response<GetBucketAclOutput>> {
    let p = principal(&s.iam, &req)?;
    let (bucket, acl) = s.core.bucket_acl(p.as_ref(), &req.input.bucket).s3()?;
    let grants = core_acl::bucket_grants(acl, &bucket.owner_account_id);
    Ok(S3Response::new(GetBucketAclOutput {
        grants: Some(grants.into_iter().map(grant_out).collect()),
        owner: Some(owner(&bucket.owner_account_id)),
    }))
}

pub async fn put_bucket_acl(
    s: &KumoS3,
    req: S3Request<PutBucketAclInput>,
) -> S3Result<S3Response<PutBucketAclOutput>> {
    let p = principal(&s.iam, &req)?;
    let i = req.input;
    let owner_id = s.core.bucket(&i.bucket).s3()?.owner_account_id;
    let has_grant_headers = i.grant_full_control.is_some()
        || i.grant_read.is_some()
        || i.grant_read_acp.is_some()
        || i.grant_write.is_some()
        || i.grant_write_acp.is_some();
    let acl = requested_acl(
        i.acl.as_ref().map(BucketCannedACL::as_str),
        i.access_control_policy.as_ref(),
        has_grant_headers,
        &owner_id,
    )?;
    s.core
        .put_bucket_acl(p.as_ref(), &i.bucket, acl)
        .await
        .s3()?;
    Ok(S3Response::new(PutBucketAclOutput {}))
}

pub async fn get_object_acl(
    s: &KumoS3,
    req: S3Request<GetObjectAclInput>,
) -> S3Result<S3Response<GetObjectAclOutput>> {
    let p = principal(&s.iam, &req)?;
    let i = req.input;
    let facts = s
        .core
        .object_acl(p.as_ref(), &i.bucket, &i.key, i.version_id.as_deref())
        .s3()?;
    let grants = core_acl::object_grants(
        facts.acl,
        &facts.object_owner_account_id,
        &facts.bucket_owner_account_id,
    );
    Ok(S3Response::new(GetObjectAclOutput {
        grants: Some(grants.into_iter().map(grant_out).collect()),
        owner: Some(owner(&facts.object_owner_account_id)),
        request_charged: None,
    }))
}

pub async fn put_object_acl(
    s: &KumoS3,
    req: S3Request<PutObjectAclInput>,
) -> S3Result<S3Response<PutObjectAclOutput>> {
    let p = principal(&s.iam, &req)?;
    let i = req.input;
    let has_grant_headers = i.grant_full_control.is_some()
        || i.grant_read.is_some()
        || i.grant_read_acp.is_some()
        || i.grant_write.is_some()
        || i.grant_write_acp.is_some();
    // A body grant list is compared against the canned ACLs of the object's owner.
    let object_owner = match i.access_control_policy.as_ref() {
        Some(_) => {
            s.core
                .object_acl(p.as_ref(), &i.bucket, &i.key, i.version_id.as_deref())
                .s3()?
                .object_owner_account_id
        }
        None => String::new(),
    };
    let acl = requested_acl(
        i.acl.as_ref().map(ObjectCannedACL::as_str),
        i.access_control_policy.as_ref(),
        has_grant_headers,
        &object_owner,
    )?;
    s.core
        .put_object_acl(p.as_ref(), &i.bucket, &i.key, i.version_id.as_deref(), acl)
        .await
        .s3()?;
    Ok(S3Response::new(PutObjectAclOutput {
        request_charged: None,
    }))
}
