//! The image builder: runs image builds ([`ImageImport`] rows) and deletes image bytes no
//! record needs any more.
//!
//! Why a background worker: copying a multi-gigabyte object into the `BlockStore` takes
//! minutes, so `RegisterImage`/`ImportImage`/`CreateImage` answer at once (`pending`, an
//! `active` task) and this loop does the work, one build at a time, over the `ObjectStore`
//! (through [`ImageLocations`](crate::ec2::image::ImageLocations), reading as the caller) and
//! the `BlockStore`. A build streams the object into a private staging file, sniffs its format
//! from the first bytes (qcow2 or raw; archives, VMDK, VHD(X), VDI, LUKS are refused), and
//! hands the file to [`BlockStore::import_image`], which vets it again (`qemu-img info` in the
//! local driver) and publishes the image atomically. Only then does the image become
//! `available`; a failure makes it `failed` with a `StateReason` (a `deleted` task with a
//! `ClientError:` message for `ImportImage`).
//!
//! Crash safety: the job row is durable before the API answers; a restart finds it `active`
//! and runs it again from the start (staging leftovers are removed when the builder starts; the
//! block store drops its own unfinished files). If the image was published just before the
//! crash, the build sees it in the store and only finishes the records.
//!
//! Deferred deletion: each pass ends with a sweep of `ami-…` block images that no image record,
//! active build or volume names; the store refuses to delete a base that clones (root disks)
//! still use, so `DeregisterImage` of an image instances run from frees its bytes after the
//! last of them is gone.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kumo_driver_api::{BlockStore, BlockStoreError, VolumeInfo};
use tokio::io::AsyncWriteExt;

use crate::ec2::Ec2;
use crate::ec2::image::{Image, ImageBlockDevice, ImageSource, now_iso};
use crate::ec2::image_import::{FINISHED_VISIBLE_MS, ImageImport, ImportPurpose, ImportSource};
use crate::ec2::instance::{Instance, StateReason};
use crate::ec2::volume::{GIB, Volume, now_ms};

/// Bytes sniffed before the format is judged (an ISO's `CD001` sits at 0x8001).
const SNIFF_LEN: usize = 64 * 1024;
/// A body that sends nothing for this long is abandoned (the attempt is retried).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The blank root volume an installer ISO's instances get unless the mapping says otherwise:
/// AWS's default root volume size.
const INSTALL_ROOT_GIB: i32 = 8;
/// How long a `CreateImage` build waits for the instance's reboot to publish the bytes.
const REBOOT_WAIT: Duration = Duration::from_secs(600);
/// Transient failures (I/O, a root volume not yet created) are retried this many passes.
const MAX_ATTEMPTS: u32 = 5;

/// Builder settings.
#[derive(Debug, Clone)]
pub struct BuilderConfig {
    /// Timer between passes (a pass also runs on each API change).
    pub interval: Duration,
    /// Minimum time between progress writes.
    pub progress_every: Duration,
    /// Longest time between sweeps when no API call wakes the builder.
    pub sweep_every: Duration,
}

impl Default for BuilderConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            progress_every: Duration::from_secs(1),
            sweep_every: Duration::from_secs(60),
        }
    }
}

/// The image builder of this endpoint.
#[derive(Clone)]
pub struct ImageBuilder {
    ec2: Ec2,
    blocks: Arc<dyn BlockStore>,
    staging: PathBuf,
    config: BuilderConfig,
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for ImageBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageBuilder")
            .field("staging", &self.staging)
            .finish_non_exhaustive()
    }
}

/// How one build attempt ended, short of success.
#[derive(Debug)]
enum BuildError {
    /// `CancelImportTask` asked to stop.
    Cancelled,
    /// The job or its image record is gone (deregistered meanwhile).
    Gone,
    /// Worth another attempt (I/O, a volume not created yet).
    Retry(String),
    /// Someone else is producing the bytes (the reconciler's `CreateImage` reboot): look
    /// again next pass, without spending an attempt.
    Waiting,
    /// Final: `(StateReason code, message)`.
    Failed(&'static str, String),
}

impl From<crate::Error> for BuildError {
    fn from(e: crate::Error) -> Self {
        Self::Retry(format!("record store: {e}"))
    }
}

/// Whether the first bytes are an ISO 9660 file system that only a CD-ROM boots: the `CD001`
/// volume descriptor at 0x8001 and no boot signature at 510 (a hybrid ISO carries an MBR there
/// and boots as a disk, like any raw image).
#[must_use]
pub fn is_installer_iso(head: &[u8]) -> bool {
    head.get(0x8001..0x8006) == Some(b"CD001") && head.get(510..512) != Some(&[0x55, 0xaa])
}

/// What the first bytes of an image say: `Ok("qcow2" | "raw")` or why it cannot be used.
pub fn sniff_format(head: &[u8]) -> Result<&'static str, String> {
    let at = |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
    let refuse = |what: &str| {
        Err(format!(
            "the object is {what}; Kumo imports raw and qcow2 disk images (convert it with qemu-img)"
        ))
    };
    if head.is_empty() {
        return Err("the object is empty".to_owned());
    }
    if at(0, b"QFI\xfb") {
        return Ok("qcow2");
    }
    if at(0, b"KDMV") || at(0, b"# Disk DescriptorFile") || at(0, b"COWD") {
        return refuse("a VMDK image");
    }
    if at(0, b"vhdxfile") {
        return refuse("a VHDX image");
    }
    if at(0, b"conectix") {
        return refuse("a dynamic VHD image");
    }
    if at(0x40, &[0x7f, 0x10, 0xda, 0xbe]) {
        return refuse("a VDI image");
    }
    if at(0, b"QED\0") {
        return refuse("a QED image");
    }
    if at(0, b"LUKS\xba\xbe") {
        return refuse("a LUKS-encrypted volume");
    }
    if at(0, &[0x1f, 0x8b]) {
        return refuse("gzip-compressed");
    }
    if at(0, &[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return refuse("xz-compressed");
    }
    if at(0, b"BZh") {
        return refuse("bzip2-compressed");
    }
    if at(0, &[0x28, 0xb5, 0x2f, 0xfd]) {
        return refuse("zstd-compressed");
    }
    if at(0, b"PK\x03\x04") {
        return refuse("a zip archive");
    }
    if at(257, b"ustar") {
        return refuse("a tar archive (OVA)");
    }
    // Anything else is a raw disk (an ISO 9660 image too: hybrid ISOs boot as disks).
    Ok("raw")
}

/// Removes a staging file when dropped.
struct Staged(PathBuf);

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl ImageBuilder {
    /// A builder that stages downloads in `staging` (created 0700; leftovers of a previous run
    /// are removed).
    pub fn new(
        ec2: Ec2,
        blocks: Arc<dyn BlockStore>,
        staging: impl Into<PathBuf>,
        config: BuilderConfig,
    ) -> std::io::Result<Self> {
        let staging = staging.into();
        std::fs::create_dir_all(&staging)?;
        std::fs::set_permissions(
            &staging,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )?;
        for entry in std::fs::read_dir(&staging)? {
            let path = entry?.path();
            if path.is_file() {
                std::fs::remove_file(&path)?;
                tracing::info!(file = %path.display(), "removed an unfinished image download");
            }
        }
        Ok(Self {
            ec2,
            blocks,
            staging,
            config,
            stop: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Runs passes on the current runtime: now, on every API change, and every `interval`.
    /// The sweep (which reads every block device's header) runs after API changes and at
    /// most every `sweep_every` otherwise.
    pub fn spawn(&self) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut last_sweep: Option<Instant> = None;
            let mut woken = true;
            while !this.stop.load(Ordering::Relaxed) {
                this.run_builds().await;
                if woken || last_sweep.is_none_or(|t| t.elapsed() >= this.config.sweep_every) {
                    this.sweep().await;
                    last_sweep = Some(Instant::now());
                }
                woken = tokio::select! {
                    () = this.ec2.compute().images_woken() => true,
                    () = tokio::time::sleep(this.config.interval) => false,
                };
            }
        })
    }

    /// Stops the loop after its current pass.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.ec2.compute().wake_images();
    }

    /// One pass: every active build (oldest first), expiry of old tasks, the sweep.
    pub async fn run_once(&self) {
        self.run_builds().await;
        self.sweep().await;
    }

    /// Every active build (oldest first), then expiry of old tasks.
    async fn run_builds(&self) {
        let mut jobs = self
            .ec2
            .store()
            .scan_all(|a, j: &ImageImport| j.is_active().then(|| (a.to_owned(), j.clone())))
            .unwrap_or_default();
        jobs.sort_by_key(|(_, j)| j.created_ms);
        for (account, job) in jobs {
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            self.build(&account, job).await;
        }
        if let Err(e) = self.expire() {
            tracing::warn!(error = %e, "expiring finished import tasks failed");
        }
    }

    async fn build(&self, account: &str, job: ImageImport) {
        let started = Instant::now();
        let outcome = if job.status == "deleting" {
            Err(BuildError::Cancelled)
        } else {
            self.copy(account, &job).await
        };
        let result = match outcome {
            Ok(info) => {
                let r = self.finish(account, &job, &info);
                if r.is_ok() {
                    let secs = started.elapsed().as_secs_f64();
                    tracing::info!(
                        job = %job.id,
                        image = %job.image_id,
                        bytes = info.size,
                        seconds = format!("{secs:.1}"),
                        "image built"
                    );
                }
                r
            }
            Err(BuildError::Cancelled) => self.end_task(account, &job, None),
            Err(BuildError::Waiting) => Ok(()),
            Err(BuildError::Gone) => self.drop_job(account, &job),
            Err(BuildError::Retry(msg)) if job.attempts + 1 < MAX_ATTEMPTS => {
                tracing::warn!(job = %job.id, attempt = job.attempts + 1, error = %msg, "image build failed; will retry");
                self.update(account, &job.id, |j| j.attempts += 1)
            }
            Err(BuildError::Retry(msg)) => self.fail(account, &job, "Server.InternalError", &msg),
            Err(BuildError::Failed(code, msg)) => self.fail(account, &job, code, &msg),
        };
        if let Err(e) = result {
            tracing::warn!(job = %job.id, error = %e, "recording an image build's outcome failed");
        }
    }

    /// Produces the job's block image (or finds it published before a crash).
    async fn copy(&self, account: &str, job: &ImageImport) -> Result<VolumeInfo, BuildError> {
        let name = job.image_id.clone();
        if let Some(info) = self.blocking(move |b| b.info(&name)).await? {
            return Ok(info);
        }
        match &job.source {
            ImportSource::S3 {
                bucket,
                key,
                format,
                principal,
            } => {
                self.download_and_import(account, job, bucket, key, format.as_deref(), principal)
                    .await
            }
            ImportSource::Volume {
                volume_id,
                instance_id,
            } => {
                if self.rebooting_for(account, instance_id, job)? {
                    return Err(BuildError::Waiting);
                }
                self.progress(account, &job.id, "snapshotting", 10)?;
                let (volume, name) = (volume_id.clone(), job.image_id.clone());
                self.blocking(move |b| match b.snapshot(&volume, &name) {
                    // Attached to a running guest: crash-consistent copy, as EC2 NoReboot.
                    Err(BlockStoreError::InUse(_)) => b.snapshot_live(&volume, &name),
                    other => other,
                })
                .await
            }
        }
    }

    /// Whether the instance's reconciler is rebooting it to publish this job's bytes itself
    /// (`Instance::image_reboot`). A reboot that has not finished within [`REBOOT_WAIT`] (its
    /// host gone, say) is given up: the disk is copied as it is.
    fn rebooting_for(
        &self,
        account: &str,
        instance_id: &str,
        job: &ImageImport,
    ) -> Result<bool, BuildError> {
        let Some(instance) = self.ec2.store().get::<Instance>(account, instance_id)? else {
            return Ok(false);
        };
        let mine = instance
            .image_reboot
            .as_ref()
            .is_some_and(|r| r.image_id == job.image_id);
        let waited = u64::try_from(now_ms() - job.created_ms).unwrap_or(0);
        if mine && waited > u64::try_from(REBOOT_WAIT.as_millis()).unwrap_or(u64::MAX) {
            tracing::warn!(job = %job.id, instance = instance_id, "CreateImage reboot did not finish; imaging the disk as it is");
            return Ok(false);
        }
        Ok(mine)
    }

    #[allow(clippy::too_many_arguments)]
    async fn download_and_import(
        &self,
        account: &str,
        job: &ImageImport,
        bucket: &str,
        key: &str,
        declared: Option<&str>,
        principal: &crate::ec2::image_import::StoredPrincipal,
    ) -> Result<VolumeInfo, BuildError> {
        let Some(locations) = self.ec2.image_locations() else {
            return Err(BuildError::Failed(
                "Client.InvalidImageLocation",
                "this endpoint has no S3 service to read images from".to_owned(),
            ));
        };
        self.progress(account, &job.id, "downloading", 0)?;
        let (size, mut body) = locations
            .open(&principal.principal(), bucket, key)
            .await
            .map_err(|e| {
                BuildError::Failed(
                    "Client.InvalidImageLocation",
                    format!("cannot read s3://{bucket}/{key}: {e}"),
                )
            })?;
        let staged = Staged(self.staging.join(format!("{}.part", job.id)));
        let mut file = tokio::fs::File::create(&staged.0)
            .await
            .map_err(|e| BuildError::Retry(format!("staging {}: {e}", staged.0.display())))?;
        let mut head: Vec<u8> = Vec::with_capacity(SNIFF_LEN);
        let mut format: Option<&'static str> = None;
        let mut written = 0u64;
        let mut last_write = Instant::now();
        let mut last_pct = 0u8;
        let started = Instant::now();
        loop {
            let chunk = match tokio::time::timeout(IDLE_TIMEOUT, body.next()).await {
                Err(_) => return Err(BuildError::Retry("the object stream stalled".to_owned())),
                Ok(None) => break,
                Ok(Some(Err(e))) => return Err(BuildError::Retry(format!("reading: {e}"))),
                Ok(Some(Ok(chunk))) => chunk,
            };
            if format.is_none() {
                let take = (SNIFF_LEN - head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..take]);
                if head.len() >= SNIFF_LEN {
                    format = Some(sniff(&head)?);
                }
            }
            file.write_all(&chunk)
                .await
                .map_err(|e| BuildError::Retry(format!("staging: {e}")))?;
            written += chunk.len() as u64;
            // Downloading is 0-80 % of the work; converting and publishing the rest.
            let pct = u8::try_from((written.min(size) * 80).checked_div(size).unwrap_or(80))
                .unwrap_or(80);
            if pct > last_pct && last_write.elapsed() >= self.config.progress_every {
                self.progress(account, &job.id, "downloading", pct)?;
                last_pct = pct;
                last_write = Instant::now();
            }
        }
        let format = match format {
            Some(f) => f,
            None => sniff(&head)?,
        };
        if written != size {
            return Err(BuildError::Retry(format!(
                "read {written} of {size} bytes of s3://{bucket}/{key}"
            )));
        }
        file.flush()
            .await
            .map_err(|e| BuildError::Retry(format!("staging: {e}")))?;
        drop(file);
        let secs = started.elapsed().as_secs_f64().max(0.001);
        #[allow(clippy::cast_precision_loss)]
        let mbps = written as f64 / 1e6 / secs;
        tracing::info!(job = %job.id, bytes = written, format, mb_per_s = format!("{mbps:.0}"), "image downloaded");
        if let Some(declared) = declared
            && declared != format
        {
            return Err(BuildError::Failed(
                "Client.InvalidImage",
                format!("the disk was declared {declared} but its contents are {format}"),
            ));
        }
        let installer_iso = is_installer_iso(&head);
        self.update(account, &job.id, |j| {
            j.format = Some(format.to_owned());
            j.disk_image_size = Some(written);
            j.installer_iso = installer_iso;
        })?;
        self.progress(account, &job.id, "converting", 85)?;
        let (name, path) = (job.image_id.clone(), staged.0.clone());
        let info = self.blocking(move |b| b.import_image(&name, &path)).await?;
        drop(staged);
        self.progress(account, &job.id, "preparing ami", 95)?;
        Ok(info)
    }

    /// Runs a block-store call on the blocking pool; maps its errors.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn BlockStore) -> Result<T, BlockStoreError> + Send + 'static,
    ) -> Result<T, BuildError> {
        let blocks = self.blocks.clone();
        match tokio::task::spawn_blocking(move || f(blocks.as_ref())).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(BlockStoreError::InvalidImage(m))) => {
                Err(BuildError::Failed("Client.InvalidImage", m))
            }
            Ok(Err(BlockStoreError::InvalidArgument(m))) => {
                Err(BuildError::Failed("Client.InvalidImage", m))
            }
            Ok(Err(BlockStoreError::NotFound(m))) => Err(BuildError::Retry(format!(
                "not in the block store (yet): {m}"
            ))),
            Ok(Err(e)) => Err(BuildError::Retry(e.to_string())),
            Err(e) => Err(BuildError::Retry(format!("block store task: {e}"))),
        }
    }

    /// Records progress; stops the build when it was cancelled or dropped.
    fn progress(&self, account: &str, id: &str, message: &str, pct: u8) -> Result<(), BuildError> {
        let seen = self.ec2.store().transaction(|t| {
            let Some(mut j) = t.get::<ImageImport>(account, id) else {
                return Ok(None);
            };
            let status = j.status.clone();
            if status == "active" {
                j.status_message = Some(message.to_owned());
                j.progress = Some(pct);
                t.put(account, j);
            }
            Ok(Some(status))
        })?;
        match seen.as_deref() {
            None => Err(BuildError::Gone),
            Some("active") => Ok(()),
            Some(_) => Err(BuildError::Cancelled),
        }
    }

    fn update(
        &self,
        account: &str,
        id: &str,
        f: impl FnOnce(&mut ImageImport),
    ) -> Result<(), crate::Error> {
        self.ec2.store().transaction(|t| {
            if let Some(mut j) = t.get::<ImageImport>(account, id) {
                f(&mut j);
                t.put(account, j);
            }
            Ok(())
        })
    }

    /// The image is in the block store: make it `available` (or create it, for a task).
    fn finish(
        &self,
        account: &str,
        job: &ImageImport,
        info: &VolumeInfo,
    ) -> Result<(), crate::Error> {
        let gib = i32::try_from(info.size.div_ceil(GIB).max(1)).unwrap_or(i32::MAX);
        self.ec2.store().transaction(|t| {
            let Some(mut current) = t.get::<ImageImport>(account, &job.id) else {
                return Ok(()); // dropped meanwhile: the sweep frees the bytes
            };
            match job.purpose {
                ImportPurpose::RegisterImage | ImportPurpose::CreateImage => {
                    if let Some(mut image) = t.get::<Image>(account, &job.image_id) {
                        image.state = "available".into();
                        image.state_reason = None;
                        image.source = ImageSource::BlockStore {
                            name: job.image_id.clone(),
                        };
                        // Read from the record: a build resumed after a crash skips the
                        // download that found it out.
                        image.installer_iso = current.installer_iso;
                        let root_gib = if current.installer_iso {
                            INSTALL_ROOT_GIB
                        } else {
                            gib
                        };
                        if let Some(root) = image.block_devices.first_mut() {
                            root.volume_size = root.volume_size.max(root_gib);
                        }
                        t.put(account, image);
                    }
                    t.delete::<ImageImport>(account, &job.id);
                }
                ImportPurpose::ImportImage => {
                    if current.status != "active" {
                        current.status = "deleted".into();
                        current.progress = None;
                        current.finished_ms = Some(now_ms());
                        t.put(account, current);
                        return Ok(());
                    }
                    t.put(account, imported_image(account, &current, gib));
                    current.status = "completed".into();
                    current.status_message = None;
                    current.progress = None;
                    current.finished_ms = Some(now_ms());
                    t.put(account, current);
                }
            }
            Ok(())
        })
    }

    /// A final failure: the image goes `failed` (or the task `deleted`).
    fn fail(
        &self,
        account: &str,
        job: &ImageImport,
        code: &str,
        message: &str,
    ) -> Result<(), crate::Error> {
        tracing::warn!(job = %job.id, image = %job.image_id, code, message, "image build failed");
        match job.purpose {
            ImportPurpose::ImportImage => {
                self.end_task(account, job, Some(format!("ClientError: {message}")))
            }
            ImportPurpose::RegisterImage | ImportPurpose::CreateImage => {
                self.ec2.store().transaction(|t| {
                    if let Some(mut image) = t.get::<Image>(account, &job.image_id) {
                        image.state = "failed".into();
                        image.state_reason = Some(StateReason::new(code, message));
                        t.put(account, image);
                    }
                    t.delete::<ImageImport>(account, &job.id);
                    Ok(())
                })
            }
        }
    }

    /// An `ImportImage` task ends as `deleted` (cancelled, or failed with `message`).
    fn end_task(
        &self,
        account: &str,
        job: &ImageImport,
        message: Option<String>,
    ) -> Result<(), crate::Error> {
        if job.purpose != ImportPurpose::ImportImage {
            return self.drop_job(account, job);
        }
        self.update(account, &job.id, |j| {
            j.status = "deleted".into();
            if let Some(m) = message {
                j.status_message = Some(m);
            }
            j.progress = None;
            j.finished_ms = Some(now_ms());
        })
    }

    fn drop_job(&self, account: &str, job: &ImageImport) -> Result<(), crate::Error> {
        self.ec2.store().transaction(|t| {
            t.delete::<ImageImport>(account, &job.id);
            Ok(())
        })
    }

    /// Finished `ImportImage` tasks disappear after seven days, as in AWS.
    fn expire(&self) -> Result<(), crate::Error> {
        let now = now_ms();
        let old = self.ec2.store().scan_all(|a, j: &ImageImport| {
            j.finished_ms
                .is_some_and(|f| now - f > FINISHED_VISIBLE_MS)
                .then(|| (a.to_owned(), j.id.clone()))
        })?;
        if old.is_empty() {
            return Ok(());
        }
        self.ec2.store().transaction(|t| {
            for (a, id) in &old {
                t.delete::<ImageImport>(a, id);
            }
            Ok(())
        })
    }

    /// Deletes `ami-…` block images nothing names; a base clones still use stays (`InUse`).
    async fn sweep(&self) {
        // Records first, then the store: anything published after the records were read
        // belongs to a build that is still active, and builds run only in this task.
        let mut keep: BTreeSet<String> = BTreeSet::new();
        let store = self.ec2.store();
        let images = store.scan_all(|_, i: &Image| match &i.source {
            ImageSource::BlockStore { name } => Some(vec![name.clone(), i.id.clone()]),
            ImageSource::S3 { .. } => Some(vec![i.id.clone()]),
        });
        let jobs = store.scan_all(|_, j: &ImageImport| j.is_active().then(|| j.image_id.clone()));
        let volumes = store.scan_all(|_, v: &Volume| v.base.clone());
        // An installer ISO in an instance's CD-ROM drive is read, not cloned: no `InUse` guards it.
        let cdroms = store.scan_all(|_, i: &Instance| i.cdrom.clone());
        let (Ok(images), Ok(jobs), Ok(volumes), Ok(cdroms)) = (images, jobs, volumes, cdroms)
        else {
            tracing::warn!("image sweep skipped: records unreadable");
            return;
        };
        keep.extend(images.into_iter().flatten());
        keep.extend(jobs);
        keep.extend(volumes);
        keep.extend(cdroms);
        let Ok(all) = self.blocking(|b| b.list()).await else {
            return;
        };
        for info in all {
            if !info.name.starts_with("ami-") || keep.contains(&info.name) {
                continue;
            }
            let name = info.name.clone();
            match self.blocking(move |b| b.delete(&name)).await {
                Ok(()) => {
                    tracing::info!(image = %info.name, "deleted the bytes of a deregistered image")
                }
                Err(e) => {
                    tracing::debug!(image = %info.name, error = ?e, "image bytes kept for now")
                }
            }
        }
    }

    /// Where downloads are staged.
    #[must_use]
    pub fn staging(&self) -> &Path {
        &self.staging
    }
}

fn sniff(head: &[u8]) -> Result<&'static str, BuildError> {
    sniff_format(head).map_err(|m| BuildError::Failed("Client.InvalidImage", m))
}

/// The image an `ImportImage` task creates.
fn imported_image(account: &str, task: &ImageImport, gib: i32) -> Image {
    let location = match &task.source {
        ImportSource::S3 { bucket, key, .. } => format!("{bucket}/{key}"),
        ImportSource::Volume { volume_id, .. } => volume_id.clone(),
    };
    Image {
        id: task.image_id.clone(),
        name: task.id.clone(),
        description: task.description.clone(),
        owner_id: account.to_owned(),
        public: false,
        launch_permissions: Vec::new(),
        architecture: task.architecture.clone(),
        root_device_name: "/dev/sda1".into(),
        root_device_type: "ebs".into(),
        virtualization_type: "hvm".into(),
        ena_support: true,
        sriov_net_support: Some("simple".into()),
        state: "available".into(),
        creation_date: now_iso(),
        deprecation_time: None,
        block_devices: vec![ImageBlockDevice {
            device_name: "/dev/sda1".into(),
            snapshot_id: crate::ids::resource_id("snap"),
            volume_size: if task.installer_iso {
                gib.max(INSTALL_ROOT_GIB)
            } else {
                gib
            },
            volume_type: "gp3".into(),
            delete_on_termination: true,
            encrypted: false,
        }],
        boot_mode: task.boot_mode.clone(),
        imds_support: None,
        image_location: location,
        source: ImageSource::BlockStore {
            name: task.image_id.clone(),
        },
        kernel_boot: None,
        installer_iso: task.installer_iso,
        state_reason: None,
        source_instance_id: None,
        source_image_id: None,
        source_image_region: None,
        tags: Vec::new(),
    }
}

#[cfg(test)]
mod tests;
