"""EBS volumes and snapshots through boto3."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

import harness
from ec2_compute import require_compute

pytestmark = pytest.mark.usefixtures("kumo_server")


def code(exc) -> str:
    return exc.value.response["Error"]["Code"]


def test_volume_rules_and_errors(ep):
    ec2 = harness.client(ep, "ec2")
    with pytest.raises(ClientError) as exc:
        ec2.create_volume(AvailabilityZone="us-east-1q", Size=8)
    assert code(exc) == "InvalidAvailabilityZone"
    with pytest.raises(ClientError) as exc:
        ec2.create_volume(AvailabilityZone="us-east-1a", Size=8, VolumeType="gp2", Iops=300)
    assert code(exc) == "InvalidParameterCombination"
    with pytest.raises(ClientError) as exc:
        ec2.create_volume(AvailabilityZone="us-east-1a", Size=20000, VolumeType="gp3")
    assert code(exc) == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        ec2.describe_volumes(VolumeIds=["vol-0123456789abcdef0"])
    assert code(exc) == "InvalidVolume.NotFound"
    with pytest.raises(ClientError) as exc:
        ec2.delete_volume(VolumeId="vol-0123456789abcdef0")
    assert code(exc) == "InvalidVolume.NotFound"
    with pytest.raises(ClientError) as exc:
        ec2.describe_snapshots(SnapshotIds=["snap-0123456789abcdef0"])
    assert code(exc) == "InvalidSnapshot.NotFound"
    assert ec2.describe_snapshots(
        OwnerIds=["self"], Filters=[{"Name": "volume-id", "Values": ["vol-0123456789abcdef0"]}]
    )["Snapshots"] == []


def test_create_volume_is_recorded_as_creating(ep):
    """Without a block store the volume stays `creating`: the API never claims what the
    world has not done. It can still be described, filtered, tagged and deleted."""
    ec2 = harness.client(ep, "ec2")
    v = ec2.create_volume(
        AvailabilityZone="us-east-1a",
        Size=8,
        VolumeType="gp3",
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "Name", "Value": "compat-vol"}]}],
    )
    assert v["State"] in ("creating", "available")
    assert v["Iops"] == 3000 and v["Throughput"] == 125
    got = ec2.describe_volumes(Filters=[{"Name": "tag:Name", "Values": ["compat-vol"]}])["Volumes"]
    assert [x["VolumeId"] for x in got] == [v["VolumeId"]]
    ec2.delete_volume(VolumeId=v["VolumeId"])


def test_volume_lifecycle(ep):
    ec2 = harness.client(ep, "ec2")
    ami = require_compute(ec2)
    iid = ec2.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1)["Instances"][0][
        "InstanceId"
    ]
    try:
        ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig={"Delay": 2, "MaxAttempts": 90})
        zone = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["Placement"][
            "AvailabilityZone"
        ]
        vid = ec2.create_volume(AvailabilityZone=zone, Size=4, VolumeType="gp3")["VolumeId"]
        ec2.get_waiter("volume_available").wait(VolumeIds=[vid], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        ec2.attach_volume(VolumeId=vid, InstanceId=iid, Device="/dev/sdf")
        ec2.get_waiter("volume_in_use").wait(VolumeIds=[vid], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        with pytest.raises(ClientError) as exc:
            ec2.delete_volume(VolumeId=vid)
        assert code(exc) == "VolumeInUse"
        snap = ec2.create_snapshot(VolumeId=vid, Description="compat")["SnapshotId"]
        ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[snap], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        ec2.detach_volume(VolumeId=vid)
        ec2.get_waiter("volume_available").wait(VolumeIds=[vid], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        ec2.delete_volume(VolumeId=vid)
        ec2.delete_snapshot(SnapshotId=snap)
    finally:
        ec2.terminate_instances(InstanceIds=[iid])


def test_modify_volume_after_attach_grows(ep):
    ec2 = harness.client(ep, "ec2")
    ami = require_compute(ec2)
    iid = ec2.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1)["Instances"][0][
        "InstanceId"
    ]
    try:
        ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig={"Delay": 2, "MaxAttempts": 90})
        zone = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["Placement"][
            "AvailabilityZone"
        ]
        vid = ec2.create_volume(AvailabilityZone=zone, Size=4, VolumeType="gp3")["VolumeId"]
        ec2.get_waiter("volume_available").wait(VolumeIds=[vid], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        ec2.attach_volume(VolumeId=vid, InstanceId=iid, Device="/dev/sdf")
        ec2.get_waiter("volume_in_use").wait(VolumeIds=[vid], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        ec2.detach_volume(VolumeId=vid)
        ec2.get_waiter("volume_available").wait(VolumeIds=[vid], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        ec2.modify_volume(VolumeId=vid, Size=8)
        deadline = time.monotonic() + 60
        while ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]["Size"] != 8:
            assert time.monotonic() < deadline, "volume never grew to 8 GiB"
            time.sleep(1)
    finally:
        ec2.terminate_instances(InstanceIds=[iid])
