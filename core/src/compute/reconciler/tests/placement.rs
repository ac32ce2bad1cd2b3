//! `RunInstances` into placement groups: the group's members reach the scheduler, the placed
//! instances record group and partition, and the scheduler's refusals become AWS errors.

use std::sync::Arc;

use super::{ACCT, FakeBlocks, FakeHv, image_id, setup};
use crate::compute::Host;
use crate::ec2::Ec2;
use crate::ec2::instance::{Instance, InstanceState, RunInstances};
use crate::query::filter::Filter;

fn launch(
    ec2: &Ec2,
    group: Option<&str>,
    group_id: Option<&str>,
    partition: Option<i32>,
    min: i32,
    max: i32,
) -> Result<Vec<Instance>, crate::ec2::Fault> {
    let r = ec2.run_instances(
        ACCT,
        RunInstances {
            image_id: Some(image_id(ec2)),
            instance_type: Some("t3.micro".into()),
            subnet_id: Some("subnet-00000000000000001".into()),
            min_count: min,
            max_count: max,
            placement_group: group.map(str::to_owned),
            placement_group_id: group_id.map(str::to_owned),
            partition_number: partition,
            ..RunInstances::default()
        },
    )?;
    Ok(r.instances.into_iter().map(|v| v.instance).collect())
}

fn group(ec2: &Ec2, name: &str, strategy: &str, partitions: Option<i32>) -> String {
    ec2.create_placement_group(ACCT, name, Some(strategy), partitions, None, Vec::new())
        .expect("group")
        .id
}

fn second_host(ec2: &Ec2, hv: &Arc<FakeHv>, blocks: &Arc<FakeBlocks>) {
    ec2.compute().register(
        Host {
            id: "host-2".into(),
            zone: "us-east-1a".into(),
            vcpus: 8,
            memory_mib: 16384,
            underlay: None,
            primary: false,
        },
        hv.clone(),
        blocks.clone(),
        6,
    );
}

#[test]
fn spread_takes_one_instance_per_host() {
    let (ec2, hv, blocks, compute) = setup(false);
    let id = group(&ec2, "s", "spread", None);
    let first = launch(&ec2, Some("s"), None, None, 1, 1)
        .expect("first")
        .remove(0);
    assert_eq!(first.placement_group.as_deref(), Some("s"));
    assert_eq!(first.placement_group_id.as_deref(), Some(id.as_str()));
    assert_eq!(first.partition_number, None);
    // One host: the second member has nowhere to go.
    let err = launch(&ec2, Some("s"), None, None, 1, 1).expect_err("second");
    assert_eq!(err.code, "InsufficientInstanceCapacity");
    assert!(
        err.message.contains("spread placement group 's'"),
        "{}",
        err.message
    );
    // Outside the group the host still has room.
    let loose = launch(&ec2, None, None, None, 1, 1)
        .expect("ungrouped")
        .remove(0);
    // A second host takes exactly one more member, also within one launch.
    second_host(&ec2, &hv, &blocks);
    ec2.terminate_instances(ACCT, &[first.id.clone(), loose.id])
        .expect("terminate");
    compute.reconcile_once();
    let both = launch(&ec2, None, Some(&id), None, 2, 2).expect("two hosts, two members");
    assert_ne!(both[0].host, both[1].host);
    assert_eq!(
        launch(&ec2, Some("s"), None, None, 1, 1)
            .expect_err("third")
            .code,
        "InsufficientInstanceCapacity"
    );
}

#[test]
fn spread_launch_counts_its_own_instances() {
    let (ec2, _hv, _blocks, _compute) = setup(false);
    group(&ec2, "s", "spread", None);
    assert_eq!(
        launch(&ec2, Some("s"), None, None, 2, 2)
            .expect_err("two on one host")
            .code,
        "InsufficientInstanceCapacity"
    );
    // MinCount 1 of MaxCount 2: AWS launches what fits.
    assert_eq!(
        launch(&ec2, Some("s"), None, None, 1, 2)
            .expect("one fits")
            .len(),
        1
    );
}

#[test]
fn cluster_packs_several() {
    let (ec2, hv, blocks, _compute) = setup(false);
    group(&ec2, "c", "cluster", None);
    let first = launch(&ec2, Some("c"), None, None, 1, 1)
        .expect("first")
        .remove(0);
    second_host(&ec2, &hv, &blocks);
    // Least-loaded placement would pick the empty host-2; the cluster stays together.
    let more = launch(&ec2, Some("c"), None, None, 2, 2).expect("more");
    assert!(more.iter().all(|i| i.host == first.host));
}

#[test]
fn partitions_are_recorded_checked_and_disjoint() {
    let (ec2, hv, blocks, _compute) = setup(false);
    group(&ec2, "p", "partition", Some(2));
    assert_eq!(
        launch(&ec2, Some("p"), None, Some(3), 1, 1)
            .expect_err("out of range")
            .code,
        "InvalidParameterValue"
    );
    let one = launch(&ec2, Some("p"), None, Some(1), 1, 1)
        .expect("partition 1")
        .remove(0);
    assert_eq!(one.partition_number, Some(1));
    // Partition 2 may not share partition 1's only host.
    assert_eq!(
        launch(&ec2, Some("p"), None, Some(2), 1, 1)
            .expect_err("no host of its own")
            .code,
        "InsufficientInstanceCapacity"
    );
    second_host(&ec2, &hv, &blocks);
    let two = launch(&ec2, Some("p"), None, None, 1, 1)
        .expect("emptiest partition")
        .remove(0);
    assert_eq!(two.partition_number, Some(2));
    assert_ne!(two.host, one.host);
    // DescribeInstances filters by partition.
    let got = ec2
        .describe_instances(
            ACCT,
            &[],
            &[Filter {
                name: "placement-partition-number".into(),
                values: vec!["2".into()],
            }],
            None,
            None,
        )
        .expect("describe")
        .items;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].instance.id, two.id);
}

#[test]
fn unknown_groups_and_partition_without_partition_group() {
    let (ec2, _hv, _blocks, _compute) = setup(false);
    assert_eq!(
        launch(&ec2, Some("nope"), None, None, 1, 1)
            .expect_err("unknown")
            .code,
        "InvalidPlacementGroup.Unknown"
    );
    assert_eq!(
        launch(&ec2, None, Some("pg-00000000000000000"), None, 1, 1)
            .expect_err("unknown id")
            .code,
        "InvalidPlacementGroup.Unknown"
    );
    group(&ec2, "c", "cluster", None);
    assert_eq!(
        launch(&ec2, Some("c"), None, Some(1), 1, 1)
            .expect_err("partition in a cluster group")
            .code,
        "InvalidParameterCombination"
    );
    // Another account's group of the same name is not this account's.
    ec2.create_placement_group(
        "999988887777",
        "other",
        Some("spread"),
        None,
        None,
        Vec::new(),
    )
    .expect("other account");
    assert_eq!(
        launch(&ec2, Some("other"), None, None, 1, 1)
            .expect_err("foreign")
            .code,
        "InvalidPlacementGroup.Unknown"
    );
}

#[test]
fn delete_waits_for_members_to_terminate() {
    let (ec2, _hv, _blocks, compute) = setup(false);
    group(&ec2, "g", "spread", None);
    let i = launch(&ec2, Some("g"), None, None, 1, 1)
        .expect("member")
        .remove(0);
    compute.reconcile_once();
    ec2.stop_instances(ACCT, std::slice::from_ref(&i.id), false)
        .expect("stop");
    compute.reconcile_once();
    compute.reconcile_once();
    // Stopped members still belong (and still hold their host against the spread rule).
    match ec2.delete_placement_group(ACCT, "g") {
        Err(crate::Error::Fault(f)) => assert_eq!(f.code, "InvalidPlacementGroup.InUse"),
        other => panic!("expected InUse, got {other:?}"),
    }
    assert_eq!(
        launch(&ec2, Some("g"), None, None, 1, 1)
            .expect_err("stopped member keeps its host")
            .code,
        "InsufficientInstanceCapacity"
    );
    ec2.terminate_instances(ACCT, std::slice::from_ref(&i.id))
        .expect("terminate");
    compute.reconcile_once();
    assert_eq!(
        ec2.instance(ACCT, &i.id).expect("i").state,
        InstanceState::Terminated
    );
    ec2.delete_placement_group(ACCT, "g").expect("delete");
}
