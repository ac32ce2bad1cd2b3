//! `CreatePlacementGroup`, `DescribePlacementGroups`, `DeletePlacementGroup`.

use kumo_core::ec2::placement_group::PlacementGroup;

use super::common::{en, filters, ops, tag_specs, tags_out};
use crate::dispatch::{Context, Handler};
use crate::error::QueryError;
use crate::generated::ec2 as wire;

pub(super) fn handler(action: &str) -> Option<Handler> {
    ops!(action;
        "CreatePlacementGroup" => create_placement_group,
        "DescribePlacementGroups" => describe_placement_groups,
        "DeletePlacementGroup" => delete_placement_group,
    )
}

fn group_out(g: PlacementGroup) -> wire::PlacementGroup {
    wire::PlacementGroup {
        group_arn: Some(g.arn),
        group_id: Some(g.id),
        group_name: Some(g.name),
        partition_count: g.partition_count.and_then(|n| i32::try_from(n).ok()),
        spread_level: g.spread_level.as_deref().and_then(en),
        state: en(&g.state),
        strategy: en(&g.strategy),
        tags: Some(tags_out(&g.tags).unwrap_or_default()),
        ..Default::default()
    }
}

fn create_placement_group(
    ctx: &Context<'_>,
    req: wire::CreatePlacementGroupRequest,
) -> Result<wire::CreatePlacementGroupResult, QueryError> {
    let g = ctx.ec2()?.create_placement_group(
        ctx.account(),
        req.group_name.as_deref().unwrap_or_default(),
        req.strategy.map(wire::PlacementStrategy::as_str),
        req.partition_count,
        req.spread_level.map(wire::SpreadLevel::as_str),
        tag_specs(req.tag_specifications, "placement-group"),
    )?;
    Ok(wire::CreatePlacementGroupResult {
        placement_group: Some(group_out(g)),
    })
}

fn describe_placement_groups(
    ctx: &Context<'_>,
    req: wire::DescribePlacementGroupsRequest,
) -> Result<wire::DescribePlacementGroupsResult, QueryError> {
    let groups = ctx.ec2()?.describe_placement_groups(
        ctx.account(),
        &req.group_names.unwrap_or_default(),
        &req.group_ids.unwrap_or_default(),
        &filters(req.filters),
    )?;
    Ok(wire::DescribePlacementGroupsResult {
        placement_groups: Some(groups.into_iter().map(group_out).collect()),
    })
}

fn delete_placement_group(
    ctx: &Context<'_>,
    req: wire::DeletePlacementGroupRequest,
) -> Result<bool, QueryError> {
    ctx.ec2()?
        .delete_placement_group(ctx.account(), req.group_name.as_deref().unwrap_or_default())?;
    Ok(true)
}
