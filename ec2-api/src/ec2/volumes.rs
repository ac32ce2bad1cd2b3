//! EBS volumes and snapshots: create, describe, attach, detach, delete, modify, attributes.

use kumo_core::ec2::snapshot::Snapshot;
use kumo_core::ec2::volume::{CreateVolume, Volume, VolumeModification};

use super::common::{en, en_str, filters, ops, tag_specs, tags_out, ts};
use crate::dispatch::{Context, Handler};
use crate::error::QueryError;
use crate::generated::ec2 as wire;

pub(super) fn handler(action: &str) -> Option<Handler> {
    ops!(action;
        "CreateVolume" => create_volume,
        "DescribeVolumes" => describe_volumes,
        "AttachVolume" => attach_volume,
        "DetachVolume" => detach_volume,
        "DeleteVolume" => delete_volume,
        "ModifyVolume" => modify_volume,
        "DescribeVolumesModifications" => describe_volumes_modifications,
        "DescribeVolumeAttribute" => describe_volume_attribute,
        "ModifyVolumeAttribute" => modify_volume_attribute,
        "CreateSnapshot" => create_snapshot,
        "DescribeSnapshots" => describe_snapshots,
        "DeleteSnapshot" => delete_snapshot,
        "CopySnapshot" => copy_snapshot,
        "DescribeSnapshotAttribute" => describe_snapshot_attribute,
        "ModifySnapshotAttribute" => modify_snapshot_attribute,
    )
}

fn attachment_out(v: &Volume) -> Option<wire::VolumeAttachment> {
    v.attachment.as_ref().map(|a| wire::VolumeAttachment {
        attach_time: ts(a.attach_time_ms),
        delete_on_termination: Some(a.delete_on_termination),
        device: Some(a.device.clone()),
        instance_id: Some(a.instance_id.clone()),
        state: en(&a.state),
        volume_id: Some(v.id.clone()),
        ..Default::default()
    })
}

fn volume_out(v: &Volume) -> wire::Volume {
    wire::Volume {
        attachments: Some(attachment_out(v).into_iter().collect()),
        availability_zone: Some(v.availability_zone.clone()),
        create_time: ts(v.create_time_ms),
        encrypted: Some(v.encrypted),
        fast_restored: Some(false),
        iops: v.iops.and_then(|i| i32::try_from(i).ok()),
        multi_attach_enabled: Some(false),
        size: i32::try_from(v.size_gib).ok(),
        snapshot_id: Some(v.snapshot_id.clone().unwrap_or_default()),
        state: en(&v.state),
        tags: tags_out(&v.tags),
        throughput: v.throughput.and_then(|i| i32::try_from(i).ok()),
        volume_id: Some(v.id.clone()),
        volume_type: en(&v.volume_type),
        ..Default::default()
    }
}

fn snapshot_out(s: &Snapshot) -> wire::Snapshot {
    wire::Snapshot {
        description: Some(s.description.clone()),
        encrypted: Some(s.encrypted),
        owner_id: Some(s.owner_id.clone()),
        progress: Some(if s.state == "completed" { "100%" } else { "0%" }.into()),
        snapshot_id: Some(s.id.clone()),
        start_time: ts(s.start_time_ms),
        state: en(&s.state),
        storage_tier: en("standard"),
        tags: tags_out(&s.tags),
        volume_id: Some(s.volume_id.clone()),
        volume_size: i32::try_from(s.volume_size_gib).ok(),
        ..Default::default()
    }
}

fn modification_out(id: &str, m: &VolumeModification) -> wire::VolumeModification {
    let i = |v: Option<u32>| v.and_then(|n| i32::try_from(n).ok());
    wire::VolumeModification {
        end_time: m.end_time_ms.and_then(ts),
        modification_state: en(&m.state),
        original_iops: i(m.original_iops),
        original_multi_attach_enabled: Some(false),
        original_size: i32::try_from(m.original_size).ok(),
        original_throughput: i(m.original_throughput),
        original_volume_type: en(&m.original_type),
        progress: Some(i64::from(m.progress)),
        start_time: ts(m.start_time_ms),
        target_iops: i(m.target_iops),
        target_multi_attach_enabled: Some(false),
        target_size: i32::try_from(m.target_size).ok(),
        target_throughput: i(m.target_throughput),
        target_volume_type: en(&m.target_type),
        volume_id: Some(id.to_owned()),
        ..Default::default()
    }
}

fn required(v: Option<String>, name: &str) -> Result<String, QueryError> {
    v.ok_or_else(|| QueryError::missing_parameter(name))
}

fn create_volume(
    ctx: &Context<'_>,
    req: wire::CreateVolumeRequest,
) -> Result<wire::Volume, QueryError> {
    let v = ctx.ec2()?.create_volume(
        ctx.account(),
        CreateVolume {
            availability_zone: req.availability_zone,
            size: req.size,
            volume_type: req.volume_type.as_ref().map(en_str),
            iops: req.iops,
            throughput: req.throughput,
            snapshot_id: req.snapshot_id,
            encrypted: req.encrypted.unwrap_or(false),
            tags: tag_specs(req.tag_specifications, "volume"),
        },
    )?;
    Ok(volume_out(&v))
}

fn describe_volumes(
    ctx: &Context<'_>,
    req: wire::DescribeVolumesRequest,
) -> Result<wire::DescribeVolumesResult, QueryError> {
    let page = ctx.ec2()?.describe_volumes(
        ctx.account(),
        &req.volume_ids.unwrap_or_default(),
        &filters(req.filters),
        req.max_results,
        req.next_token.as_deref(),
    )?;
    Ok(wire::DescribeVolumesResult {
        next_token: page.next_token,
        volumes: Some(page.items.iter().map(volume_out).collect()),
    })
}

fn attach_volume(
    ctx: &Context<'_>,
    req: wire::AttachVolumeRequest,
) -> Result<wire::VolumeAttachment, QueryError> {
    let v = ctx.ec2()?.attach_volume(
        ctx.account(),
        &required(req.volume_id, "VolumeId")?,
        &required(req.instance_id, "InstanceId")?,
        &required(req.device, "Device")?,
    )?;
    attachment_out(&v).ok_or_else(QueryError::internal)
}

fn detach_volume(
    ctx: &Context<'_>,
    req: wire::DetachVolumeRequest,
) -> Result<wire::VolumeAttachment, QueryError> {
    let v = ctx.ec2()?.detach_volume(
        ctx.account(),
        &required(req.volume_id, "VolumeId")?,
        req.instance_id.as_deref(),
        req.device.as_deref(),
        req.force.unwrap_or(false),
    )?;
    attachment_out(&v).ok_or_else(QueryError::internal)
}

fn delete_volume(ctx: &Context<'_>, req: wire::DeleteVolumeRequest) -> Result<(), QueryError> {
    ctx.ec2()?
        .delete_volume(ctx.account(), &required(req.volume_id, "VolumeId")?)?;
    Ok(())
}

fn modify_volume(
    ctx: &Context<'_>,
    req: wire::ModifyVolumeRequest,
) -> Result<wire::ModifyVolumeResult, QueryError> {
    let id = required(req.volume_id, "VolumeId")?;
    let vt = req.volume_type.as_ref().map(en_str);
    let m = ctx.ec2()?.modify_volume(
        ctx.account(),
        &id,
        req.size,
        vt.as_deref(),
        req.iops,
        req.throughput,
    )?;
    Ok(wire::ModifyVolumeResult {
        volume_modification: Some(modification_out(&id, &m)),
    })
}

fn describe_volumes_modifications(
    ctx: &Context<'_>,
    req: wire::DescribeVolumesModificationsRequest,
) -> Result<wire::DescribeVolumesModificationsResult, QueryError> {
    let mods = ctx
        .ec2()?
        .describe_volume_modifications(ctx.account(), &req.volume_ids.unwrap_or_default())?;
    Ok(wire::DescribeVolumesModificationsResult {
        next_token: None,
        volumes_modifications: Some(mods.iter().map(|(id, m)| modification_out(id, m)).collect()),
    })
}

fn describe_volume_attribute(
    ctx: &Context<'_>,
    req: wire::DescribeVolumeAttributeRequest,
) -> Result<wire::DescribeVolumeAttributeResult, QueryError> {
    let v = ctx
        .ec2()?
        .volume(ctx.account(), &required(req.volume_id, "VolumeId")?)?;
    let attr = req.attribute.as_ref().map(en_str).unwrap_or_default();
    Ok(wire::DescribeVolumeAttributeResult {
        auto_enable_io: (attr == "autoEnableIO").then_some(wire::AttributeBooleanValue {
            value: Some(v.auto_enable_io),
        }),
        product_codes: (attr == "productCodes").then(Vec::new),
        volume_id: Some(v.id),
    })
}

fn modify_volume_attribute(
    ctx: &Context<'_>,
    req: wire::ModifyVolumeAttributeRequest,
) -> Result<(), QueryError> {
    let on = req
        .auto_enable_io
        .and_then(|a| a.value)
        .ok_or_else(|| QueryError::missing_parameter("AutoEnableIO"))?;
    ctx.ec2()?.set_volume_auto_enable_io(
        ctx.account(),
        &required(req.volume_id, "VolumeId")?,
        on,
    )?;
    Ok(())
}

fn create_snapshot(
    ctx: &Context<'_>,
    req: wire::CreateSnapshotRequest,
) -> Result<wire::Snapshot, QueryError> {
    let s = ctx.ec2()?.create_snapshot(
        ctx.account(),
        &required(req.volume_id, "VolumeId")?,
        req.description.as_deref(),
        tag_specs(req.tag_specifications, "snapshot"),
    )?;
    Ok(snapshot_out(&s))
}

fn describe_snapshots(
    ctx: &Context<'_>,
    req: wire::DescribeSnapshotsRequest,
) -> Result<wire::DescribeSnapshotsResult, QueryError> {
    let page = ctx.ec2()?.describe_snapshots(
        ctx.account(),
        &req.snapshot_ids.unwrap_or_default(),
        &req.owner_ids.unwrap_or_default(),
        &filters(req.filters),
        req.max_results,
        req.next_token.as_deref(),
    )?;
    Ok(wire::DescribeSnapshotsResult {
        next_token: page.next_token,
        snapshots: Some(page.items.iter().map(snapshot_out).collect()),
    })
}

fn delete_snapshot(ctx: &Context<'_>, req: wire::DeleteSnapshotRequest) -> Result<(), QueryError> {
    ctx.ec2()?
        .delete_snapshot(ctx.account(), &required(req.snapshot_id, "SnapshotId")?)?;
    Ok(())
}

fn copy_snapshot(
    ctx: &Context<'_>,
    req: wire::CopySnapshotRequest,
) -> Result<wire::CopySnapshotResult, QueryError> {
    let s = ctx.ec2()?.copy_snapshot(
        ctx.account(),
        &required(req.source_region, "SourceRegion")?,
        &required(req.source_snapshot_id, "SourceSnapshotId")?,
        req.description.as_deref(),
        tag_specs(req.tag_specifications, "snapshot"),
    )?;
    Ok(wire::CopySnapshotResult {
        snapshot_id: Some(s.id),
        tags: tags_out(&s.tags),
    })
}

fn describe_snapshot_attribute(
    ctx: &Context<'_>,
    req: wire::DescribeSnapshotAttributeRequest,
) -> Result<wire::DescribeSnapshotAttributeResult, QueryError> {
    let s = ctx
        .ec2()?
        .snapshot(ctx.account(), &required(req.snapshot_id, "SnapshotId")?)?;
    let mut perms: Vec<wire::CreateVolumePermission> = s
        .create_volume_user_ids
        .iter()
        .map(|u| wire::CreateVolumePermission {
            group: None,
            user_id: Some(u.clone()),
        })
        .collect();
    if s.create_volume_public {
        perms.push(wire::CreateVolumePermission {
            group: en("all"),
            user_id: None,
        });
    }
    let attr = req.attribute.as_ref().map(en_str).unwrap_or_default();
    Ok(wire::DescribeSnapshotAttributeResult {
        create_volume_permissions: (attr == "createVolumePermission").then_some(perms),
        product_codes: (attr == "productCodes").then(Vec::new),
        snapshot_id: Some(s.id),
    })
}

fn modify_snapshot_attribute(
    ctx: &Context<'_>,
    req: wire::ModifySnapshotAttributeRequest,
) -> Result<(), QueryError> {
    let id = required(req.snapshot_id, "SnapshotId")?;
    let (mut add_u, mut rem_u, mut add_all, mut rem_all) = (Vec::new(), Vec::new(), false, false);
    if let Some(m) = req.create_volume_permission {
        for p in m.add.unwrap_or_default() {
            if p.group.is_some() {
                add_all = true;
            }
            add_u.extend(p.user_id);
        }
        for p in m.remove.unwrap_or_default() {
            if p.group.is_some() {
                rem_all = true;
            }
            rem_u.extend(p.user_id);
        }
    }
    let op = req.operation_type.as_ref().map(en_str);
    let users = req.user_ids.unwrap_or_default();
    let all = req
        .group_names
        .unwrap_or_default()
        .iter()
        .any(|g| g == "all");
    match op.as_deref() {
        Some("add") => {
            add_u.extend(users);
            add_all |= all;
        }
        Some("remove") => {
            rem_u.extend(users);
            rem_all |= all;
        }
        _ => {}
    }
    ctx.ec2()?
        .modify_snapshot_permissions(ctx.account(), &id, &add_u, &rem_u, add_all, rem_all)?;
    Ok(())
}
