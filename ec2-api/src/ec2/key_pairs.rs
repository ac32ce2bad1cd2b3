//! `CreateKeyPair`, `ImportKeyPair`, `DescribeKeyPairs`, `DeleteKeyPair`.

use kumo_core::ec2::key_pair::KeyPair;

use super::common::{enum_from, filters, ops, tag_specs, tags_out};
use crate::dispatch::{Context, Handler};
use crate::error::QueryError;
use crate::generated::ec2 as wire;

pub(super) fn handler(action: &str) -> Option<Handler> {
    ops!(action;
        "CreateKeyPair" => create_key_pair,
        "ImportKeyPair" => import_key_pair,
        "DescribeKeyPairs" => describe_key_pairs,
        "DeleteKeyPair" => delete_key_pair,
    )
}

fn key_out(k: KeyPair, include_public_key: bool) -> wire::KeyPairInfo {
    wire::KeyPairInfo {
        create_time: time::OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(k.created_ms) * 1_000_000,
        )
        .ok(),
        key_fingerprint: Some(k.fingerprint),
        key_type: enum_from(&wire::KeyType::ALL, &wire::KeyType::VALUES, &k.key_type),
        key_name: Some(k.name),
        key_pair_id: Some(k.id),
        public_key: include_public_key.then_some(k.public_key),
        tags: Some(tags_out(&k.tags).unwrap_or_default()),
    }
}

fn create_key_pair(
    ctx: &Context<'_>,
    req: wire::CreateKeyPairRequest,
) -> Result<wire::KeyPair, QueryError> {
    let created = ctx.ec2()?.create_key_pair(
        ctx.account(),
        req.key_name.as_deref().unwrap_or_default(),
        req.key_type.map(wire::KeyType::as_str),
        req.key_format.map(wire::KeyFormat::as_str),
        tag_specs(req.tag_specifications, "key-pair"),
    )?;
    let k = created.key_pair;
    Ok(wire::KeyPair {
        key_fingerprint: Some(k.fingerprint),
        key_material: Some(created.material),
        tags: tags_out(&k.tags),
        key_name: Some(k.name),
        key_pair_id: Some(k.id),
    })
}

fn import_key_pair(
    ctx: &Context<'_>,
    req: wire::ImportKeyPairRequest,
) -> Result<wire::ImportKeyPairResult, QueryError> {
    let material = req.public_key_material.map(|b| b.0).unwrap_or_default();
    let k = ctx.ec2()?.import_key_pair(
        ctx.account(),
        req.key_name.as_deref().unwrap_or_default(),
        &material,
        tag_specs(req.tag_specifications, "key-pair"),
    )?;
    Ok(wire::ImportKeyPairResult {
        key_fingerprint: Some(k.fingerprint),
        tags: tags_out(&k.tags),
        key_name: Some(k.name),
        key_pair_id: Some(k.id),
    })
}

fn describe_key_pairs(
    ctx: &Context<'_>,
    req: wire::DescribeKeyPairsRequest,
) -> Result<wire::DescribeKeyPairsResult, QueryError> {
    let include = req.include_public_key.unwrap_or(false);
    let keys = ctx.ec2()?.describe_key_pairs(
        ctx.account(),
        &req.key_names.unwrap_or_default(),
        &req.key_pair_ids.unwrap_or_default(),
        &filters(req.filters),
    )?;
    Ok(wire::DescribeKeyPairsResult {
        key_pairs: Some(keys.into_iter().map(|k| key_out(k, include)).collect()),
    })
}

fn delete_key_pair(
    ctx: &Context<'_>,
    req: wire::DeleteKeyPairRequest,
) -> Result<wire::DeleteKeyPairResult, QueryError> {
    let id = ctx.ec2()?.delete_key_pair(
        ctx.account(),
        req.key_name.as_deref(),
        req.key_pair_id.as_deref(),
    )?;
    Ok(wire::DeleteKeyPairResult {
        key_pair_id: id,
        r#return: Some(true),
    })
}
