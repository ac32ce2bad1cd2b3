//! `ImportImage`, `DescribeImportImageTasks`, `CancelImportTask`.

use kumo_core::ec2::image_import::{ImageImport, ImportDisk, ImportImage, ImportSource};

use super::common::{enum_from, filters, ops, tag_specs, tags_out};
use crate::dispatch::{Context, Handler};
use crate::error::QueryError;
use crate::generated::ec2 as wire;

pub(super) fn handler(action: &str) -> Option<Handler> {
    ops!(action;
        "ImportImage" => import_image,
        "DescribeImportImageTasks" => describe_import_image_tasks,
        "CancelImportTask" => cancel_import_task,
    )
}

/// The wire view of a task (shared by `ImportImage` and `DescribeImportImageTasks`).
fn task_out(t: ImageImport) -> wire::ImportImageTask {
    #[allow(clippy::cast_precision_loss)]
    let size = t.disk_image_size.map(|s| s as f64);
    let (bucket, key) = match &t.source {
        ImportSource::S3 { bucket, key, .. } => (Some(bucket.clone()), Some(key.clone())),
        ImportSource::Volume { .. } => (None, None),
    };
    let done = t.status == "completed";
    let detail = wire::SnapshotDetail {
        description: t.description.clone(),
        device_name: done.then(|| "/dev/sda1".to_owned()),
        disk_image_size: size,
        format: t.format.as_ref().map(|f| f.to_ascii_uppercase()),
        progress: t.progress.map(|p| p.to_string()),
        status: Some(t.status.clone()),
        status_message: t.status_message.clone(),
        user_bucket: Some(wire::UserBucketDetails {
            s3_bucket: bucket,
            s3_key: key,
        }),
        ..Default::default()
    };
    wire::ImportImageTask {
        architecture: Some(t.architecture.clone()),
        boot_mode: t
            .boot_mode
            .as_deref()
            .and_then(|b| enum_from(&wire::BootModeValues::ALL, &wire::BootModeValues::VALUES, b)),
        description: t.description.clone(),
        encrypted: Some(false),
        hypervisor: None,
        image_id: done.then(|| t.image_id.clone()),
        import_task_id: Some(t.id.clone()),
        license_type: t.license_type.clone(),
        platform: Some(t.platform.clone()),
        progress: t.progress.map(|p| p.to_string()),
        snapshot_details: Some(vec![detail]),
        status: Some(t.status.clone()),
        status_message: t.status_message.clone(),
        tags: tags_out(&t.tags),
        usage_operation: Some("RunInstances".into()),
        ..Default::default()
    }
}

fn import_image(
    ctx: &Context<'_>,
    req: wire::ImportImageRequest,
) -> Result<wire::ImportImageResult, QueryError> {
    let disks = req
        .disk_containers
        .unwrap_or_default()
        .into_iter()
        .map(|d| ImportDisk {
            format: d.format,
            bucket: d.user_bucket.as_ref().and_then(|b| b.s3_bucket.clone()),
            key: d.user_bucket.and_then(|b| b.s3_key),
            url: d.url,
            snapshot_id: d.snapshot_id,
        })
        .collect();
    let task = ctx.ec2()?.import_image(
        ctx.principal,
        ImportImage {
            description: req.description,
            architecture: req.architecture,
            boot_mode: req.boot_mode.map(|b| b.as_str().to_owned()),
            platform: req.platform,
            license_type: req.license_type,
            disks,
            tags: tag_specs(req.tag_specifications, "import-image-task"),
        },
    )?;
    let t = task_out(task);
    Ok(wire::ImportImageResult {
        architecture: t.architecture,
        description: t.description,
        encrypted: t.encrypted,
        hypervisor: t.hypervisor,
        image_id: t.image_id,
        import_task_id: t.import_task_id,
        license_type: t.license_type,
        platform: t.platform,
        progress: t.progress,
        snapshot_details: t.snapshot_details,
        status: t.status,
        status_message: t.status_message,
        tags: t.tags,
        usage_operation: t.usage_operation,
        ..Default::default()
    })
}

fn describe_import_image_tasks(
    ctx: &Context<'_>,
    req: wire::DescribeImportImageTasksRequest,
) -> Result<wire::DescribeImportImageTasksResult, QueryError> {
    let page = ctx.ec2()?.describe_import_image_tasks(
        ctx.account(),
        &req.import_task_ids.unwrap_or_default(),
        &filters(req.filters),
        req.max_results,
        req.next_token.as_deref(),
    )?;
    Ok(wire::DescribeImportImageTasksResult {
        import_image_tasks: Some(page.items.into_iter().map(task_out).collect()),
        next_token: page.next_token,
    })
}

fn cancel_import_task(
    ctx: &Context<'_>,
    req: wire::CancelImportTaskRequest,
) -> Result<wire::CancelImportTaskResult, QueryError> {
    let id = req
        .import_task_id
        .ok_or_else(|| QueryError::missing_parameter("ImportTaskId"))?;
    let (previous, state) =
        ctx.ec2()?
            .cancel_import_task(ctx.account(), &id, req.cancel_reason.as_deref())?;
    Ok(wire::CancelImportTaskResult {
        import_task_id: Some(id),
        previous_state: Some(previous),
        state: Some(state),
    })
}
