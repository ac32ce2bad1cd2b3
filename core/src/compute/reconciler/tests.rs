//! The reconciler against in-memory fakes of the hypervisor and the block store.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kumo_driver_api::hypervisor::{DiskSource, DomainEvent, DomainStats, HostInfo};
use kumo_driver_api::{
    BlockStore, BlockStoreError, DiskSpec, DomainSpec, DomainState, EniSpec, FabricInventory,
    Hypervisor, HypervisorError, MetadataSource, NetworkError, NetworkFabric, PlugInfo, PluggedEni,
    SubnetSpec, VolumeInfo, VpcSpec,
};

use super::{Compute, ComputeConfig};
use crate::compute::metadata::InstanceMetadataSource;
use crate::ec2::Ec2;
use crate::ec2::image::{CLOUD_OWNER_ID, Image, ImageSource, KernelBoot, PublicImage};
use crate::ec2::instance::{BlockDeviceRequest, InstanceState, MetadataRequest, RunInstances};
use crate::ec2::security_group::SecurityGroup;
use crate::ec2::subnet::Subnet;
use crate::ec2::volume::CreateVolume;
use crate::ec2::vpc::Vpc;
use crate::query::tags::Tag;
use kumo_driver_api::hypervisor::Boot;

mod across_hosts;
mod lb_public;
mod placement;

#[derive(Default)]
struct FakeHv {
    domains: Mutex<BTreeMap<String, (DomainSpec, DomainState)>>,
    calls: Mutex<Vec<String>>,
    /// Guests that ignore ACPI shutdown.
    stubborn: bool,
    /// Runs (once) while a disk is being hot-plugged: an API call racing the reconciler.
    during_attach: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl FakeHv {
    fn set(&self, name: &str, s: DomainState) {
        if let Some(d) = self.domains.lock().expect("lock").get_mut(name) {
            d.1 = s;
        }
    }
    fn state_of(&self, name: &str) -> Option<DomainState> {
        self.domains.lock().expect("lock").get(name).map(|d| d.1)
    }
    fn log(&self, s: String) {
        self.calls.lock().expect("lock").push(s);
    }
}

impl Hypervisor for FakeHv {
    fn host_info(&self) -> Result<HostInfo, HypervisorError> {
        Ok(HostInfo {
            vcpus: 8,
            memory_mib: 16384,
        })
    }
    fn define(&self, spec: &DomainSpec) -> Result<(), HypervisorError> {
        self.log(format!("define {}", spec.name));
        self.domains
            .lock()
            .expect("lock")
            .insert(spec.name.clone(), (spec.clone(), DomainState::ShutOff));
        Ok(())
    }
    fn start(&self, name: &str) -> Result<(), HypervisorError> {
        self.log(format!("start {name}"));
        self.set(name, DomainState::Running);
        Ok(())
    }
    fn shutdown(&self, name: &str) -> Result<(), HypervisorError> {
        self.log(format!("shutdown {name}"));
        if !self.stubborn {
            self.set(name, DomainState::ShutOff);
        }
        Ok(())
    }
    fn destroy(&self, name: &str) -> Result<(), HypervisorError> {
        self.log(format!("destroy {name}"));
        self.set(name, DomainState::ShutOff);
        Ok(())
    }
    fn reboot(&self, name: &str) -> Result<(), HypervisorError> {
        self.log(format!("reboot {name}"));
        Ok(())
    }
    fn undefine(&self, name: &str) -> Result<(), HypervisorError> {
        self.log(format!("undefine {name}"));
        self.domains.lock().expect("lock").remove(name);
        Ok(())
    }
    fn state(&self, name: &str) -> Result<Option<DomainState>, HypervisorError> {
        Ok(self.state_of(name))
    }
    fn list(&self) -> Result<Vec<String>, HypervisorError> {
        Ok(self.domains.lock().expect("lock").keys().cloned().collect())
    }
    fn stats(&self, _name: &str) -> Result<DomainStats, HypervisorError> {
        Ok(DomainStats::default())
    }
    fn attach_disk(&self, name: &str, disk: &DiskSpec) -> Result<(), HypervisorError> {
        self.log(format!("attach {name} {}", disk.target));
        if let Some(f) = self.during_attach.lock().expect("lock").take() {
            f();
        }
        let mut d = self.domains.lock().expect("lock");
        let dom = d
            .get_mut(name)
            .ok_or_else(|| HypervisorError::NoDomain(name.into()))?;
        dom.0.disks.push(disk.clone());
        Ok(())
    }
    fn detach_disk(&self, name: &str, target: &str) -> Result<(), HypervisorError> {
        self.log(format!("detach {name} {target}"));
        let mut d = self.domains.lock().expect("lock");
        let dom = d
            .get_mut(name)
            .ok_or_else(|| HypervisorError::NoDomain(name.into()))?;
        dom.0.disks.retain(|x| x.target != target);
        Ok(())
    }
    fn console_output(&self, _name: &str, _max: usize) -> Result<Vec<u8>, HypervisorError> {
        Ok(b"login:".to_vec())
    }
    fn next_event(&self, timeout: Duration) -> Option<DomainEvent> {
        std::thread::sleep(timeout.min(Duration::from_millis(10)));
        None
    }
}

#[derive(Default)]
struct FakeBlocks {
    devs: Mutex<BTreeMap<String, VolumeInfo>>,
}

impl BlockStore for FakeBlocks {
    fn import_image(&self, name: &str, _file: &Path) -> Result<VolumeInfo, BlockStoreError> {
        self.create(name, 2 << 30)
    }
    fn create(&self, name: &str, size: u64) -> Result<VolumeInfo, BlockStoreError> {
        let mut d = self.devs.lock().expect("lock");
        if d.contains_key(name) {
            return Err(BlockStoreError::Exists(name.into()));
        }
        let v = VolumeInfo {
            name: name.into(),
            size,
            base: None,
        };
        d.insert(name.into(), v.clone());
        Ok(v)
    }
    fn clone_from(
        &self,
        name: &str,
        base: &str,
        size: Option<u64>,
    ) -> Result<VolumeInfo, BlockStoreError> {
        let mut d = self.devs.lock().expect("lock");
        let b = d
            .get(base)
            .cloned()
            .ok_or_else(|| BlockStoreError::NotFound(base.into()))?;
        let v = VolumeInfo {
            name: name.into(),
            size: size.unwrap_or(b.size).max(b.size),
            base: Some(base.into()),
        };
        d.insert(name.into(), v.clone());
        Ok(v)
    }
    fn snapshot(&self, volume: &str, snapshot: &str) -> Result<VolumeInfo, BlockStoreError> {
        let size = self
            .info(volume)?
            .ok_or_else(|| BlockStoreError::NotFound(volume.into()))?
            .size;
        self.create(snapshot, size)
    }
    fn resize(&self, name: &str, size: u64) -> Result<VolumeInfo, BlockStoreError> {
        let mut d = self.devs.lock().expect("lock");
        let v = d
            .get_mut(name)
            .ok_or_else(|| BlockStoreError::NotFound(name.into()))?;
        v.size = size;
        Ok(v.clone())
    }
    fn delete(&self, name: &str) -> Result<(), BlockStoreError> {
        let mut d = self.devs.lock().expect("lock");
        if d.values().any(|v| v.base.as_deref() == Some(name)) {
            return Err(BlockStoreError::InUse(name.into()));
        }
        d.remove(name);
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
            path: PathBuf::from(format!("/fake/{name}.qcow2")),
            format: "qcow2".into(),
        })
    }
}

const ACCT: &str = "111122223333";

/// A VPC with a default subnet and its default group.
fn network(ec2: &Ec2) -> String {
    let sg = SecurityGroup::default_for("vpc-00000000000000001", ACCT);
    let sg_id = sg.id.clone();
    ec2.store()
        .transaction(|t| {
            t.put(
                ACCT,
                Vpc {
                    owner_id: String::new(),
                    id: "vpc-00000000000000001".into(),
                    cidr_block: "10.0.0.0/16".into(),
                    cidr_associations: Vec::new(),
                    is_default: true,
                    state: "available".into(),
                    dhcp_options_id: "default".into(),
                    instance_tenancy: "default".into(),
                    enable_dns_support: true,
                    enable_dns_hostnames: true,
                    enable_network_address_usage_metrics: false,
                    main_route_table_id: "rtb-1".into(),
                    default_network_acl_id: "acl-1".into(),
                    default_security_group_id: sg_id.clone(),
                    vni: 7,
                    tags: Vec::new(),
                },
            );
            t.put(
                ACCT,
                Subnet {
                    owner_id: String::new(),
                    arn: String::new(),
                    availability_zone_id: String::new(),
                    enable_dns64: false,
                    hostname_type: "ip-name".into(),
                    dns_a_record_on_launch: false,
                    dns_aaaa_record_on_launch: false,
                    used_ips: std::collections::BTreeSet::new(),
                    id: "subnet-00000000000000001".into(),
                    vpc_id: "vpc-00000000000000001".into(),
                    cidr_block: "10.0.1.0/24".into(),
                    availability_zone: "us-east-1a".into(),
                    map_public_ip_on_launch: false,
                    default_for_az: true,
                    state: "available".into(),
                    tags: Vec::new(),
                },
            );
            t.put(ACCT, sg);
            // Its default networking is this one (ensure_defaults makes no other).
            t.put(
                ACCT,
                crate::ec2::defaults::NetworkDefaults {
                    id: crate::ec2::defaults::MARKER_ID.into(),
                    dhcp_options_id: "default".into(),
                    tags: Vec::new(),
                },
            );
            Ok(())
        })
        .expect("network");
    sg_id
}

fn setup(stubborn: bool) -> (Ec2, Arc<FakeHv>, Arc<FakeBlocks>, Compute) {
    let ec2 = crate::ec2::testing::ec2();
    network(&ec2);
    let hv = Arc::new(FakeHv {
        stubborn,
        ..FakeHv::default()
    });
    let blocks = Arc::new(FakeBlocks::default());
    blocks
        .import_image("kumo-tiny", Path::new("/dev/null"))
        .expect("image");
    ec2.register_public_image(&PublicImage {
        name: "kumo-tiny".into(),
        description: "tiny".into(),
        block_store_image: "kumo-tiny".into(),
        size_gib: 1,
        architecture: "x86_64".into(),
        boot_mode: "legacy-bios".into(),
        kernel_boot: Some(KernelBoot {
            kernel: "/var/lib/kumo/vmlinuz".into(),
            initrd: Some("/var/lib/kumo/initrd".into()),
            cmdline: "console=ttyS0 root=/dev/vda".into(),
        }),
    })
    .expect("public image");
    let compute = Compute::new(
        ec2.clone(),
        hv.clone(),
        blocks.clone(),
        ComputeConfig {
            stop_timeout: Duration::from_millis(0),
            max_vcpus_per_account: 6,
            ..ComputeConfig::default()
        },
    )
    .expect("compute");
    (ec2, hv, blocks, compute)
}

fn run(ec2: &Ec2, n: i32) -> Result<Vec<String>, crate::ec2::Fault> {
    let r = ec2.run_instances(
        ACCT,
        RunInstances {
            image_id: Some(image_id(ec2)),
            instance_type: Some("t3.micro".into()),
            subnet_id: Some("subnet-00000000000000001".into()),
            min_count: 1,
            max_count: n,
            block_devices: vec![BlockDeviceRequest {
                device_name: "/dev/sdf".into(),
                volume_size: Some(4),
                ..BlockDeviceRequest::default()
            }],
            ..RunInstances::default()
        },
    )?;
    Ok(r.instances.into_iter().map(|v| v.instance.id).collect())
}

/// The public tiny image's id.
fn image_id(ec2: &Ec2) -> String {
    ec2.store()
        .list::<Image>(CLOUD_OWNER_ID)
        .expect("images")
        .into_iter()
        .next()
        .expect("tiny image")
        .id
}

fn state(ec2: &Ec2, id: &str) -> InstanceState {
    ec2.instance(ACCT, id).expect("instance").state
}

#[test]
fn launch_runs_only_when_the_hypervisor_says_so() {
    let (ec2, hv, blocks, compute) = setup(false);
    let ids = run(&ec2, 1).expect("run");
    let id = &ids[0];
    let i = ec2.instance(ACCT, id).expect("instance");
    assert_eq!(i.state, InstanceState::Pending);
    assert_eq!(i.private_ip, "10.0.1.4");
    assert_eq!(i.private_dns_name, "ip-10-0-1-4.ec2.internal");
    assert_eq!(i.block_devices.len(), 2);
    compute.reconcile_once();
    assert_eq!(state(&ec2, id), InstanceState::Running);
    let (spec, _) = hv
        .domains
        .lock()
        .expect("lock")
        .get(id)
        .cloned()
        .expect("domain");
    assert_eq!((spec.vcpus, spec.memory_mib), (2, 1024));
    assert_eq!(spec.disks[0].target, "vda");
    assert_eq!(spec.disks[1].target, "vdf");
    assert!(spec.nics[0].tap.len() <= 15);
    let root = &i.block_devices[0].volume_id;
    assert_eq!(
        blocks
            .info(root)
            .expect("info")
            .expect("root")
            .base
            .as_deref(),
        Some("kumo-tiny")
    );
    assert_eq!(
        spec.boot,
        Boot::Kernel {
            kernel: "/var/lib/kumo/vmlinuz".into(),
            initrd: Some("/var/lib/kumo/initrd".into()),
            cmdline: "console=ttyS0 root=/dev/vda".into(),
        }
    );
    // A second launch gets the next address.
    let more = run(&ec2, 1).expect("run");
    assert_eq!(
        ec2.instance(ACCT, &more[0]).expect("i").private_ip,
        "10.0.1.5"
    );
}

#[test]
fn capacity_and_limits() {
    let (ec2, _hv, _blocks, _compute) = setup(false);
    // Limit of 6 vCPUs: three t3.micro (2 vCPUs) fit, MaxCount 5 gets 3.
    let ids = run(&ec2, 5).expect("run");
    assert_eq!(ids.len(), 3);
    let err = run(&ec2, 1).expect_err("limit");
    assert_eq!(err.code, "InstanceLimitExceeded");
    // No host at all: refused, not pretended.
    let bare = crate::ec2::testing::ec2();
    network(&bare);
    let err = bare
        .run_instances(
            ACCT,
            RunInstances {
                image_id: Some("ami-0123456789abcdef0".into()),
                instance_type: Some("t3.micro".into()),
                min_count: 1,
                max_count: 1,
                ..RunInstances::default()
            },
        )
        .expect_err("no host");
    assert_eq!(err.code, "InsufficientInstanceCapacity");
}

#[test]
fn stop_start_terminate_and_crash() {
    let (ec2, hv, blocks, compute) = setup(false);
    let id = run(&ec2, 1).expect("run").remove(0);
    compute.reconcile_once();
    let ch = ec2
        .stop_instances(ACCT, std::slice::from_ref(&id), false)
        .expect("stop");
    assert_eq!(ch[0].current, InstanceState::Stopping);
    assert_eq!(
        ec2.start_instances(ACCT, std::slice::from_ref(&id))
            .expect_err("start while stopping")
            .code,
        "IncorrectInstanceState"
    );
    compute.reconcile_once();
    compute.reconcile_once();
    assert_eq!(state(&ec2, &id), InstanceState::Stopped);
    assert_eq!(hv.state_of(&id), Some(DomainState::ShutOff));
    ec2.start_instances(ACCT, std::slice::from_ref(&id))
        .expect("start");
    assert_eq!(state(&ec2, &id), InstanceState::Pending);
    compute.reconcile_once();
    assert_eq!(state(&ec2, &id), InstanceState::Running);
    // The guest powers itself off: stopped, instance-initiated.
    hv.set(&id, DomainState::ShutOff);
    compute.reconcile_once();
    let i = ec2.instance(ACCT, &id).expect("i");
    assert_eq!(i.state, InstanceState::Stopped);
    assert_eq!(
        i.state_reason.expect("reason").code,
        "Client.InstanceInitiatedShutdown"
    );
    // Termination protection.
    ec2.modify_instance_attribute(
        ACCT,
        &id,
        crate::ec2::instance::AttributeChange::DisableApiTermination(true),
    )
    .expect("protect");
    assert_eq!(
        ec2.terminate_instances(ACCT, std::slice::from_ref(&id))
            .expect_err("protected")
            .code,
        "OperationNotPermitted"
    );
    ec2.modify_instance_attribute(
        ACCT,
        &id,
        crate::ec2::instance::AttributeChange::DisableApiTermination(false),
    )
    .expect("unprotect");
    let root = ec2.instance(ACCT, &id).expect("i").block_devices[0]
        .volume_id
        .clone();
    ec2.terminate_instances(ACCT, std::slice::from_ref(&id))
        .expect("terminate");
    assert_eq!(state(&ec2, &id), InstanceState::ShuttingDown);
    compute.reconcile_once();
    assert_eq!(state(&ec2, &id), InstanceState::Terminated);
    assert!(hv.state_of(&id).is_none(), "undefined");
    assert!(blocks.info(&root).expect("info").is_none(), "root deleted");
    assert!(ec2.volume(ACCT, &root).is_err());
    // Its address went back to the subnet.
    let again = run(&ec2, 1).expect("run again").remove(0);
    assert_eq!(
        ec2.instance(ACCT, &again).expect("i").private_ip,
        "10.0.1.4"
    );
    // Still visible, then gone after an hour.
    assert_eq!(
        ec2.describe_instances(ACCT, &[], &[], None, None)
            .expect("d")
            .items
            .len(),
        2
    );
}

#[test]
fn stubborn_guest_is_powered_off_after_the_timeout_and_orphans_go() {
    let (ec2, hv, _blocks, compute) = setup(true);
    let id = run(&ec2, 1).expect("run").remove(0);
    compute.reconcile_once();
    ec2.stop_instances(ACCT, std::slice::from_ref(&id), false)
        .expect("stop");
    compute.reconcile_once(); // ACPI shutdown asked; guest ignores it
    assert_eq!(hv.state_of(&id), Some(DomainState::Running));
    compute.reconcile_once(); // timeout (0 ms) passed: destroy
    assert_eq!(state(&ec2, &id), InstanceState::Stopped);
    // A domain without a record is destroyed and undefined.
    hv.define(&DomainSpec {
        name: "i-0000000000000dead".into(),
        vcpus: 1,
        memory_mib: 128,
        boot: kumo_driver_api::hypervisor::Boot::Disk,
        disks: Vec::new(),
        nics: Vec::new(),
    })
    .expect("define");
    compute.reconcile_once();
    assert!(hv.state_of("i-0000000000000dead").is_none());
}

#[test]
fn volumes_attach_detach_snapshot() {
    let (ec2, hv, blocks, compute) = setup(false);
    let id = run(&ec2, 1).expect("run").remove(0);
    compute.reconcile_once();
    let v = ec2
        .create_volume(
            ACCT,
            CreateVolume {
                availability_zone: Some("us-east-1a".into()),
                size: Some(8),
                volume_type: Some("gp3".into()),
                ..CreateVolume::default()
            },
        )
        .expect("create");
    assert_eq!(v.state, "creating");
    assert_eq!(
        ec2.attach_volume(ACCT, &v.id, &id, "/dev/sdg")
            .expect_err("not yet")
            .code,
        "IncorrectState"
    );
    compute.reconcile_once();
    assert_eq!(ec2.volume(ACCT, &v.id).expect("v").state, "available");
    assert!(blocks.info(&v.id).expect("info").is_some());
    assert!(
        ec2.attach_volume(ACCT, &v.id, &id, "/dev/sdf").is_err(),
        "device taken"
    );
    ec2.attach_volume(ACCT, &v.id, &id, "/dev/sdg")
        .expect("attach");
    assert_eq!(
        ec2.delete_volume(ACCT, &v.id).expect_err("in use").code,
        "VolumeInUse"
    );
    compute.reconcile_once();
    let got = ec2.volume(ACCT, &v.id).expect("v");
    assert_eq!(got.attachment.expect("att").state, "attached");
    assert!(
        hv.calls
            .lock()
            .expect("lock")
            .iter()
            .any(|c| c.ends_with(" vdg"))
    );
    let snap = ec2
        .create_snapshot(ACCT, &v.id, Some("s"), Vec::new())
        .expect("snap");
    compute.reconcile_once();
    assert_eq!(ec2.snapshot(ACCT, &snap.id).expect("s").state, "completed");
    ec2.modify_volume(ACCT, &v.id, Some(16), None, None, None)
        .expect("grow");
    assert!(
        ec2.modify_volume(ACCT, &v.id, Some(4), None, None, None)
            .is_err()
    );
    compute.reconcile_once();
    assert_eq!(ec2.volume(ACCT, &v.id).expect("v").size_gib, 16);
    assert_eq!(blocks.info(&v.id).expect("i").expect("v").size, 16 << 30);
    ec2.detach_volume(ACCT, &v.id, None, None, false)
        .expect("detach");
    compute.reconcile_once();
    assert_eq!(ec2.volume(ACCT, &v.id).expect("v").state, "available");
    ec2.delete_volume(ACCT, &v.id).expect("delete");
    compute.reconcile_once();
    assert!(ec2.volume(ACCT, &v.id).is_err());
    let from = ec2
        .create_volume(
            ACCT,
            CreateVolume {
                availability_zone: Some("us-east-1a".into()),
                snapshot_id: Some(snap.id.clone()),
                ..CreateVolume::default()
            },
        )
        .expect("from snapshot");
    assert_eq!(from.size_gib, 8);
    compute.reconcile_once();
    assert_eq!(
        blocks
            .info(&from.id)
            .expect("i")
            .expect("v")
            .base
            .as_deref(),
        Some(snap.id.as_str())
    );
    ec2.delete_snapshot(ACCT, &snap.id)
        .expect("delete snapshot");
    compute.reconcile_once();
    assert!(ec2.snapshot(ACCT, &snap.id).is_err());
}

#[test]
fn describe_filters_and_pages() {
    let (ec2, _hv, _blocks, compute) = setup(false);
    let ids = run(&ec2, 3).expect("run");
    compute.reconcile_once();
    let f = |n: &str, v: &str| crate::query::filter::Filter {
        name: n.into(),
        values: vec![v.into()],
    };
    let d = |filters: &[crate::query::filter::Filter]| {
        ec2.describe_instances(ACCT, &[], filters, None, None)
            .expect("describe")
            .items
            .len()
    };
    assert_eq!(d(&[f("instance-state-name", "running")]), 3);
    assert_eq!(d(&[f("instance-state-code", "0")]), 0);
    assert_eq!(d(&[f("private-ip-address", "10.0.1.5")]), 1);
    assert_eq!(
        d(&[f("network-interface.private-ip-address", "10.0.1.6")]),
        1
    );
    assert_eq!(d(&[f("block-device-mapping.device-name", "/dev/sdf")]), 3);
    assert_eq!(d(&[f("instance.group-name", "default")]), 3);
    assert_eq!(d(&[f("metadata-options.http-tokens", "optional")]), 3);
    assert!(
        ec2.describe_instances(ACCT, &[], &[f("bogus", "x")], None, None)
            .is_err()
    );
    assert_eq!(
        ec2.describe_instances(ACCT, &["i-0000000000000beef".into()], &[], None, None)
            .expect_err("missing")
            .code,
        "InvalidInstanceID.NotFound"
    );
    assert!(
        ec2.describe_instances(ACCT, &ids, &[], Some(5), None)
            .is_err()
    );
    assert!(
        ec2.describe_instances(ACCT, &[], &[], Some(4), None)
            .is_err()
    );
    let status = ec2
        .describe_instance_status(ACCT, &[], &[], false, None, None)
        .expect("status");
    assert_eq!(status.items.len(), 3);
}

/// A network fabric that records its calls in the hypervisor's log (so the order across
/// both seams can be checked) and keeps an inventory.
struct FakeFabric {
    hv: Arc<FakeHv>,
    vpcs: Mutex<BTreeSet<String>>,
    enis: Mutex<BTreeMap<String, (String, bool)>>,
    specs: Mutex<Vec<EniSpec>>,
    policies: Mutex<BTreeMap<String, kumo_driver_api::SecurityPolicy>>,
    routing: Mutex<BTreeMap<String, kumo_driver_api::RoutingPolicy>>,
}

impl FakeFabric {
    fn new(hv: Arc<FakeHv>) -> Self {
        Self {
            hv,
            vpcs: Mutex::new(BTreeSet::new()),
            enis: Mutex::new(BTreeMap::new()),
            specs: Mutex::new(Vec::new()),
            policies: Mutex::new(BTreeMap::new()),
            routing: Mutex::new(BTreeMap::new()),
        }
    }
}

impl NetworkFabric for FakeFabric {
    fn ensure_vpc(&self, vpc: &VpcSpec) -> Result<(), NetworkError> {
        self.hv.log(format!(
            "ensure_vpc {} {} {} {} vni {}",
            vpc.vpc_id, vpc.cidrs[0], vpc.dns, vpc.domain_name, vpc.vni
        ));
        self.vpcs.lock().expect("lock").insert(vpc.vpc_id.clone());
        Ok(())
    }
    fn remove_vpc(&self, vpc_id: &str) -> Result<(), NetworkError> {
        self.hv.log(format!("remove_vpc {vpc_id}"));
        self.vpcs.lock().expect("lock").remove(vpc_id);
        Ok(())
    }
    fn ensure_subnet(&self, subnet: &SubnetSpec) -> Result<(), NetworkError> {
        self.hv.log(format!(
            "ensure_subnet {} {}",
            subnet.subnet_id, subnet.gateway
        ));
        Ok(())
    }
    fn remove_subnet(&self, _vpc_id: &str, subnet_id: &str) -> Result<(), NetworkError> {
        self.hv.log(format!("remove_subnet {subnet_id}"));
        Ok(())
    }
    fn plug(&self, eni: &EniSpec) -> Result<PlugInfo, NetworkError> {
        // The tap exists once the domain was started.
        let attached = eni
            .instance_id
            .as_deref()
            .is_some_and(|i| self.hv.state_of(i) == Some(DomainState::Running));
        self.hv.log(format!("plug {}", eni.eni_id));
        self.enis
            .lock()
            .expect("lock")
            .insert(eni.eni_id.clone(), (eni.vpc_id.clone(), attached));
        self.specs.lock().expect("lock").push(eni.clone());
        Ok(PlugInfo {
            host_bridge: None,
            tap_attached: attached,
        })
    }
    fn unplug(&self, eni_id: &str) -> Result<(), NetworkError> {
        self.hv.log(format!("unplug {eni_id}"));
        self.enis.lock().expect("lock").remove(eni_id);
        Ok(())
    }
    fn apply_security(
        &self,
        vpc_id: &str,
        policy: &kumo_driver_api::SecurityPolicy,
    ) -> Result<(), NetworkError> {
        self.policies
            .lock()
            .expect("lock")
            .insert(vpc_id.to_owned(), policy.clone());
        Ok(())
    }
    fn apply_routing(
        &self,
        vpc_id: &str,
        policy: &kumo_driver_api::RoutingPolicy,
    ) -> Result<(), NetworkError> {
        self.routing
            .lock()
            .expect("lock")
            .insert(vpc_id.to_owned(), policy.clone());
        Ok(())
    }
    fn list(&self) -> Result<FabricInventory, NetworkError> {
        Ok(FabricInventory {
            vpcs: self.vpcs.lock().expect("lock").iter().cloned().collect(),
            enis: self
                .enis
                .lock()
                .expect("lock")
                .iter()
                .map(|(id, (vpc, att))| PluggedEni {
                    eni_id: id.clone(),
                    vpc_id: vpc.clone(),
                    tap_attached: *att,
                })
                .collect(),
        })
    }
}

#[test]
fn fabric_plugs_before_define_and_after_start_and_unplugs_on_terminate() {
    let (ec2, hv, _blocks, compute) = setup(false);
    let fabric = Arc::new(FakeFabric::new(hv.clone()));
    let compute = compute.with_network(fabric.clone());
    // Something a crash left behind: an ENI and a VPC no record explains.
    fabric.enis.lock().expect("lock").insert(
        "eni-0000000000000dead".into(),
        ("vpc-0000000000000dead".into(), true),
    );
    fabric
        .vpcs
        .lock()
        .expect("lock")
        .insert("vpc-0000000000000dead".into());
    let id = run(&ec2, 1).expect("run").remove(0);
    let eni = ec2.instance(ACCT, &id).expect("i").network_interfaces[0].clone();
    compute.reconcile_once();
    assert_eq!(state(&ec2, &id), InstanceState::Running);
    let calls = hv.calls.lock().expect("lock").clone();
    let pos = |c: &str| {
        calls
            .iter()
            .position(|x| x == c)
            .unwrap_or_else(|| panic!("no call {c} in {calls:?}"))
    };
    let vpc_call = "ensure_vpc vpc-00000000000000001 10.0.0.0/16 10.0.0.2 ec2.internal vni 7";
    assert!(pos(vpc_call) < pos("ensure_subnet subnet-00000000000000001 10.0.1.1"));
    assert!(pos("ensure_subnet subnet-00000000000000001 10.0.1.1") < pos(&format!("plug {eni}")));
    assert!(pos(&format!("plug {eni}")) < pos(&format!("define {id}")));
    let start = pos(&format!("start {id}"));
    assert!(
        calls[start..].contains(&format!("plug {eni}")),
        "plugged again after start: {calls:?}"
    );
    assert_eq!(
        fabric.enis.lock().expect("lock")[&eni],
        ("vpc-00000000000000001".into(), true)
    );
    let spec = fabric
        .specs
        .lock()
        .expect("lock")
        .last()
        .cloned()
        .expect("spec");
    assert_eq!(spec.ip.to_string(), "10.0.1.4");
    assert_eq!(spec.prefix_len, 24);
    assert_eq!(spec.gateway.to_string(), "10.0.1.1");
    assert_eq!(spec.instance_id.as_deref(), Some(id.as_str()));
    assert_eq!(spec.tap.len(), 15);
    // The orphans went.
    assert!(calls.contains(&"unplug eni-0000000000000dead".to_owned()));
    assert!(calls.contains(&"remove_vpc vpc-0000000000000dead".to_owned()));
    // A stop keeps the plug; a terminate removes it.
    ec2.stop_instances(ACCT, std::slice::from_ref(&id), false)
        .expect("stop");
    compute.reconcile_once();
    compute.reconcile_once();
    assert_eq!(state(&ec2, &id), InstanceState::Stopped);
    assert!(fabric.enis.lock().expect("lock").contains_key(&eni));
    ec2.terminate_instances(ACCT, std::slice::from_ref(&id))
        .expect("terminate");
    compute.reconcile_once();
    assert_eq!(state(&ec2, &id), InstanceState::Terminated);
    assert!(!fabric.enis.lock().expect("lock").contains_key(&eni));
    // Its address went back to the subnet.
    let subnet = ec2
        .store()
        .get::<Subnet>(ACCT, "subnet-00000000000000001")
        .expect("read")
        .expect("subnet");
    assert!(subnet.used_ips.is_empty(), "{:?}", subnet.used_ips);
}

#[test]
fn metadata_source_answers_for_live_instances_only() {
    let (ec2, _hv, _blocks, compute) = setup(false);
    let key = ec2
        .create_key_pair(ACCT, "mykey", Some("ed25519"), None, Vec::new())
        .expect("key")
        .key_pair;
    let r = ec2
        .run_instances(
            ACCT,
            RunInstances {
                image_id: Some(image_id(&ec2)),
                instance_type: Some("t3.micro".into()),
                subnet_id: Some("subnet-00000000000000001".into()),
                min_count: 1,
                max_count: 1,
                key_name: Some("mykey".into()),
                user_data: Some("aGVsbG8=".into()),
                instance_tags: vec![Tag {
                    key: "Name".into(),
                    value: "web".into(),
                }],
                metadata: MetadataRequest {
                    http_tokens: Some("required".into()),
                    http_put_response_hop_limit: Some(2),
                    instance_metadata_tags: Some("enabled".into()),
                    ..MetadataRequest::default()
                },
                ..RunInstances::default()
            },
        )
        .expect("run");
    let i = &r.instances[0].instance;
    let eni = &r.instances[0].enis[0];
    let source = InstanceMetadataSource::new(ec2.clone());
    let m = source.lookup(&eni.id).expect("pending answers");
    assert_eq!(m.instance_id, i.id);
    assert_eq!(m.account_id, ACCT);
    assert_eq!(m.image_id, image_id(&ec2));
    assert_eq!(m.instance_type, "t3.micro");
    assert_eq!(m.architecture, "x86_64");
    assert_eq!(m.region, "us-east-1");
    assert_eq!(m.availability_zone, "us-east-1a");
    assert_eq!(m.reservation_id, r.id);
    assert_eq!(m.ami_launch_index, 0);
    assert!(m.launch_time.ends_with('Z') && !m.launch_time.contains('.'));
    assert_eq!(m.local_ipv4, "10.0.1.4");
    assert_eq!(m.local_hostname, "ip-10-0-1-4.ec2.internal");
    assert_eq!(m.mac, eni.mac_address);
    assert_eq!(m.interfaces.len(), 1);
    let nic = &m.interfaces[0];
    assert_eq!(nic.subnet_ipv4_cidr_block, "10.0.1.0/24");
    assert_eq!(nic.vpc_ipv4_cidr_block, "10.0.0.0/16");
    assert_eq!(nic.vpc_id, "vpc-00000000000000001");
    assert_eq!(nic.security_groups, vec!["default".to_owned()]);
    assert_eq!(m.security_groups, vec!["default".to_owned()]);
    assert_eq!(m.public_keys.len(), 1);
    assert_eq!(m.public_keys[0].name, "mykey");
    assert_eq!(m.public_keys[0].openssh_key, key.public_key);
    assert_eq!(
        m.tags
            .as_ref()
            .and_then(|t| t.get("Name"))
            .map(String::as_str),
        Some("web")
    );
    assert_eq!(m.user_data.as_deref(), Some(&b"hello"[..]));
    assert!(m.http_endpoint_enabled);
    assert!(m.http_tokens_required);
    assert_eq!(m.http_put_response_hop_limit, 2);
    assert_eq!(m.services_domain, "amazonaws.com");
    assert!(source.lookup("eni-0123456789abcdef0").is_none());
    // Stopped: no answer.
    compute.reconcile_once();
    assert!(source.lookup(&eni.id).is_some());
    ec2.stop_instances(ACCT, std::slice::from_ref(&i.id), true)
        .expect("stop");
    compute.reconcile_once();
    compute.reconcile_once();
    assert_eq!(state(&ec2, &i.id), InstanceState::Stopped);
    assert!(source.lookup(&eni.id).is_none());
}

#[test]
fn images_from_s3_and_unknown_images_are_refused_at_launch() {
    let (ec2, _hv, _blocks, _compute) = setup(false);
    let launch = |image: &str| {
        ec2.run_instances(
            ACCT,
            RunInstances {
                image_id: Some(image.into()),
                instance_type: Some("t3.micro".into()),
                subnet_id: Some("subnet-00000000000000001".into()),
                min_count: 1,
                max_count: 1,
                ..RunInstances::default()
            },
        )
    };
    assert_eq!(
        launch("ami-0123456789abcdef0").expect_err("unknown").code,
        "InvalidAMIID.NotFound"
    );
    assert_eq!(
        launch("nope").expect_err("shape").code,
        "InvalidAMIID.Malformed"
    );
    let mut s3 = ec2
        .store()
        .list::<Image>(CLOUD_OWNER_ID)
        .expect("images")
        .remove(0);
    s3.id = "ami-0000000000000aaaa".into();
    s3.name = "from-s3".into();
    s3.public = false;
    s3.owner_id = ACCT.into();
    s3.source = ImageSource::S3 {
        bucket: "b".into(),
        key: "k".into(),
    };
    ec2.store()
        .transaction(|t| {
            t.put(ACCT, s3.clone());
            Ok(())
        })
        .expect("put");
    assert_eq!(
        launch("ami-0000000000000aaaa").expect_err("s3").code,
        "InvalidAMIID.Unavailable"
    );
}

#[test]
fn an_installer_iso_boots_from_a_cdrom_over_a_blank_root() {
    let (ec2, hv, blocks, compute) = setup(false);
    blocks
        .import_image("ami-0000000000000150", Path::new("/dev/null"))
        .expect("iso bytes");
    let mut iso = ec2
        .store()
        .list::<Image>(CLOUD_OWNER_ID)
        .expect("images")
        .remove(0);
    iso.id = "ami-0000000000000150".into();
    iso.name = "installer".into();
    iso.public = false;
    iso.owner_id = ACCT.into();
    iso.kernel_boot = None;
    iso.installer_iso = true;
    iso.block_devices[0].volume_size = 8;
    iso.source = ImageSource::BlockStore {
        name: iso.id.clone(),
    };
    ec2.store()
        .transaction(|t| {
            t.put(ACCT, iso.clone());
            Ok(())
        })
        .expect("put");
    let r = ec2
        .run_instances(
            ACCT,
            RunInstances {
                image_id: Some(iso.id.clone()),
                instance_type: Some("t3.micro".into()),
                subnet_id: Some("subnet-00000000000000001".into()),
                min_count: 1,
                max_count: 1,
                ..RunInstances::default()
            },
        )
        .expect("run");
    let id = r.instances[0].instance.id.clone();
    compute.reconcile_once();
    assert_eq!(state(&ec2, &id), InstanceState::Running);
    let (spec, _) = hv
        .domains
        .lock()
        .expect("lock")
        .get(&id)
        .cloned()
        .expect("domain");
    assert_eq!(spec.boot, Boot::Cdrom);
    let cdrom = spec.disks.last().expect("cdrom");
    assert_eq!(cdrom.media, kumo_driver_api::DiskMedia::Cdrom);
    assert!(cdrom.read_only);
    assert_eq!(
        cdrom.source,
        blocks.source(&iso.id).expect("iso source"),
        "the ISO itself, read-only: no copy"
    );
    let i = ec2.instance(ACCT, &id).expect("instance");
    let root = blocks
        .info(&i.block_devices[0].volume_id)
        .expect("info")
        .expect("root");
    assert_eq!(root.base, None, "the installer's target is blank");
    assert_eq!(root.size, 8 << 30);
}

/// `CreateImage` of a running guest reboots it around the copy (unless `NoReboot`), as EC2
/// does for a consistent image; the instance stays `running` for the API.
#[tokio::test]
async fn create_image_reboots_a_running_guest_unless_no_reboot() {
    use crate::compute::image_builder::{BuilderConfig, ImageBuilder};
    use crate::ec2::image_copy::CreateImage;

    for stubborn in [false, true] {
        let (ec2, hv, blocks, compute) = setup(stubborn);
        let iid = run(&ec2, 1).expect("run").remove(0);
        let pass = || {
            let c = compute.clone();
            async move {
                tokio::task::spawn_blocking(move || c.reconcile_once())
                    .await
                    .expect("pass")
            }
        };
        pass().await;
        assert_eq!(state(&ec2, &iid), InstanceState::Running);
        let image = |name: &str, no_reboot: bool| {
            ec2.create_image(
                ACCT,
                CreateImage {
                    instance_id: iid.clone(),
                    name: name.into(),
                    no_reboot,
                    ..CreateImage::default()
                },
            )
            .expect("create image")
            .id
        };
        let staging = tempfile::tempdir().expect("tempdir");
        let builder = ImageBuilder::new(
            ec2.clone(),
            blocks.clone(),
            staging.path(),
            BuilderConfig::default(),
        )
        .expect("builder");

        // NoReboot: the disk is copied as it is; the guest is not touched.
        hv.calls.lock().expect("lock").clear();
        let quick = image("no-reboot", true);
        builder.run_once().await;
        assert_eq!(ec2.own_image(ACCT, &quick).expect("i").state, "available");
        assert!(hv.calls.lock().expect("lock").is_empty());

        // The default: the builder waits while the reconciler takes the guest down, publishes
        // the bytes and starts it again.
        let ami = image("rebooted", false);
        let mark = ec2.instance(ACCT, &iid).expect("i").image_reboot;
        assert_eq!(mark.map(|r| r.image_id), Some(ami.clone()));
        builder.run_once().await;
        assert_eq!(ec2.own_image(ACCT, &ami).expect("i").state, "pending");
        assert!(
            blocks.info(&ami).expect("info").is_none(),
            "not while it runs"
        );
        for _ in 0..4 {
            pass().await;
            assert_eq!(
                state(&ec2, &iid),
                InstanceState::Running,
                "the API never sees a stop"
            );
        }
        let calls = hv.calls.lock().expect("lock").clone();
        let shutdown = calls.iter().position(|c| c == &format!("shutdown {iid}"));
        let start = calls.iter().rposition(|c| c == &format!("start {iid}"));
        assert!(shutdown.is_some() && start > shutdown, "{calls:?}");
        assert_eq!(
            calls.iter().any(|c| c == &format!("destroy {iid}")),
            stubborn,
            "forced off only when ACPI is ignored: {calls:?}"
        );
        assert_eq!(hv.state_of(&iid), Some(DomainState::Running));
        assert!(blocks.info(&ami).expect("info").is_some());
        assert_eq!(ec2.instance(ACCT, &iid).expect("i").image_reboot, None);
        builder.run_once().await;
        assert_eq!(ec2.own_image(ACCT, &ami).expect("i").state, "available");
    }
}

#[test]
fn launch_without_subnet_uses_fresh_default_networking() {
    let (ec2, _hv, _blocks, _compute) = setup(false);
    let other = "444455556666";
    let r = ec2
        .run_instances(
            other,
            RunInstances {
                image_id: Some(image_id(&ec2)),
                instance_type: Some("t3.micro".into()),
                min_count: 1,
                max_count: 1,
                ..RunInstances::default()
            },
        )
        .expect("run on a fresh account");
    let i = &r.instances[0].instance;
    assert!(i.private_ip.starts_with("172.31."), "{}", i.private_ip);
    assert_eq!(i.groups[0].name, "default");
    let subnet = ec2
        .store()
        .get::<Subnet>(other, &i.subnet_id)
        .expect("read")
        .expect("subnet");
    assert!(subnet.default_for_az);
    assert_eq!(subnet.available_ip_count(), 4096 - 5 - 1);
}

#[test]
fn elastic_and_launch_public_addresses_follow_instances() {
    use crate::ec2::address::{Address, AssociateAddress};
    use crate::ec2::subnet::SubnetAttribute;
    let (ec2, _hv, _blocks, compute) = setup(false);
    let id = run(&ec2, 1).expect("run").remove(0);
    let view = |id: &str| {
        ec2.describe_instances(ACCT, &[id.to_owned()], &[], None, None)
            .expect("describe")
            .items
            .remove(0)
    };
    assert!(view(&id).public_ip().is_none());
    let eip = ec2.allocate_address(ACCT, None, Vec::new()).expect("eip");
    ec2.associate_address(
        ACCT,
        &AssociateAddress {
            allocation_id: Some(&eip.id),
            instance_id: Some(&id),
            ..AssociateAddress::default()
        },
    )
    .expect("associate by instance id");
    let v = view(&id);
    let p = v.public_ip().expect("public ip");
    assert_eq!(p.public_ip, eip.public_ip);
    assert_eq!(p.network_interface_id, v.instance.network_interfaces[0]);
    assert_eq!(p.private_ip, "10.0.1.4");
    // MapPublicIpOnLaunch: the next instance gets a pool address of its own.
    ec2.modify_subnet_attribute(
        ACCT,
        "subnet-00000000000000001",
        &[SubnetAttribute::MapPublicIpOnLaunch(true)],
    )
    .expect("map public");
    let mapped = run(&ec2, 1).expect("run").remove(0);
    let auto = view(&mapped).public_ip().cloned().expect("auto public ip");
    assert_ne!(auto.public_ip, eip.public_ip);
    assert!(auto.allocation_id.is_none());
    // Termination disassociates the Elastic IP (still allocated) and frees the pool address.
    compute.reconcile_once();
    ec2.terminate_instances(ACCT, &[id.clone(), mapped.clone()])
        .expect("terminate");
    compute.reconcile_once();
    let a = ec2
        .store()
        .get::<Address>(ACCT, &eip.id)
        .expect("read")
        .expect("address kept");
    assert!(a.association.is_none());
    let again = run(&ec2, 1).expect("run").remove(0);
    assert_eq!(
        view(&again).public_ip().map(|p| p.public_ip.clone()),
        Some(auto.public_ip),
        "the freed pool address is handed out again"
    );
}

/// `CreateImage` over the reconciler's fakes: the image builder snapshots the root volume once
/// the reconciler has created it, and instances launched from the new image clone it.
#[tokio::test]
async fn create_image_snapshots_the_root_volume_and_launches() {
    use crate::compute::image_builder::{BuilderConfig, ImageBuilder};
    use crate::ec2::image_copy::CreateImage;

    let (ec2, _hv, blocks, compute) = setup(false);
    let iid = run(&ec2, 1).expect("run").remove(0);
    let ami = ec2
        .create_image(
            ACCT,
            CreateImage {
                instance_id: iid.clone(),
                name: "from-instance".into(),
                ..CreateImage::default()
            },
        )
        .expect("create image")
        .id;
    let staging = tempfile::tempdir().expect("tempdir");
    let builder = ImageBuilder::new(
        ec2.clone(),
        blocks.clone(),
        staging.path(),
        BuilderConfig::default(),
    )
    .expect("builder");
    // The root volume is not created yet: the build waits (a bounded retry).
    builder.run_once().await;
    assert_eq!(ec2.own_image(ACCT, &ami).expect("image").state, "pending");
    let c = compute.clone();
    tokio::task::spawn_blocking(move || c.reconcile_once())
        .await
        .expect("pass");
    builder.run_once().await;
    let img = ec2.own_image(ACCT, &ami).expect("image");
    assert_eq!(img.state, "available");
    assert_eq!(img.source_instance_id.as_deref(), Some(iid.as_str()));
    assert!(
        img.kernel_boot.is_some(),
        "a kernel-booted guest's image boots the same way"
    );
    assert!(blocks.info(&ami).expect("info").is_some());
    let r = ec2
        .run_instances(
            ACCT,
            RunInstances {
                image_id: Some(ami.clone()),
                instance_type: Some("t3.micro".into()),
                subnet_id: Some("subnet-00000000000000001".into()),
                min_count: 1,
                max_count: 1,
                ..RunInstances::default()
            },
        )
        .expect("launch the new image");
    let root = r.instances[0].instance.block_devices[0].volume_id.clone();
    let vol = ec2
        .store()
        .get::<crate::ec2::volume::Volume>(ACCT, &root)
        .expect("get")
        .expect("root volume");
    assert_eq!(
        vol.base.as_deref(),
        Some(ami.as_str()),
        "copy-on-write over the image"
    );
}

#[test]
fn security_posture_follows_the_records_within_a_second() {
    use crate::ec2::network_acl::NetworkAcl;
    use crate::ec2::security_group::{Direction, GroupRef};
    use crate::ec2::sg_rules::{PermissionSpec, TargetSpec};
    use kumo_driver_api::{Peer, PortMatch, Protocol, SgRuleSpec};

    let (ec2, hv, _blocks, compute) = setup(false);
    let vpc = "vpc-00000000000000001";
    let subnet = "subnet-00000000000000001";
    ec2.store()
        .transaction(|t| {
            let mut acl = NetworkAcl::default_for(vpc, ACCT);
            acl.associate(subnet);
            t.put(ACCT, acl);
            Ok(())
        })
        .expect("default ACL");
    let fabric = Arc::new(FakeFabric::new(hv.clone()));
    let compute = compute.with_network(fabric.clone());
    let id = run(&ec2, 1).expect("run").remove(0);
    let eni = ec2.instance(ACCT, &id).expect("i").network_interfaces[0].clone();
    compute.reconcile_once();
    let policy = |f: &FakeFabric| f.policies.lock().expect("lock").get(vpc).cloned();
    let p = policy(&fabric).expect("a policy before the plug");
    let sg = p.enis[&eni][0].clone();
    let g = &p.groups[&sg];
    // The default group: all traffic from its own members in, everything out.
    assert_eq!(
        g.members,
        vec!["10.0.1.4".parse::<std::net::Ipv4Addr>().expect("ip")]
    );
    assert_eq!(
        g.ingress,
        vec![SgRuleSpec {
            protocol: Protocol::All,
            ports: PortMatch::Any,
            peer: Peer::Group(sg.clone()),
        }]
    );
    assert_eq!(g.egress.len(), 1);
    // The default ACL: rule 100 allows, 32767 denies, both ways.
    let acl = &p.acls[subnet];
    let numbers: Vec<(u16, bool)> = acl.inbound.iter().map(|r| (r.number, r.allow)).collect();
    assert_eq!(numbers, vec![(100, true), (32767, false)]);
    assert_eq!(acl.outbound.len(), 2);

    // The running loop hears of a rule change from the store and applies it at once.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let _loop = {
        let _guard = rt.enter();
        compute.spawn_reconciler()
    };
    std::thread::sleep(Duration::from_millis(300));
    let started = std::time::Instant::now();
    ec2.authorize_security_group(
        ACCT,
        Direction::Ingress,
        &GroupRef::Id(sg.clone()),
        &[PermissionSpec {
            protocol: Some("tcp".into()),
            from_port: Some(22),
            to_port: Some(22),
            targets: vec![(TargetSpec::Cidr4("10.0.0.0/8".into()), None)],
        }],
        Vec::new(),
    )
    .expect("authorize");
    let want = SgRuleSpec {
        protocol: Protocol::Tcp,
        ports: PortMatch::Ports { from: 22, to: 22 },
        peer: Peer::Cidr("10.0.0.0/8".parse().expect("cidr")),
    };
    while !policy(&fabric).is_some_and(|p| p.groups[&sg].ingress.contains(&want)) {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the rule did not reach the fabric within a second"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    eprintln!(
        "rule reached the fabric {:?} after the API call",
        started.elapsed()
    );
    compute.shutdown();
}

#[test]
fn disks_without_records_go_but_clones_keep_their_base() {
    let (ec2, _hv, blocks, compute) = setup(false);
    let id = run(&ec2, 1).expect("run").remove(0);
    compute.reconcile_once();
    // A disk no record explains (a crash, an older version) is deleted by the next pass;
    // the image base and foreign names are never touched.
    blocks
        .create("vol-0000000000000dead", 1 << 30)
        .expect("orphan");
    blocks.create("scratch", 1 << 30).expect("foreign");
    // A snapshot whose record is gone while a volume cloned from it lives stays until that
    // volume goes.
    blocks
        .create("snap-0000000000000beef", 1 << 30)
        .expect("kept parent");
    BlockStore::clone_from(
        blocks.as_ref(),
        "vol-0000000000000c10",
        "snap-0000000000000beef",
        None,
    )
    .expect("clone");
    compute.reconcile_once();
    let names: BTreeSet<String> = blocks
        .list()
        .expect("list")
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert!(!names.contains("vol-0000000000000dead"));
    assert!(!names.contains("vol-0000000000000c10"));
    assert!(names.contains("kumo-tiny") && names.contains("scratch"));
    compute.reconcile_once();
    let names: BTreeSet<String> = blocks
        .list()
        .expect("list")
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert!(!names.contains("snap-0000000000000beef"), "{names:?}");
    // The live instance's disks are all still there.
    let inst = ec2.instance(ACCT, &id).expect("instance");
    for b in &inst.block_devices {
        assert!(names.contains(&b.volume_id), "{} deleted", b.volume_id);
    }
    assert_eq!(state(&ec2, &id), InstanceState::Running);
}

#[test]
fn a_second_host_runs_the_instances_placed_there() {
    let (ec2, hv, blocks, compute) = setup(false);
    let hv2 = Arc::new(FakeHv::default());
    let second = Compute::new(
        ec2.clone(),
        hv2.clone(),
        blocks.clone(),
        ComputeConfig {
            host_id: "h2".into(),
            primary: false,
            max_vcpus_per_account: 6,
            ..ComputeConfig::default()
        },
    )
    .expect("second host");
    assert_eq!(ec2.compute().hosts().len(), 2);
    // The scheduler spreads: two instances land on both hosts.
    let ids = run(&ec2, 2).expect("run");
    compute.reconcile_once();
    second.reconcile_once();
    let on = |h: &str| {
        ids.iter()
            .filter(|i| ec2.instance(ACCT, i).expect("i").host == h)
            .count()
    };
    assert_eq!((on("host-1"), on("h2")), (1, 1));
    for i in &ids {
        assert_eq!(state(&ec2, i), InstanceState::Running);
        let host = ec2.instance(ACCT, i).expect("i").host;
        let (mine, other) = if host == "h2" {
            (&hv2, &hv)
        } else {
            (&hv, &hv2)
        };
        assert!(mine.state_of(i).is_some() && other.state_of(i).is_none());
    }
    // Taken out of placement: new launches go to the first host only.
    ec2.compute().unregister("h2");
    second.shutdown();
    let more = run(&ec2, 1).expect("run");
    assert_eq!(ec2.instance(ACCT, &more[0]).expect("i").host, "host-1");
}

#[test]
fn a_detach_during_the_hot_plug_is_not_lost() {
    let (ec2, hv, _blocks, compute) = setup(false);
    let id = run(&ec2, 1).expect("run").remove(0);
    compute.reconcile_once();
    let v = ec2
        .create_volume(
            ACCT,
            CreateVolume {
                availability_zone: Some("us-east-1a".into()),
                size: Some(4),
                ..CreateVolume::default()
            },
        )
        .expect("create");
    compute.reconcile_once();
    ec2.attach_volume(ACCT, &v.id, &id, "/dev/sdg")
        .expect("attach");
    // DetachVolume arrives while the reconciler hot-plugs the disk.
    let (ec2b, vid) = (ec2.clone(), v.id.clone());
    *hv.during_attach.lock().expect("lock") = Some(Box::new(move || {
        ec2b.detach_volume(ACCT, &vid, None, None, false)
            .expect("detach");
    }));
    compute.reconcile_once();
    let got = ec2.volume(ACCT, &v.id).expect("v");
    assert_eq!(
        got.attachment.as_ref().map(|a| a.state.as_str()),
        Some("detaching"),
        "the detach was overwritten by the attach's completion"
    );
    compute.reconcile_once();
    let got = ec2.volume(ACCT, &v.id).expect("v");
    assert_eq!(got.state, "available");
    assert!(got.attachment.is_none());
    // And it can grow now.
    ec2.modify_volume(ACCT, &v.id, Some(8), None, None, None)
        .expect("grow");
    compute.reconcile_once();
    assert_eq!(ec2.volume(ACCT, &v.id).expect("v").size_gib, 8);
}

#[test]
fn elastic_ip_association_reaches_the_fabric_within_a_second() {
    use crate::ec2::address::AssociateAddress;
    use crate::ec2::route_table::RouteTarget;
    use kumo_driver_api::PublicMapping;

    let (ec2, hv, _blocks, compute) = setup(false);
    let vpc = "vpc-00000000000000001";
    let subnet = "subnet-00000000000000001";
    let igw = ec2.create_internet_gateway(ACCT, vec![]).expect("igw");
    ec2.attach_internet_gateway(ACCT, &igw.id, vpc)
        .expect("attach");
    let rt = ec2.create_route_table(ACCT, vpc, vec![]).expect("rtb");
    ec2.create_route(ACCT, &rt.id, "0.0.0.0/0", RouteTarget::Gateway(igw.id))
        .expect("route");
    ec2.associate_route_table(ACCT, &rt.id, Some(subnet), None)
        .expect("associate");
    let fabric = Arc::new(FakeFabric::new(hv.clone()));
    let compute = compute.with_network(fabric.clone());
    let ids = run(&ec2, 2).expect("run");
    compute.reconcile_once();
    let routing = |f: &FakeFabric| f.routing.lock().expect("lock").get(vpc).cloned();
    let p = routing(&fabric).expect("a routing policy before the plug");
    assert!(p.internet_gateway);
    let private = |id: &str| -> std::net::Ipv4Addr {
        ec2.instance(ACCT, id)
            .expect("i")
            .private_ip
            .parse()
            .expect("ip")
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let _loop = {
        let _guard = rt.enter();
        compute.spawn_reconciler()
    };
    std::thread::sleep(Duration::from_millis(300));
    let eip = ec2.allocate_address(ACCT, None, vec![]).expect("eip");
    let public_ip: std::net::Ipv4Addr = eip.public_ip.parse().expect("ip");
    for (n, id) in ids.iter().enumerate() {
        let started = std::time::Instant::now();
        ec2.associate_address(
            ACCT,
            &AssociateAddress {
                allocation_id: Some(&eip.id),
                instance_id: Some(id),
                allow_reassociation: true,
                ..AssociateAddress::default()
            },
        )
        .expect("associate");
        let want = PublicMapping {
            public_ip,
            private_ip: private(id),
        };
        while !routing(&fabric).is_some_and(|p| p.public_ips.contains(&want)) {
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "association {n} did not reach the fabric within a second"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        eprintln!(
            "association {n} reached the fabric {:?} after the API call",
            started.elapsed()
        );
    }
    // The address left the first instance.
    let p = routing(&fabric).expect("policy");
    assert_eq!(
        p.public_ips
            .iter()
            .filter(|m| m.public_ip == public_ip)
            .count(),
        1
    );
    compute.shutdown();
}

/// A load balancer data plane double: records what it was told.
#[derive(Default)]
struct FakeLbs {
    applied: Mutex<BTreeMap<String, kumo_driver_api::LbSpec>>,
    removed: Mutex<Vec<String>>,
}

impl kumo_driver_api::LoadBalancerDriver for FakeLbs {
    fn apply(&self, spec: &kumo_driver_api::LbSpec) -> Result<(), NetworkError> {
        self.applied
            .lock()
            .expect("lock")
            .insert(spec.id.clone(), spec.clone());
        Ok(())
    }
    fn remove(&self, id: &str) -> Result<(), NetworkError> {
        self.applied.lock().expect("lock").remove(id);
        self.removed.lock().expect("lock").push(id.to_owned());
        Ok(())
    }
    fn list(&self) -> Result<Vec<String>, NetworkError> {
        Ok(self.applied.lock().expect("lock").keys().cloned().collect())
    }
    fn target_health(
        &self,
        _: &str,
    ) -> Result<Vec<kumo_driver_api::TargetObservation>, NetworkError> {
        Ok(Vec::new())
    }
}

#[test]
fn load_balancers_run_their_nodes_and_orphans_go() {
    let (ec2, hv, _blocks, compute) = setup(false);
    let fabric = Arc::new(FakeFabric::new(hv.clone()));
    let compute = compute.with_network(fabric.clone());
    let lbs = Arc::new(FakeLbs::default());
    ec2.set_load_balancer_driver(lbs.clone());
    // A proxy a crash left behind, with no record.
    kumo_driver_api::LoadBalancerDriver::apply(
        &*lbs,
        &kumo_driver_api::LbSpec {
            id: "00000000deadbeef".into(),
            vpc_id: "vpc-00000000000000001".into(),
            application: true,
            nodes: Vec::new(),
            listeners: Vec::new(),
            target_groups: BTreeMap::new(),
            idle_timeout_secs: 60,
        },
    )
    .expect("orphan");
    let elb = crate::elbv2::Elbv2::new(ec2.clone());
    let lb = elb
        .create_load_balancer(
            ACCT,
            crate::elbv2::load_balancer::CreateLoadBalancer {
                name: "nlb".into(),
                lb_type: Some("network".into()),
                scheme: Some("internal".into()),
                subnets: vec!["subnet-00000000000000001".into()],
                ..Default::default()
            },
        )
        .expect("nlb");
    let tg = elb
        .create_target_group(
            ACCT,
            crate::elbv2::target_group::CreateTargetGroup {
                name: "tcp".into(),
                protocol: Some("TCP".into()),
                port: Some(22),
                vpc_id: Some("vpc-00000000000000001".into()),
                ..Default::default()
            },
        )
        .expect("tg");
    elb.create_listener(
        ACCT,
        &lb.id,
        crate::elbv2::listener::ListenerInput {
            protocol: Some("TCP".into()),
            port: Some(22),
            default_actions: Some(vec![crate::elbv2::actions::ActionInput {
                kind: "forward".into(),
                target_group_arn: Some(tg.id.clone()),
                ..Default::default()
            }]),
            ..Default::default()
        },
    )
    .expect("listener");
    compute.reconcile_load_balancers();
    let id = crate::elbv2::nodes::data_plane_id(&lb);
    let spec = lbs.applied.lock().expect("lock")[&id].clone();
    assert!(!spec.application);
    assert_eq!(spec.nodes.len(), 1);
    assert_eq!(spec.listeners[0].port, 22);
    assert_eq!(
        lbs.removed.lock().expect("lock").as_slice(),
        ["00000000deadbeef"]
    );
    // The node is plugged like an instance's ENI, answering to the load balancer's name.
    let node = fabric
        .specs
        .lock()
        .expect("lock")
        .iter()
        .find(|e| e.eni_id == spec.nodes[0].eni_id)
        .cloned()
        .expect("node plugged");
    assert_eq!(node.ip, spec.nodes[0].ip);
    assert_eq!(node.dns_names, vec![lb.dns_name.to_ascii_lowercase()]);
    assert!(
        fabric.policies.lock().expect("lock")["vpc-00000000000000001"]
            .enis
            .contains_key(&node.eni_id),
        "the node is in the VPC's security policy"
    );
    // Deleted: the proxy goes on the next pass, the node's ENI with the network sweep.
    elb.delete_load_balancer(ACCT, &lb.id).expect("delete");
    compute.reconcile_load_balancers();
    assert!(lbs.removed.lock().expect("lock").contains(&id));
    compute.reconcile_once();
    assert!(!fabric.enis.lock().expect("lock").contains_key(&node.eni_id));
}
