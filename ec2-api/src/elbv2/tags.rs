//! `AddTags`, `RemoveTags`, `DescribeTags`.

use super::common::{elbv2, required, tags_in, tags_out};
use crate::dispatch::{Context, Handler};
use crate::ec2::common::ops;
use crate::error::QueryError;
use crate::generated::elbv2 as wire;

pub(super) fn handler(action: &str) -> Option<Handler> {
    ops!(action;
        "AddTags" => add_tags,
        "RemoveTags" => remove_tags,
        "DescribeTags" => describe_tags,
    )
}

fn add_tags(ctx: &Context<'_>, req: wire::AddTagsInput) -> Result<wire::AddTagsOutput, QueryError> {
    elbv2(ctx)?.add_tags(
        ctx.account(),
        &required(req.resource_arns, "ResourceArns")?,
        &tags_in(req.tags),
    )?;
    Ok(wire::AddTagsOutput {})
}

fn remove_tags(
    ctx: &Context<'_>,
    req: wire::RemoveTagsInput,
) -> Result<wire::RemoveTagsOutput, QueryError> {
    elbv2(ctx)?.remove_tags(
        ctx.account(),
        &required(req.resource_arns, "ResourceArns")?,
        &required(req.tag_keys, "TagKeys")?,
    )?;
    Ok(wire::RemoveTagsOutput {})
}

fn describe_tags(
    ctx: &Context<'_>,
    req: wire::DescribeTagsInput,
) -> Result<wire::DescribeTagsOutput, QueryError> {
    let rows =
        elbv2(ctx)?.describe_tags(ctx.account(), &required(req.resource_arns, "ResourceArns")?)?;
    Ok(wire::DescribeTagsOutput {
        tag_descriptions: Some(
            rows.into_iter()
                .map(|(arn, tags)| wire::TagDescription {
                    resource_arn: Some(arn),
                    tags: Some(tags_out(&tags)),
                })
                .collect(),
        ),
    })
}
