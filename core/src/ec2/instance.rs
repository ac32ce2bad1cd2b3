//! Instances: `RunInstances`, `DescribeInstances`, `Start/Stop/Reboot/TerminateInstances`,
//! instance attributes, `DescribeInstanceStatus`, credit specifications, metadata options.
//!
//! The record holds intent (`desired`) and the observed `state`. The API never claims what
//! the world has not done: a launch is `pending`, a stop `stopping`, a termination
//! `shutting-down`; the compute reconciler (`compute::reconciler`) moves the state on when
//! the hypervisor reports it. Terminated instances stay visible for an hour, then the
//! reconciler removes them.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::compute::scheduler::{self, HostCapacity, PlacementRequest, ScheduleError};
use crate::ec2::image::{ImageSource, KernelBoot};
use crate::ec2::instance_types::{self, InstanceTypeInfo};
use crate::ec2::key_pair::KeyPair;
use crate::ec2::network_interface::{self, GroupRef, NetworkInterface};
use crate::ec2::placement_group;
use crate::ec2::security_group::SecurityGroup;
use crate::ec2::store::Txn;
use crate::ec2::subnet::Subnet;
use crate::ec2::volume::{self, Volume, VolumeAttachment, now_ms, rfc3339_ms};
use crate::ec2::vpc::Vpc;
use crate::ec2::{Ec2, Fault};
use crate::ids;
use crate::query::filter::{Filter, FilterSet, FilterTable};
use crate::query::paginate::{Page, page_size};
use crate::query::tags::{self, Tag};

/// How long a terminated instance stays visible.
pub const TERMINATED_VISIBLE_MS: i64 = 60 * 60 * 1000;

/// Most user data, decoded.
pub const MAX_USER_DATA: usize = 16 * 1024;

/// An instance's state, with AWS's codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceState {
    /// 0.
    Pending,
    /// 16.
    Running,
    /// 32.
    ShuttingDown,
    /// 48.
    Terminated,
    /// 64.
    Stopping,
    /// 80.
    Stopped,
}

impl InstanceState {
    /// AWS's code.
    #[must_use]
    pub fn code(self) -> i32 {
        match self {
            Self::Pending => 0,
            Self::Running => 16,
            Self::ShuttingDown => 32,
            Self::Terminated => 48,
            Self::Stopping => 64,
            Self::Stopped => 80,
        }
    }

    /// AWS's name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::ShuttingDown => "shutting-down",
            Self::Terminated => "terminated",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
        }
    }
}

/// What the instance should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Desired {
    /// Running.
    Running,
    /// Stopped.
    Stopped,
    /// Gone.
    Terminated,
}

/// `StateReason`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateReason {
    /// `Client.UserInitiatedShutdown`.
    pub code: String,
    /// `Client.UserInitiatedShutdown: User initiated shutdown`.
    pub message: String,
}

impl StateReason {
    /// A reason in AWS's words: the message repeats the code.
    #[must_use]
    pub fn new(code: &str, text: &str) -> Self {
        Self {
            code: code.into(),
            message: format!("{code}: {text}"),
        }
    }
}

/// An EBS block device mapping of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockDevice {
    /// `/dev/xvda`.
    pub device_name: String,
    /// The volume.
    pub volume_id: String,
    /// Deleted with the instance.
    pub delete_on_termination: bool,
    /// Milliseconds since the epoch.
    pub attach_time_ms: i64,
    /// `attaching`, `attached`, `detaching`.
    pub status: String,
}

/// Instance metadata service options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataOptions {
    /// `optional` or `required`.
    pub http_tokens: String,
    /// 1..=64.
    pub http_put_response_hop_limit: u32,
    /// `enabled` or `disabled`.
    pub http_endpoint: String,
    /// `enabled` or `disabled`.
    pub http_protocol_ipv6: String,
    /// `enabled` or `disabled`.
    pub instance_metadata_tags: String,
}

impl Default for MetadataOptions {
    fn default() -> Self {
        Self {
            http_tokens: "optional".into(),
            http_put_response_hop_limit: 1,
            http_endpoint: "enabled".into(),
            http_protocol_ipv6: "disabled".into(),
            instance_metadata_tags: "disabled".into(),
        }
    }
}

/// An instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// `i-…`.
    pub id: String,
    /// `r-…`.
    pub reservation_id: String,
    /// Position in its launch.
    pub launch_index: u32,
    /// Image.
    pub image_id: String,
    /// Type name.
    pub instance_type: String,
    /// Key pair name.
    #[serde(default)]
    pub key_name: Option<String>,
    /// Subnet.
    pub subnet_id: String,
    /// VPC.
    pub vpc_id: String,
    /// Zone.
    pub availability_zone: String,
    /// Placement group name.
    #[serde(default)]
    pub placement_group: Option<String>,
    /// Placement group id (`pg-…`; absent on records older than placement groups).
    #[serde(default)]
    pub placement_group_id: Option<String>,
    /// Partition number, in a partition placement group.
    #[serde(default)]
    pub partition_number: Option<u32>,
    /// `default`, `dedicated`, `host`.
    pub tenancy: String,
    /// The compute host it is placed on.
    pub host: String,
    /// Primary private IP.
    pub private_ip: String,
    /// Primary private DNS name.
    pub private_dns_name: String,
    /// ENIs, primary first.
    pub network_interfaces: Vec<String>,
    /// Security groups (of the primary ENI).
    pub groups: Vec<GroupRef>,
    /// User data, base64 as sent.
    #[serde(default)]
    pub user_data: Option<String>,
    /// Direct kernel boot, copied from the image at launch (so deregistering the image does
    /// not change how the instance boots).
    #[serde(default)]
    pub kernel_boot: Option<KernelBoot>,
    /// The `BlockStore` image in its CD-ROM drive, booted first: an installer ISO's (see
    /// `Image::installer_iso`), copied at launch like `kernel_boot`.
    #[serde(default)]
    pub cdrom: Option<String>,
    /// Observed state.
    pub state: InstanceState,
    /// Intent.
    pub desired: Desired,
    /// A reboot is requested and not yet done.
    #[serde(default)]
    pub reboot_requested: bool,
    /// `CreateImage` without `NoReboot` is holding the guest down to image its root disk.
    #[serde(default)]
    pub image_reboot: Option<ImageReboot>,
    /// Stop forcibly (no ACPI grace).
    #[serde(default)]
    pub force_stop: bool,
    /// When ACPI shutdown was requested (ms), while stopping.
    #[serde(default)]
    pub shutdown_requested_ms: Option<i64>,
    /// `StateReason`.
    #[serde(default)]
    pub state_reason: Option<StateReason>,
    /// `StateTransitionReason`.
    #[serde(default)]
    pub state_transition_reason: String,
    /// Milliseconds since the epoch of the last start.
    pub launch_time_ms: i64,
    /// When it reached `terminated`.
    #[serde(default)]
    pub terminated_ms: Option<i64>,
    /// `/dev/xvda`.
    pub root_device_name: String,
    /// EBS mappings, root first.
    pub block_devices: Vec<BlockDevice>,
    /// IMDS options.
    pub metadata: MetadataOptions,
    /// `DisableApiTermination`.
    pub disable_api_termination: bool,
    /// `DisableApiStop`.
    #[serde(default)]
    pub disable_api_stop: bool,
    /// `stop` or `terminate`.
    pub shutdown_behavior: String,
    /// EBS optimised.
    pub ebs_optimized: bool,
    /// ENA.
    pub ena_support: bool,
    /// Detailed monitoring.
    pub monitoring: bool,
    /// `standard` or `unlimited` for burstable types.
    #[serde(default)]
    pub cpu_credits: Option<String>,
    /// `ClientToken`.
    #[serde(default)]
    pub client_token: Option<String>,
    /// Auto-recovery: `default` or `disabled`.
    #[serde(default = "default_auto_recovery")]
    pub auto_recovery: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

fn default_auto_recovery() -> String {
    "default".into()
}

impl Instance {
    /// The catalog entry of its type.
    #[must_use]
    pub fn type_info(&self) -> Option<&'static InstanceTypeInfo> {
        instance_types::lookup(&self.instance_type)
    }

    /// Whether it holds host capacity (not stopped or terminated).
    #[must_use]
    pub fn holds_capacity(&self) -> bool {
        !matches!(
            self.state,
            InstanceState::Stopped | InstanceState::Terminated
        ) || self.desired == Desired::Running
    }
}

/// An instance with its network interfaces, as describe calls report it.
#[derive(Debug, Clone)]
pub struct InstanceView {
    /// Owner account.
    pub owner_id: String,
    /// The instance.
    pub instance: Instance,
    /// Its ENIs, primary first.
    pub enis: Vec<NetworkInterface>,
    /// Elastic IP addresses associated with its ENIs.
    pub public_ips: Vec<PublicIpView>,
}

/// A public address mapped to one of an instance's ENIs (an associated Elastic IP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicIpView {
    /// The ENI.
    pub network_interface_id: String,
    /// The private address it maps to.
    pub private_ip: String,
    /// The public address.
    pub public_ip: String,
    /// `eipalloc-…` (none for an address assigned at launch).
    pub allocation_id: Option<String>,
    /// `eipassoc-…` (none for an address assigned at launch).
    pub association_id: Option<String>,
    /// The address's owner.
    pub ip_owner_id: String,
}

impl InstanceView {
    /// The public address of the primary ENI (`PublicIpAddress`).
    #[must_use]
    pub fn public_ip(&self) -> Option<&PublicIpView> {
        let primary = self.instance.network_interfaces.first()?;
        self.public_ip_of(primary)
    }

    /// The public address mapped to ENI `eni_id`.
    #[must_use]
    pub fn public_ip_of(&self, eni_id: &str) -> Option<&PublicIpView> {
        self.public_ips
            .iter()
            .find(|p| p.network_interface_id == eni_id)
    }
}

/// The public addresses of `enis`: an associated Elastic IP, else one assigned at launch (or
/// by the service managing the interface: a load balancer's node).
pub(crate) fn public_ips_of(
    addresses: &[crate::ec2::address::Address],
    account: &str,
    enis: &[NetworkInterface],
) -> Vec<PublicIpView> {
    enis.iter()
        .filter_map(|e| {
            let eip = addresses.iter().find_map(|a| {
                let x = a.association.as_ref()?;
                (x.network_interface_id.as_deref() == Some(e.id.as_str())).then(|| PublicIpView {
                    network_interface_id: e.id.clone(),
                    private_ip: x.private_ip.clone().unwrap_or_else(|| e.private_ip.clone()),
                    public_ip: a.public_ip.clone(),
                    allocation_id: Some(a.id.clone()),
                    association_id: Some(x.id.clone()),
                    ip_owner_id: account.to_owned(),
                })
            });
            eip.or_else(|| {
                e.public_ip.as_ref().map(|ip| PublicIpView {
                    network_interface_id: e.id.clone(),
                    private_ip: e.private_ip.clone(),
                    public_ip: ip.clone(),
                    allocation_id: None,
                    association_id: None,
                    ip_owner_id: e.requester_id.clone().unwrap_or_else(|| "amazon".into()),
                })
            })
        })
        .collect()
}

/// The image a launch uses, as the image catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchImage {
    /// `ami-…`.
    pub id: String,
    /// Name of its disk in the block store.
    pub block_store_name: String,
    /// Root device name.
    pub root_device_name: String,
    /// Root disk size, GiB.
    pub size_gib: u32,
    /// Direct kernel boot, from the image.
    pub kernel_boot: Option<KernelBoot>,
    /// The image is an installer ISO: it goes into a CD-ROM drive and the root volume is blank.
    pub installer_iso: bool,
}

/// A `CreateImage` reboot in progress: the reconciler shuts the guest down (ACPI, forced after
/// the stop timeout), publishes the root volume's bytes as the image, and starts it again. The
/// instance stays `running` for the API throughout, as on EC2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageReboot {
    /// The image (`ami-…`), also the name its bytes get in the `BlockStore`.
    pub image_id: String,
    /// The root volume imaged.
    pub volume_id: String,
    /// When the ACPI shutdown was sent (ms).
    #[serde(default)]
    pub shutdown_sent_ms: Option<i64>,
}

/// One EBS mapping requested at launch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockDeviceRequest {
    /// Device name.
    pub device_name: String,
    /// `NoDevice`: suppress the image's mapping.
    pub no_device: bool,
    /// Size, GiB.
    pub volume_size: Option<i32>,
    /// Type.
    pub volume_type: Option<String>,
    /// IOPS.
    pub iops: Option<i32>,
    /// Throughput.
    pub throughput: Option<i32>,
    /// Delete on termination (default true).
    pub delete_on_termination: Option<bool>,
    /// Encrypted.
    pub encrypted: Option<bool>,
    /// Snapshot.
    pub snapshot_id: Option<String>,
}

/// Metadata options as requested (unset fields keep their defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataRequest {
    /// `optional` / `required`.
    pub http_tokens: Option<String>,
    /// 1..=64.
    pub http_put_response_hop_limit: Option<i32>,
    /// `enabled` / `disabled`.
    pub http_endpoint: Option<String>,
    /// `enabled` / `disabled`.
    pub http_protocol_ipv6: Option<String>,
    /// `enabled` / `disabled`.
    pub instance_metadata_tags: Option<String>,
}

/// `RunInstances`' parameters.
#[derive(Debug, Clone, Default)]
pub struct RunInstances {
    /// Image (required).
    pub image_id: Option<String>,
    /// Type (AWS defaults to `m1.small`, which Kumo does not offer: name one of the catalog).
    pub instance_type: Option<String>,
    /// MinCount.
    pub min_count: i32,
    /// MaxCount.
    pub max_count: i32,
    /// Subnet (else the default subnet).
    pub subnet_id: Option<String>,
    /// `AssociatePublicIpAddress` of the primary interface (else the subnet's
    /// `MapPublicIpOnLaunch`).
    pub associate_public_ip: Option<bool>,
    /// Security group ids.
    pub security_group_ids: Vec<String>,
    /// Security group names (default VPC).
    pub security_groups: Vec<String>,
    /// Key pair.
    pub key_name: Option<String>,
    /// Base64 user data.
    pub user_data: Option<String>,
    /// Block device mappings.
    pub block_devices: Vec<BlockDeviceRequest>,
    /// IMDS options.
    pub metadata: MetadataRequest,
    /// Tags for the instances.
    pub instance_tags: Vec<Tag>,
    /// Tags for the volumes.
    pub volume_tags: Vec<Tag>,
    /// Tags for the ENIs.
    pub eni_tags: Vec<Tag>,
    /// Placement zone.
    pub availability_zone: Option<String>,
    /// Placement group, by name.
    pub placement_group: Option<String>,
    /// Placement group, by id.
    pub placement_group_id: Option<String>,
    /// `Placement.PartitionNumber`.
    pub partition_number: Option<i32>,
    /// Tenancy.
    pub tenancy: Option<String>,
    /// Primary private IP.
    pub private_ip: Option<String>,
    /// ClientToken.
    pub client_token: Option<String>,
    /// `stop` / `terminate`.
    pub shutdown_behavior: Option<String>,
    /// DisableApiTermination.
    pub disable_api_termination: bool,
    /// DisableApiStop.
    pub disable_api_stop: bool,
    /// EbsOptimized.
    pub ebs_optimized: Option<bool>,
    /// Detailed monitoring.
    pub monitoring: bool,
    /// CPU credits for burstable types.
    pub cpu_credits: Option<String>,
}

/// The result of a launch.
#[derive(Debug, Clone)]
pub struct Reservation {
    /// `r-…`.
    pub id: String,
    /// Owner.
    pub owner_id: String,
    /// Instances.
    pub instances: Vec<InstanceView>,
}

/// A state change (`Start/Stop/TerminateInstances`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    /// Instance.
    pub instance_id: String,
    /// Before.
    pub previous: InstanceState,
    /// After.
    pub current: InstanceState,
}

/// Maps a store error to a fault (a non-fault error is Kumo's, logged and answered as an
/// internal error by the protocol crate via [`Error`]; here it becomes `InternalError`).
pub(crate) fn fault_of(e: Error) -> Fault {
    match e {
        Error::Fault(f) => f,
        Error::InvalidArgument(m) => Fault::invalid_value(m),
        other => {
            tracing::error!(error = %other, "EC2 store failure");
            Fault::new("InternalError", "An internal error has occurred").with_status(500)
        }
    }
}

pub(crate) fn not_found(id: &str) -> Fault {
    Fault::new(
        "InvalidInstanceID.NotFound",
        format!("The instance ID '{id}' does not exist"),
    )
}

fn check_id(id: &str) -> Result<(), Fault> {
    let hex = id.strip_prefix("i-").unwrap_or("");
    if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(Fault::new(
            "InvalidInstanceID.Malformed",
            format!("Invalid id: \"{id}\""),
        ))
    }
}

/// The image a launch names: an `Image` record the account may launch — its own, a public
/// one (the cloud's, stored under `CLOUD_OWNER_ID`) or one whose launch permissions name it.
///
/// Only `available` images, whose bytes are in the `BlockStore`, can boot: an image registered
/// from S3 stays `ImageSource::S3` (and `pending`) until the image builder has imported it.
fn find_image(ec2: &Ec2, account: &str, image_id: &str) -> Result<LaunchImage, Fault> {
    if !image_id.starts_with("ami-") {
        return Err(Fault::new(
            "InvalidAMIID.Malformed",
            format!("Invalid id: \"{image_id}\" (expecting \"ami-...\")"),
        ));
    }
    let image = ec2.image(account, image_id).map_err(fault_of)?;
    if image.state != "available" {
        return Err(Fault::new(
            "InvalidAMIID.Unavailable",
            format!(
                "The image id '[{image_id}]' is not available (state: {}).",
                image.state
            ),
        ));
    }
    let name = match &image.source {
        ImageSource::BlockStore { name } => name.clone(),
        ImageSource::S3 { .. } => {
            return Err(Fault::new(
                "InvalidAMIID.Unavailable",
                format!(
                    "The image id '[{image_id}]' has not been imported from S3 into this cloud's block store yet."
                ),
            ));
        }
    };
    let size_gib = image
        .block_devices
        .iter()
        .find(|d| d.device_name == image.root_device_name)
        .or_else(|| image.block_devices.first())
        .map_or(1, |d| u32::try_from(d.volume_size.max(1)).unwrap_or(1));
    Ok(LaunchImage {
        id: image.id.clone(),
        block_store_name: name,
        root_device_name: image.root_device_name.clone(),
        size_gib,
        kernel_boot: image.kernel_boot.clone(),
        installer_iso: image.installer_iso,
    })
}

/// Whether the key pair exists in the account.
fn key_pair_exists(t: &Txn<'_>, account: &str, name: &str) -> bool {
    t.list::<KeyPair>(account).iter().any(|k| k.name == name)
}

/// The subnet a launch without `SubnetId` uses: the account's default subnet (in the
/// requested zone, else the first zone that has one). The caller has run
/// `ensure_defaults(account)` (defaults.rs) first, so a fresh account has them.
fn default_subnet(t: &Txn<'_>, account: &str, zone: Option<&str>) -> Result<Subnet, Fault> {
    t.list::<Subnet>(account)
        .into_iter()
        .filter(|s| s.default_for_az)
        .filter(|s| zone.is_none_or(|z| s.availability_zone == z))
        .min_by(|a, b| a.availability_zone.cmp(&b.availability_zone))
        .ok_or_else(|| {
            Fault::new(
                "VPCIdNotSpecified",
                "No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.",
            )
        })
}

fn group_not_found(what: &str) -> Fault {
    Fault::new(
        "InvalidGroup.NotFound",
        format!("The security group '{what}' does not exist in VPC"),
    )
}

fn resolve_groups(
    t: &Txn<'_>,
    account: &str,
    vpc: &Vpc,
    ids: &[String],
    names: &[String],
) -> Result<Vec<GroupRef>, Fault> {
    let all: Vec<SecurityGroup> = t
        .list::<SecurityGroup>(account)
        .into_iter()
        .filter(|g| g.vpc_id == vpc.id)
        .collect();
    let mut out: Vec<GroupRef> = Vec::new();
    for id in ids {
        let g = all
            .iter()
            .find(|g| g.id == *id)
            .ok_or_else(|| group_not_found(id))?;
        out.push(GroupRef {
            id: g.id.clone(),
            name: g.name.clone(),
        });
    }
    for name in names {
        let g = all
            .iter()
            .find(|g| g.name == *name)
            .ok_or_else(|| group_not_found(name))?;
        out.push(GroupRef {
            id: g.id.clone(),
            name: g.name.clone(),
        });
    }
    if out.is_empty() {
        let g = all
            .iter()
            .find(|g| g.id == vpc.default_security_group_id || g.name == "default")
            .ok_or_else(|| group_not_found("default"))?;
        out.push(GroupRef {
            id: g.id.clone(),
            name: g.name.clone(),
        });
    }
    out.dedup_by(|a, b| a.id == b.id);
    Ok(out)
}

fn check_enabled(name: &str, v: &str) -> Result<(), Fault> {
    if matches!(v, "enabled" | "disabled") {
        Ok(())
    } else {
        Err(Fault::invalid_value(format!(
            "Value ({v}) for parameter {name} is invalid. Valid values: enabled, disabled."
        )))
    }
}

fn apply_metadata(m: &mut MetadataOptions, r: &MetadataRequest) -> Result<(), Fault> {
    if let Some(v) = &r.http_tokens {
        if !matches!(v.as_str(), "optional" | "required") {
            return Err(Fault::invalid_value(format!(
                "Value ({v}) for parameter HttpTokens is invalid. Valid values: optional, required."
            )));
        }
        m.http_tokens = v.clone();
    }
    if let Some(v) = r.http_put_response_hop_limit {
        m.http_put_response_hop_limit = u32::try_from(v)
            .ok()
            .filter(|h| (1..=64).contains(h))
            .ok_or_else(|| {
                Fault::invalid_value(format!(
                    "Value ({v}) for parameter HttpPutResponseHopLimit is invalid. Valid values: 1-64."
                ))
            })?;
    }
    if let Some(v) = &r.http_endpoint {
        check_enabled("HttpEndpoint", v)?;
        m.http_endpoint = v.clone();
    }
    if let Some(v) = &r.http_protocol_ipv6 {
        check_enabled("HttpProtocolIpv6", v)?;
        m.http_protocol_ipv6 = v.clone();
    }
    if let Some(v) = &r.instance_metadata_tags {
        check_enabled("InstanceMetadataTags", v)?;
        m.instance_metadata_tags = v.clone();
    }
    Ok(())
}

fn check_user_data(user_data: Option<&str>) -> Result<(), Fault> {
    let Some(ud) = user_data else { return Ok(()) };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(ud.trim())
        .map_err(|_| Fault::invalid_value("Invalid BASE64 encoding of user data."))?;
    if decoded.len() > MAX_USER_DATA {
        return Err(Fault::invalid_value(format!(
            "User data is limited to {MAX_USER_DATA} bytes"
        )));
    }
    Ok(())
}

/// Capacity in use per host (vCPUs, MiB) by instances that hold capacity, all accounts.
fn host_usage(t: &Txn<'_>) -> BTreeMap<String, (u32, u64)> {
    let mut used: BTreeMap<String, (u32, u64)> = BTreeMap::new();
    for (_, i) in t.list_all::<Instance>() {
        if !i.holds_capacity() {
            continue;
        }
        if let Some(ti) = i.type_info() {
            let e = used.entry(i.host.clone()).or_default();
            e.0 += ti.vcpus;
            e.1 += ti.memory_mib;
        }
    }
    used
}

fn insufficient(msg: impl Into<String>) -> Fault {
    Fault::new("InsufficientInstanceCapacity", msg).with_status(503)
}

impl Ec2 {
    /// `RunInstances`.
    #[allow(clippy::too_many_lines)]
    pub fn run_instances(&self, account: &str, req: RunInstances) -> Result<Reservation, Fault> {
        let Some(image_id) = req.image_id.as_deref() else {
            return Err(Fault::missing("ImageId"));
        };
        let type_name = req.instance_type.as_deref().unwrap_or("m1.small");
        let Some(itype) = instance_types::lookup(type_name) else {
            return Err(Fault::invalid_value(format!(
                "The requested instance type '{type_name}' is not supported on this endpoint."
            )));
        };
        if req.min_count < 1 || req.max_count < 1 {
            return Err(Fault::invalid_value(
                "MinCount and MaxCount must be greater than zero.",
            ));
        }
        if req.min_count > req.max_count {
            return Err(Fault::invalid_value(
                "MinCount must be less than or equal to MaxCount.",
            ));
        }
        if req.private_ip.is_some() && req.max_count > 1 {
            return Err(Fault::invalid_combination(
                "Cannot specify PrivateIpAddress with MaxCount greater than 1.",
            ));
        }
        check_user_data(req.user_data.as_deref())?;
        let mut metadata = MetadataOptions::default();
        apply_metadata(&mut metadata, &req.metadata)?;
        let shutdown_behavior = req
            .shutdown_behavior
            .clone()
            .unwrap_or_else(|| "stop".into());
        if !matches!(shutdown_behavior.as_str(), "stop" | "terminate") {
            return Err(Fault::invalid_value(format!(
                "Value ({shutdown_behavior}) for parameter InstanceInitiatedShutdownBehavior is invalid."
            )));
        }
        if let Some(c) = &req.cpu_credits {
            if !itype.burstable {
                return Err(Fault::new(
                    "UnsupportedOperation",
                    format!("The instance type {type_name} does not support CPU credits."),
                ));
            }
            if !matches!(c.as_str(), "standard" | "unlimited") {
                return Err(Fault::invalid_value(format!(
                    "Value ({c}) for parameter CpuCredits is invalid."
                )));
            }
        }
        if let Some(t) = &req.tenancy
            && t != "default"
        {
            return Err(Fault::new(
                "Unsupported",
                format!("The tenancy '{t}' is not supported on this endpoint."),
            ));
        }
        for tags in [&req.instance_tags, &req.volume_tags, &req.eni_tags] {
            tags::validate(tags).map_err(|e| Fault::invalid_value(e.to_string()))?;
        }
        for b in &req.block_devices {
            if !volume::valid_device_name(&b.device_name) {
                return Err(Fault::new(
                    "InvalidBlockDeviceMapping",
                    format!("Invalid device name {}", b.device_name),
                ));
            }
        }
        // Terraform sends `Placement.AvailabilityZone=""` for "any zone".
        if let Some(z) = req.availability_zone.as_ref().filter(|z| !z.is_empty())
            && !self.placement().zones.contains(z)
        {
            return Err(Fault::invalid_value(format!(
                "Invalid availability zone: [{z}]"
            )));
        }
        let hosts = self.compute().hosts();
        if hosts.is_empty() {
            return Err(insufficient(
                "We currently do not have sufficient capacity: no compute host is registered on this endpoint.",
            ));
        }
        let image = find_image(self, account, image_id)?;
        if req.subnet_id.is_none() {
            self.ensure_defaults(account).map_err(fault_of)?;
        }
        let region = self.placement().region.clone();
        let pool = self.public_pool();
        let max_vcpus = self.compute().max_vcpus_per_account();
        let reservation = self
            .store()
            .transaction(|t| {
                let subnet = match &req.subnet_id {
                    Some(id) => t.get::<Subnet>(account, id).ok_or_else(|| {
                        Fault::new(
                            "InvalidSubnetID.NotFound",
                            format!("The subnet ID '{id}' does not exist"),
                        )
                    })?,
                    None => default_subnet(t, account, req.availability_zone.as_deref())?,
                };
                if let Some(z) = req.availability_zone.as_ref().filter(|z| !z.is_empty())
                    && *z != subnet.availability_zone
                {
                    return Err(Fault::invalid_value(format!(
                        "The subnet '{}' is in {}, not in the requested zone {z}.",
                        subnet.id, subnet.availability_zone
                    ))
                    .into());
                }
                let vpc = t.get::<Vpc>(account, &subnet.vpc_id).ok_or_else(|| {
                    Fault::new(
                        "InvalidVpcID.NotFound",
                        format!("The vpc ID '{}' does not exist", subnet.vpc_id),
                    )
                })?;
                let groups =
                    resolve_groups(t, account, &vpc, &req.security_group_ids, &req.security_groups)?;
                if let Some(k) = &req.key_name
                    && !key_pair_exists(t, account, k)
                {
                    return Err(Fault::new(
                        "InvalidKeyPair.NotFound",
                        format!("The key pair '{k}' does not exist"),
                    )
                    .into());
                }
                // Block devices: the root (the image's, possibly resized) and extras.
                let mut root_size = image.size_gib;
                let mut root_spec: Option<&BlockDeviceRequest> = None;
                let mut extras: Vec<&BlockDeviceRequest> = Vec::new();
                for b in &req.block_devices {
                    if b.device_name == image.root_device_name {
                        root_spec = Some(b);
                    } else if !b.no_device {
                        extras.push(b);
                    }
                }
                let root_vol = volume::volume_spec(
                    root_spec.and_then(|b| b.volume_type.as_deref()),
                    root_spec.and_then(|b| b.volume_size).or(Some(i32::try_from(root_size).unwrap_or(i32::MAX))),
                    root_spec.and_then(|b| b.iops),
                    root_spec.and_then(|b| b.throughput),
                    image.size_gib,
                )
                .map_err(|f| Fault::new("InvalidBlockDeviceMapping", f.message))?;
                root_size = root_vol.size_gib;
                let mut extra_specs = Vec::new();
                for b in &extras {
                    let snap = match &b.snapshot_id {
                        Some(id) => Some(
                            t.get::<crate::ec2::snapshot::Snapshot>(account, id)
                                .filter(|s| s.state == "completed")
                                .ok_or_else(|| crate::ec2::snapshot::not_found(id))?,
                        ),
                        None => None,
                    };
                    let spec = volume::volume_spec(
                        b.volume_type.as_deref(),
                        b.volume_size,
                        b.iops,
                        b.throughput,
                        snap.as_ref().map_or(0, |s| s.volume_size_gib),
                    )
                    .map_err(|f| Fault::new("InvalidBlockDeviceMapping", f.message))?;
                    extra_specs.push((*b, spec, snap));
                }
                // Account limit and placement.
                let account_vcpus: u32 = t
                    .list::<Instance>(account)
                    .iter()
                    .filter(|i| i.holds_capacity())
                    .filter_map(|i| i.type_info().map(|ti| ti.vcpus))
                    .sum();
                let allowed_by_limit =
                    (max_vcpus.saturating_sub(account_vcpus) / itype.vcpus.max(1)) as i32;
                if allowed_by_limit < req.min_count {
                    return Err(Fault::new(
                        "InstanceLimitExceeded",
                        format!(
                            "You have requested more vCPU capacity than your current vCPU limit of {max_vcpus} allows for the instance bucket that the specified instance type belongs to."
                        ),
                    )
                    .into());
                }
                let usage = host_usage(t);
                let mut capacity: Vec<HostCapacity> = hosts
                    .iter()
                    .map(|h| {
                        let (c, m) = usage.get(&h.id).copied().unwrap_or_default();
                        HostCapacity {
                            id: h.id.clone(),
                            zone: h.zone.clone(),
                            vcpus: h.vcpus,
                            vcpus_used: c,
                            memory_mib: h.memory_mib,
                            memory_mib_used: m,
                        }
                    })
                    .collect();
                let (pgroup, mut pview) = match placement_group::for_launch(
                    t,
                    account,
                    req.placement_group.as_deref(),
                    req.placement_group_id.as_deref(),
                )? {
                    Some((g, v)) => (Some(g), Some(v)),
                    None => (None, None),
                };
                let partition =
                    placement_group::check_partition(pgroup.as_ref(), req.partition_number)?;
                let want = req.max_count.min(allowed_by_limit).max(0);
                let mut placed: Vec<(String, Option<u32>)> = Vec::new();
                let mut refusal = None;
                for _ in 0..want {
                    let p = PlacementRequest {
                        vcpus: itype.vcpus,
                        memory_mib: itype.memory_mib,
                        zone: Some(&subnet.availability_zone),
                        group: pview.as_ref(),
                        partition,
                    };
                    match scheduler::place(&p, &capacity) {
                        Ok(pl) => {
                            capacity[pl.host].vcpus_used += itype.vcpus;
                            capacity[pl.host].memory_mib_used += itype.memory_mib;
                            let host = capacity[pl.host].id.clone();
                            // Later instances of this launch see this one as a member.
                            if let Some(v) = pview.as_mut() {
                                v.members.push((host.clone(), pl.partition.unwrap_or(0)));
                            }
                            placed.push((host, pl.partition));
                        }
                        Err(ScheduleError::Invalid(msg)) => {
                            return Err(Fault::invalid_value(format!(
                                "The placement group '{}' cannot take this instance: {msg}.",
                                pgroup.as_ref().map(|g| g.name.as_str()).unwrap_or_default()
                            ))
                            .into());
                        }
                        Err(ScheduleError::InsufficientCapacity(msg)) => {
                            refusal = Some(msg);
                            break;
                        }
                    }
                }
                if (placed.len() as i32) < req.min_count {
                    return Err(insufficient(format!(
                        "We currently do not have sufficient {type_name} capacity in the Availability Zone you requested ({}){}.",
                        subnet.availability_zone,
                        match (&pgroup, refusal) {
                            (Some(g), Some(why)) => format!(
                                " for {} placement group '{}': {why}",
                                g.strategy, g.name
                            ),
                            _ => String::new(),
                        }
                    ))
                    .into());
                }
                let reservation_id = ids::resource_id("r");
                let now = now_ms();
                let mut out = Vec::new();
                for (index, (host, partition_number)) in placed.into_iter().enumerate() {
                    let id = ids::resource_id("i");
                    let ip = network_interface::allocate_ip(
                        t,
                        account,
                        &subnet,
                        req.private_ip.as_deref(),
                    )?;
                    let mut eni = network_interface::new_attached(
                        &subnet, &region, ip, groups.clone(), &id, 0, now,
                    );
                    eni.description = String::new();
                    eni.tags = req.eni_tags.clone();
                    if req
                        .associate_public_ip
                        .unwrap_or(subnet.map_public_ip_on_launch)
                    {
                        eni.public_ip =
                            Some(
                            crate::ec2::address::allocate_public_ip(t, account, pool)?
                                .to_string(),
                        );
                    }
                    let root_id = ids::resource_id("vol");
                    let mut block_devices = vec![BlockDevice {
                        device_name: image.root_device_name.clone(),
                        volume_id: root_id.clone(),
                        delete_on_termination: root_spec
                            .and_then(|b| b.delete_on_termination)
                            .unwrap_or(true),
                        attach_time_ms: now,
                        status: "attached".into(),
                    }];
                    let new_volume = |vid: &str, spec: &volume::VolumeSpec, device: &str, dot: bool, snapshot_id: Option<String>, base: Option<String>, encrypted: bool| Volume {
                        id: vid.to_owned(),
                        size_gib: spec.size_gib,
                        volume_type: spec.volume_type.clone(),
                        iops: spec.iops,
                        throughput: spec.throughput,
                        availability_zone: subnet.availability_zone.clone(),
                        snapshot_id,
                        base,
                        encrypted,
                        state: "in-use".into(),
                        provisioned: false,
                        create_time_ms: now,
                        attachment: Some(VolumeAttachment {
                            instance_id: id.clone(),
                            device: device.to_owned(),
                            state: "attached".into(),
                            attach_time_ms: now,
                            delete_on_termination: dot,
                            force_detach: false,
                        }),
                        auto_enable_io: false,
                        modification: None,
                        tags: req.volume_tags.clone(),
                    };
                    let mut root = new_volume(
                        &root_id,
                        &root_vol,
                        &image.root_device_name,
                        block_devices[0].delete_on_termination,
                        None,
                        // An installer writes a blank disk; other images are cloned.
                        (!image.installer_iso).then(|| image.block_store_name.clone()),
                        root_spec.and_then(|b| b.encrypted).unwrap_or(false),
                    );
                    root.size_gib = root_size;
                    t.put(account, root);
                    for (b, spec, snap) in &extra_specs {
                        let vid = ids::resource_id("vol");
                        let dot = b.delete_on_termination.unwrap_or(true);
                        t.put(
                            account,
                            new_volume(
                                &vid,
                                spec,
                                &b.device_name,
                                dot,
                                b.snapshot_id.clone(),
                                b.snapshot_id.clone(),
                                b.encrypted.unwrap_or(false) || snap.as_ref().is_some_and(|s| s.encrypted),
                            ),
                        );
                        block_devices.push(BlockDevice {
                            device_name: b.device_name.clone(),
                            volume_id: vid,
                            delete_on_termination: dot,
                            attach_time_ms: now,
                            status: "attached".into(),
                        });
                    }
                    let instance = Instance {
                        id: id.clone(),
                        reservation_id: reservation_id.clone(),
                        launch_index: u32::try_from(index).unwrap_or(0),
                        image_id: image.id.clone(),
                        instance_type: itype.name.to_owned(),
                        key_name: req.key_name.clone(),
                        subnet_id: subnet.id.clone(),
                        vpc_id: subnet.vpc_id.clone(),
                        availability_zone: subnet.availability_zone.clone(),
                        placement_group: pgroup.as_ref().map(|g| g.name.clone()),
                        placement_group_id: pgroup.as_ref().map(|g| g.id.clone()),
                        partition_number,
                        tenancy: "default".into(),
                        host,
                        private_ip: eni.private_ip.clone(),
                        private_dns_name: eni.private_dns_name.clone(),
                        network_interfaces: vec![eni.id.clone()],
                        groups: groups.clone(),
                        user_data: req.user_data.clone(),
                        kernel_boot: image.kernel_boot.clone(),
                        cdrom: image
                            .installer_iso
                            .then(|| image.block_store_name.clone()),
                        state: InstanceState::Pending,
                        desired: Desired::Running,
                        reboot_requested: false,
                        image_reboot: None,
                        force_stop: false,
                        shutdown_requested_ms: None,
                        state_reason: Some(StateReason::new("pending", "pending")),
                        state_transition_reason: String::new(),
                        launch_time_ms: now,
                        terminated_ms: None,
                        root_device_name: image.root_device_name.clone(),
                        block_devices,
                        metadata: metadata.clone(),
                        disable_api_termination: req.disable_api_termination,
                        disable_api_stop: req.disable_api_stop,
                        shutdown_behavior: shutdown_behavior.clone(),
                        ebs_optimized: req.ebs_optimized.unwrap_or(itype.ebs.is_some()),
                        ena_support: itype.hypervisor == "nitro",
                        monitoring: req.monitoring,
                        cpu_credits: itype.burstable.then(|| {
                            req.cpu_credits.clone().unwrap_or_else(|| {
                                if itype.name.starts_with("t2.") { "standard" } else { "unlimited" }.into()
                            })
                        }),
                        client_token: req.client_token.clone(),
                        auto_recovery: default_auto_recovery(),
                        tags: req.instance_tags.clone(),
                    };
                    t.put(account, eni.clone());
                    t.put(account, instance.clone());
                    let public_ips = public_ips_of(&[], account, std::slice::from_ref(&eni));
                    out.push(InstanceView {
                        owner_id: account.to_owned(),
                        instance,
                        enis: vec![eni],
                        public_ips,
                    });
                }
                Ok(Reservation {
                    id: reservation_id,
                    owner_id: account.to_owned(),
                    instances: out,
                })
            })
            .map_err(fault_of)?;
        self.compute().wake();
        Ok(reservation)
    }

    fn view(&self, account: &str, i: Instance) -> InstanceView {
        let enis: Vec<NetworkInterface> = i
            .network_interfaces
            .iter()
            .filter_map(|e| {
                self.store()
                    .get::<NetworkInterface>(account, e)
                    .ok()
                    .flatten()
            })
            .collect();
        let addresses = self
            .store()
            .list::<crate::ec2::address::Address>(account)
            .unwrap_or_default();
        let public_ips = public_ips_of(&addresses, account, &enis);
        InstanceView {
            owner_id: account.to_owned(),
            instance: i,
            enis,
            public_ips,
        }
    }

    /// `DescribeInstances`: pages of instances (grouped into reservations by the caller).
    pub fn describe_instances(
        &self,
        account: &str,
        ids: &[String],
        filters: &[Filter],
        max_results: Option<i32>,
        next_token: Option<&str>,
    ) -> Result<Page<InstanceView>, Fault> {
        if !ids.is_empty() && max_results.is_some() {
            return Err(Fault::invalid_combination(
                "The parameter instancesSet cannot be used with the parameter maxResults",
            ));
        }
        if let Some(n) = max_results
            && !(5..=1000).contains(&n)
        {
            return Err(Fault::invalid_value(format!(
                "Value ( {n} ) for parameter maxResults is invalid. Parameter must be between 5 and 1000."
            )));
        }
        for id in ids {
            check_id(id)?;
        }
        let (view_f, inst_f): (Vec<Filter>, Vec<Filter>) = filters
            .iter()
            .cloned()
            .partition(|f| is_view_filter(&f.name));
        let inst_set = FilterSet::compile(&INSTANCE_FILTERS, &inst_f)?;
        let view_set = FilterSet::compile(&VIEW_FILTERS, &view_f)?;
        let scope = format!("DescribeInstances{filters:?}");
        let after = match next_token.filter(|t| !t.is_empty()) {
            Some(t) => Some(self.paginator().resume_after(&scope, t)?),
            None => None,
        };
        let limit = page_size(max_results);
        let cutoff = now_ms() - TERMINATED_VISIBLE_MS;
        let early_stop = view_f.is_empty();
        let mut taken = 0usize;
        // The store scans in id order, so the page is cut during the scan: only matching
        // records after the cursor are copied, and at most `limit + 1` of them.
        let candidates = self
            .store()
            .scan(account, |i: &Instance| {
                if (early_stop && taken > limit)
                    || after.as_deref().is_some_and(|a| i.id.as_str() <= a)
                    || i.terminated_ms.is_some_and(|t| t <= cutoff)
                    || !(ids.is_empty() || ids.contains(&i.id))
                    || !inst_set.matches(i)
                {
                    return None;
                }
                taken += 1;
                Some(i.clone())
            })
            .map_err(fault_of)?;
        for id in ids {
            if !candidates.iter().any(|i| i.id == *id) {
                return Err(not_found(id));
            }
        }
        let mut items: Vec<InstanceView> = candidates
            .into_iter()
            .map(|i| self.view(account, i))
            .filter(|v| view_set.matches(v))
            .take(limit.saturating_add(1))
            .collect();
        let more = items.len() > limit;
        items.truncate(limit);
        let next_token = if more {
            items
                .last()
                .map(|v| self.paginator().token(&scope, &v.instance.id))
        } else {
            None
        };
        Ok(Page { items, next_token })
    }

    /// One instance of the account.
    pub fn instance(&self, account: &str, id: &str) -> Result<Instance, Fault> {
        check_id(id)?;
        self.store()
            .get::<Instance>(account, id)
            .map_err(fault_of)?
            .ok_or_else(|| not_found(id))
    }

    fn change_states(
        &self,
        account: &str,
        ids: &[String],
        f: impl Fn(&mut Instance) -> Result<(), Fault>,
    ) -> Result<Vec<StateChange>, Fault> {
        if ids.is_empty() {
            return Err(Fault::missing("InstanceId"));
        }
        for id in ids {
            check_id(id)?;
        }
        let out = self
            .store()
            .transaction(|t| {
                let mut out = Vec::new();
                for id in ids {
                    let mut i = t
                        .get::<Instance>(account, id)
                        .filter(|i| {
                            i.state != InstanceState::Terminated
                                || i.terminated_ms
                                    .is_some_and(|t| t > now_ms() - TERMINATED_VISIBLE_MS)
                        })
                        .ok_or_else(|| not_found(id))?;
                    let previous = i.state;
                    f(&mut i)?;
                    out.push(StateChange {
                        instance_id: id.clone(),
                        previous,
                        current: i.state,
                    });
                    t.put(account, i);
                }
                Ok(out)
            })
            .map_err(fault_of)?;
        self.compute().wake();
        Ok(out)
    }

    /// `StartInstances`: a stopped instance goes `pending`.
    pub fn start_instances(
        &self,
        account: &str,
        ids: &[String],
    ) -> Result<Vec<StateChange>, Fault> {
        let hosts = self.compute().hosts();
        if hosts.is_empty() {
            return Err(insufficient(
                "We currently do not have sufficient capacity: no compute host is registered on this endpoint.",
            ));
        }
        self.change_states(account, ids, |i| match i.state {
            InstanceState::Pending | InstanceState::Running => Ok(()),
            InstanceState::Stopped => {
                i.state = InstanceState::Pending;
                i.desired = Desired::Running;
                i.state_reason = None;
                i.state_transition_reason = String::new();
                Ok(())
            }
            s => Err(Fault::new(
                "IncorrectInstanceState",
                format!(
                    "The instance '{}' is not in a state from which it can be started.",
                    i.id
                ),
            )
            .with_code_state(s)),
        })
    }

    /// `StopInstances`: a running (or pending) instance goes `stopping`.
    pub fn stop_instances(
        &self,
        account: &str,
        ids: &[String],
        force: bool,
    ) -> Result<Vec<StateChange>, Fault> {
        self.change_states(account, ids, |i| {
            if i.disable_api_stop {
                return Err(Fault::new(
                    "OperationNotPermitted",
                    format!(
                        "The instance '{}' may not be stopped. Modify its 'disableApiStop' instance attribute and try again.",
                        i.id
                    ),
                ));
            }
            match i.state {
                InstanceState::Stopped => Ok(()),
                InstanceState::Stopping => {
                    i.force_stop |= force;
                    Ok(())
                }
                InstanceState::Pending | InstanceState::Running => {
                    i.state = InstanceState::Stopping;
                    i.desired = Desired::Stopped;
                    i.force_stop = force;
                    i.shutdown_requested_ms = None;
                    i.state_reason = Some(StateReason::new(
                        "Client.UserInitiatedShutdown",
                        "User initiated shutdown",
                    ));
                    i.state_transition_reason =
                        format!("User initiated ({} GMT)", rfc3339_ms(now_ms()).replace('T', " ").trim_end_matches('Z').split('.').next().unwrap_or_default());
                    Ok(())
                }
                s => Err(Fault::new(
                    "IncorrectInstanceState",
                    format!(
                        "The instance '{}' is not in a state from which it can be stopped.",
                        i.id
                    ),
                )
                .with_code_state(s)),
            }
        })
    }

    /// `TerminateInstances`.
    pub fn terminate_instances(
        &self,
        account: &str,
        ids: &[String],
    ) -> Result<Vec<StateChange>, Fault> {
        self.change_states(account, ids, |i| {
            if i.disable_api_termination {
                return Err(Fault::new(
                    "OperationNotPermitted",
                    format!(
                        "The instance '{}' may not be terminated. Modify its 'disableApiTermination' instance attribute and try again.",
                        i.id
                    ),
                ));
            }
            if matches!(i.state, InstanceState::Terminated | InstanceState::ShuttingDown) {
                return Ok(());
            }
            i.state = InstanceState::ShuttingDown;
            i.desired = Desired::Terminated;
            i.state_reason = Some(StateReason::new(
                "Client.UserInitiatedShutdown",
                "User initiated shutdown",
            ));
            i.state_transition_reason = format!(
                "User initiated ({} GMT)",
                rfc3339_ms(now_ms()).replace('T', " ").split('.').next().unwrap_or_default()
            );
            Ok(())
        })
    }

    /// `RebootInstances`: asks the reconciler to reboot running instances.
    pub fn reboot_instances(&self, account: &str, ids: &[String]) -> Result<(), Fault> {
        self.change_states(account, ids, |i| match i.state {
            InstanceState::Running | InstanceState::Pending => {
                i.reboot_requested = true;
                Ok(())
            }
            s => Err(Fault::new(
                "IncorrectState",
                format!("The instance '{}' is not in the 'running' state.", i.id),
            )
            .with_code_state(s)),
        })?;
        Ok(())
    }

    /// Changes one instance in a transaction (attribute modifications).
    pub fn modify_instance(
        &self,
        account: &str,
        id: &str,
        f: impl FnOnce(&mut Instance, &mut Txn<'_>) -> Result<(), Fault>,
    ) -> Result<Instance, Fault> {
        check_id(id)?;
        let i = self
            .store()
            .transaction(|t| {
                let mut i = t
                    .get::<Instance>(account, id)
                    .filter(|i| i.state != InstanceState::Terminated)
                    .ok_or_else(|| not_found(id))?;
                f(&mut i, t)?;
                t.put(account, i.clone());
                Ok(i)
            })
            .map_err(fault_of)?;
        self.compute().wake();
        Ok(i)
    }

    /// `ModifyInstanceAttribute` for the attributes that need rules.
    pub fn modify_instance_attribute(
        &self,
        account: &str,
        id: &str,
        change: AttributeChange,
    ) -> Result<(), Fault> {
        self.modify_instance(account, id, |i, t| {
            match change {
                AttributeChange::InstanceType(ty) => {
                    let Some(info) = instance_types::lookup(&ty) else {
                        return Err(Fault::invalid_value(format!(
                            "The instance type '{ty}' is not supported on this endpoint."
                        )));
                    };
                    if i.state != InstanceState::Stopped {
                        return Err(Fault::new(
                            "IncorrectInstanceState",
                            format!("The instance '{}' is not in the 'stopped' state.", i.id),
                        ));
                    }
                    if !info.burstable {
                        i.cpu_credits = None;
                    } else if i.cpu_credits.is_none() {
                        i.cpu_credits = Some("standard".into());
                    }
                    i.instance_type = ty;
                }
                AttributeChange::UserData(ud) => {
                    if i.state != InstanceState::Stopped {
                        return Err(Fault::new(
                            "IncorrectInstanceState",
                            format!("The instance '{}' is not in the 'stopped' state.", i.id),
                        ));
                    }
                    check_user_data(Some(&ud))?;
                    i.user_data = Some(ud).filter(|u| !u.is_empty());
                }
                AttributeChange::DisableApiTermination(b) => i.disable_api_termination = b,
                AttributeChange::DisableApiStop(b) => i.disable_api_stop = b,
                AttributeChange::ShutdownBehavior(b) => {
                    if !matches!(b.as_str(), "stop" | "terminate") {
                        return Err(Fault::invalid_value(format!(
                            "Value ({b}) for parameter InstanceInitiatedShutdownBehavior is invalid."
                        )));
                    }
                    i.shutdown_behavior = b;
                }
                AttributeChange::EbsOptimized(b) => i.ebs_optimized = b,
                AttributeChange::EnaSupport(b) => i.ena_support = b,
                AttributeChange::SourceDestCheck(b) => {
                    for e in &i.network_interfaces {
                        if let Some(mut eni) = t.get::<NetworkInterface>(&account_of(t, e, account), e) {
                            eni.source_dest_check = b;
                            t.put(account, eni);
                        }
                    }
                }
                AttributeChange::Groups(ids) => {
                    let vpc = t.get::<Vpc>(account, &i.vpc_id).ok_or_else(|| {
                        Fault::new("InvalidVpcID.NotFound", "The instance's VPC does not exist")
                    })?;
                    let groups = resolve_groups(t, account, &vpc, &ids, &[])?;
                    if let Some(e) = i.network_interfaces.first()
                        && let Some(mut eni) = t.get::<NetworkInterface>(account, e)
                    {
                        eni.groups = groups.clone();
                        t.put(account, eni);
                    }
                    i.groups = groups;
                }
                AttributeChange::DeleteOnTermination(device, dot) => {
                    let b = i
                        .block_devices
                        .iter_mut()
                        .find(|b| b.device_name == device)
                        .ok_or_else(|| {
                            Fault::new(
                                "InvalidInstanceAttributeValue",
                                format!("No device is currently mapped at {device}"),
                            )
                        })?;
                    b.delete_on_termination = dot;
                    if let Some(mut v) = t.get::<Volume>(account, &b.volume_id)
                        && let Some(a) = v.attachment.as_mut()
                    {
                        a.delete_on_termination = dot;
                        t.put(account, v);
                    }
                }
            }
            Ok(())
        })?;
        Ok(())
    }

    /// `ModifyInstanceMetadataOptions`.
    pub fn modify_metadata_options(
        &self,
        account: &str,
        id: &str,
        r: &MetadataRequest,
    ) -> Result<Instance, Fault> {
        self.modify_instance(account, id, |i, _| apply_metadata(&mut i.metadata, r))
    }

    /// `ModifyInstanceCreditSpecification`.
    pub fn modify_credit_specification(
        &self,
        account: &str,
        id: &str,
        credits: &str,
    ) -> Result<(), Fault> {
        if !matches!(credits, "standard" | "unlimited") {
            return Err(Fault::invalid_value(format!(
                "Value ({credits}) for parameter CpuCredits is invalid."
            )));
        }
        self.modify_instance(account, id, |i, _| {
            if i.cpu_credits.is_none() {
                return Err(Fault::new(
                    "UnsupportedOperation",
                    format!(
                        "The instance type {} does not support CPU credits.",
                        i.instance_type
                    ),
                ));
            }
            i.cpu_credits = Some(credits.to_owned());
            Ok(())
        })?;
        Ok(())
    }

    /// `GetConsoleOutput`: the last 64 KiB the guest wrote to its serial console.
    pub fn console_output(&self, account: &str, id: &str) -> Result<(Instance, Vec<u8>), Fault> {
        let i = self.instance(account, id)?;
        let Some(hv) = self.compute().hypervisor_of(&i.host) else {
            return Ok((i, Vec::new()));
        };
        match hv.console_output(&i.id, 64 * 1024) {
            Ok(out) => Ok((i, out)),
            Err(kumo_driver_api::HypervisorError::NoDomain(_)) => Ok((i, Vec::new())),
            Err(e) => {
                tracing::warn!(error = %e, instance = %i.id, "console output failed");
                Ok((i, Vec::new()))
            }
        }
    }
}

/// The account an ENI is recorded under (always the instance's: ENIs never cross accounts).
fn account_of(_t: &Txn<'_>, _eni: &str, account: &str) -> String {
    account.to_owned()
}

/// A `ModifyInstanceAttribute` change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeChange {
    /// `instanceType` (stopped only).
    InstanceType(String),
    /// `userData`, base64 (stopped only).
    UserData(String),
    /// `disableApiTermination`.
    DisableApiTermination(bool),
    /// `disableApiStop`.
    DisableApiStop(bool),
    /// `instanceInitiatedShutdownBehavior`.
    ShutdownBehavior(String),
    /// `ebsOptimized`.
    EbsOptimized(bool),
    /// `enaSupport`.
    EnaSupport(bool),
    /// `sourceDestCheck`.
    SourceDestCheck(bool),
    /// `groupSet`.
    Groups(Vec<String>),
    /// `blockDeviceMapping` delete-on-termination of a device.
    DeleteOnTermination(String, bool),
}

trait WithState {
    fn with_code_state(self, s: InstanceState) -> Self;
}

impl WithState for Fault {
    fn with_code_state(mut self, s: InstanceState) -> Self {
        self.message = format!("{} Current state: {}", self.message, s.name());
        self
    }
}

fn eni_field(v: &InstanceView, out: &mut Vec<String>, f: fn(&NetworkInterface, &mut Vec<String>)) {
    for e in &v.enis {
        f(e, out);
    }
}

fn push_opt(out: &mut Vec<String>, v: Option<&String>) {
    if let Some(v) = v {
        out.push(v.clone());
    }
}

/// Every filter `DescribeInstances` documents that reads the instance record alone (those
/// naming features Kumo lacks match no instance, as they would not on AWS for an instance
/// without the feature). Evaluated on the stored record, without copying it.
pub static INSTANCE_FILTERS: FilterTable<Instance> = FilterTable {
    resource: "instance",
    fields: &[
        ("affinity", |_, _| {}),
        ("architecture", |_, o| o.push("x86_64".into())),
        ("availability-zone", |i, o| {
            o.push(i.availability_zone.clone())
        }),
        ("availability-zone-id", |_, _| {}),
        ("block-device-mapping.attach-time", |i, o| {
            o.extend(i.block_devices.iter().map(|b| rfc3339_ms(b.attach_time_ms)));
        }),
        ("block-device-mapping.delete-on-termination", |i, o| {
            o.extend(
                i.block_devices
                    .iter()
                    .map(|b| b.delete_on_termination.to_string()),
            );
        }),
        ("block-device-mapping.device-name", |i, o| {
            o.extend(i.block_devices.iter().map(|b| b.device_name.clone()));
        }),
        ("block-device-mapping.status", |i, o| {
            o.extend(i.block_devices.iter().map(|b| b.status.clone()));
        }),
        ("block-device-mapping.volume-id", |i, o| {
            o.extend(i.block_devices.iter().map(|b| b.volume_id.clone()));
        }),
        ("boot-mode", |_, o| o.push("legacy-bios".into())),
        ("capacity-reservation-id", |_, _| {}),
        (
            "capacity-reservation-specification.capacity-reservation-preference",
            |_, o| o.push("open".into()),
        ),
        ("client-token", |i, o| push_opt(o, i.client_token.as_ref())),
        ("current-instance-boot-mode", |_, o| {
            o.push("legacy-bios".into())
        }),
        ("dns-name", |_, _| {}),
        ("ebs-optimized", |i, o| o.push(i.ebs_optimized.to_string())),
        ("ena-support", |i, o| o.push(i.ena_support.to_string())),
        ("enclave-options.enabled", |_, o| o.push("false".into())),
        ("hibernation-options.configured", |_, o| {
            o.push("false".into())
        }),
        ("host-id", |_, _| {}),
        ("hypervisor", |_, o| o.push("xen".into())),
        ("iam-instance-profile.arn", |_, _| {}),
        ("iam-instance-profile.id", |_, _| {}),
        ("image-id", |i, o| o.push(i.image_id.clone())),
        ("instance-id", |i, o| o.push(i.id.clone())),
        ("instance-lifecycle", |_, _| {}),
        ("instance-state-code", |i, o| {
            o.push(i.state.code().to_string())
        }),
        ("instance-state-name", |i, o| o.push(i.state.name().into())),
        ("instance-type", |i, o| o.push(i.instance_type.clone())),
        ("instance.group-id", |i, o| {
            o.extend(i.groups.iter().map(|g| g.id.clone()))
        }),
        ("instance.group-name", |i, o| {
            o.extend(i.groups.iter().map(|g| g.name.clone()))
        }),
        ("ip-address", |_, _| {}),
        ("ipv6-address", |_, _| {}),
        ("kernel-id", |_, _| {}),
        ("key-name", |i, o| push_opt(o, i.key_name.as_ref())),
        ("launch-index", |i, o| o.push(i.launch_index.to_string())),
        ("launch-time", |i, o| o.push(rfc3339_ms(i.launch_time_ms))),
        ("maintenance-options.auto-recovery", |i, o| {
            o.push(i.auto_recovery.clone())
        }),
        ("metadata-options.http-endpoint", |i, o| {
            o.push(i.metadata.http_endpoint.clone())
        }),
        ("metadata-options.http-protocol-ipv4", |_, o| {
            o.push("enabled".into())
        }),
        ("metadata-options.http-protocol-ipv6", |i, o| {
            o.push(i.metadata.http_protocol_ipv6.clone())
        }),
        ("metadata-options.http-put-response-hop-limit", |i, o| {
            o.push(i.metadata.http_put_response_hop_limit.to_string());
        }),
        ("metadata-options.http-tokens", |i, o| {
            o.push(i.metadata.http_tokens.clone())
        }),
        ("metadata-options.instance-metadata-tags", |i, o| {
            o.push(i.metadata.instance_metadata_tags.clone());
        }),
        ("monitoring-state", |i, o| {
            o.push(if i.monitoring { "enabled" } else { "disabled" }.into());
        }),
        (
            "network-interface.addresses.association.allocation-id",
            |_, _| {},
        ),
        (
            "network-interface.addresses.association.association-id",
            |_, _| {},
        ),
        (
            "network-interface.addresses.association.carrier-ip",
            |_, _| {},
        ),
        (
            "network-interface.addresses.association.customer-owned-ip",
            |_, _| {},
        ),
        (
            "network-interface.addresses.association.ip-owner-id",
            |_, _| {},
        ),
        (
            "network-interface.addresses.association.public-dns-name",
            |_, _| {},
        ),
        (
            "network-interface.addresses.association.public-ip",
            |_, _| {},
        ),
        ("operator.managed", |_, o| o.push("false".into())),
        ("operator.principal", |_, _| {}),
        ("outpost-arn", |_, _| {}),
        ("placement-group-name", |i, o| {
            push_opt(o, i.placement_group.as_ref())
        }),
        ("placement-partition-number", |i, out| {
            if let Some(p) = i.partition_number {
                out.push(p.to_string());
            }
        }),
        ("platform", |_, _| {}),
        ("platform-details", |_, o| o.push("Linux/UNIX".into())),
        ("private-dns-name", |i, o| {
            o.push(i.private_dns_name.clone())
        }),
        (
            "private-dns-name-options.enable-resource-name-dns-a-record",
            |_, o| o.push("false".into()),
        ),
        (
            "private-dns-name-options.enable-resource-name-dns-aaaa-record",
            |_, o| o.push("false".into()),
        ),
        ("private-dns-name-options.hostname-type", |_, o| {
            o.push("ip-name".into())
        }),
        ("private-ip-address", |i, o| o.push(i.private_ip.clone())),
        ("product-code", |_, _| {}),
        ("product-code.type", |_, _| {}),
        ("ramdisk-id", |_, _| {}),
        ("reason", |i, o| o.push(i.state_transition_reason.clone())),
        ("requester-id", |_, _| {}),
        ("reservation-id", |i, o| o.push(i.reservation_id.clone())),
        ("root-device-name", |i, o| {
            o.push(i.root_device_name.clone())
        }),
        ("root-device-type", |_, o| o.push("ebs".into())),
        ("spot-instance-request-id", |_, _| {}),
        ("state-reason-code", |i, o| {
            push_opt(o, i.state_reason.as_ref().map(|r| &r.code))
        }),
        ("state-reason-message", |i, o| {
            push_opt(o, i.state_reason.as_ref().map(|r| &r.message))
        }),
        ("subnet-id", |i, o| o.push(i.subnet_id.clone())),
        ("tenancy", |i, o| o.push(i.tenancy.clone())),
        ("tpm-support", |_, _| {}),
        ("usage-operation", |_, o| o.push("RunInstances".into())),
        ("usage-operation-update-time", |i, o| {
            o.push(rfc3339_ms(i.launch_time_ms))
        }),
        ("virtualization-type", |_, o| o.push("hvm".into())),
        ("vpc-id", |i, o| o.push(i.vpc_id.clone())),
    ],
    tags: Some(|i| {
        i.tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect()
    }),
};

/// The `DescribeInstances` filters that read the instance's network interfaces or owner.
pub static VIEW_FILTERS: FilterTable<InstanceView> = FilterTable {
    resource: "instance",
    fields: &[
        ("network-interface.addresses.primary", |v, o| {
            eni_field(v, o, |_, o| o.push("true".into()))
        }),
        ("network-interface.addresses.private-dns-name", |v, o| {
            eni_field(v, o, |e, o| o.push(e.private_dns_name.clone()))
        }),
        ("network-interface.addresses.private-ip-address", |v, o| {
            eni_field(v, o, |e, o| o.push(e.private_ip.clone()))
        }),
        ("network-interface.association.allocation-id", |_, _| {}),
        ("network-interface.association.association-id", |_, _| {}),
        ("network-interface.association.ip-owner-id", |_, _| {}),
        ("network-interface.association.public-dns-name", |_, _| {}),
        ("network-interface.association.public-ip", |_, _| {}),
        ("network-interface.attachment.attach-time", |v, o| {
            eni_field(v, o, |e, o| {
                if let Some(a) = &e.attachment {
                    o.push(rfc3339_ms(a.attach_time_ms));
                }
            })
        }),
        ("network-interface.attachment.attachment-id", |v, o| {
            eni_field(v, o, |e, o| {
                if let Some(a) = &e.attachment {
                    o.push(a.id.clone());
                }
            })
        }),
        (
            "network-interface.attachment.delete-on-termination",
            |v, o| {
                eni_field(v, o, |e, o| {
                    if let Some(a) = &e.attachment {
                        o.push(a.delete_on_termination.to_string());
                    }
                })
            },
        ),
        ("network-interface.attachment.device-index", |v, o| {
            eni_field(v, o, |e, o| {
                if let Some(a) = &e.attachment {
                    o.push(a.device_index.to_string());
                }
            })
        }),
        ("network-interface.attachment.instance-id", |v, o| {
            eni_field(v, o, |e, o| {
                if let Some(a) = &e.attachment {
                    o.push(a.instance_id.clone());
                }
            })
        }),
        ("network-interface.attachment.instance-owner-id", |v, o| {
            if !v.enis.is_empty() {
                o.push(v.owner_id.clone());
            }
        }),
        ("network-interface.attachment.network-card-index", |v, o| {
            eni_field(v, o, |_, o| o.push("0".into()))
        }),
        ("network-interface.attachment.status", |v, o| {
            eni_field(v, o, |e, o| {
                if let Some(a) = &e.attachment {
                    o.push(a.status.clone());
                }
            })
        }),
        ("network-interface.availability-zone", |v, o| {
            eni_field(v, o, |e, o| o.push(e.availability_zone.clone()))
        }),
        ("network-interface.deny-all-igw-traffic", |v, o| {
            eni_field(v, o, |_, o| o.push("false".into()))
        }),
        ("network-interface.description", |v, o| {
            eni_field(v, o, |e, o| o.push(e.description.clone()))
        }),
        ("network-interface.group-id", |v, o| {
            eni_field(v, o, |e, o| o.extend(e.groups.iter().map(|g| g.id.clone())))
        }),
        ("network-interface.group-name", |v, o| {
            eni_field(v, o, |e, o| {
                o.extend(e.groups.iter().map(|g| g.name.clone()))
            })
        }),
        ("network-interface.ipv6-address", |_, _| {}),
        ("network-interface.ipv6-addresses.ipv6-address", |_, _| {}),
        (
            "network-interface.ipv6-addresses.is-primary-ipv6",
            |_, _| {},
        ),
        ("network-interface.ipv6-native", |v, o| {
            eni_field(v, o, |_, o| o.push("false".into()))
        }),
        ("network-interface.mac-address", |v, o| {
            eni_field(v, o, |e, o| o.push(e.mac_address.clone()))
        }),
        ("network-interface.network-interface-id", |v, o| {
            eni_field(v, o, |e, o| o.push(e.id.clone()))
        }),
        ("network-interface.operator.managed", |v, o| {
            eni_field(v, o, |_, o| o.push("false".into()))
        }),
        ("network-interface.operator.principal", |_, _| {}),
        ("network-interface.outpost-arn", |_, _| {}),
        ("network-interface.owner-id", |v, o| {
            if !v.enis.is_empty() {
                o.push(v.owner_id.clone());
            }
        }),
        ("network-interface.private-dns-name", |v, o| {
            eni_field(v, o, |e, o| o.push(e.private_dns_name.clone()))
        }),
        ("network-interface.private-ip-address", |v, o| {
            eni_field(v, o, |e, o| o.push(e.private_ip.clone()))
        }),
        ("network-interface.public-dns-name", |_, _| {}),
        ("network-interface.requester-id", |_, _| {}),
        ("network-interface.requester-managed", |v, o| {
            eni_field(v, o, |_, o| o.push("false".into()))
        }),
        ("network-interface.source-dest-check", |v, o| {
            eni_field(v, o, |e, o| o.push(e.source_dest_check.to_string()))
        }),
        ("network-interface.status", |v, o| {
            eni_field(v, o, |e, o| o.push(e.status.clone()))
        }),
        ("network-interface.subnet-id", |v, o| {
            eni_field(v, o, |e, o| o.push(e.subnet_id.clone()))
        }),
        ("network-interface.tag-key", |v, o| {
            eni_field(v, o, |e, o| o.extend(e.tags.iter().map(|t| t.key.clone())))
        }),
        ("network-interface.tag-value", |v, o| {
            eni_field(v, o, |e, o| {
                o.extend(e.tags.iter().map(|t| t.value.clone()))
            })
        }),
        ("network-interface.vpc-id", |v, o| {
            eni_field(v, o, |e, o| o.push(e.vpc_id.clone()))
        }),
        ("owner-id", |v, o| o.push(v.owner_id.clone())),
        ("source-dest-check", |v, o| {
            o.push(
                v.enis
                    .first()
                    .is_none_or(|e| e.source_dest_check)
                    .to_string(),
            );
        }),
    ],
    tags: None,
};

/// Whether a filter name is answered by [`VIEW_FILTERS`].
fn is_view_filter(name: &str) -> bool {
    name.starts_with("network-interface.") || name == "owner-id" || name == "source-dest-check"
}

/// `DescribeInstanceStatus` filters.
static STATUS_FILTERS: FilterTable<InstanceView> = FilterTable {
    resource: "instance status",
    fields: &[
        ("availability-zone", |v, o| {
            o.push(v.instance.availability_zone.clone())
        }),
        ("instance-state-code", |v, o| {
            o.push(v.instance.state.code().to_string())
        }),
        ("instance-state-name", |v, o| {
            o.push(v.instance.state.name().into())
        }),
        ("instance-status.status", |v, o| {
            o.push(status_of(&v.instance).into())
        }),
        ("instance-status.reachability", |v, o| {
            o.push(status_of(&v.instance).into())
        }),
        ("system-status.status", |v, o| {
            o.push(status_of(&v.instance).into())
        }),
        ("system-status.reachability", |v, o| {
            o.push(status_of(&v.instance).into())
        }),
        ("event.code", |_, _| {}),
        ("event.description", |_, _| {}),
        ("event.instance-event-id", |_, _| {}),
        ("event.not-after", |_, _| {}),
        ("event.not-before", |_, _| {}),
        ("event.not-before-deadline", |_, _| {}),
    ],
    tags: None,
};

/// `ok` for a running instance, `initializing` while pending, `not-applicable` otherwise.
#[must_use]
pub fn status_of(i: &Instance) -> &'static str {
    match i.state {
        InstanceState::Running => "ok",
        InstanceState::Pending => "initializing",
        _ => "not-applicable",
    }
}

impl Ec2 {
    /// `DescribeInstanceStatus`: running instances, or every visible one with
    /// `IncludeAllInstances`.
    pub fn describe_instance_status(
        &self,
        account: &str,
        ids: &[String],
        filters: &[Filter],
        include_all: bool,
        max_results: Option<i32>,
        next_token: Option<&str>,
    ) -> Result<Page<InstanceView>, Fault> {
        if !ids.is_empty() && max_results.is_some() {
            return Err(Fault::invalid_combination(
                "The parameter instancesSet cannot be used with the parameter maxResults",
            ));
        }
        if let Some(n) = max_results
            && !(5..=1000).contains(&n)
        {
            return Err(Fault::invalid_value(format!(
                "Value ( {n} ) for parameter maxResults is invalid. Parameter must be between 5 and 1000."
            )));
        }
        for id in ids {
            check_id(id)?;
        }
        let set = FilterSet::compile(&STATUS_FILTERS, filters)?;
        let cutoff = now_ms() - TERMINATED_VISIBLE_MS;
        let all = self
            .store()
            .scan(account, |i: &Instance| {
                (i.terminated_ms.is_none_or(|t| t > cutoff)
                    && (ids.is_empty() || ids.contains(&i.id)))
                .then(|| i.clone())
            })
            .map_err(fault_of)?;
        for id in ids {
            if !all.iter().any(|i| i.id == *id) {
                return Err(not_found(id));
            }
        }
        let views: Vec<InstanceView> = all
            .into_iter()
            .filter(|i| include_all || i.state == InstanceState::Running)
            .map(|i| InstanceView {
                owner_id: account.to_owned(),
                instance: i,
                enis: Vec::new(),
                public_ips: Vec::new(),
            })
            .filter(|v| set.matches(v))
            .collect();
        let scope = format!("DescribeInstanceStatus{include_all}{filters:?}");
        Ok(self.paginator().page(
            views,
            |v| v.instance.id.as_str(),
            &scope,
            next_token,
            page_size(max_results),
        )?)
    }

    /// Instances of the account, for `DescribeInstanceCreditSpecifications` (burstable only).
    pub fn credit_specifications(
        &self,
        account: &str,
        ids: &[String],
    ) -> Result<Vec<(String, String)>, Fault> {
        for id in ids {
            check_id(id)?;
        }
        let all = self
            .store()
            .scan(account, |i: &Instance| {
                (i.state != InstanceState::Terminated && (ids.is_empty() || ids.contains(&i.id)))
                    .then(|| (i.id.clone(), i.cpu_credits.clone()))
            })
            .map_err(fault_of)?;
        for id in ids {
            if !all.iter().any(|(i, _)| i == id) {
                return Err(not_found(id));
            }
        }
        Ok(all
            .into_iter()
            .filter_map(|(i, c)| c.map(|c| (i, c)))
            .collect())
    }
}
