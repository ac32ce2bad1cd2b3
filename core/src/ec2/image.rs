//! Images (AMIs): the catalog instances boot from.
//!
//! Two kinds of image exist. *Public cloud images* are registered by the server at start from
//! its configuration ([`Ec2::register_public_image`], idempotent by name); they belong to the
//! cloud's own owner id [`CLOUD_OWNER_ID`] (alias [`CLOUD_OWNER_ALIAS`], so configurations
//! written for AWS's `owners = ["amazon"]` find them) and their bytes are a named image of the
//! `BlockStore`. *User images* are registered with `RegisterImage` from an S3 object
//! (`ImageLocation` = `bucket/key`) that must exist and be readable by the caller; they start
//! `pending` and the image builder (`compute::image_builder`) copies the object into the
//! `BlockStore` (`available`) or gives up with a `StateReason` (`failed`). `ImportImage`,
//! `CreateImage` and `CopyImage` (in `image_import` and `image_copy`) end in the same kind of
//! record. An image's `BlockStore` bytes are deleted by the builder once no image record, no
//! pending build and no volume names them (so `DeregisterImage` defers while root disks are
//! clones of it).
//!
//! Visibility follows AWS: an account sees its own images, public images, and images whose
//! launch permissions name it; any other id is "not found". Only the owner may modify or
//! deregister an image.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::Fault;
use crate::Error;
use crate::ec2::Ec2;
use crate::ec2::image_import::{ImageImport, ImportPurpose, ImportSource};
use crate::ec2::instance::StateReason;
use crate::iam::Principal;
use crate::ids;
use crate::query::filter::{Filter, FilterSet, FilterTable};
use crate::query::paginate::{Page, page_size};
use crate::query::tags::{Tag, validate};

/// Owner id of the cloud's public images.
pub const CLOUD_OWNER_ID: &str = "000000000000";
/// Owner alias reported for the cloud's public images (`Owners=["amazon"]` finds them).
pub const CLOUD_OWNER_ALIAS: &str = "amazon";
/// Another alias accepted in `Owners` and the `owner-alias` filter.
pub const CLOUD_OWNER_ALIAS_KUMO: &str = "kumo";

/// Where an image's bytes are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ImageSource {
    /// A named image of the `BlockStore` (public cloud images).
    BlockStore {
        /// The `BlockStore` image name.
        name: String,
    },
    /// An S3 object (`RegisterImage`) not yet copied into the `BlockStore`; the image builder
    /// replaces it with [`ImageSource::BlockStore`] when the image becomes `available`.
    S3 {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
}

/// Direct kernel boot: the guest boots a kernel (and initramfs) kept on the host, with its
/// root disk cloned from the image as usual. The cloud's tiny image boots this way; images
/// without it boot from their disk (`Boot::Disk`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelBoot {
    /// Kernel image path on the host.
    pub kernel: String,
    /// Initramfs path on the host.
    #[serde(default)]
    pub initrd: Option<String>,
    /// Kernel command line.
    pub cmdline: String,
}

/// One block device mapping of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageBlockDevice {
    /// `/dev/xvda`.
    pub device_name: String,
    /// The snapshot volumes of this device are created from (`snap-…`).
    pub snapshot_id: String,
    /// Size in GiB.
    pub volume_size: i32,
    /// `gp3`.
    pub volume_type: String,
    /// Whether the volume goes with the instance.
    pub delete_on_termination: bool,
    /// Encrypted.
    pub encrypted: bool,
}

/// An image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// `ami-…`.
    pub id: String,
    /// Name, unique per owner.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Owner account id.
    pub owner_id: String,
    /// Launchable by every account.
    pub public: bool,
    /// Accounts with explicit launch permission.
    #[serde(default)]
    pub launch_permissions: Vec<String>,
    /// `x86_64` or `arm64`.
    pub architecture: String,
    /// `/dev/xvda`.
    pub root_device_name: String,
    /// `ebs`.
    pub root_device_type: String,
    /// `hvm`.
    pub virtualization_type: String,
    /// ENA support.
    pub ena_support: bool,
    /// `simple`.
    pub sriov_net_support: Option<String>,
    /// `available`.
    pub state: String,
    /// ISO 8601, milliseconds (`2026-01-01T00:00:00.000Z`).
    pub creation_date: String,
    /// When it becomes deprecated, ISO 8601.
    #[serde(default)]
    pub deprecation_time: Option<String>,
    /// Block devices, the root first.
    pub block_devices: Vec<ImageBlockDevice>,
    /// `uefi`, `legacy-bios` or `uefi-preferred`.
    #[serde(default)]
    pub boot_mode: Option<String>,
    /// `v2.0` when instances get IMDSv2 only.
    #[serde(default)]
    pub imds_support: Option<String>,
    /// `owner/name` for cloud images, `bucket/key` for registered ones.
    pub image_location: String,
    /// Where the bytes are.
    pub source: ImageSource,
    /// Direct kernel boot (cloud images only), else the guest boots from its disk.
    #[serde(default)]
    pub kernel_boot: Option<KernelBoot>,
    /// The bytes are an installer ISO that only boots from a CD-ROM (ISO 9660 with El Torito
    /// and no MBR, unlike hybrid ISOs, which boot as disks): instances get it in a CD-ROM
    /// drive, boot from it, and get a blank root volume of the root device's size to install
    /// onto — how CloudStack attaches ISOs, which AWS has no word for.
    #[serde(default)]
    pub installer_iso: bool,
    /// Why the image is `failed` (AWS's `StateReason`).
    #[serde(default)]
    pub state_reason: Option<StateReason>,
    /// The instance a `CreateImage` image was made from.
    #[serde(default)]
    pub source_instance_id: Option<String>,
    /// The image a `CopyImage` image was copied from.
    #[serde(default)]
    pub source_image_id: Option<String>,
    /// The region of that image.
    #[serde(default)]
    pub source_image_region: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl Image {
    /// The snapshot of the root device.
    #[must_use]
    pub fn root_snapshot_id(&self) -> Option<&str> {
        self.block_devices
            .iter()
            .find(|d| d.device_name == self.root_device_name)
            .map(|d| d.snapshot_id.as_str())
    }

    /// The owner alias AWS reports (`amazon` for cloud images, none for users').
    #[must_use]
    pub fn owner_alias(&self) -> Option<&'static str> {
        (self.owner_id == CLOUD_OWNER_ID).then_some(CLOUD_OWNER_ALIAS)
    }

    fn visible_to(&self, account: &str) -> bool {
        self.owner_id == account
            || self.public
            || self.launch_permissions.iter().any(|a| a == account)
    }
}

/// A public cloud image, as the server's configuration describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicImage {
    /// Name (`kumo-linux-2026.01-x86_64`).
    pub name: String,
    /// Description.
    pub description: String,
    /// The `BlockStore` image holding the bytes.
    pub block_store_image: String,
    /// Root volume size in GiB.
    pub size_gib: i32,
    /// `x86_64` or `arm64`.
    pub architecture: String,
    /// `uefi`, `legacy-bios` or `uefi-preferred`.
    pub boot_mode: String,
    /// Direct kernel boot (kernel and initramfs on the host), `None` to boot from the disk.
    pub kernel_boot: Option<KernelBoot>,
}

/// A user's `RegisterImage` request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterImage {
    /// `Name`.
    pub name: String,
    /// `Description`.
    pub description: Option<String>,
    /// `ImageLocation` (`bucket/key`).
    pub image_location: Option<String>,
    /// `Architecture` (default `x86_64`).
    pub architecture: Option<String>,
    /// `RootDeviceName` (default `/dev/xvda`).
    pub root_device_name: Option<String>,
    /// `VirtualizationType` (default `hvm`).
    pub virtualization_type: Option<String>,
    /// `BootMode`.
    pub boot_mode: Option<String>,
    /// `EnaSupport`.
    pub ena_support: Option<bool>,
    /// `ImdsSupport`.
    pub imds_support: Option<String>,
    /// `SriovNetSupport`.
    pub sriov_net_support: Option<String>,
    /// Snapshot ids named in `BlockDeviceMappings` (not yet supported: no snapshots exist).
    pub snapshot_ids: Vec<String>,
    /// Root volume size in GiB from `BlockDeviceMappings`, default 8.
    pub volume_size: Option<i32>,
    /// Tags for the image.
    pub tags: Vec<Tag>,
}

/// Where image bytes come from: S3 objects the caller may read.
///
/// Hook between the EC2 and S3 halves of the core; the server gives [`Ec2`] one over its
/// object service. `check` answers at request time (`RegisterImage`, `ImportImage`); the
/// image builder later `open`s the object as the same principal (access is checked again).
#[async_trait::async_trait]
pub trait ImageLocations: Send + Sync {
    /// `Ok(())` when `bucket/key` exists and `principal` may read it.
    fn check(&self, principal: &Principal, bucket: &str, key: &str) -> Result<(), Error>;
    /// The object's size and bytes, read as `principal`.
    async fn open(
        &self,
        principal: &Principal,
        bucket: &str,
        key: &str,
    ) -> Result<(u64, kumo_driver_api::ByteStream), Error>;
}

#[async_trait::async_trait]
impl ImageLocations for crate::s3::ObjectService {
    fn check(&self, principal: &Principal, bucket: &str, key: &str) -> Result<(), Error> {
        self.object_tagging(Some(principal), bucket, key, None)
            .map(|_| ())
    }

    async fn open(
        &self,
        principal: &Principal,
        bucket: &str,
        key: &str,
    ) -> Result<(u64, kumo_driver_api::ByteStream), Error> {
        let req = crate::s3::objects::GetObjectRequest {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            ..Default::default()
        };
        let read = self.get_object(Some(principal), &req, true).await?;
        let body = read
            .body
            .ok_or_else(|| Error::InvalidArgument("object read without a body".to_owned()))?;
        Ok((read.version.size, body))
    }
}

/// Image filter rows carry the caller's account (for `is-public` and aliases).
static IMAGE_FILTERS: FilterTable<Image> = FilterTable {
    resource: "image",
    fields: &[
        ("architecture", |i, out| out.push(i.architecture.clone())),
        ("block-device-mapping.delete-on-termination", |i, out| {
            out.extend(
                i.block_devices
                    .iter()
                    .map(|d| d.delete_on_termination.to_string()),
            );
        }),
        ("block-device-mapping.device-name", |i, out| {
            out.extend(i.block_devices.iter().map(|d| d.device_name.clone()));
        }),
        ("block-device-mapping.snapshot-id", |i, out| {
            out.extend(i.block_devices.iter().map(|d| d.snapshot_id.clone()));
        }),
        ("block-device-mapping.volume-size", |i, out| {
            out.extend(i.block_devices.iter().map(|d| d.volume_size.to_string()));
        }),
        ("block-device-mapping.volume-type", |i, out| {
            out.extend(i.block_devices.iter().map(|d| d.volume_type.clone()));
        }),
        ("block-device-mapping.encrypted", |i, out| {
            out.extend(i.block_devices.iter().map(|d| d.encrypted.to_string()));
        }),
        ("creation-date", |i, out| out.push(i.creation_date.clone())),
        ("deprecation-time", |i, out| {
            out.extend(i.deprecation_time.clone());
        }),
        ("description", |i, out| out.extend(i.description.clone())),
        ("ena-support", |i, out| out.push(i.ena_support.to_string())),
        ("free-tier-eligible", |_, out| out.push("false".into())),
        ("hypervisor", |_, out| out.push("xen".into())),
        ("image-allowed", |_, out| out.push("true".into())),
        ("image-id", |i, out| out.push(i.id.clone())),
        ("image-type", |_, out| out.push("machine".into())),
        ("is-public", |i, out| out.push(i.public.to_string())),
        ("kernel-id", |_, _| {}),
        ("manifest-location", |i, out| {
            out.push(i.image_location.clone())
        }),
        ("name", |i, out| out.push(i.name.clone())),
        ("owner-alias", |i, out| {
            if i.owner_id == CLOUD_OWNER_ID {
                out.push(CLOUD_OWNER_ALIAS.into());
                out.push(CLOUD_OWNER_ALIAS_KUMO.into());
            }
        }),
        ("owner-id", |i, out| out.push(i.owner_id.clone())),
        ("platform", |_, _| {}),
        ("platform-details", |_, out| out.push("Linux/UNIX".into())),
        ("product-code", |_, _| {}),
        ("product-code.type", |_, _| {}),
        ("ramdisk-id", |_, _| {}),
        ("root-device-name", |i, out| {
            out.push(i.root_device_name.clone())
        }),
        ("root-device-type", |i, out| {
            out.push(i.root_device_type.clone())
        }),
        ("source-image-id", |i, out| {
            out.extend(i.source_image_id.clone())
        }),
        ("source-image-region", |i, out| {
            out.extend(i.source_image_region.clone());
        }),
        ("source-instance-id", |i, out| {
            out.extend(i.source_instance_id.clone());
        }),
        ("state", |i, out| out.push(i.state.clone())),
        ("state-reason-code", |i, out| {
            out.extend(i.state_reason.as_ref().map(|r| r.code.clone()));
        }),
        ("state-reason-message", |i, out| {
            out.extend(i.state_reason.as_ref().map(|r| r.message.clone()));
        }),
        ("sriov-net-support", |i, out| {
            out.extend(i.sriov_net_support.clone())
        }),
        ("usage-operation", |_, out| out.push("RunInstances".into())),
        ("virtualization-type", |i, out| {
            out.push(i.virtualization_type.clone());
        }),
    ],
    tags: Some(|i| {
        i.tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect()
    }),
};

/// An image attribute (`DescribeImageAttribute`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageAttributeValue {
    /// `description`.
    Description(Option<String>),
    /// `launchPermission`: public flag and account ids.
    LaunchPermission {
        /// Public (`Group=all`).
        public: bool,
        /// Accounts.
        users: Vec<String>,
    },
    /// `blockDeviceMapping`.
    BlockDevices(Vec<ImageBlockDevice>),
    /// Any attribute with a plain optional value (`kernel`, `ramdisk`, `sriovNetSupport`,
    /// `bootMode`, `imdsSupport`, …); `productCodes` is always empty.
    Value(Option<String>),
}

/// A `ModifyImageAttribute` change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageChange {
    /// Set the description.
    Description(String),
    /// Add/remove launch permissions: `(public?, accounts)` to add and to remove.
    LaunchPermission {
        /// `Group=all` added.
        add_public: bool,
        /// Accounts added.
        add_users: Vec<String>,
        /// `Group=all` removed.
        remove_public: bool,
        /// Accounts removed.
        remove_users: Vec<String>,
    },
    /// Set `imdsSupport` (only `v2.0`, and not back).
    ImdsSupport(String),
}

pub(crate) fn now_iso() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    )
}

pub(crate) fn check_image_id(id: &str) -> Result<(), Fault> {
    if id
        .strip_prefix("ami-")
        .is_some_and(|h| !h.is_empty() && h.len() <= 17 && h.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        Ok(())
    } else {
        Err(Fault::new(
            "InvalidAMIID.Malformed",
            format!("Invalid id: \"{id}\" (expecting \"ami-...\")"),
        ))
    }
}

pub(crate) fn image_not_found(id: &str) -> Fault {
    Fault::new(
        "InvalidAMIID.NotFound",
        format!("The image id '[{id}]' does not exist"),
    )
}

/// `InvalidAMIName.Duplicate` when the account has an image of this name.
pub(crate) fn check_name_free(
    t: &crate::ec2::store::Txn<'_>,
    account: &str,
    name: &str,
) -> Result<(), Fault> {
    if t.list::<Image>(account).iter().any(|i| i.name == name) {
        return Err(Fault::new(
            "InvalidAMIName.Duplicate",
            format!("AMI name {name} is already in use by AMI"),
        ));
    }
    Ok(())
}

pub(crate) fn check_image_name(name: &str) -> Result<(), Fault> {
    let n = name.chars().count();
    let ok = (3..=128).contains(&n)
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "()[] ./-'@_".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Fault::invalid_value(format!(
            "AMI names must be between 3 and 128 characters long, and may contain letters, numbers, '(', ')', '.', '-', '/' and '_': {name}"
        )))
    }
}

impl Ec2 {
    /// Every image `account` may see (own, public, shared with it), any owner.
    fn visible_images(&self, account: &str) -> Result<Vec<Image>, Error> {
        self.store()
            .scan_all(|_, i: &Image| i.visible_to(account).then(|| i.clone()))
    }

    /// One image `account` may see.
    pub fn image(&self, account: &str, id: &str) -> Result<Image, Error> {
        check_image_id(id)?;
        self.visible_images(account)?
            .into_iter()
            .find(|i| i.id == id)
            .ok_or_else(|| image_not_found(id).into())
    }

    /// Registers (or, by name, updates) a public cloud image; the server calls it at start for
    /// each configured image. Returns its id, stable across restarts.
    pub fn register_public_image(&self, image: &PublicImage) -> Result<String, Error> {
        check_image_name(&image.name)?;
        self.store().transaction(|t| {
            let existing = t
                .list::<Image>(CLOUD_OWNER_ID)
                .into_iter()
                .find(|i| i.name == image.name);
            let mut record = existing.unwrap_or_else(|| Image {
                id: ids::resource_id("ami"),
                name: image.name.clone(),
                description: None,
                owner_id: CLOUD_OWNER_ID.into(),
                public: true,
                launch_permissions: Vec::new(),
                architecture: String::new(),
                root_device_name: "/dev/xvda".into(),
                root_device_type: "ebs".into(),
                virtualization_type: "hvm".into(),
                ena_support: true,
                sriov_net_support: Some("simple".into()),
                state: "available".into(),
                creation_date: now_iso(),
                deprecation_time: None,
                block_devices: vec![ImageBlockDevice {
                    device_name: "/dev/xvda".into(),
                    snapshot_id: ids::resource_id("snap"),
                    volume_size: 0,
                    volume_type: "gp3".into(),
                    delete_on_termination: true,
                    encrypted: false,
                }],
                boot_mode: None,
                imds_support: Some("v2.0".into()),
                image_location: String::new(),
                source: ImageSource::BlockStore {
                    name: String::new(),
                },
                kernel_boot: None,
                installer_iso: false,
                state_reason: None,
                source_instance_id: None,
                source_image_id: None,
                source_image_region: None,
                tags: Vec::new(),
            });
            record.description = Some(image.description.clone());
            record.architecture.clone_from(&image.architecture);
            record.boot_mode = Some(image.boot_mode.clone());
            record.image_location = format!("{CLOUD_OWNER_ALIAS}/{}", image.name);
            record.source = ImageSource::BlockStore {
                name: image.block_store_image.clone(),
            };
            record.kernel_boot.clone_from(&image.kernel_boot);
            if let Some(root) = record.block_devices.first_mut() {
                root.volume_size = image.size_gib;
            }
            let id = record.id.clone();
            t.put(CLOUD_OWNER_ID, record);
            Ok(id)
        })
    }

    /// The `BlockStore` image an image's bytes are in (public images), or the S3 object to
    /// import them from (registered images).
    pub fn image_source(&self, account: &str, id: &str) -> Result<ImageSource, Error> {
        Ok(self.image(account, id)?.source)
    }

    /// `RegisterImage` from an S3 object (`ImageLocation` = `bucket/key`).
    pub fn register_image(
        &self,
        principal: &Principal,
        req: RegisterImage,
    ) -> Result<Image, Error> {
        let account = principal.account_id.as_str();
        check_image_name(&req.name)?;
        validate(&req.tags).map_err(|e| Fault::invalid_value(e.to_string()))?;
        if let Some(s) = req.snapshot_ids.first() {
            return Err(Fault::new(
                "InvalidSnapshot.NotFound",
                format!("The snapshot '{s}' does not exist."),
            )
            .into());
        }
        let Some(location) = req.image_location.clone().filter(|l| !l.is_empty()) else {
            return Err(Fault::missing("ImageLocation").into());
        };
        let location = location.trim_start_matches("s3://").to_owned();
        let Some((bucket, key)) = location
            .split_once('/')
            .filter(|(b, k)| !b.is_empty() && !k.is_empty())
        else {
            return Err(Fault::invalid_value(format!(
                "Invalid value '{location}' for ImageLocation: expected bucket/key"
            ))
            .into());
        };
        let unknown = || {
            Fault::invalid_value(format!(
                "The image location '{location}' does not exist or is not readable"
            ))
        };
        match &self.image_locations {
            Some(locations) => locations
                .check(principal, bucket, key)
                .map_err(|_| unknown())?,
            None => return Err(unknown().into()),
        }
        let architecture = req.architecture.unwrap_or_else(|| "x86_64".into());
        if !["x86_64", "arm64", "i386"].contains(&architecture.as_str()) {
            return Err(
                Fault::invalid_value(format!("Invalid architecture '{architecture}'")).into(),
            );
        }
        let root = req.root_device_name.unwrap_or_else(|| "/dev/xvda".into());
        let image = Image {
            id: ids::resource_id("ami"),
            name: req.name.clone(),
            description: req.description.filter(|d| !d.is_empty()),
            owner_id: account.to_owned(),
            public: false,
            launch_permissions: Vec::new(),
            architecture,
            root_device_name: root.clone(),
            root_device_type: "ebs".into(),
            virtualization_type: req.virtualization_type.unwrap_or_else(|| "hvm".into()),
            ena_support: req.ena_support.unwrap_or(true),
            sriov_net_support: req.sriov_net_support,
            state: "pending".into(),
            creation_date: now_iso(),
            deprecation_time: None,
            block_devices: vec![ImageBlockDevice {
                device_name: root,
                snapshot_id: ids::resource_id("snap"),
                volume_size: req.volume_size.unwrap_or(8),
                volume_type: "gp3".into(),
                delete_on_termination: true,
                encrypted: false,
            }],
            boot_mode: req.boot_mode,
            imds_support: req.imds_support,
            image_location: location.clone(),
            source: ImageSource::S3 {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            },
            kernel_boot: None,
            installer_iso: false,
            state_reason: None,
            source_instance_id: None,
            source_image_id: None,
            source_image_region: None,
            tags: req.tags,
        };
        let job = ImageImport::job(
            ImportPurpose::RegisterImage,
            &image,
            ImportSource::s3(principal, bucket, key, None),
        );
        let image = self.store().transaction(|t| {
            check_name_free(t, account, &image.name)?;
            t.put(account, image.clone());
            t.put(account, job);
            Ok(image)
        })?;
        self.compute().wake_images();
        Ok(image)
    }

    /// `DescribeImages`.
    #[allow(clippy::too_many_arguments)]
    pub fn describe_images(
        &self,
        account: &str,
        ids: &[String],
        owners: &[String],
        executable_users: &[String],
        filters: &[Filter],
        include_deprecated: bool,
        max_results: Option<i32>,
        next_token: Option<&str>,
    ) -> Result<Page<Image>, Error> {
        let set = FilterSet::compile(&IMAGE_FILTERS, filters).map_err(Fault::from)?;
        if max_results.is_some() && !ids.is_empty() {
            return Err(Fault::invalid_combination(
                "The parameter imageIdSet cannot be used with the parameter maxResults",
            )
            .into());
        }
        for id in ids {
            check_image_id(id)?;
        }
        let all = self.visible_images(account)?;
        for id in ids {
            if !all.iter().any(|i| i.id == *id) {
                return Err(image_not_found(id).into());
            }
        }
        for o in owners {
            let ok = o == "self"
                || o == CLOUD_OWNER_ALIAS
                || o == CLOUD_OWNER_ALIAS_KUMO
                || (o.len() == 12 && o.bytes().all(|b| b.is_ascii_digit()));
            if !ok {
                return Err(Fault::invalid_value(format!("Invalid owner: {o}")).into());
            }
        }
        let owner_ok = |i: &Image| {
            owners.is_empty()
                || owners.iter().any(|o| match o.as_str() {
                    "self" => i.owner_id == account,
                    CLOUD_OWNER_ALIAS | CLOUD_OWNER_ALIAS_KUMO => i.owner_id == CLOUD_OWNER_ID,
                    id => i.owner_id == id,
                })
        };
        let exec_ok = |i: &Image| {
            executable_users.is_empty()
                || executable_users.iter().any(|u| match u.as_str() {
                    "all" => i.public,
                    "self" => i.launch_permissions.iter().any(|a| a == account),
                    id if id == account => i.launch_permissions.iter().any(|a| a == account),
                    id => i.owner_id == account && i.launch_permissions.iter().any(|a| a == id),
                })
        };
        let now = now_iso();
        let current = |i: &Image| {
            include_deprecated
                || !ids.is_empty()
                || i.owner_id == account
                || i.deprecation_time.as_ref().is_none_or(|d| *d > now)
        };
        let rows: Vec<Image> = all
            .into_iter()
            .filter(|i| ids.is_empty() || ids.contains(&i.id))
            .filter(|i| owner_ok(i) && exec_ok(i) && current(i))
            .filter(|i| set.matches(i))
            .collect();
        let scope = format!("DescribeImages{filters:?}{ids:?}{owners:?}{executable_users:?}");
        Ok(self
            .paginator()
            .page(
                rows,
                |i| i.id.as_str(),
                &scope,
                next_token,
                page_size(max_results),
            )
            .map_err(Fault::from)?)
    }

    /// `DescribeImageAttribute`.
    pub fn describe_image_attribute(
        &self,
        account: &str,
        id: &str,
        attribute: &str,
    ) -> Result<ImageAttributeValue, Error> {
        let image = self.image(account, id)?;
        Ok(match attribute {
            "description" => ImageAttributeValue::Description(image.description),
            "launchPermission" => {
                if image.owner_id != account {
                    return Err(not_owner(id).into());
                }
                ImageAttributeValue::LaunchPermission {
                    public: image.public,
                    users: image.launch_permissions,
                }
            }
            "blockDeviceMapping" => ImageAttributeValue::BlockDevices(image.block_devices),
            "kernel" | "ramdisk" | "productCodes" | "uefiData" | "tpmSupport"
            | "lastLaunchedTime" => ImageAttributeValue::Value(None),
            "sriovNetSupport" => ImageAttributeValue::Value(image.sriov_net_support),
            "bootMode" => ImageAttributeValue::Value(image.boot_mode),
            "imdsSupport" => ImageAttributeValue::Value(image.imds_support),
            "deregistrationProtection" => ImageAttributeValue::Value(Some("disabled".into())),
            other => {
                return Err(Fault::invalid_value(format!(
                    "Value ({other}) for parameter attribute is invalid."
                ))
                .into());
            }
        })
    }

    /// `ModifyImageAttribute` (owner only).
    pub fn modify_image_attribute(
        &self,
        account: &str,
        id: &str,
        change: ImageChange,
    ) -> Result<(), Error> {
        check_image_id(id)?;
        self.store().transaction(|t| {
            let Some(mut image) = t.get::<Image>(account, id) else {
                return Err(match self.image(account, id) {
                    Ok(_) => not_owner(id),
                    Err(_) => image_not_found(id),
                }
                .into());
            };
            match change {
                ImageChange::Description(d) => {
                    image.description = Some(d).filter(|d| !d.is_empty());
                }
                ImageChange::ImdsSupport(v) => {
                    if v != "v2.0" {
                        return Err(Fault::invalid_value(format!(
                            "Value ({v}) for parameter ImdsSupport is invalid: only v2.0"
                        ))
                        .into());
                    }
                    image.imds_support = Some(v);
                }
                ImageChange::LaunchPermission {
                    add_public,
                    add_users,
                    remove_public,
                    remove_users,
                } => {
                    for u in add_users.iter().chain(&remove_users) {
                        if u.len() != 12 || !u.bytes().all(|b| b.is_ascii_digit()) {
                            return Err(
                                Fault::invalid_value(format!("Invalid user id: {u}")).into()
                            );
                        }
                    }
                    if add_public {
                        image.public = true;
                    }
                    if remove_public {
                        image.public = false;
                    }
                    for u in add_users {
                        if !image.launch_permissions.contains(&u) {
                            image.launch_permissions.push(u);
                        }
                    }
                    image
                        .launch_permissions
                        .retain(|u| !remove_users.contains(u));
                }
            }
            t.put(account, image);
            Ok(())
        })
    }

    /// `DeregisterImage` (owner only).
    pub fn deregister_image(&self, account: &str, id: &str) -> Result<(), Error> {
        check_image_id(id)?;
        self.store().transaction(|t| {
            if t.get::<Image>(account, id).is_none() {
                return Err(match self.image(account, id) {
                    Ok(_) => not_owner(id),
                    Err(_) => image_not_found(id),
                }
                .into());
            }
            t.delete::<Image>(account, id);
            // A build still running for it is dropped; its bytes go with the next sweep.
            for job in t.list::<ImageImport>(account) {
                if job.image_id == id && job.purpose != ImportPurpose::ImportImage {
                    t.delete::<ImageImport>(account, &job.id);
                }
            }
            Ok(())
        })?;
        self.compute().wake_images();
        Ok(())
    }

    /// Gives the service a way to check `RegisterImage` locations (the server passes its S3
    /// object service).
    #[must_use]
    pub fn with_image_locations(mut self, locations: Arc<dyn ImageLocations>) -> Self {
        self.image_locations = Some(locations);
        self
    }
}

fn not_owner(id: &str) -> Fault {
    Fault::new("AuthFailure", format!("Not authorized for image:{id}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ec2::testing::ec2;

    fn code(e: Error) -> &'static str {
        match e {
            Error::Fault(f) => f.code,
            other => panic!("not a fault: {other}"),
        }
    }

    fn public(name: &str) -> PublicImage {
        PublicImage {
            name: name.into(),
            description: "Kumo Linux".into(),
            block_store_image: "kumo-linux".into(),
            size_gib: 8,
            architecture: "x86_64".into(),
            boot_mode: "uefi-preferred".into(),
            kernel_boot: None,
        }
    }

    struct Locations;
    #[async_trait::async_trait]
    impl ImageLocations for Locations {
        fn check(&self, _: &Principal, bucket: &str, _: &str) -> Result<(), Error> {
            if bucket == "images" {
                Ok(())
            } else {
                Err(Error::NoSuchBucket(bucket.into()))
            }
        }
        async fn open(
            &self,
            _: &Principal,
            bucket: &str,
            _: &str,
        ) -> Result<(u64, kumo_driver_api::ByteStream), Error> {
            Err(Error::NoSuchBucket(bucket.into()))
        }
    }

    fn principal(account: &str) -> Principal {
        Principal {
            account_id: account.into(),
            user_id: account.into(),
            arn: format!("arn:aws:iam::{account}:root"),
            access_key_id: "AKIAEXAMPLE".into(),
        }
    }

    #[test]
    fn catalog_registration_visibility_and_attributes() {
        let ec2 = ec2().with_image_locations(Arc::new(Locations));
        let id = ec2
            .register_public_image(&public("kumo-linux-x86_64"))
            .expect("register");
        assert_eq!(
            ec2.register_public_image(&public("kumo-linux-x86_64"))
                .expect("again"),
            id,
            "idempotent by name"
        );
        let f = |n: &str, v: &str| Filter {
            name: n.into(),
            values: vec![v.into()],
        };
        let page = ec2
            .describe_images(
                "111",
                &[],
                &["amazon".into()],
                &[],
                &[f("name", "kumo-linux-*")],
                false,
                None,
                None,
            )
            .expect("describe");
        assert_eq!(page.items.len(), 1);
        let img = &page.items[0];
        assert_eq!(img.owner_alias(), Some("amazon"));
        assert!(
            img.root_snapshot_id()
                .is_some_and(|s| s.starts_with("snap-"))
        );
        assert_eq!(
            ec2.image_source("111", &id).expect("source"),
            ImageSource::BlockStore {
                name: "kumo-linux".into()
            }
        );
        let e = ec2.deregister_image("111", &id);
        assert_eq!(code(e.expect_err("not owner")), "AuthFailure");

        let p = principal("111");
        let mine = ec2
            .register_image(
                &p,
                RegisterImage {
                    name: "my-image".into(),
                    image_location: Some("images/disk.raw".into()),
                    ..Default::default()
                },
            )
            .expect("register image");
        let e = ec2.register_image(
            &p,
            RegisterImage {
                name: "other".into(),
                image_location: Some("nope/disk.raw".into()),
                ..Default::default()
            },
        );
        assert_eq!(code(e.expect_err("location")), "InvalidParameterValue");
        let own = ec2
            .describe_images("111", &[], &["self".into()], &[], &[], false, None, None)
            .expect("self");
        assert_eq!(own.items.len(), 1);
        assert_eq!(own.items[0].id, mine.id);
        let e = ec2.describe_images(
            "222",
            std::slice::from_ref(&mine.id),
            &[],
            &[],
            &[],
            false,
            None,
            None,
        );
        assert_eq!(code(e.expect_err("private")), "InvalidAMIID.NotFound");
        let e = ec2.describe_images("222", &["ami-zz".into()], &[], &[], &[], false, None, None);
        assert_eq!(code(e.expect_err("malformed")), "InvalidAMIID.Malformed");

        ec2.modify_image_attribute(
            "111",
            &mine.id,
            ImageChange::LaunchPermission {
                add_public: false,
                add_users: vec!["222222222222".into()],
                remove_public: false,
                remove_users: Vec::new(),
            },
        )
        .expect("share");
        let shared = ec2
            .describe_images(
                "222222222222",
                &[],
                &[],
                &["self".into()],
                &[],
                false,
                None,
                None,
            )
            .expect("shared");
        assert_eq!(shared.items.len(), 1);
        assert_eq!(
            ec2.describe_image_attribute("111", &mine.id, "launchPermission")
                .expect("attr"),
            ImageAttributeValue::LaunchPermission {
                public: false,
                users: vec!["222222222222".into()]
            }
        );
        ec2.modify_image_attribute("111", &mine.id, ImageChange::Description("d".into()))
            .expect("description");
        assert_eq!(
            ec2.describe_image_attribute("111", &mine.id, "description")
                .expect("attr"),
            ImageAttributeValue::Description(Some("d".into()))
        );
        let public_filter = ec2
            .describe_images(
                "111",
                &[],
                &[],
                &[],
                &[f("is-public", "false")],
                false,
                None,
                None,
            )
            .expect("is-public");
        assert_eq!(public_filter.items.len(), 1);
        ec2.deregister_image("111", &mine.id).expect("deregister");
        let e = ec2.deregister_image("111", &mine.id);
        assert_eq!(code(e.expect_err("gone")), "InvalidAMIID.NotFound");
    }
}
