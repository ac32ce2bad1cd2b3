//! The image builder's state machine over test doubles of the S3 hook and the block store.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::AtomicU32;

use bytes::Bytes;
use kumo_driver_api::{ByteStream, DiskSource};

use super::*;
use crate::Error;
use crate::ec2::image::{ImageLocations, RegisterImage};
use crate::ec2::image_copy::CopyImage;
use crate::ec2::image_import::{ImportDisk, ImportImage};
use crate::ec2::testing::ec2;
use crate::iam::Principal;

const ACCT: &str = "111122223333";

#[derive(Default)]
struct FakeBlocks {
    devs: Mutex<BTreeMap<String, VolumeInfo>>,
    imports: AtomicU32,
    /// Imports fail with an I/O error while set.
    broken: AtomicBool,
}

impl FakeBlocks {
    fn names(&self) -> Vec<String> {
        self.devs.lock().expect("lock").keys().cloned().collect()
    }
    fn add(&self, name: &str, base: Option<&str>) {
        self.devs.lock().expect("lock").insert(
            name.into(),
            VolumeInfo {
                name: name.into(),
                size: GIB,
                base: base.map(Into::into),
            },
        );
    }
}

impl BlockStore for FakeBlocks {
    fn import_image(&self, name: &str, file: &Path) -> Result<VolumeInfo, BlockStoreError> {
        self.imports.fetch_add(1, Ordering::Relaxed);
        if self.broken.load(Ordering::Relaxed) {
            return Err(BlockStoreError::Io("disk full".into()));
        }
        let data = std::fs::read(file).map_err(|e| BlockStoreError::Io(e.to_string()))?;
        if data.starts_with(b"BAD") {
            return Err(BlockStoreError::InvalidImage("qemu-img says no".into()));
        }
        let info = VolumeInfo {
            name: name.into(),
            size: 3 * GIB,
            base: None,
        };
        self.devs
            .lock()
            .expect("lock")
            .insert(name.into(), info.clone());
        Ok(info)
    }
    fn create(&self, name: &str, size: u64) -> Result<VolumeInfo, BlockStoreError> {
        self.add(name, None);
        let _ = size;
        self.info(name).map(|i| i.expect("added"))
    }
    fn clone_from(
        &self,
        name: &str,
        base: &str,
        _size: Option<u64>,
    ) -> Result<VolumeInfo, BlockStoreError> {
        self.add(name, Some(base));
        self.info(name).map(|i| i.expect("added"))
    }
    fn snapshot(&self, volume: &str, snapshot: &str) -> Result<VolumeInfo, BlockStoreError> {
        if self.info(volume)?.is_none() {
            return Err(BlockStoreError::NotFound(volume.into()));
        }
        self.create(snapshot, GIB)
    }
    fn resize(&self, name: &str, _size: u64) -> Result<VolumeInfo, BlockStoreError> {
        self.info(name)?
            .ok_or_else(|| BlockStoreError::NotFound(name.into()))
    }
    fn delete(&self, name: &str) -> Result<(), BlockStoreError> {
        let mut devs = self.devs.lock().expect("lock");
        if devs.values().any(|v| v.base.as_deref() == Some(name)) {
            return Err(BlockStoreError::InUse(name.into()));
        }
        devs.remove(name);
        Ok(())
    }
    fn info(&self, name: &str) -> Result<Option<VolumeInfo>, BlockStoreError> {
        Ok(self.devs.lock().expect("lock").get(name).cloned())
    }
    fn list(&self) -> Result<Vec<VolumeInfo>, BlockStoreError> {
        Ok(self.devs.lock().expect("lock").values().cloned().collect())
    }
    fn source(&self, name: &str) -> Result<DiskSource, BlockStoreError> {
        Ok(DiskSource::File {
            path: format!("/fake/{name}").into(),
            format: "qcow2".into(),
        })
    }
}

#[derive(Default)]
struct FakeS3 {
    objects: Mutex<HashMap<(String, String), Vec<u8>>>,
}

impl FakeS3 {
    fn put(&self, bucket: &str, key: &str, data: Vec<u8>) {
        self.objects
            .lock()
            .expect("lock")
            .insert((bucket.into(), key.into()), data);
    }
    fn remove(&self, bucket: &str, key: &str) {
        self.objects
            .lock()
            .expect("lock")
            .remove(&(bucket.into(), key.into()));
    }
}

#[async_trait::async_trait]
impl ImageLocations for FakeS3 {
    fn check(&self, _: &Principal, bucket: &str, key: &str) -> Result<(), Error> {
        if self
            .objects
            .lock()
            .expect("lock")
            .contains_key(&(bucket.into(), key.into()))
        {
            Ok(())
        } else {
            Err(Error::NoSuchKey(key.into()))
        }
    }
    async fn open(
        &self,
        _: &Principal,
        bucket: &str,
        key: &str,
    ) -> Result<(u64, ByteStream), Error> {
        let data = self
            .objects
            .lock()
            .expect("lock")
            .get(&(bucket.into(), key.into()))
            .cloned()
            .ok_or_else(|| Error::NoSuchKey(key.into()))?;
        let len = data.len() as u64;
        // Three chunks, as a multipart object's segments.
        let third = data.len() / 3;
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::copy_from_slice(&data[..third])),
            Ok(Bytes::copy_from_slice(&data[third..2 * third])),
            Ok(Bytes::copy_from_slice(&data[2 * third..])),
        ];
        Ok((len, Box::pin(futures::stream::iter(chunks))))
    }
}

struct World {
    ec2: Ec2,
    blocks: Arc<FakeBlocks>,
    s3: Arc<FakeS3>,
    builder: ImageBuilder,
    _staging: tempfile::TempDir,
}

fn world() -> World {
    let s3 = Arc::new(FakeS3::default());
    let ec2 = ec2().with_image_locations(s3.clone());
    let blocks = Arc::new(FakeBlocks::default());
    let staging = tempfile::tempdir().expect("tempdir");
    std::fs::write(staging.path().join("import-ami-old.part"), b"leftover").expect("write");
    let builder = ImageBuilder::new(
        ec2.clone(),
        blocks.clone(),
        staging.path(),
        BuilderConfig::default(),
    )
    .expect("builder");
    assert_eq!(
        std::fs::read_dir(staging.path()).expect("dir").count(),
        0,
        "leftovers removed at start"
    );
    World {
        ec2,
        blocks,
        s3,
        builder,
        _staging: staging,
    }
}

fn principal() -> Principal {
    Principal {
        account_id: ACCT.into(),
        user_id: ACCT.into(),
        arn: format!("arn:aws:iam::{ACCT}:root"),
        access_key_id: "AKIAEXAMPLE".into(),
    }
}

/// A qcow2-looking object of `len` bytes.
fn qcow2(len: usize) -> Vec<u8> {
    let mut d = vec![7u8; len];
    d[..4].copy_from_slice(b"QFI\xfb");
    d
}

fn register(w: &World, name: &str, key: &str) -> Image {
    w.ec2
        .register_image(
            &principal(),
            RegisterImage {
                name: name.into(),
                image_location: Some(format!("images/{key}")),
                ..Default::default()
            },
        )
        .expect("register")
}

fn image(w: &World, id: &str) -> Image {
    w.ec2.own_image(ACCT, id).expect("image")
}

fn jobs(w: &World) -> Vec<ImageImport> {
    w.ec2.store().list::<ImageImport>(ACCT).expect("jobs")
}

#[tokio::test]
async fn registered_image_is_imported_then_available() {
    let w = world();
    w.s3.put("images", "disk.qcow2", qcow2(200_000));
    let img = register(&w, "mine", "disk.qcow2");
    assert_eq!(img.state, "pending");
    assert!(matches!(img.source, ImageSource::S3 { .. }));
    assert_eq!(jobs(&w).len(), 1);
    w.builder.run_once().await;
    let img = image(&w, &img.id);
    assert_eq!(img.state, "available");
    assert_eq!(
        img.source,
        ImageSource::BlockStore {
            name: img.id.clone()
        }
    );
    assert_eq!(
        img.block_devices[0].volume_size, 8,
        "request's 8 GiB ≥ 3 GiB image"
    );
    assert!(jobs(&w).is_empty(), "internal job removed");
    assert_eq!(w.blocks.names(), vec![img.id.clone()]);
    assert_eq!(
        std::fs::read_dir(w.builder.staging()).expect("dir").count(),
        0,
        "staging file removed"
    );
}

#[tokio::test]
async fn unsupported_missing_and_refused_objects_fail_with_a_reason() {
    let w = world();
    let mut vmdk = vec![0u8; 100_000];
    vmdk[..4].copy_from_slice(b"KDMV");
    w.s3.put("images", "disk.vmdk", vmdk);
    w.s3.put("images", "gone.raw", vec![0u8; 1000]);
    w.s3.put("images", "bad.raw", b"BAD disk".to_vec());
    let vmdk = register(&w, "vmdk", "disk.vmdk");
    let gone = register(&w, "gone", "gone.raw");
    let bad = register(&w, "bad", "bad.raw");
    w.s3.remove("images", "gone.raw");
    w.builder.run_once().await;
    for (id, code, text) in [
        (&vmdk.id, "Client.InvalidImage", "VMDK"),
        (&gone.id, "Client.InvalidImageLocation", "cannot read"),
        (&bad.id, "Client.InvalidImage", "qemu-img says no"),
    ] {
        let img = image(&w, id);
        assert_eq!(img.state, "failed", "{id}");
        let reason = img.state_reason.expect("reason");
        assert_eq!(reason.code, code);
        assert!(reason.message.contains(text), "{}", reason.message);
    }
    assert!(w.blocks.names().is_empty(), "no half image left");
    assert!(jobs(&w).is_empty());
    // A failed image cannot be launched and can be deregistered.
    w.ec2.deregister_image(ACCT, &vmdk.id).expect("deregister");
}

#[tokio::test]
async fn transient_failures_retry_a_bounded_number_of_times() {
    let w = world();
    w.s3.put("images", "d.raw", vec![1u8; 5000]);
    let img = register(&w, "flaky", "d.raw");
    w.blocks.broken.store(true, Ordering::Relaxed);
    w.builder.run_once().await;
    assert_eq!(image(&w, &img.id).state, "pending");
    assert_eq!(jobs(&w)[0].attempts, 1);
    w.blocks.broken.store(false, Ordering::Relaxed);
    w.builder.run_once().await;
    assert_eq!(image(&w, &img.id).state, "available");

    let img = register(&w, "broken", "d.raw");
    w.blocks.broken.store(true, Ordering::Relaxed);
    for _ in 0..MAX_ATTEMPTS {
        w.builder.run_once().await;
    }
    let img = image(&w, &img.id);
    assert_eq!(img.state, "failed");
    assert_eq!(
        img.state_reason.expect("reason").code,
        "Server.InternalError"
    );
    assert_eq!(
        w.blocks.imports.load(Ordering::Relaxed),
        1 + 1 + MAX_ATTEMPTS,
        "bounded"
    );
}

#[tokio::test]
async fn a_build_interrupted_after_publishing_only_finishes_the_records() {
    let w = world();
    w.s3.put("images", "d.qcow2", qcow2(4096));
    let img = register(&w, "crashed", "d.qcow2");
    // The previous process published the bytes and died before its record update.
    w.blocks.add(&img.id, None);
    let builder = ImageBuilder::new(
        w.ec2.clone(),
        w.blocks.clone(),
        w.builder.staging(),
        BuilderConfig::default(),
    )
    .expect("restarted builder");
    builder.run_once().await;
    assert_eq!(image(&w, &img.id).state, "available");
    assert_eq!(w.blocks.imports.load(Ordering::Relaxed), 0);
}

fn import(w: &World, key: &str, format: Option<&str>) -> Result<ImageImport, Error> {
    w.ec2.import_image(
        &principal(),
        ImportImage {
            description: Some("imported".into()),
            disks: vec![ImportDisk {
                format: format.map(Into::into),
                bucket: Some("images".into()),
                key: Some(key.into()),
                ..Default::default()
            }],
            ..Default::default()
        },
    )
}

fn task(w: &World, id: &str) -> ImageImport {
    w.ec2
        .describe_import_image_tasks(ACCT, &[id.to_owned()], &[], None, None)
        .expect("describe")
        .items
        .remove(0)
}

fn fault(e: Error) -> &'static str {
    match e {
        Error::Fault(f) => f.code,
        other => panic!("not a fault: {other}"),
    }
}

#[tokio::test]
async fn import_image_tasks_complete_fail_and_cancel() {
    let w = world();
    w.s3.put("images", "d.qcow2", qcow2(300_000));
    w.s3.put("images", "d.raw", vec![0u8; 300_000]);
    let ok = import(&w, "d.qcow2", Some("QCOW2")).expect("import");
    assert_eq!((ok.status.as_str(), ok.progress), ("active", Some(0)));
    let mismatch = import(&w, "d.raw", Some("qcow2")).expect("import");
    let cancelled = import(&w, "d.raw", None).expect("import");
    assert_eq!(
        w.ec2
            .cancel_import_task(ACCT, &cancelled.id, None)
            .expect("cancel"),
        ("active".to_owned(), "deleting".to_owned())
    );
    assert_eq!(
        fault(import(&w, "nope", None).expect_err("missing")),
        "InvalidParameter"
    );
    assert_eq!(
        fault(import(&w, "d.raw", Some("vmdk")).expect_err("format")),
        "InvalidParameterValue"
    );
    w.builder.run_once().await;

    let done = task(&w, &ok.id);
    assert_eq!(done.status, "completed");
    assert_eq!(done.format.as_deref(), Some("qcow2"));
    assert_eq!(done.disk_image_size, Some(300_000));
    let img = image(&w, &done.image_id);
    assert_eq!(img.state, "available");
    assert_eq!(img.name, ok.id);
    assert_eq!(img.image_location, "images/d.qcow2");

    let failed = task(&w, &mismatch.id);
    assert_eq!(failed.status, "deleted");
    assert!(
        failed
            .status_message
            .as_deref()
            .is_some_and(|m| m.starts_with("ClientError:") && m.contains("declared qcow2")),
        "{failed:?}"
    );
    assert!(w.ec2.own_image(ACCT, &failed.image_id).is_err());

    let c = task(&w, &cancelled.id);
    assert_eq!(c.status, "deleted");
    assert_eq!(c.status_message.as_deref(), Some("Canceled by user"));
    assert_eq!(
        fault(
            w.ec2
                .cancel_import_task(ACCT, &ok.id, None)
                .expect_err("done")
        ),
        "IncorrectState"
    );
    assert_eq!(
        w.blocks.names(),
        vec![done.image_id.clone()],
        "only the completed image's bytes"
    );

    let filtered = w
        .ec2
        .describe_import_image_tasks(
            ACCT,
            &[],
            &[crate::query::filter::Filter {
                name: "task-state".into(),
                values: vec!["deleted".into()],
            }],
            None,
            None,
        )
        .expect("filter");
    assert_eq!(filtered.items.len(), 2);
    assert_eq!(
        fault(
            w.ec2
                .describe_import_image_tasks(ACCT, &["import-ami-0abc".into()], &[], None, None)
                .expect_err("unknown")
        ),
        "InvalidConversionTaskId"
    );
    // Another account sees nothing.
    assert!(
        w.ec2
            .describe_import_image_tasks("999999999999", &[], &[], None, None)
            .expect("other")
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn deregistered_bytes_wait_for_clones_and_copies() {
    let w = world();
    w.s3.put("images", "d.qcow2", qcow2(4096));
    let img = register(&w, "base", "d.qcow2");
    w.builder.run_once().await;
    let copy = w
        .ec2
        .copy_image(
            ACCT,
            CopyImage {
                source_image_id: img.id.clone(),
                source_region: "us-east-1".into(),
                name: "copy".into(),
                ..Default::default()
            },
        )
        .expect("copy");
    assert_eq!(copy.state, "available");
    assert_eq!(copy.source_image_id.as_deref(), Some(img.id.as_str()));
    assert_eq!(
        copy.source,
        ImageSource::BlockStore {
            name: img.id.clone()
        },
        "bytes shared"
    );
    let e = w.ec2.copy_image(
        ACCT,
        CopyImage {
            source_image_id: img.id.clone(),
            source_region: "eu-west-1".into(),
            name: "far".into(),
            ..Default::default()
        },
    );
    assert_eq!(fault(e.expect_err("region")), "InvalidRequest");

    // A root disk cloned from it.
    w.blocks.add("vol-1", Some(&img.id));
    w.ec2.deregister_image(ACCT, &img.id).expect("deregister");
    w.builder.run_once().await;
    assert!(
        w.blocks.names().contains(&img.id),
        "the copy still names the bytes"
    );
    w.ec2
        .deregister_image(ACCT, &copy.id)
        .expect("deregister copy");
    w.builder.run_once().await;
    assert!(
        w.blocks.names().contains(&img.id),
        "deferred: a clone uses it"
    );
    w.blocks.delete("vol-1").expect("terminate");
    w.builder.run_once().await;
    assert!(!w.blocks.names().contains(&img.id), "freed");
}

#[tokio::test]
async fn deregistering_a_pending_image_drops_its_build() {
    let w = world();
    w.s3.put("images", "d.qcow2", qcow2(4096));
    let img = register(&w, "short-lived", "d.qcow2");
    w.ec2.deregister_image(ACCT, &img.id).expect("deregister");
    assert!(jobs(&w).is_empty());
    w.builder.run_once().await;
    assert!(w.blocks.names().is_empty());
}

/// An ISO 9660 image of `len` bytes; `hybrid` puts an MBR boot signature in front.
fn iso(len: usize, hybrid: bool) -> Vec<u8> {
    let mut iso = vec![0u8; len];
    iso[0x8001..0x8006].copy_from_slice(b"CD001");
    if hybrid {
        iso[510..512].copy_from_slice(&[0x55, 0xaa]);
    }
    iso
}

#[tokio::test]
async fn an_installer_iso_becomes_an_image_booted_from_a_cdrom() {
    let w = world();
    w.s3.put("images", "installer.iso", iso(100_000, false));
    w.s3.put("images", "hybrid.iso", iso(100_000, true));
    let installer = register(&w, "installer", "installer.iso");
    let hybrid = register(&w, "hybrid", "hybrid.iso");
    w.builder.run_once().await;
    let installer = image(&w, &installer.id);
    assert_eq!(installer.state, "available");
    assert!(installer.installer_iso, "no MBR: only a CD-ROM boots it");
    assert!(
        installer.block_devices[0].volume_size >= 8,
        "a blank root of AWS's default size to install onto"
    );
    let hybrid = image(&w, &hybrid.id);
    assert_eq!(hybrid.state, "available");
    assert!(!hybrid.installer_iso, "a hybrid ISO boots as a disk");
}

#[test]
fn sniffing_formats() {
    assert_eq!(sniff_format(b"QFI\xfb\0\0\0\x03"), Ok("qcow2"));
    assert_eq!(sniff_format(&[0u8; 512]), Ok("raw"));
    assert_eq!(sniff_format(&iso(0x9000, false)), Ok("raw"));
    assert!(is_installer_iso(&iso(0x9000, false)));
    assert!(!is_installer_iso(&iso(0x9000, true)), "hybrid");
    assert!(!is_installer_iso(&[0u8; 0x9000]), "not an ISO");
    for bad in [
        &b"KDMV...."[..],
        b"vhdxfile",
        b"conectix",
        b"\x1f\x8b\x08",
        b"PK\x03\x04",
        b"LUKS\xba\xbe",
        b"",
    ] {
        assert!(sniff_format(bad).is_err(), "{bad:?}");
    }
    let mut tar = vec![0u8; 512];
    tar[257..262].copy_from_slice(b"ustar");
    assert!(sniff_format(&tar).is_err_and(|e| e.contains("OVA")));
}
