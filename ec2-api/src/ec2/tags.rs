//! `CreateTags`, `DeleteTags`, `DescribeTags` over every resource type.

use super::common::{NoOutput, enum_from, filters, ops, tags_in};
use crate::dispatch::{Context, Handler};
use crate::error::QueryError;
use crate::generated::ec2 as wire;

pub(super) fn handler(action: &str) -> Option<Handler> {
    ops!(action;
        "CreateTags" => create_tags,
        "DeleteTags" => delete_tags,
        "DescribeTags" => describe_tags,
    )
}

fn create_tags(ctx: &Context<'_>, req: wire::CreateTagsRequest) -> Result<NoOutput, QueryError> {
    ctx.ec2()?.create_tags(
        ctx.account(),
        &req.resources.unwrap_or_default(),
        &tags_in(req.tags),
    )?;
    Ok(NoOutput)
}

fn delete_tags(ctx: &Context<'_>, req: wire::DeleteTagsRequest) -> Result<NoOutput, QueryError> {
    // A tag without a value deletes the key whatever its value; with one (even empty), only
    // when the value matches.
    let tags: Vec<(String, Option<String>)> = req
        .tags
        .unwrap_or_default()
        .into_iter()
        .map(|t| (t.key.unwrap_or_default(), t.value))
        .collect();
    ctx.ec2()?
        .delete_tags(ctx.account(), &req.resources.unwrap_or_default(), &tags)?;
    Ok(NoOutput)
}

fn describe_tags(
    ctx: &Context<'_>,
    req: wire::DescribeTagsRequest,
) -> Result<wire::DescribeTagsResult, QueryError> {
    let page = ctx.ec2()?.describe_tags(
        ctx.account(),
        &filters(req.filters),
        req.max_results,
        req.next_token.as_deref(),
    )?;
    Ok(wire::DescribeTagsResult {
        tags: Some(
            page.items
                .into_iter()
                .map(|t| wire::TagDescription {
                    key: Some(t.tag.key),
                    value: Some(t.tag.value),
                    resource_type: enum_from(
                        &wire::ResourceType::ALL,
                        &wire::ResourceType::VALUES,
                        t.resource_type,
                    ),
                    resource_id: Some(t.resource_id),
                })
                .collect(),
        ),
        next_token: page.next_token,
    })
}
