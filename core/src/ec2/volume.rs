//! EBS volumes: `CreateVolume`, `DescribeVolumes`, `AttachVolume`, `DetachVolume`,
//! `DeleteVolume`, `ModifyVolume`, volume attributes.
//!
//! The API records intent and answers at once, as AWS does: a new volume is `creating`, an
//! attachment `attaching`, a detachment `detaching`, a deletion `deleting`. The compute
//! reconciler makes each real through the `BlockStore` (create or clone) and the `Hypervisor`
//! (hot-plug) and only then moves the record on (`available`, `attached`, gone), so a client
//! waiting on `volume_available` / `volume_in_use` sees the world, not a promise. A volume
//! attached to an instance at launch is `in-use` from the start (AWS's behaviour); its
//! `provisioned` flag tells the reconciler whether the block store has it yet.

use serde::{Deserialize, Serialize};

use crate::ec2::instance::{Instance, InstanceState};
use crate::ec2::{Ec2, Fault};
use crate::ids;
use crate::query::filter::{Filter, FilterSet, FilterTable};
use crate::query::paginate::{Page, page_size};
use crate::query::tags::{self, Tag};

/// GiB in bytes.
pub const GIB: u64 = 1 << 30;

/// A volume's attachment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeAttachment {
    /// The instance.
    pub instance_id: String,
    /// `/dev/sdf`.
    pub device: String,
    /// `attaching`, `attached`, `detaching`.
    pub state: String,
    /// Milliseconds since the epoch.
    pub attach_time_ms: i64,
    /// Deleted when the instance terminates.
    pub delete_on_termination: bool,
    /// Detach forcibly (no guest cooperation).
    #[serde(default)]
    pub force_detach: bool,
}

/// A `ModifyVolume` in progress or done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeModification {
    /// `modifying`, `optimizing`, `completed`, `failed`.
    pub state: String,
    /// Before.
    pub original_size: u32,
    /// Before.
    pub original_type: String,
    /// Before.
    pub original_iops: Option<u32>,
    /// Before.
    pub original_throughput: Option<u32>,
    /// After.
    pub target_size: u32,
    /// After.
    pub target_type: String,
    /// After.
    pub target_iops: Option<u32>,
    /// After.
    pub target_throughput: Option<u32>,
    /// Milliseconds since the epoch.
    pub start_time_ms: i64,
    /// When it completed.
    pub end_time_ms: Option<i64>,
    /// Progress, percent.
    pub progress: u32,
}

/// An EBS volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// `vol-…`.
    pub id: String,
    /// Size, GiB.
    pub size_gib: u32,
    /// `gp2`, `gp3`, `io1`, `io2`, `st1`, `sc1`, `standard`.
    pub volume_type: String,
    /// Provisioned (or, for gp2, baseline) IOPS.
    pub iops: Option<u32>,
    /// gp3 throughput, MiB/s.
    pub throughput: Option<u32>,
    /// Zone.
    pub availability_zone: String,
    /// Snapshot it was created from.
    #[serde(default)]
    pub snapshot_id: Option<String>,
    /// The block-store base it is cloned from (an image or a snapshot), when any.
    #[serde(default)]
    pub base: Option<String>,
    /// Encrypted flag (recorded; encryption at rest is the block store's business).
    pub encrypted: bool,
    /// `creating`, `available`, `in-use`, `deleting`, `error`.
    pub state: String,
    /// Whether the block store holds it yet.
    #[serde(default)]
    pub provisioned: bool,
    /// Milliseconds since the epoch.
    pub create_time_ms: i64,
    /// The attachment.
    #[serde(default)]
    pub attachment: Option<VolumeAttachment>,
    /// `autoEnableIO`.
    #[serde(default)]
    pub auto_enable_io: bool,
    /// The latest modification.
    #[serde(default)]
    pub modification: Option<VolumeModification>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A volume's requested performance, checked against its type's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeSpec {
    /// Type.
    pub volume_type: String,
    /// Size, GiB.
    pub size_gib: u32,
    /// IOPS.
    pub iops: Option<u32>,
    /// Throughput.
    pub throughput: Option<u32>,
}

fn positive(name: &str, v: Option<i32>) -> Result<Option<u32>, Fault> {
    v.map(|n| {
        u32::try_from(n).map_err(|_| Fault::invalid_value(format!("{name} must be positive")))
    })
    .transpose()
}

/// Checks type, size, IOPS and throughput as AWS does, filling defaults (gp2 baseline IOPS,
/// gp3's 3000 IOPS and 125 MiB/s).
pub fn volume_spec(
    volume_type: Option<&str>,
    size: Option<i32>,
    iops: Option<i32>,
    throughput: Option<i32>,
    min_size: u32,
) -> Result<VolumeSpec, Fault> {
    let volume_type = volume_type.unwrap_or("gp2");
    let iops = positive("Iops", iops)?;
    let throughput = positive("Throughput", throughput)?;
    let size = match positive("Size", size)? {
        Some(s) => s,
        None if min_size > 0 => min_size,
        None => return Err(Fault::missing("size")),
    };
    if size < min_size {
        return Err(Fault::invalid_value(format!(
            "Volume of size {size}GiB is smaller than snapshot, expect size >= {min_size}GiB"
        )));
    }
    let (lo, hi) = match volume_type {
        "gp2" | "gp3" => (1, 16384),
        "io1" => (4, 16384),
        "io2" => (4, 65536),
        "st1" | "sc1" => (125, 16384),
        "standard" => (1, 1024),
        other => {
            return Err(Fault::invalid_value(format!(
                "Value ({other}) for parameter volumeType is invalid. Valid values: standard, io1, io2, gp2, gp3, sc1, st1."
            )));
        }
    };
    if size < lo || size > hi {
        return Err(Fault::invalid_value(format!(
            "Volume of {size}GiB is outside the range {lo}-{hi}GiB allowed for {volume_type} volumes."
        )));
    }
    if throughput.is_some() && volume_type != "gp3" {
        return Err(Fault::invalid_combination(format!(
            "The parameter throughput is not supported for {volume_type} volumes."
        )));
    }
    let iops = match volume_type {
        "gp2" | "st1" | "sc1" | "standard" => {
            if iops.is_some() {
                return Err(Fault::invalid_combination(format!(
                    "The parameter iops is not supported for {volume_type} volumes."
                )));
            }
            (volume_type == "gp2").then(|| (size * 3).clamp(100, 16000))
        }
        "gp3" => {
            let i = iops.unwrap_or(3000);
            if !(3000..=16000).contains(&i) {
                return Err(Fault::invalid_value(format!(
                    "Volume iops of {i} is too low or too high; the range for gp3 is 3000-16000."
                )));
            }
            if i > 3000 && i > size * 500 {
                return Err(Fault::invalid_value(format!(
                    "Iops to volume size ratio of {} is too high; maximum is 500.",
                    i / size
                )));
            }
            Some(i)
        }
        _ => {
            let Some(i) = iops else {
                return Err(Fault::missing("iops"));
            };
            let (max, ratio) = if volume_type == "io1" {
                (64000, 50)
            } else {
                (256_000, 1000)
            };
            if !(100..=max).contains(&i) {
                return Err(Fault::invalid_value(format!(
                    "Volume iops of {i} is outside the range 100-{max} for {volume_type}."
                )));
            }
            if i > size * ratio {
                return Err(Fault::invalid_value(format!(
                    "Iops to volume size ratio of {} is too high; maximum is {ratio}.",
                    i / size
                )));
            }
            Some(i)
        }
    };
    let throughput = if volume_type == "gp3" {
        let tp = throughput.unwrap_or(125);
        if !(125..=1000).contains(&tp) {
            return Err(Fault::invalid_value(format!(
                "Throughput of {tp}MiB/s is outside the range 125-1000 for gp3."
            )));
        }
        if tp * 4 > iops.unwrap_or(3000) && tp > 125 {
            return Err(Fault::invalid_value(format!(
                "Throughput of {tp}MiB/s is too high for {} iops; the maximum ratio is 0.25.",
                iops.unwrap_or(3000)
            )));
        }
        Some(tp)
    } else {
        None
    };
    Ok(VolumeSpec {
        volume_type: volume_type.to_owned(),
        size_gib: size,
        iops,
        throughput,
    })
}

/// Whether `device` is a name EBS accepts (`/dev/sd[a-z]`, `/dev/xvd[a-z]`, optional digits
/// or a second letter, as AWS's Linux naming rules allow).
#[must_use]
pub fn valid_device_name(device: &str) -> bool {
    let rest = device
        .strip_prefix("/dev/sd")
        .or_else(|| device.strip_prefix("/dev/xvd"))
        .or_else(|| device.strip_prefix("xvd"))
        .or_else(|| device.strip_prefix("sd"));
    let Some(rest) = rest else { return false };
    let mut chars = rest.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.clone().count() <= 2
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// The guest device a volume attached at `device` appears as under virtio: `vd` + the
/// device's letters (`/dev/xvda` → `vda`, `/dev/sdf` → `vdf`), unique per instance because
/// AWS device names are.
#[must_use]
pub fn guest_target(device: &str) -> String {
    let letters: String = device
        .trim_start_matches("/dev/")
        .trim_start_matches("xvd")
        .trim_start_matches("sd")
        .chars()
        .filter(char::is_ascii_lowercase)
        .collect();
    format!("vd{letters}")
}

/// Milliseconds since the epoch, now.
#[must_use]
pub fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// RFC 3339 with milliseconds, as EC2 prints times (and filters on them).
#[must_use]
pub fn rfc3339_ms(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// `CreateVolume`'s parameters.
#[derive(Debug, Clone, Default)]
pub struct CreateVolume {
    /// Zone (required).
    pub availability_zone: Option<String>,
    /// GiB.
    pub size: Option<i32>,
    /// Type.
    pub volume_type: Option<String>,
    /// IOPS.
    pub iops: Option<i32>,
    /// Throughput.
    pub throughput: Option<i32>,
    /// Source snapshot.
    pub snapshot_id: Option<String>,
    /// Encrypted.
    pub encrypted: bool,
    /// Tags.
    pub tags: Vec<Tag>,
}

static VOLUME_FILTERS: FilterTable<Volume> = FilterTable {
    resource: "volume",
    fields: &[
        ("attachment.attach-time", |v, o| {
            if let Some(a) = &v.attachment {
                o.push(rfc3339_ms(a.attach_time_ms));
            }
        }),
        ("attachment.delete-on-termination", |v, o| {
            if let Some(a) = &v.attachment {
                o.push(a.delete_on_termination.to_string());
            }
        }),
        ("attachment.device", |v, o| {
            if let Some(a) = &v.attachment {
                o.push(a.device.clone());
            }
        }),
        ("attachment.instance-id", |v, o| {
            if let Some(a) = &v.attachment {
                o.push(a.instance_id.clone());
            }
        }),
        ("attachment.status", |v, o| {
            if let Some(a) = &v.attachment {
                o.push(a.state.clone());
            }
        }),
        ("availability-zone", |v, o| {
            o.push(v.availability_zone.clone())
        }),
        ("create-time", |v, o| o.push(rfc3339_ms(v.create_time_ms))),
        ("encrypted", |v, o| o.push(v.encrypted.to_string())),
        ("fast-restored", |_, o| o.push("false".into())),
        ("multi-attach-enabled", |_, o| o.push("false".into())),
        ("size", |v, o| o.push(v.size_gib.to_string())),
        ("snapshot-id", |v, o| {
            o.push(v.snapshot_id.clone().unwrap_or_default())
        }),
        ("status", |v, o| o.push(v.state.clone())),
        ("volume-id", |v, o| o.push(v.id.clone())),
        ("volume-type", |v, o| o.push(v.volume_type.clone())),
    ],
    tags: Some(|v| {
        v.tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect()
    }),
};

fn not_found(id: &str) -> Fault {
    Fault::new(
        "InvalidVolume.NotFound",
        format!("The volume '{id}' does not exist."),
    )
}

fn check_id(id: &str) -> Result<(), Fault> {
    if id.starts_with("vol-") {
        Ok(())
    } else {
        Err(Fault::new(
            "InvalidVolumeID.Malformed",
            format!("Invalid id: \"{id}\" (expecting \"vol-...\")"),
        ))
    }
}

impl Ec2 {
    /// `CreateVolume`: recorded `creating`; the reconciler creates it in the block store.
    pub fn create_volume(&self, account: &str, req: CreateVolume) -> Result<Volume, Fault> {
        let Some(zone) = req.availability_zone.as_deref() else {
            return Err(Fault::missing("AvailabilityZone"));
        };
        if !self.placement().zones.iter().any(|z| z == zone) {
            return Err(Fault::new(
                "InvalidAvailabilityZone",
                format!("The availability zone '{zone}' does not exist."),
            ));
        }
        tags::validate(&req.tags).map_err(|e| Fault::invalid_value(e.to_string()))?;
        let volume = self
            .store()
            .transaction(|t| {
                let snapshot = match &req.snapshot_id {
                    Some(id) => Some(
                        t.get::<crate::ec2::snapshot::Snapshot>(account, id)
                            .filter(|s| s.state == "completed")
                            .ok_or_else(|| crate::ec2::snapshot::not_found(id))?,
                    ),
                    None => None,
                };
                let spec = volume_spec(
                    req.volume_type.as_deref(),
                    req.size,
                    req.iops,
                    req.throughput,
                    snapshot.as_ref().map_or(0, |s| s.volume_size_gib),
                )?;
                let v = Volume {
                    id: ids::resource_id("vol"),
                    size_gib: spec.size_gib,
                    volume_type: spec.volume_type,
                    iops: spec.iops,
                    throughput: spec.throughput,
                    availability_zone: zone.to_owned(),
                    snapshot_id: req.snapshot_id.clone(),
                    base: req.snapshot_id.clone(),
                    encrypted: req.encrypted || snapshot.is_some_and(|s| s.encrypted),
                    state: "creating".into(),
                    provisioned: false,
                    create_time_ms: now_ms(),
                    attachment: None,
                    auto_enable_io: false,
                    modification: None,
                    tags: req.tags.clone(),
                };
                t.put(account, v.clone());
                Ok(v)
            })
            .map_err(crate::ec2::instance::fault_of)?;
        self.compute().wake();
        Ok(volume)
    }

    /// `DescribeVolumes`.
    pub fn describe_volumes(
        &self,
        account: &str,
        ids: &[String],
        filters: &[Filter],
        max_results: Option<i32>,
        next_token: Option<&str>,
    ) -> Result<Page<Volume>, Fault> {
        if !ids.is_empty() && max_results.is_some() {
            return Err(Fault::invalid_combination(
                "The parameter volumeSet cannot be used with the parameter maxResults",
            ));
        }
        if let Some(n) = max_results
            && !(5..=500).contains(&n)
        {
            return Err(Fault::invalid_value(format!(
                "Value ( {n} ) for parameter maxResults is invalid. Parameter must be between 5 and 500."
            )));
        }
        let set = FilterSet::compile(&VOLUME_FILTERS, filters)?;
        let found = self
            .store()
            .scan(account, |v: &Volume| {
                ((ids.is_empty() || ids.contains(&v.id)) && set.matches(v)).then(|| v.clone())
            })
            .map_err(crate::ec2::instance::fault_of)?;
        for id in ids {
            check_id(id)?;
            if !found.iter().any(|v| v.id == *id)
                && self
                    .store()
                    .get::<Volume>(account, id)
                    .ok()
                    .flatten()
                    .is_none()
            {
                return Err(not_found(id));
            }
        }
        let scope = format!("DescribeVolumes{filters:?}");
        Ok(self.paginator().page(
            found,
            |v| v.id.as_str(),
            &scope,
            next_token,
            page_size(max_results),
        )?)
    }

    /// `AttachVolume`: `attaching` until the reconciler hot-plugs it.
    pub fn attach_volume(
        &self,
        account: &str,
        volume_id: &str,
        instance_id: &str,
        device: &str,
    ) -> Result<Volume, Fault> {
        check_id(volume_id)?;
        if !valid_device_name(device) {
            return Err(Fault::invalid_value(format!(
                "Value ({device}) for parameter device is invalid. {device} is not a valid EBS device name."
            )));
        }
        let v = self
            .store()
            .transaction(|t| {
                let mut v = t
                    .get::<Volume>(account, volume_id)
                    .ok_or_else(|| not_found(volume_id))?;
                let mut i = t.get::<Instance>(account, instance_id).ok_or_else(|| {
                    crate::ec2::instance::not_found(instance_id)
                })?;
                if matches!(i.state, InstanceState::Terminated | InstanceState::ShuttingDown) {
                    return Err(Fault::new(
                        "IncorrectState",
                        format!("Instance '{instance_id}' is not 'running' or 'stopped'."),
                    )
                    .into());
                }
                if v.attachment.is_some() || v.state == "in-use" {
                    return Err(Fault::new(
                        "VolumeInUse",
                        format!("{volume_id} is already attached to an instance"),
                    )
                    .into());
                }
                if v.state != "available" {
                    return Err(Fault::new(
                        "IncorrectState",
                        format!("The volume '{volume_id}' is not in the 'available' state."),
                    )
                    .into());
                }
                if v.availability_zone != i.availability_zone {
                    return Err(Fault::invalid_value(format!(
                        "The volume '{volume_id}' is not in the same availability zone as instance '{instance_id}'"
                    ))
                    .into());
                }
                if i.block_devices.iter().any(|b| b.device_name == device)
                    || guest_target(device) == guest_target(&i.root_device_name)
                        && i.block_devices.iter().any(|b| b.device_name == i.root_device_name)
                {
                    return Err(Fault::invalid_value(format!(
                        "Attachment point {device} is already in use"
                    ))
                    .into());
                }
                let now = now_ms();
                v.state = "in-use".into();
                v.attachment = Some(VolumeAttachment {
                    instance_id: instance_id.to_owned(),
                    device: device.to_owned(),
                    state: "attaching".into(),
                    attach_time_ms: now,
                    delete_on_termination: false,
                    force_detach: false,
                });
                i.block_devices.push(crate::ec2::instance::BlockDevice {
                    device_name: device.to_owned(),
                    volume_id: volume_id.to_owned(),
                    delete_on_termination: false,
                    attach_time_ms: now,
                    status: "attaching".into(),
                });
                t.put(account, i);
                t.put(account, v.clone());
                Ok(v)
            })
            .map_err(crate::ec2::instance::fault_of)?;
        self.compute().wake();
        Ok(v)
    }

    /// `DetachVolume`: `detaching` until the reconciler unplugs it; the root volume of an
    /// instance that is not stopped cannot be detached.
    pub fn detach_volume(
        &self,
        account: &str,
        volume_id: &str,
        instance_id: Option<&str>,
        device: Option<&str>,
        force: bool,
    ) -> Result<Volume, Fault> {
        check_id(volume_id)?;
        let v = self
            .store()
            .transaction(|t| {
                let mut v = t
                    .get::<Volume>(account, volume_id)
                    .ok_or_else(|| not_found(volume_id))?;
                let Some(att) = v.attachment.as_mut() else {
                    return Err(Fault::new(
                        "IncorrectState",
                        format!("Volume '{volume_id}' is in the 'available' state."),
                    )
                    .into());
                };
                if instance_id.is_some_and(|i| i != att.instance_id)
                    || device.is_some_and(|d| d != att.device)
                {
                    return Err(Fault::new(
                        "InvalidAttachment.NotFound",
                        format!(
                            "The volume '{volume_id}' is not attached to the instance and device given."
                        ),
                    )
                    .into());
                }
                if let Some(mut i) = t.get::<Instance>(account, &att.instance_id) {
                    if att.device == i.root_device_name && i.state != InstanceState::Stopped {
                        return Err(Fault::new(
                            "IncorrectState",
                            format!(
                                "Unable to detach root volume '{volume_id}' from instance '{}'",
                                i.id
                            ),
                        )
                        .into());
                    }
                    for b in &mut i.block_devices {
                        if b.volume_id == volume_id {
                            b.status = "detaching".into();
                        }
                    }
                    t.put(account, i);
                }
                att.state = "detaching".into();
                att.force_detach |= force;
                t.put(account, v.clone());
                Ok(v)
            })
            .map_err(crate::ec2::instance::fault_of)?;
        self.compute().wake();
        Ok(v)
    }

    /// `DeleteVolume`: refused while attached; `deleting` until the block store drops it.
    pub fn delete_volume(&self, account: &str, volume_id: &str) -> Result<(), Fault> {
        check_id(volume_id)?;
        self.store()
            .transaction(|t| {
                let mut v = t
                    .get::<Volume>(account, volume_id)
                    .ok_or_else(|| not_found(volume_id))?;
                if v.attachment.is_some() || v.state == "in-use" {
                    return Err(Fault::new(
                        "VolumeInUse",
                        format!("Volume {volume_id} is currently attached to an instance"),
                    )
                    .into());
                }
                if v.state == "deleting" {
                    return Ok(());
                }
                if !v.provisioned {
                    t.delete::<Volume>(account, volume_id);
                    return Ok(());
                }
                v.state = "deleting".into();
                t.put(account, v);
                Ok(())
            })
            .map_err(crate::ec2::instance::fault_of)?;
        self.compute().wake();
        Ok(())
    }

    /// `ModifyVolume`: grow only (and change type / IOPS / throughput within the rules);
    /// the reconciler resizes the block device and completes the modification.
    pub fn modify_volume(
        &self,
        account: &str,
        volume_id: &str,
        size: Option<i32>,
        volume_type: Option<&str>,
        iops: Option<i32>,
        throughput: Option<i32>,
    ) -> Result<VolumeModification, Fault> {
        check_id(volume_id)?;
        let m = self
            .store()
            .transaction(|t| {
                let mut v = t
                    .get::<Volume>(account, volume_id)
                    .ok_or_else(|| not_found(volume_id))?;
                if v.modification
                    .as_ref()
                    .is_some_and(|m| m.state == "modifying")
                {
                    return Err(Fault::new(
                        "IncorrectModificationState",
                        format!("Volume {volume_id} is already being modified."),
                    )
                    .into());
                }
                if !matches!(v.state.as_str(), "available" | "in-use") {
                    return Err(Fault::new(
                        "IncorrectState",
                        format!("Volume {volume_id} is in the '{}' state.", v.state),
                    )
                    .into());
                }
                let target_type = volume_type.unwrap_or(&v.volume_type).to_owned();
                let keep_iops = if target_type == v.volume_type
                    && matches!(target_type.as_str(), "gp3" | "io1" | "io2")
                {
                    v.iops.and_then(|i| i32::try_from(i).ok())
                } else {
                    None
                };
                let keep_tp = if target_type == "gp3" && v.volume_type == "gp3" {
                    v.throughput.and_then(|i| i32::try_from(i).ok())
                } else {
                    None
                };
                let spec = volume_spec(
                    Some(&target_type),
                    Some(size.unwrap_or(i32::try_from(v.size_gib).unwrap_or(i32::MAX))),
                    iops.or(keep_iops),
                    throughput.or(keep_tp),
                    0,
                )?;
                if spec.size_gib < v.size_gib {
                    return Err(Fault::invalid_value(format!(
                        "New size cannot be smaller than existing size: {} < {}",
                        spec.size_gib, v.size_gib
                    ))
                    .into());
                }
                let m = VolumeModification {
                    state: "modifying".into(),
                    original_size: v.size_gib,
                    original_type: v.volume_type.clone(),
                    original_iops: v.iops,
                    original_throughput: v.throughput,
                    target_size: spec.size_gib,
                    target_type: spec.volume_type.clone(),
                    target_iops: spec.iops,
                    target_throughput: spec.throughput,
                    start_time_ms: now_ms(),
                    end_time_ms: None,
                    progress: 0,
                };
                v.modification = Some(m.clone());
                t.put(account, v);
                Ok(m)
            })
            .map_err(crate::ec2::instance::fault_of)?;
        self.compute().wake();
        Ok(m)
    }

    /// `DescribeVolumesModifications`.
    pub fn describe_volume_modifications(
        &self,
        account: &str,
        ids: &[String],
    ) -> Result<Vec<(String, VolumeModification)>, Fault> {
        for id in ids {
            check_id(id)?;
            if self
                .store()
                .get::<Volume>(account, id)
                .map_err(crate::ec2::instance::fault_of)?
                .is_none()
            {
                return Err(not_found(id));
            }
        }
        self.store()
            .scan(account, |v: &Volume| {
                if !ids.is_empty() && !ids.contains(&v.id) {
                    return None;
                }
                v.modification.clone().map(|m| (v.id.clone(), m))
            })
            .map_err(crate::ec2::instance::fault_of)
    }

    /// One volume (`DescribeVolumeAttribute`).
    pub fn volume(&self, account: &str, volume_id: &str) -> Result<Volume, Fault> {
        check_id(volume_id)?;
        self.store()
            .get::<Volume>(account, volume_id)
            .map_err(crate::ec2::instance::fault_of)?
            .ok_or_else(|| not_found(volume_id))
    }

    /// `ModifyVolumeAttribute` (`autoEnableIO`).
    pub fn set_volume_auto_enable_io(
        &self,
        account: &str,
        volume_id: &str,
        on: bool,
    ) -> Result<(), Fault> {
        check_id(volume_id)?;
        self.store()
            .transaction(|t| {
                let mut v = t
                    .get::<Volume>(account, volume_id)
                    .ok_or_else(|| not_found(volume_id))?;
                v.auto_enable_io = on;
                t.put(account, v);
                Ok(())
            })
            .map_err(crate::ec2::instance::fault_of)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_rules() {
        let gp2 = volume_spec(None, Some(10), None, None, 0).expect("gp2");
        assert_eq!((gp2.iops, gp2.throughput), (Some(100), None));
        assert_eq!(
            volume_spec(Some("gp2"), Some(1000), None, None, 0)
                .expect("gp2")
                .iops,
            Some(3000)
        );
        let gp3 = volume_spec(Some("gp3"), Some(8), None, None, 0).expect("gp3");
        assert_eq!((gp3.iops, gp3.throughput), (Some(3000), Some(125)));
        assert!(volume_spec(Some("gp2"), Some(8), Some(300), None, 0).is_err());
        assert!(volume_spec(Some("gp3"), Some(8), Some(16000), None, 0).is_err());
        assert!(volume_spec(Some("gp3"), Some(100), Some(4000), Some(1001), 0).is_err());
        assert!(volume_spec(Some("io1"), Some(10), None, None, 0).is_err());
        assert!(volume_spec(Some("io1"), Some(10), Some(600), None, 0).is_err());
        assert!(volume_spec(Some("io1"), Some(10), Some(500), None, 0).is_ok());
        assert!(volume_spec(Some("st1"), Some(10), None, None, 0).is_err());
        assert!(volume_spec(Some("standard"), Some(2000), None, None, 0).is_err());
        assert!(volume_spec(Some("gp9"), Some(10), None, None, 0).is_err());
        assert!(volume_spec(None, None, None, None, 0).is_err());
        assert_eq!(
            volume_spec(None, None, None, None, 8)
                .expect("snap")
                .size_gib,
            8
        );
        assert!(volume_spec(None, Some(4), None, None, 8).is_err());
    }

    #[test]
    fn devices() {
        for ok in ["/dev/sdf", "/dev/xvdf", "/dev/sdh1", "xvdba", "/dev/xvda"] {
            assert!(valid_device_name(ok), "{ok}");
        }
        for bad in ["/dev/hda", "/dev/sd", "sdF", "/dev/sdf/../x", ""] {
            assert!(!valid_device_name(bad), "{bad}");
        }
        assert_eq!(guest_target("/dev/xvda"), "vda");
        assert_eq!(guest_target("/dev/sdf"), "vdf");
        assert_eq!(rfc3339_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
