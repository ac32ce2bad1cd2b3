//! `CopyImage` and `CreateImage`: images made from other images and from instances.
//!
//! `CopyImage` (same region) shares the source's `BlockStore` bytes: images are immutable, so a
//! copy is a new record naming the same bytes, `available` at once; the builder's sweep keeps
//! those bytes while any record names them. `CreateImage` snapshots the instance's root volume
//! into a new `BlockStore` image through the image builder (`pending` → `available`). As on
//! EC2, a running instance is rebooted for a consistent image unless `NoReboot`: the request
//! records an [`ImageReboot`] on the instance in the same transaction as the image, and the
//! compute reconciler shuts the guest down, publishes the root disk's bytes and starts it again
//! (the instance stays `running`); with `NoReboot`, or when the instance is not running, the
//! builder copies the disk as it is (crash-consistent while a guest runs).

use super::Fault;
use crate::Error;
use crate::ec2::Ec2;
use crate::ec2::image::{
    Image, ImageSource, check_image_name, check_name_free, image_not_found, now_iso,
};
use crate::ec2::image_import::{ImageImport, ImportPurpose, ImportSource};
use crate::ec2::instance::{Desired, ImageReboot, Instance, InstanceState};
use crate::ec2::volume::Volume;
use crate::ids;
use crate::query::tags::{Tag, validate};

/// A `CopyImage` request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyImage {
    /// `SourceImageId`.
    pub source_image_id: String,
    /// `SourceRegion`.
    pub source_region: String,
    /// `Name`.
    pub name: String,
    /// `Description`.
    pub description: Option<String>,
    /// `CopyImageTags`.
    pub copy_tags: bool,
    /// `TagSpecifications` for the image.
    pub tags: Vec<Tag>,
    /// `Encrypted` (refused: Kumo has no KMS).
    pub encrypted: bool,
}

/// A `CreateImage` request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateImage {
    /// `InstanceId`.
    pub instance_id: String,
    /// `Name`.
    pub name: String,
    /// `Description`.
    pub description: Option<String>,
    /// `TagSpecifications` for the image.
    pub tags: Vec<Tag>,
    /// `NoReboot`: image a running guest's disk as it is, without the reboot.
    pub no_reboot: bool,
}

impl Ec2 {
    /// `CopyImage` within this region.
    pub fn copy_image(&self, account: &str, req: CopyImage) -> Result<Image, Error> {
        check_image_name(&req.name)?;
        validate(&req.tags).map_err(|e| Fault::invalid_value(e.to_string()))?;
        if req.source_region != self.placement().region {
            return Err(Fault::new(
                "InvalidRequest",
                format!(
                    "Kumo copies images within its region {} only (SourceRegion {})",
                    self.placement().region,
                    req.source_region
                ),
            )
            .into());
        }
        if req.encrypted {
            return Err(Fault::new(
                "InvalidParameterCombination",
                "Encrypted image copies are not supported (no KMS in this cloud)",
            )
            .into());
        }
        let source = self.image(account, &req.source_image_id)?;
        if source.state != "available" || !matches!(source.source, ImageSource::BlockStore { .. }) {
            return Err(Fault::new(
                "IncorrectState",
                format!(
                    "Image {} is not available (state {})",
                    source.id, source.state
                ),
            )
            .into());
        }
        let mut tags = if req.copy_tags && source.owner_id == account {
            source.tags.clone()
        } else {
            Vec::new()
        };
        for t in req.tags {
            tags.retain(|x| x.key != t.key);
            tags.push(t);
        }
        validate(&tags).map_err(|e| Fault::invalid_value(e.to_string()))?;
        let image = Image {
            id: ids::resource_id("ami"),
            name: req.name,
            description: req.description.filter(|d| !d.is_empty()),
            owner_id: account.to_owned(),
            public: false,
            launch_permissions: Vec::new(),
            creation_date: now_iso(),
            deprecation_time: None,
            state: "available".into(),
            state_reason: None,
            source_instance_id: None,
            source_image_id: Some(source.id.clone()),
            source_image_region: Some(self.placement().region.clone()),
            image_location: format!("{account}/{}", source.name),
            block_devices: source
                .block_devices
                .iter()
                .map(|d| {
                    let mut d = d.clone();
                    d.snapshot_id = ids::resource_id("snap");
                    d
                })
                .collect(),
            tags,
            ..source
        };
        self.store().transaction(|t| {
            check_name_free(t, account, &image.name)?;
            t.put(account, image.clone());
            Ok(())
        })?;
        Ok(image)
    }

    /// `CreateImage`: a `pending` image of the instance's root volume; the image builder
    /// snapshots it.
    pub fn create_image(&self, account: &str, req: CreateImage) -> Result<Image, Error> {
        check_image_name(&req.name)?;
        validate(&req.tags).map_err(|e| Fault::invalid_value(e.to_string()))?;
        let instance = self.instance(account, &req.instance_id)?;
        if matches!(
            instance.state,
            InstanceState::Terminated | InstanceState::ShuttingDown
        ) {
            return Err(Fault::new(
                "IncorrectInstanceState",
                format!(
                    "The instance '{}' is not in a state from which it can be imaged ({}).",
                    instance.id,
                    instance.state.name()
                ),
            )
            .into());
        }
        let root = root_volume(&instance).ok_or_else(|| {
            Fault::new(
                "IncorrectInstanceState",
                format!("The instance '{}' has no root volume.", instance.id),
            )
        })?;
        let volume = self.store().get::<Volume>(account, &root)?.ok_or_else(|| {
            Fault::new(
                "InvalidVolume.NotFound",
                format!("The volume '{root}' does not exist."),
            )
        })?;
        let parent = self.image(account, &instance.image_id).ok();
        let id = ids::resource_id("ami");
        let image = Image {
            id: id.clone(),
            name: req.name,
            description: req.description.filter(|d| !d.is_empty()),
            owner_id: account.to_owned(),
            public: false,
            launch_permissions: Vec::new(),
            architecture: parent
                .as_ref()
                .map_or_else(|| "x86_64".to_owned(), |p| p.architecture.clone()),
            root_device_name: instance.root_device_name.clone(),
            root_device_type: "ebs".into(),
            virtualization_type: "hvm".into(),
            ena_support: true,
            sriov_net_support: Some("simple".into()),
            state: "pending".into(),
            creation_date: now_iso(),
            deprecation_time: None,
            block_devices: vec![crate::ec2::image::ImageBlockDevice {
                device_name: instance.root_device_name.clone(),
                snapshot_id: ids::resource_id("snap"),
                volume_size: i32::try_from(volume.size_gib).unwrap_or(i32::MAX),
                volume_type: volume.volume_type.clone(),
                delete_on_termination: true,
                encrypted: volume.encrypted,
            }],
            boot_mode: parent.as_ref().and_then(|p| p.boot_mode.clone()),
            imds_support: parent.as_ref().and_then(|p| p.imds_support.clone()),
            image_location: format!("{account}/{}", instance.id),
            // Its bytes will be the block image of its own id.
            source: ImageSource::BlockStore { name: id },
            // A guest booted by direct kernel boot is imaged with the same kernel.
            kernel_boot: instance.kernel_boot.clone(),
            // Its bytes are the instance's root disk, whatever the instance booted from.
            installer_iso: false,
            state_reason: None,
            source_instance_id: Some(instance.id.clone()),
            source_image_id: None,
            source_image_region: None,
            tags: req.tags,
        };
        let job = ImageImport::job(
            ImportPurpose::CreateImage,
            &image,
            ImportSource::Volume {
                volume_id: root,
                instance_id: instance.id.clone(),
            },
        );
        let (no_reboot, iid, vid) = (req.no_reboot, instance.id.clone(), volume.id.clone());
        let rebooting = self.store().transaction(|t| {
            check_name_free(t, account, &image.name)?;
            let mut rebooting = false;
            if !no_reboot
                && let Some(mut i) = t.get::<Instance>(account, &iid)
                && i.state == InstanceState::Running
                && i.desired == Desired::Running
                && i.image_reboot.is_none()
            {
                // One reboot images one request; a second concurrent CreateImage copies the
                // disk as it is.
                i.image_reboot = Some(ImageReboot {
                    image_id: image.id.clone(),
                    volume_id: vid.clone(),
                    shutdown_sent_ms: None,
                });
                t.put(account, i);
                rebooting = true;
            }
            t.put(account, image.clone());
            t.put(account, job);
            Ok(rebooting)
        })?;
        if rebooting {
            self.compute().wake();
        }
        self.compute().wake_images();
        Ok(image)
    }

    /// An image `account` owns (for the builder and tests).
    pub fn own_image(&self, account: &str, id: &str) -> Result<Image, Error> {
        self.store()
            .get::<Image>(account, id)?
            .ok_or_else(|| image_not_found(id).into())
    }
}

/// The root volume of an instance.
fn root_volume(i: &Instance) -> Option<String> {
    i.block_devices
        .iter()
        .find(|b| b.device_name == i.root_device_name)
        .or_else(|| i.block_devices.first())
        .map(|b| b.volume_id.clone())
}
