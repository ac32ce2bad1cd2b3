//! Image builds: `ImportImage`, `DescribeImportImageTasks`, `CancelImportTask`, and the
//! durable job record every image build runs from.
//!
//! Why one record for every build: `RegisterImage` (from S3), `ImportImage` and `CreateImage`
//! all copy bytes into the `BlockStore` in the background and may be interrupted by a crash.
//! An [`ImageImport`] row says what to copy, as whom, and into which image; the image builder
//! (`compute::image_builder`) runs active rows until they finish, so a restart simply resumes
//! them (from the start: a half-copied image is never published). Only `ImportImage` rows are
//! visible to the API (`import-ami-…` tasks, kept seven days after they end); the others are
//! internal and deleted when their image becomes `available` or `failed`.

use serde::{Deserialize, Serialize};

use super::Fault;
use crate::Error;
use crate::ec2::Ec2;
use crate::ec2::image::Image;
use crate::iam::Principal;
use crate::ids;
use crate::query::filter::{Filter, FilterSet, FilterTable};
use crate::query::paginate::{Page, page_size};
use crate::query::tags::{Tag, validate};

/// How long finished `ImportImage` tasks stay visible (AWS: seven days).
pub const FINISHED_VISIBLE_MS: i64 = 7 * 24 * 3600 * 1000;

/// Disk formats the builder accepts (the `BlockStore` vets the bytes again).
pub const FORMATS: [&str; 2] = ["raw", "qcow2"];

/// The caller a build reads S3 as (no secret: the key id only names who asked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPrincipal {
    /// Account.
    pub account_id: String,
    /// User id.
    pub user_id: String,
    /// ARN.
    pub arn: String,
    /// Access key id that signed the request.
    pub access_key_id: String,
}

impl From<&Principal> for StoredPrincipal {
    fn from(p: &Principal) -> Self {
        Self {
            account_id: p.account_id.clone(),
            user_id: p.user_id.clone(),
            arn: p.arn.clone(),
            access_key_id: p.access_key_id.clone(),
        }
    }
}

impl StoredPrincipal {
    /// Back to a [`Principal`].
    #[must_use]
    pub fn principal(&self) -> Principal {
        Principal {
            account_id: self.account_id.clone(),
            user_id: self.user_id.clone(),
            arn: self.arn.clone(),
            access_key_id: self.access_key_id.clone(),
        }
    }
}

/// What a build copies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ImportSource {
    /// An S3 object, read as `principal`.
    S3 {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// The format the caller declared (`raw`, `qcow2`), if any.
        format: Option<String>,
        /// Who asked.
        principal: StoredPrincipal,
    },
    /// An instance's root volume (`CreateImage`).
    Volume {
        /// The volume.
        volume_id: String,
        /// Its instance.
        instance_id: String,
    },
}

impl ImportSource {
    /// An S3 source.
    #[must_use]
    pub fn s3(principal: &Principal, bucket: &str, key: &str, format: Option<String>) -> Self {
        Self::S3 {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            format,
            principal: principal.into(),
        }
    }
}

/// Which API call a build serves (what happens when it ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportPurpose {
    /// The image record exists (`pending`); it becomes `available` or `failed`.
    RegisterImage,
    /// A visible task; the image record is created when it completes.
    ImportImage,
    /// As `RegisterImage`, from an instance's root disk.
    CreateImage,
}

/// One image build (an `ImportImage` task when `purpose` is `ImportImage`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageImport {
    /// `import-ami-…`.
    pub id: String,
    /// What it is for.
    pub purpose: ImportPurpose,
    /// What it copies.
    pub source: ImportSource,
    /// The image it makes (and the `BlockStore` name of its bytes). For `ImportImage` the
    /// record appears only on completion.
    pub image_id: String,
    /// `active`, `completed`, `deleting` (cancel requested), `deleted` (cancelled or failed).
    pub status: String,
    /// `pending`, `downloading`, `converting`, `preparing ami`; why it ended when `deleted`.
    #[serde(default)]
    pub status_message: Option<String>,
    /// Percent done while active.
    #[serde(default)]
    pub progress: Option<u8>,
    /// Description (for the task and the image).
    #[serde(default)]
    pub description: Option<String>,
    /// `x86_64` or `arm64`.
    pub architecture: String,
    /// Boot mode for the image.
    #[serde(default)]
    pub boot_mode: Option<String>,
    /// `Linux`.
    pub platform: String,
    /// `BYOL`…, echoed.
    #[serde(default)]
    pub license_type: Option<String>,
    /// The detected format, once known.
    #[serde(default)]
    pub format: Option<String>,
    /// Bytes of the source, once known.
    #[serde(default)]
    pub disk_image_size: Option<u64>,
    /// The downloaded bytes are an installer ISO (see `Image::installer_iso`).
    #[serde(default)]
    pub installer_iso: bool,
    /// Milliseconds since the epoch.
    pub created_ms: i64,
    /// When it ended.
    #[serde(default)]
    pub finished_ms: Option<i64>,
    /// Failed attempts (transient errors retry, bounded).
    #[serde(default)]
    pub attempts: u32,
    /// Tags (of the task; `ImportImage` copies them to the image).
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl ImageImport {
    /// The build of an image record that exists already (`RegisterImage`, `CreateImage`).
    #[must_use]
    pub fn job(purpose: ImportPurpose, image: &Image, source: ImportSource) -> Self {
        Self {
            id: ids::resource_id("import-ami"),
            purpose,
            source,
            image_id: image.id.clone(),
            status: "active".into(),
            status_message: Some("pending".into()),
            progress: Some(0),
            description: image.description.clone(),
            architecture: image.architecture.clone(),
            boot_mode: image.boot_mode.clone(),
            platform: "Linux".into(),
            license_type: None,
            format: None,
            disk_image_size: None,
            installer_iso: false,
            created_ms: crate::ec2::volume::now_ms(),
            finished_ms: None,
            attempts: 0,
            tags: Vec::new(),
        }
    }

    /// Whether the builder still has work to do on it.
    #[must_use]
    pub fn is_active(&self) -> bool {
        self.status == "active" || self.status == "deleting"
    }
}

/// An `ImportImage` request (one disk).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportImage {
    /// `Description`.
    pub description: Option<String>,
    /// `Architecture`.
    pub architecture: Option<String>,
    /// `BootMode`.
    pub boot_mode: Option<String>,
    /// `Platform`.
    pub platform: Option<String>,
    /// `LicenseType`.
    pub license_type: Option<String>,
    /// The disks (`DiskContainers`): exactly one is supported.
    pub disks: Vec<ImportDisk>,
    /// Tags for the task.
    pub tags: Vec<Tag>,
}

/// One `ImageDiskContainer`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportDisk {
    /// `Format`.
    pub format: Option<String>,
    /// `UserBucket.S3Bucket`.
    pub bucket: Option<String>,
    /// `UserBucket.S3Key`.
    pub key: Option<String>,
    /// `Url` (not supported: Kumo reads only its own S3).
    pub url: Option<String>,
    /// `SnapshotId` (not supported).
    pub snapshot_id: Option<String>,
}

static TASK_FILTERS: FilterTable<ImageImport> = FilterTable {
    resource: "import-image-task",
    fields: &[("task-state", |t, out| out.push(t.status.clone()))],
    tags: Some(|t| {
        t.tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect()
    }),
};

fn task_not_found(id: &str) -> Fault {
    Fault::new(
        "InvalidConversionTaskId",
        format!("The import task ID '{id}' does not exist"),
    )
}

fn check_task_id(id: &str) -> Result<(), Fault> {
    if id
        .strip_prefix("import-ami-")
        .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        Ok(())
    } else {
        Err(Fault::new(
            "InvalidConversionTaskId.Malformed",
            format!("Invalid import task id: \"{id}\" (expecting \"import-ami-...\")"),
        ))
    }
}

/// Normalises a declared disk format; `None` when Kumo cannot import it.
fn disk_format(format: &str) -> Option<&'static str> {
    match format.to_ascii_lowercase().as_str() {
        "raw" | "img" | "iso" => Some("raw"),
        "qcow2" => Some("qcow2"),
        _ => None,
    }
}

impl Ec2 {
    /// `ImportImage`: queues a build of one disk from the caller's S3 object.
    pub fn import_image(
        &self,
        principal: &Principal,
        req: ImportImage,
    ) -> Result<ImageImport, Error> {
        let account = principal.account_id.as_str();
        validate(&req.tags).map_err(|e| Fault::invalid_value(e.to_string()))?;
        let disk = match req.disks.as_slice() {
            [] => return Err(Fault::missing("DiskContainers").into()),
            [d] => d.clone(),
            _ => {
                return Err(Fault::invalid_value(
                    "Kumo imports images of one disk: give exactly one DiskContainer",
                )
                .into());
            }
        };
        if disk.url.is_some() || disk.snapshot_id.is_some() {
            return Err(Fault::invalid_value(
                "DiskContainer.Url and DiskContainer.SnapshotId are not supported: give UserBucket (S3Bucket, S3Key) of an object in this cloud's S3",
            )
            .into());
        }
        let (Some(bucket), Some(key)) = (
            disk.bucket.filter(|b| !b.is_empty()),
            disk.key.filter(|k| !k.is_empty()),
        ) else {
            return Err(Fault::missing("DiskContainer.UserBucket (S3Bucket and S3Key)").into());
        };
        let format = match disk.format.as_deref() {
            None => None,
            Some(f) => Some(disk_format(f).map(str::to_owned).ok_or_else(|| {
                Fault::new(
                    "InvalidParameterValue",
                    format!(
                        "Unsupported disk format '{f}': Kumo imports raw (raw, img, iso) and qcow2 images"
                    ),
                )
            })?),
        };
        let architecture = req.architecture.unwrap_or_else(|| "x86_64".into());
        if !["x86_64", "arm64", "i386"].contains(&architecture.as_str()) {
            return Err(
                Fault::invalid_value(format!("Invalid architecture '{architecture}'")).into(),
            );
        }
        if let Some(p) = &req.platform
            && !p.eq_ignore_ascii_case("linux")
        {
            return Err(Fault::invalid_value(format!(
                "Unsupported platform '{p}': Kumo imports Linux images"
            ))
            .into());
        }
        match &self.image_locations {
            Some(l) if l.check(principal, &bucket, &key).is_ok() => {}
            _ => {
                return Err(Fault::new(
                    "InvalidParameter",
                    format!("The S3 object s3://{bucket}/{key} does not exist or is not readable"),
                )
                .into());
            }
        }
        let task = ImageImport {
            id: ids::resource_id("import-ami"),
            purpose: ImportPurpose::ImportImage,
            source: ImportSource::s3(principal, &bucket, &key, format.clone()),
            image_id: ids::resource_id("ami"),
            status: "active".into(),
            status_message: Some("pending".into()),
            progress: Some(0),
            description: req.description.filter(|d| !d.is_empty()),
            architecture,
            boot_mode: req.boot_mode,
            platform: "Linux".into(),
            license_type: req.license_type,
            format,
            disk_image_size: None,
            installer_iso: false,
            created_ms: crate::ec2::volume::now_ms(),
            finished_ms: None,
            attempts: 0,
            tags: req.tags,
        };
        self.store().transaction(|t| {
            t.put(account, task.clone());
            Ok(())
        })?;
        self.compute().wake_images();
        Ok(task)
    }

    /// `DescribeImportImageTasks`.
    pub fn describe_import_image_tasks(
        &self,
        account: &str,
        ids: &[String],
        filters: &[Filter],
        max_results: Option<i32>,
        next_token: Option<&str>,
    ) -> Result<Page<ImageImport>, Error> {
        let set = FilterSet::compile(&TASK_FILTERS, filters).map_err(Fault::from)?;
        for id in ids {
            check_task_id(id)?;
        }
        let tasks = self.store().scan(account, |t: &ImageImport| {
            (t.purpose == ImportPurpose::ImportImage).then(|| t.clone())
        })?;
        for id in ids {
            if !tasks.iter().any(|t| t.id == *id) {
                return Err(task_not_found(id).into());
            }
        }
        let rows: Vec<ImageImport> = tasks
            .into_iter()
            .filter(|t| ids.is_empty() || ids.contains(&t.id))
            .filter(|t| set.matches(t))
            .collect();
        let scope = format!("DescribeImportImageTasks{filters:?}{ids:?}");
        Ok(self
            .paginator()
            .page(
                rows,
                |t| t.id.as_str(),
                &scope,
                next_token,
                page_size(max_results),
            )
            .map_err(Fault::from)?)
    }

    /// `CancelImportTask`: an active `ImportImage` task goes `deleting`; the builder stops it
    /// and marks it `deleted`. Returns the previous and the new state.
    pub fn cancel_import_task(
        &self,
        account: &str,
        id: &str,
        reason: Option<&str>,
    ) -> Result<(String, String), Error> {
        check_task_id(id)?;
        let out = self.store().transaction(|t| {
            let Some(mut task) = t
                .get::<ImageImport>(account, id)
                .filter(|t| t.purpose == ImportPurpose::ImportImage)
            else {
                return Err(task_not_found(id).into());
            };
            if task.status != "active" {
                return Err(Fault::new(
                    "IncorrectState",
                    format!(
                        "The import task {id} cannot be cancelled in state {}",
                        task.status
                    ),
                )
                .into());
            }
            let previous = std::mem::replace(&mut task.status, "deleting".into());
            task.status_message = Some(
                reason
                    .filter(|r| !r.is_empty())
                    .map_or_else(|| "Canceled by user".to_owned(), str::to_owned),
            );
            t.put(account, task);
            Ok((previous, "deleting".to_owned()))
        })?;
        self.compute().wake_images();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_ids() {
        assert_eq!(disk_format("RAW"), Some("raw"));
        assert_eq!(disk_format("qcow2"), Some("qcow2"));
        assert_eq!(disk_format("vmdk"), None);
        assert!(check_task_id("import-ami-0123abcd").is_ok());
        assert_eq!(
            check_task_id("ami-1").expect_err("malformed").code,
            "InvalidConversionTaskId.Malformed"
        );
    }
}
