//! The reconciler against in-memory fakes of the hypervisor and the block store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kumo_driver_api::hypervisor::{DiskSource, DomainEvent, DomainStats, HostInfo};
use kumo_driver_api::{
    BlockStore, BlockStoreError, DiskSpec, DomainSpec, DomainState, Hypervisor, HypervisorError,
    VolumeInfo,
};

use super::{Compute, ComputeConfig};
use crate::ec2::Ec2;
use crate::ec2::instance::{BlockDeviceRequest, InstanceState, RunInstances};
use crate::ec2::volume::CreateVolume;

#[derive(Default)]
struct FakeHv {
    domains: Mutex<BTreeMap<String, (DomainSpec, DomainState)>>,
    calls: Mutex<Vec<String>>,
    /// Guests that ignore ACPI shutdown.
    stubborn: bool,
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

thread_local! {
    static AMI: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// The account's default VPC, subnets and group (what a first launch creates too).
fn network(ec2: &Ec2) {
    ec2.ensure_defaults(ACCT).expect("defaults");
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
        .import_image("cloud-linux", Path::new("/dev/null"))
        .expect("image");
    let ami = ec2
        .register_public_image(&crate::ec2::image::PublicImage {
            name: "cloud-linux".into(),
            description: "test image".into(),
            block_store_image: "cloud-linux".into(),
            size_gib: 2,
            architecture: "x86_64".into(),
            boot_mode: "legacy-bios".into(),
        })
        .expect("register");
    AMI.with(|a| *a.borrow_mut() = ami);
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
            image_id: Some(AMI.with(|a| a.borrow().clone())),
            instance_type: Some("t3.micro".into()),
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
    assert_eq!(i.private_ip, "172.31.0.4");
    assert_eq!(i.private_dns_name, "ip-172-31-0-4.ec2.internal");
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
        Some("cloud-linux")
    );
    // A second launch gets the next address.
    let more = run(&ec2, 1).expect("run");
    assert_eq!(
        ec2.instance(ACCT, &more[0]).expect("i").private_ip,
        "172.31.0.5"
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
    let err = run(&bare, 1).expect_err("no host");
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
        "172.31.0.4"
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
    assert_eq!(d(&[f("private-ip-address", "172.31.0.5")]), 1);
    assert_eq!(
        d(&[f("network-interface.private-ip-address", "172.31.0.6")]),
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
