"""EC2 instances and instance types through boto3 and aws-cli."""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest
from botocore.exceptions import ClientError

import harness
from ec2_compute import compute_host_registered, require_compute, wait_console

pytestmark = pytest.mark.usefixtures("kumo_server")


def code(exc) -> str:
    return exc.value.response["Error"]["Code"]


def test_describe_instance_types(ep):
    ec2 = harness.client(ep, "ec2")
    t = ec2.describe_instance_types(InstanceTypes=["t3.micro"])["InstanceTypes"][0]
    assert t["InstanceType"] == "t3.micro"
    assert t["VCpuInfo"]["DefaultVCpus"] == 2
    assert t["MemoryInfo"]["SizeInMiB"] == 1024
    assert t["ProcessorInfo"]["SupportedArchitectures"] == ["x86_64"]
    assert t["Hypervisor"] == "nitro"
    assert t["BurstablePerformanceSupported"] is True
    assert t["NetworkInfo"]["MaximumNetworkInterfaces"] == 2
    assert "hvm" in t["SupportedVirtualizationTypes"]
    assert "on-demand" in t["SupportedUsageClasses"]
    pages = ec2.get_paginator("describe_instance_types").paginate(PaginationConfig={"PageSize": 5})
    names = [i["InstanceType"] for p in pages for i in p["InstanceTypes"]]
    assert len(names) == len(set(names)) >= 33
    for family in ("t2.", "t3.", "t3a.", "m5.", "c5.", "r5."):
        assert any(n.startswith(family) for n in names), family
    big = ec2.describe_instance_types(
        Filters=[{"Name": "vcpu-info.default-vcpus", "Values": ["16"]}]
    )["InstanceTypes"]
    assert sorted(i["InstanceType"] for i in big) == ["c5.4xlarge", "m5.4xlarge", "r5.4xlarge"]
    with pytest.raises(ClientError) as exc:
        ec2.describe_instance_types(InstanceTypes=["x1e.32xlarge"])
    assert code(exc) == "InvalidInstanceType"
    with pytest.raises(ClientError) as exc:
        ec2.describe_instance_types(Filters=[{"Name": "colour", "Values": ["red"]}])
    assert code(exc) == "InvalidParameterValue"


def test_describe_instance_type_offerings(ep):
    ec2 = harness.client(ep, "ec2")
    region = ec2.describe_instance_type_offerings()["InstanceTypeOfferings"]
    assert {o["LocationType"] for o in region} == {"region"}
    assert {o["Location"] for o in region} == {"us-east-1"}
    zones = ec2.describe_instance_type_offerings(
        LocationType="availability-zone",
        Filters=[{"Name": "instance-type", "Values": ["t3.micro"]}],
    )["InstanceTypeOfferings"]
    assert [o["Location"] for o in zones] == ["us-east-1a"]


def test_awscli_instance_types(ep, home):
    out = harness.run_aws(
        ep, home, "ec2", "describe-instance-types", "--instance-types", "m5.large", "--output", "json"
    )
    t = json.loads(out.stdout)["InstanceTypes"][0]
    assert t["MemoryInfo"]["SizeInMiB"] == 8192


def test_describe_instances_errors(ep):
    ec2 = harness.client(ep, "ec2")
    assert ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["running"]}])[
        "Reservations"
    ] == []
    with pytest.raises(ClientError) as exc:
        ec2.describe_instances(InstanceIds=["i-0123456789abcdef0"])
    assert code(exc) == "InvalidInstanceID.NotFound"
    with pytest.raises(ClientError) as exc:
        ec2.describe_instances(InstanceIds=["bogus"])
    assert code(exc) == "InvalidInstanceID.Malformed"
    with pytest.raises(ClientError) as exc:
        ec2.describe_instances(InstanceIds=["i-0123456789abcdef0"], MaxResults=5)
    assert code(exc) == "InvalidParameterCombination"
    with pytest.raises(ClientError) as exc:
        ec2.describe_instances(Filters=[{"Name": "no-such-filter", "Values": ["x"]}])
    assert code(exc) == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        ec2.terminate_instances(InstanceIds=["i-0123456789abcdef0"])
    assert code(exc) == "InvalidInstanceID.NotFound"
    statuses = ec2.describe_instance_status(IncludeAllInstances=True)["InstanceStatuses"]
    # Instances other tests ran may still be listed while terminated, as on AWS.
    assert all(s["InstanceState"]["Name"] == "terminated" for s in statuses), statuses


def test_run_instances_without_a_compute_host_is_refused(ep):
    ec2 = harness.client(ep, "ec2")
    if compute_host_registered(ec2):
        pytest.skip("SKIPPED: this server has a compute host; the refusal does not apply")
    with pytest.raises(ClientError) as exc:
        ec2.run_instances(ImageId="ami-0123456789abcdef0", MinCount=1, MaxCount=1, InstanceType="t3.micro")
    assert code(exc) == "InsufficientInstanceCapacity"
    assert "no compute host" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        ec2.run_instances(MinCount=1, MaxCount=1, InstanceType="t3.micro", ImageId="")
    assert code(exc) in ("MissingParameter", "InvalidAMIID.Malformed", "InsufficientInstanceCapacity")


def test_instance_lifecycle(ep):
    ec2 = harness.client(ep, "ec2")
    ami = require_compute(ec2)
    user_data = "#!/bin/sh\necho kumo-compat\n"
    name = f"compat-{uuid.uuid4().hex[:8]}"
    r = ec2.run_instances(
        ImageId=ami,
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        UserData=user_data,
        MetadataOptions={"HttpTokens": "required", "HttpPutResponseHopLimit": 2},
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 10, "VolumeType": "gp3"}}],
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]},
            {"ResourceType": "volume", "Tags": [{"Key": "Name", "Value": "compat-root"}]},
        ],
    )
    inst = r["Instances"][0]
    iid = inst["InstanceId"]
    try:
        assert r["ReservationId"].startswith("r-")
        assert inst["State"] == {"Code": 0, "Name": "pending"}
        assert inst["NetworkInterfaces"][0]["MacAddress"].startswith("02:")
        assert inst["PrivateDnsName"].startswith("ip-")
        ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig={"Delay": 2, "MaxAttempts": 90})
        got = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
        assert got["MetadataOptions"]["HttpTokens"] == "required"
        assert got["BlockDeviceMappings"][0]["DeviceName"] == "/dev/xvda"
        root = got["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
        vol = ec2.describe_volumes(VolumeIds=[root])["Volumes"][0]
        assert vol["Size"] == 10 and vol["VolumeType"] == "gp3"
        ud = ec2.describe_instance_attribute(InstanceId=iid, Attribute="userData")["UserData"]["Value"]
        assert base64.b64decode(ud).decode() == user_data
        by_tag = ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": [name]}])["Reservations"]
        assert [i["InstanceId"] for r in by_tag for i in r["Instances"]] == [iid]
        # The guest really booted: its init reached the metadata service (through the VPC
        # namespace's IMDS), found its own instance id and ran the user-data script.
        console = wait_console(ec2, iid, "KUMO-READY")
        assert f"instance-id={iid}" in console, console[-2000:]
        assert "kumo-compat" in console, console[-2000:]
        ec2.stop_instances(InstanceIds=[iid])
        ec2.get_waiter("instance_stopped").wait(InstanceIds=[iid], WaiterConfig={"Delay": 2, "MaxAttempts": 90})
        ec2.start_instances(InstanceIds=[iid])
        ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig={"Delay": 2, "MaxAttempts": 90})
        ec2.modify_instance_attribute(InstanceId=iid, DisableApiTermination={"Value": True})
        with pytest.raises(ClientError) as exc:
            ec2.terminate_instances(InstanceIds=[iid])
        assert code(exc) == "OperationNotPermitted"
        ec2.modify_instance_attribute(InstanceId=iid, DisableApiTermination={"Value": False})
    finally:
        ec2.terminate_instances(InstanceIds=[iid])
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[iid], WaiterConfig={"Delay": 2, "MaxAttempts": 90})
    with pytest.raises(ClientError) as exc:
        ec2.describe_volumes(VolumeIds=[root])
    assert code(exc) == "InvalidVolume.NotFound"
