//! `DescribeInstances` over 10,000 instances of one account, inserted directly: unfiltered
//! pages of 1,000 (following `NextToken`) and a tag-filtered describe. Prints p50/p99.
//! Run: `cargo bench -p kumo-core --bench describe_instances`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kumo_core::ec2::instance::{BlockDevice, Desired, Instance, InstanceState, MetadataOptions};
use kumo_core::ec2::network_interface::{GroupRef, NetworkInterface};
use kumo_core::ec2::{Ec2, Placement, ResourceStore};
use kumo_core::query::filter::Filter;
use kumo_core::query::tags::Tag;

const ACCOUNT: &str = "111122223333";
const N: usize = 10_000;

fn instance(n: usize) -> (Instance, NetworkInterface) {
    let id = format!("i-{n:017x}");
    let eni = format!("eni-{n:017x}");
    let ip = format!("10.0.{}.{}", n / 250, n % 250 + 4);
    let group = GroupRef {
        id: "sg-00000000000000001".into(),
        name: "default".into(),
    };
    let i = Instance {
        id: id.clone(),
        reservation_id: format!("r-{:017x}", n / 4),
        launch_index: u32::try_from(n % 4).unwrap_or(0),
        image_id: "ami-0123456789abcdef0".into(),
        kernel_boot: None,
        cdrom: None,
        instance_type: "t3.micro".into(),
        key_name: None,
        subnet_id: "subnet-00000000000000001".into(),
        vpc_id: "vpc-00000000000000001".into(),
        availability_zone: "us-east-1a".into(),
        placement_group: None,
        placement_group_id: None,
        partition_number: None,
        tenancy: "default".into(),
        host: "host-1".into(),
        private_ip: ip.clone(),
        private_dns_name: format!("ip-{}.ec2.internal", ip.replace('.', "-")),
        network_interfaces: vec![eni.clone()],
        groups: vec![group.clone()],
        user_data: None,
        state: InstanceState::Running,
        desired: Desired::Running,
        reboot_requested: false,
        image_reboot: None,
        force_stop: false,
        shutdown_requested_ms: None,
        state_reason: None,
        state_transition_reason: String::new(),
        launch_time_ms: 1_700_000_000_000,
        terminated_ms: None,
        root_device_name: "/dev/xvda".into(),
        block_devices: vec![BlockDevice {
            device_name: "/dev/xvda".into(),
            volume_id: format!("vol-{n:017x}"),
            delete_on_termination: true,
            attach_time_ms: 1_700_000_000_000,
            status: "attached".into(),
        }],
        metadata: MetadataOptions::default(),
        disable_api_termination: false,
        disable_api_stop: false,
        shutdown_behavior: "stop".into(),
        ebs_optimized: true,
        ena_support: true,
        monitoring: false,
        cpu_credits: Some("unlimited".into()),
        client_token: None,
        auto_recovery: "default".into(),
        tags: vec![
            Tag {
                key: "Name".into(),
                value: format!("web-{n}"),
            },
            Tag {
                key: "team".into(),
                value: if n.is_multiple_of(100) {
                    "blue"
                } else {
                    "green"
                }
                .into(),
            },
        ],
    };
    let e = NetworkInterface {
        id: eni,
        subnet_id: i.subnet_id.clone(),
        vpc_id: i.vpc_id.clone(),
        availability_zone: i.availability_zone.clone(),
        mac_address: "02:00:00:00:00:01".into(),
        private_ip: ip,
        public_ip: None,
        private_dns_name: i.private_dns_name.clone(),
        description: String::new(),
        groups: vec![group],
        source_dest_check: true,
        status: "in-use".into(),
        interface_type: "interface".into(),
        attachment: None,
        requester_id: None,
        tags: Vec::new(),
    };
    (i, e)
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let idx = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[idx]
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state =
        kumo_state_redb::RedbStateStore::open(&dir.path().join("state.redb")).expect("redb");
    let store = ResourceStore::open(Arc::new(state)).expect("store");
    let ec2 = Ec2::new(
        store,
        Placement {
            region: "us-east-1".into(),
            zones: vec!["us-east-1a".into()],
        },
    );
    let started = Instant::now();
    for chunk in (0..N).collect::<Vec<_>>().chunks(1000) {
        ec2.store()
            .transaction(|t| {
                for n in chunk {
                    let (i, e) = instance(*n);
                    t.put(ACCOUNT, i);
                    t.put(ACCOUNT, e);
                }
                Ok(())
            })
            .expect("insert");
    }
    println!(
        "describe_instances: inserted {N} instances in {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );

    let rounds = 20;
    let mut pages = Vec::new();
    for _ in 0..rounds {
        let mut token: Option<String> = None;
        let mut seen = 0;
        loop {
            let t0 = Instant::now();
            let page = ec2
                .describe_instances(ACCOUNT, &[], &[], Some(1000), token.as_deref())
                .expect("page");
            pages.push(t0.elapsed());
            seen += page.items.len();
            token = page.next_token;
            if token.is_none() {
                break;
            }
        }
        assert_eq!(seen, N);
    }
    let (p50, p99) = (percentile(&mut pages, 0.5), percentile(&mut pages, 0.99));
    println!(
        "describe_instances: unfiltered page of 1000 ({} pages): p50 {:.2} ms, p99 {:.2} ms",
        pages.len(),
        p50.as_secs_f64() * 1000.0,
        p99.as_secs_f64() * 1000.0
    );

    let filters = [Filter {
        name: "tag:team".into(),
        values: vec!["blue".into()],
    }];
    let mut tagged = Vec::new();
    for _ in 0..rounds * 5 {
        let t0 = Instant::now();
        let page = ec2
            .describe_instances(ACCOUNT, &[], &filters, None, None)
            .expect("filtered");
        tagged.push(t0.elapsed());
        assert_eq!(page.items.len(), N / 100);
    }
    let (p50, p99) = (percentile(&mut tagged, 0.5), percentile(&mut tagged, 0.99));
    println!(
        "describe_instances: tag:team=blue over {N} ({} matches): p50 {:.2} ms, p99 {:.2} ms",
        N / 100,
        p50.as_secs_f64() * 1000.0,
        p99.as_secs_f64() * 1000.0
    );
}
