//! `DescribeImages`, `DescribeImageAttribute`, `ModifyImageAttribute`, `RegisterImage`,
//! `DeregisterImage`, `CopyImage`, `CreateImage`.

use kumo_core::ec2::image::{
    Image, ImageAttributeValue, ImageBlockDevice, ImageChange, RegisterImage,
};
use kumo_core::ec2::image_copy::{CopyImage, CreateImage};

use super::common::{enum_from, filters, ops, tag_specs, tags_out};
use crate::dispatch::{Context, Handler};
use crate::error::QueryError;
use crate::generated::ec2 as wire;

pub(super) fn handler(action: &str) -> Option<Handler> {
    ops!(action;
        "DescribeImages" => describe_images,
        "DescribeImageAttribute" => describe_image_attribute,
        "ModifyImageAttribute" => modify_image_attribute,
        "RegisterImage" => register_image,
        "DeregisterImage" => deregister_image,
        "CopyImage" => copy_image,
        "CreateImage" => create_image,
    )
}

fn device_out(d: ImageBlockDevice) -> wire::BlockDeviceMapping {
    wire::BlockDeviceMapping {
        device_name: Some(d.device_name),
        ebs: Some(wire::EbsBlockDevice {
            delete_on_termination: Some(d.delete_on_termination),
            encrypted: Some(d.encrypted),
            snapshot_id: Some(d.snapshot_id),
            volume_size: Some(d.volume_size),
            volume_type: enum_from(
                &wire::VolumeType::ALL,
                &wire::VolumeType::VALUES,
                &d.volume_type,
            ),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn image_out(i: Image) -> wire::Image {
    wire::Image {
        architecture: enum_from(
            &wire::ArchitectureValues::ALL,
            &wire::ArchitectureValues::VALUES,
            &i.architecture,
        ),
        boot_mode: i
            .boot_mode
            .as_deref()
            .and_then(|b| enum_from(&wire::BootModeValues::ALL, &wire::BootModeValues::VALUES, b)),
        creation_date: Some(i.creation_date.clone()),
        deprecation_time: i.deprecation_time.clone(),
        description: i.description.clone(),
        ena_support: Some(i.ena_support),
        hypervisor: enum_from(
            &wire::HypervisorType::ALL,
            &wire::HypervisorType::VALUES,
            "xen",
        ),
        image_id: Some(i.id.clone()),
        image_location: Some(i.image_location.clone()),
        image_owner_alias: i.owner_alias().map(str::to_owned),
        image_type: enum_from(
            &wire::ImageTypeValues::ALL,
            &wire::ImageTypeValues::VALUES,
            "machine",
        ),
        imds_support: i.imds_support.as_deref().and_then(|v| {
            enum_from(
                &wire::ImdsSupportValues::ALL,
                &wire::ImdsSupportValues::VALUES,
                v,
            )
        }),
        name: Some(i.name.clone()),
        owner_id: Some(i.owner_id.clone()),
        platform_details: Some("Linux/UNIX".into()),
        usage_operation: Some("RunInstances".into()),
        product_codes: Some(Vec::new()),
        public: Some(i.public),
        root_device_name: Some(i.root_device_name.clone()),
        root_device_type: enum_from(
            &wire::DeviceType::ALL,
            &wire::DeviceType::VALUES,
            &i.root_device_type,
        ),
        sriov_net_support: i.sriov_net_support.clone(),
        state: enum_from(&wire::ImageState::ALL, &wire::ImageState::VALUES, &i.state),
        state_reason: i.state_reason.as_ref().map(|r| wire::StateReason {
            code: Some(r.code.clone()),
            message: Some(r.message.clone()),
        }),
        source_instance_id: i.source_instance_id.clone(),
        source_image_id: i.source_image_id.clone(),
        source_image_region: i.source_image_region.clone(),
        tags: tags_out(&i.tags),
        virtualization_type: enum_from(
            &wire::VirtualizationType::ALL,
            &wire::VirtualizationType::VALUES,
            &i.virtualization_type,
        ),
        block_device_mappings: Some(i.block_devices.into_iter().map(device_out).collect()),
        ..Default::default()
    }
}

fn describe_images(
    ctx: &Context<'_>,
    req: wire::DescribeImagesRequest,
) -> Result<wire::DescribeImagesResult, QueryError> {
    let page = ctx.ec2()?.describe_images(
        ctx.account(),
        &req.image_ids.unwrap_or_default(),
        &req.owners.unwrap_or_default(),
        &req.executable_users.unwrap_or_default(),
        &filters(req.filters),
        req.include_deprecated.unwrap_or(false),
        req.max_results,
        req.next_token.as_deref(),
    )?;
    Ok(wire::DescribeImagesResult {
        images: Some(page.items.into_iter().map(image_out).collect()),
        next_token: page.next_token,
    })
}

fn value(v: Option<String>) -> Option<wire::AttributeValue> {
    Some(wire::AttributeValue { value: v })
}

fn describe_image_attribute(
    ctx: &Context<'_>,
    req: wire::DescribeImageAttributeRequest,
) -> Result<wire::ImageAttribute, QueryError> {
    let attribute = req
        .attribute
        .ok_or_else(|| QueryError::missing_parameter("Attribute"))?;
    let id = req.image_id.unwrap_or_default();
    let got = ctx
        .ec2()?
        .describe_image_attribute(ctx.account(), &id, attribute.as_str())?;
    let mut out = wire::ImageAttribute {
        image_id: Some(id),
        ..Default::default()
    };
    use wire::ImageAttributeName as A;
    match (attribute, got) {
        (_, ImageAttributeValue::Description(d)) => out.description = value(d),
        (_, ImageAttributeValue::LaunchPermission { public, users }) => {
            let mut perms: Vec<wire::LaunchPermission> = users
                .into_iter()
                .map(|u| wire::LaunchPermission {
                    user_id: Some(u),
                    ..Default::default()
                })
                .collect();
            if public {
                perms.push(wire::LaunchPermission {
                    group: Some(wire::PermissionGroup::All),
                    ..Default::default()
                });
            }
            out.launch_permissions = Some(perms);
        }
        (_, ImageAttributeValue::BlockDevices(d)) => {
            out.block_device_mappings = Some(d.into_iter().map(device_out).collect());
        }
        (A::ProductCodes, ImageAttributeValue::Value(_)) => out.product_codes = Some(Vec::new()),
        (A::Kernel, ImageAttributeValue::Value(v)) => out.kernel_id = value(v),
        (A::Ramdisk, ImageAttributeValue::Value(v)) => out.ramdisk_id = value(v),
        (A::SriovNetSupport, ImageAttributeValue::Value(v)) => out.sriov_net_support = value(v),
        (A::BootMode, ImageAttributeValue::Value(v)) => out.boot_mode = value(v),
        (A::ImdsSupport, ImageAttributeValue::Value(v)) => out.imds_support = value(v),
        (A::TpmSupport, ImageAttributeValue::Value(v)) => out.tpm_support = value(v),
        (A::UefiData, ImageAttributeValue::Value(v)) => out.uefi_data = value(v),
        (A::LastLaunchedTime, ImageAttributeValue::Value(v)) => out.last_launched_time = value(v),
        (A::DeregistrationProtection, ImageAttributeValue::Value(v)) => {
            out.deregistration_protection = value(v);
        }
        (_, ImageAttributeValue::Value(_)) => {}
    }
    Ok(out)
}

fn launch_permission_change(
    perms: Option<wire::LaunchPermissionModifications>,
    operation: Option<wire::OperationType>,
    user_ids: Vec<String>,
    user_groups: &[String],
) -> Result<ImageChange, QueryError> {
    let split = |list: Vec<wire::LaunchPermission>| {
        let public = list
            .iter()
            .any(|p| matches!(p.group, Some(wire::PermissionGroup::All)));
        let users: Vec<String> = list.into_iter().filter_map(|p| p.user_id).collect();
        (public, users)
    };
    let mods = perms.unwrap_or_default();
    let (mut add_public, mut add_users) = split(mods.add.unwrap_or_default());
    let (mut remove_public, mut remove_users) = split(mods.remove.unwrap_or_default());
    let all = user_groups.iter().any(|g| g == "all");
    match operation {
        Some(wire::OperationType::Add) => {
            add_public |= all;
            add_users.extend(user_ids);
        }
        Some(wire::OperationType::Remove) => {
            remove_public |= all;
            remove_users.extend(user_ids);
        }
        None if !user_ids.is_empty() || !user_groups.is_empty() => {
            return Err(QueryError::missing_parameter("OperationType"));
        }
        None => {}
    }
    Ok(ImageChange::LaunchPermission {
        add_public,
        add_users,
        remove_public,
        remove_users,
    })
}

fn modify_image_attribute(
    ctx: &Context<'_>,
    req: wire::ModifyImageAttributeRequest,
) -> Result<crate::ec2::common::NoOutput, QueryError> {
    let id = req.image_id.unwrap_or_default();
    let change = if let Some(d) = req.description {
        ImageChange::Description(d.value.unwrap_or_default())
    } else if let Some(v) = req.imds_support {
        ImageChange::ImdsSupport(v.value.unwrap_or_default())
    } else {
        match req.attribute.as_deref() {
            Some("description") => ImageChange::Description(req.value.unwrap_or_default()),
            Some("imdsSupport") => ImageChange::ImdsSupport(req.value.unwrap_or_default()),
            Some("launchPermission") | None
                if req.launch_permission.is_some()
                    || req.user_ids.is_some()
                    || req.user_groups.is_some() =>
            {
                launch_permission_change(
                    req.launch_permission,
                    req.operation_type,
                    req.user_ids.unwrap_or_default(),
                    &req.user_groups.unwrap_or_default(),
                )?
            }
            Some(other) => {
                return Err(QueryError::client(
                    "InvalidParameterValue",
                    format!("Value ({other}) for parameter attribute is invalid."),
                ));
            }
            None => return Err(QueryError::missing_parameter("Attribute")),
        }
    };
    ctx.ec2()?
        .modify_image_attribute(ctx.account(), &id, change)?;
    Ok(crate::ec2::common::NoOutput)
}

fn register_image(
    ctx: &Context<'_>,
    req: wire::RegisterImageRequest,
) -> Result<wire::RegisterImageResult, QueryError> {
    let devices = req.block_device_mappings.unwrap_or_default();
    let snapshot_ids = devices
        .iter()
        .filter_map(|d| d.ebs.as_ref().and_then(|e| e.snapshot_id.clone()))
        .collect();
    let volume_size = devices
        .iter()
        .find(|d| d.device_name == req.root_device_name)
        .and_then(|d| d.ebs.as_ref().and_then(|e| e.volume_size));
    let image = ctx.ec2()?.register_image(
        ctx.principal,
        RegisterImage {
            name: req.name.unwrap_or_default(),
            description: req.description,
            image_location: req.image_location,
            architecture: req.architecture.map(|a| a.as_str().to_owned()),
            root_device_name: req.root_device_name,
            virtualization_type: req.virtualization_type,
            boot_mode: req.boot_mode.map(|b| b.as_str().to_owned()),
            ena_support: req.ena_support,
            imds_support: req.imds_support.map(|v| v.as_str().to_owned()),
            sriov_net_support: req.sriov_net_support,
            snapshot_ids,
            volume_size,
            tags: tag_specs(req.tag_specifications, "image"),
        },
    )?;
    Ok(wire::RegisterImageResult {
        image_id: Some(image.id),
    })
}

fn deregister_image(
    ctx: &Context<'_>,
    req: wire::DeregisterImageRequest,
) -> Result<wire::DeregisterImageResult, QueryError> {
    ctx.ec2()?
        .deregister_image(ctx.account(), req.image_id.as_deref().unwrap_or_default())?;
    Ok(wire::DeregisterImageResult {
        r#return: Some(true),
        delete_snapshot_results: None,
    })
}

fn copy_image(
    ctx: &Context<'_>,
    req: wire::CopyImageRequest,
) -> Result<wire::CopyImageResult, QueryError> {
    let image = ctx.ec2()?.copy_image(
        ctx.account(),
        CopyImage {
            source_image_id: req
                .source_image_id
                .ok_or_else(|| QueryError::missing_parameter("SourceImageId"))?,
            source_region: req
                .source_region
                .ok_or_else(|| QueryError::missing_parameter("SourceRegion"))?,
            name: req
                .name
                .ok_or_else(|| QueryError::missing_parameter("Name"))?,
            description: req.description,
            copy_tags: req.copy_image_tags.unwrap_or(false),
            tags: tag_specs(req.tag_specifications, "image"),
            encrypted: req.encrypted.unwrap_or(false),
        },
    )?;
    Ok(wire::CopyImageResult {
        image_id: Some(image.id),
    })
}

fn create_image(
    ctx: &Context<'_>,
    req: wire::CreateImageRequest,
) -> Result<wire::CreateImageResult, QueryError> {
    let image = ctx.ec2()?.create_image(
        ctx.account(),
        CreateImage {
            instance_id: req
                .instance_id
                .ok_or_else(|| QueryError::missing_parameter("InstanceId"))?,
            name: req
                .name
                .ok_or_else(|| QueryError::missing_parameter("Name"))?,
            description: req.description,
            tags: tag_specs(req.tag_specifications, "image"),
            no_reboot: req.no_reboot.unwrap_or(false),
        },
    )?;
    Ok(wire::CreateImageResult {
        image_id: Some(image.id),
    })
}
