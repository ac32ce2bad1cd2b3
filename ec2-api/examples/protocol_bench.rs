//! Protocol benchmark: decode a `RunInstances` request and encode a `DescribeInstances`
//! response holding 1,000 instances, through the generated types — the per-call cost the
//! Query front adds before and after the core.
//!
//! Run: `cargo run --release -p kumo-ec2-api --example protocol_bench`

use std::hint::black_box;
use std::time::{Duration, Instant};

use kumo_ec2_api::generated::ec2;
use kumo_ec2_api::params::Params;
use kumo_ec2_api::query::decode::decode_input;
use kumo_ec2_api::query::encode::encode_response;
use kumo_ec2_api::query::{Protocol, Structure, Typed};

const RUN_INSTANCES: &str = "Action=RunInstances&Version=2016-11-15&ImageId=ami-0abcdef1234567890\
&InstanceType=t3.micro&MinCount=1&MaxCount=3&KeyName=my-key-pair&SubnetId=subnet-0123456789abcdef0\
&SecurityGroupId.1=sg-0123456789abcdef0&SecurityGroupId.2=sg-0fedcba9876543210\
&BlockDeviceMapping.1.DeviceName=%2Fdev%2Fxvda&BlockDeviceMapping.1.Ebs.VolumeSize=20\
&BlockDeviceMapping.1.Ebs.VolumeType=gp3&BlockDeviceMapping.1.Ebs.DeleteOnTermination=true\
&TagSpecification.1.ResourceType=instance&TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=web\
&TagSpecification.1.Tag.2.Key=env&TagSpecification.1.Tag.2.Value=prod\
&TagSpecification.2.ResourceType=volume&TagSpecification.2.Tag.1.Key=env&TagSpecification.2.Tag.1.Value=prod\
&MetadataOptions.HttpTokens=required&MetadataOptions.HttpEndpoint=enabled&Monitoring.Enabled=false\
&UserData=IyEvYmluL3NoCmVjaG8gaGVsbG8K&ClientToken=bench-token-1&EbsOptimized=true";

fn instance(i: usize) -> ec2::Instance {
    let t = time::macros::datetime!(2026-11-24 12:00:00 UTC);
    ec2::Instance {
        instance_id: Some(format!("i-{i:017x}")),
        image_id: Some("ami-0abcdef1234567890".into()),
        instance_type: Some(ec2::InstanceType::T3Micro),
        ami_launch_index: Some(0),
        architecture: Some(ec2::ArchitectureValues::X8664),
        hypervisor: Some(ec2::HypervisorType::Xen),
        virtualization_type: Some(ec2::VirtualizationType::Hvm),
        root_device_type: Some(ec2::DeviceType::Ebs),
        root_device_name: Some("/dev/xvda".into()),
        key_name: Some("my-key-pair".into()),
        launch_time: Some(t),
        private_ip_address: Some(format!("10.0.{}.{}", i / 250, i % 250 + 4)),
        private_dns_name: Some(format!("ip-10-0-{}-{}.ec2.internal", i / 250, i % 250 + 4)),
        public_dns_name: Some(String::new()),
        subnet_id: Some("subnet-0123456789abcdef0".into()),
        vpc_id: Some("vpc-0123456789abcdef0".into()),
        ebs_optimized: Some(true),
        ena_support: Some(true),
        source_dest_check: Some(true),
        state: Some(ec2::InstanceState {
            code: Some(16),
            name: Some(ec2::InstanceStateName::Running),
        }),
        monitoring: Some(ec2::Monitoring {
            state: Some(ec2::MonitoringState::Disabled),
        }),
        placement: Some(ec2::Placement {
            availability_zone: Some("us-east-1a".into()),
            tenancy: Some(ec2::Tenancy::Default),
            group_name: Some(String::new()),
            ..Default::default()
        }),
        cpu_options: Some(ec2::CpuOptions {
            core_count: Some(1),
            threads_per_core: Some(2),
            ..Default::default()
        }),
        security_groups: Some(vec![ec2::GroupIdentifier {
            group_id: Some("sg-0123456789abcdef0".into()),
            group_name: Some("default".into()),
        }]),
        block_device_mappings: Some(vec![ec2::InstanceBlockDeviceMapping {
            device_name: Some("/dev/xvda".into()),
            ebs: Some(ec2::EbsInstanceBlockDevice {
                attach_time: Some(t),
                delete_on_termination: Some(true),
                status: Some(ec2::AttachmentStatus::Attached),
                volume_id: Some(format!("vol-{i:017x}")),
                ..Default::default()
            }),
        }]),
        network_interfaces: Some(vec![ec2::InstanceNetworkInterface {
            network_interface_id: Some(format!("eni-{i:017x}")),
            mac_address: Some("02:00:00:00:00:01".into()),
            private_ip_address: Some(format!("10.0.{}.{}", i / 250, i % 250 + 4)),
            subnet_id: Some("subnet-0123456789abcdef0".into()),
            vpc_id: Some("vpc-0123456789abcdef0".into()),
            source_dest_check: Some(true),
            status: Some(ec2::NetworkInterfaceStatus::InUse),
            owner_id: Some("123456789012".into()),
            groups: Some(vec![ec2::GroupIdentifier {
                group_id: Some("sg-0123456789abcdef0".into()),
                group_name: Some("default".into()),
            }]),
            ..Default::default()
        }]),
        tags: Some(vec![
            ec2::Tag {
                key: Some("Name".into()),
                value: Some(format!("web-{i}")),
            },
            ec2::Tag {
                key: Some("env".into()),
                value: Some("prod".into()),
            },
        ]),
        ..Default::default()
    }
}

/// CPU time this thread has run, from `/proc/thread-self/schedstat` (Linux): on a shared
/// machine wall time mostly measures the neighbours.
fn cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace()
        .next()?
        .parse()
        .ok()
        .map(Duration::from_nanos)
}

/// Wall and CPU time per call of `f`, and the number of calls.
fn time_per_call(mut f: impl FnMut(), min: Duration) -> (Duration, Option<Duration>, u32) {
    f();
    let start = Instant::now();
    let cpu_start = cpu_time();
    let mut n = 0u32;
    while start.elapsed() < min || n < 10 {
        f();
        n += 1;
    }
    let cpu = cpu_start.zip(cpu_time()).map(|(a, b)| (b - a) / n);
    (start.elapsed() / n, cpu, n)
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(
        || "n/a".to_owned(),
        |d| format!("{:.3}", d.as_secs_f64() * 1e3),
    )
}

fn main() {
    let op = ec2::SERVICE
        .operation("DescribeInstances")
        .expect("modelled");
    let (decode, decode_cpu, n) = time_per_call(
        || {
            let params = Params::parse(None, Some(RUN_INSTANCES.as_bytes()));
            let node = decode_input(Protocol::Ec2Query, ec2::RunInstancesRequest::SHAPE, &params)
                .expect("valid");
            black_box(ec2::RunInstancesRequest::from_node(node).expect("typed"));
        },
        Duration::from_secs(2),
    );
    println!(
        "decode RunInstances: {:.1} µs/call wall, {} ms/call CPU ({n} calls)",
        decode.as_secs_f64() * 1e6,
        ms(decode_cpu)
    );

    let out = ec2::DescribeInstancesResult {
        reservations: Some(
            (0..100)
                .map(|r| ec2::Reservation {
                    reservation_id: Some(format!("r-{r:017x}")),
                    owner_id: Some("123456789012".into()),
                    instances: Some((0..10).map(|i| instance(r * 10 + i)).collect()),
                    ..Default::default()
                })
                .collect(),
        ),
        next_token: None,
    };
    let (_, to_node_cpu, _) =
        time_per_call(|| drop(black_box(out.to_node())), Duration::from_secs(2));
    let node = out.to_node();
    let (_, write_cpu, _) = time_per_call(
        || {
            drop(black_box(encode_response(
                &ec2::SERVICE,
                op,
                Some(&node),
                "bench-request-id",
            )))
        },
        Duration::from_secs(2),
    );
    println!(
        "  of which: typed -> node {} ms CPU, node -> XML {} ms CPU",
        ms(to_node_cpu),
        ms(write_cpu)
    );
    let mut size = 0;
    let (encode, encode_cpu, n) = time_per_call(
        || {
            let xml = encode_response(&ec2::SERVICE, op, Some(&out.to_node()), "bench-request-id");
            size = xml.len();
            black_box(xml);
        },
        Duration::from_secs(3),
    );
    println!(
        "encode DescribeInstances (1,000 instances, {} KiB): {:.3} ms/call wall, {} ms/call CPU = {} ms CPU per 100 instances ({n} calls)",
        size / 1024,
        encode.as_secs_f64() * 1e3,
        ms(encode_cpu),
        ms(encode_cpu.map(|d| d / 10))
    );
}
