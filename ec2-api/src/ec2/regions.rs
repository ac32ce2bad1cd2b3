//! `DescribeRegions`, `DescribeAvailabilityZones`.

use kumo_core::ec2::regions::{Region, Zone};

use super::common::{filters, ops};
use crate::dispatch::{Context, Handler};
use crate::error::QueryError;
use crate::generated::ec2 as wire;

pub(super) fn handler(action: &str) -> Option<Handler> {
    ops!(action;
        "DescribeRegions" => describe_regions,
        "DescribeAvailabilityZones" => describe_availability_zones,
    )
}

fn region_out(r: Region) -> wire::Region {
    wire::Region {
        endpoint: Some(format!("ec2.{}.amazonaws.com", r.name)),
        opt_in_status: Some(r.opt_in_status.into()),
        region_name: Some(r.name),
        ..Default::default()
    }
}

fn zone_out(z: Zone) -> wire::AvailabilityZone {
    wire::AvailabilityZone {
        group_name: Some(z.region.clone()),
        network_border_group: Some(z.region.clone()),
        opt_in_status: Some(wire::AvailabilityZoneOptInStatus::OptInNotRequired),
        region_name: Some(z.region),
        state: Some(wire::AvailabilityZoneState::Available),
        zone_id: Some(z.id),
        zone_name: Some(z.name),
        zone_type: Some("availability-zone".into()),
        messages: Some(Vec::new()),
        ..Default::default()
    }
}

fn describe_regions(
    ctx: &Context<'_>,
    req: wire::DescribeRegionsRequest,
) -> Result<wire::DescribeRegionsResult, QueryError> {
    let regions = ctx
        .ec2()?
        .describe_regions(&req.region_names.unwrap_or_default(), &filters(req.filters))?;
    Ok(wire::DescribeRegionsResult {
        regions: Some(regions.into_iter().map(region_out).collect()),
    })
}

fn describe_availability_zones(
    ctx: &Context<'_>,
    req: wire::DescribeAvailabilityZonesRequest,
) -> Result<wire::DescribeAvailabilityZonesResult, QueryError> {
    let zones = ctx.ec2()?.describe_zones(
        &req.zone_names.unwrap_or_default(),
        &req.zone_ids.unwrap_or_default(),
        &filters(req.filters),
    )?;
    Ok(wire::DescribeAvailabilityZonesResult {
        availability_zones: Some(zones.into_iter().map(zone_out).collect()),
    })
}
