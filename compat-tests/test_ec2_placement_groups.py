"""EC2 placement groups through boto3: the API (create, describe, filter, delete, errors) and
launches the scheduler places by the group's strategy on this single-host installation."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

import harness
from ec2_compute import require_compute

pytestmark = pytest.mark.usefixtures("kumo_server")

WAIT = {"Delay": 2, "MaxAttempts": 90}


def code(exc) -> str:
    return exc.value.response["Error"]["Code"]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_create_describe_filter_delete(ep):
    ec2 = harness.client(ep, "ec2")
    account = harness.client(ep, "sts").get_caller_identity()["Account"]
    spread, part, clus = unique("spread"), unique("part"), unique("clus")
    s = ec2.create_placement_group(
        GroupName=spread,
        Strategy="spread",
        TagSpecifications=[{"ResourceType": "placement-group", "Tags": [{"Key": "team", "Value": "blue"}]}],
    )["PlacementGroup"]
    assert s["GroupName"] == spread
    assert s["GroupId"].startswith("pg-")
    assert s["Strategy"] == "spread"
    assert s["SpreadLevel"] == "host"
    assert s["State"] == "available"
    assert s["GroupArn"] == f"arn:aws:ec2:us-east-1:{account}:placement-group/{spread}"
    assert s["Tags"] == [{"Key": "team", "Value": "blue"}]
    p = ec2.create_placement_group(GroupName=part, Strategy="partition", PartitionCount=3)["PlacementGroup"]
    assert p["PartitionCount"] == 3
    c = ec2.create_placement_group(GroupName=clus, Strategy="cluster")["PlacementGroup"]
    assert "PartitionCount" not in c and "SpreadLevel" not in c

    def names(**kw):
        return sorted(g["GroupName"] for g in ec2.describe_placement_groups(**kw)["PlacementGroups"])

    assert set(names()) >= {spread, part, clus}
    assert names(GroupNames=[part]) == [part]
    assert names(GroupIds=[s["GroupId"]]) == [spread]
    mine = [spread, part, clus]
    for flt, want in [
        ({"Name": "group-name", "Values": [clus]}, [clus]),
        ({"Name": "group-arn", "Values": [s["GroupArn"]]}, [spread]),
        ({"Name": "strategy", "Values": ["partition"]}, [part]),
        ({"Name": "spread-level", "Values": ["host"]}, [spread]),
        ({"Name": "tag:team", "Values": ["blue"]}, [spread]),
        ({"Name": "tag-key", "Values": ["team"]}, [spread]),
        ({"Name": "state", "Values": ["available"]}, sorted(mine)),
    ]:
        got = [n for n in names(Filters=[flt]) if n in mine]
        assert got == want, flt
    # CreateTags/DescribeTags know placement groups by their pg- id.
    ec2.create_tags(Resources=[c["GroupId"]], Tags=[{"Key": "env", "Value": "test"}])
    assert names(Filters=[{"Name": "tag:env", "Values": ["test"]}]) == [clus]
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [c["GroupId"]]}])["Tags"]
    assert [(t["Key"], t["ResourceType"]) for t in tags] == [("env", "placement-group")]
    for name in mine:
        ec2.delete_placement_group(GroupName=name)
    with pytest.raises(ClientError) as exc:
        ec2.describe_placement_groups(GroupNames=[spread])
    assert code(exc) == "InvalidPlacementGroup.Unknown"


def test_errors(ep):
    ec2 = harness.client(ep, "ec2")
    name = unique("err")
    ec2.create_placement_group(GroupName=name, Strategy="cluster")
    try:
        with pytest.raises(ClientError) as exc:
            ec2.create_placement_group(GroupName=name, Strategy="spread")
        assert code(exc) == "InvalidPlacementGroup.Duplicate"
        with pytest.raises(ClientError) as exc:
            ec2.create_placement_group(GroupName=unique("bad"), Strategy="partition", PartitionCount=8)
        assert code(exc) == "InvalidParameterValue"
        with pytest.raises(ClientError) as exc:
            ec2.describe_placement_groups(GroupNames=["no-such-group"])
        assert code(exc) == "InvalidPlacementGroup.Unknown"
        with pytest.raises(ClientError) as exc:
            ec2.describe_placement_groups(Filters=[{"Name": "colour", "Values": ["red"]}])
        assert code(exc) == "InvalidParameterValue"
        with pytest.raises(ClientError) as exc:
            ec2.delete_placement_group(GroupName="no-such-group")
        assert code(exc) == "InvalidPlacementGroup.Unknown"
        with pytest.raises(ClientError) as exc:
            ec2.run_instances(
                ImageId="ami-0123456789abcdef0",
                InstanceType="t3.micro",
                MinCount=1,
                MaxCount=1,
                Placement={"GroupName": "no-such-group"},
            )
        # Without a compute host the capacity check answers first.
        assert code(exc) in ("InvalidPlacementGroup.Unknown", "InvalidAMIID.NotFound", "InsufficientInstanceCapacity")
    finally:
        ec2.delete_placement_group(GroupName=name)


def _run(ec2, ami: str, **placement) -> dict:
    return ec2.run_instances(
        ImageId=ami, InstanceType="t3.micro", MinCount=placement.pop("count", 1),
        MaxCount=placement.pop("count_max", 1), Placement=placement,
    )


def _terminate(ec2, ids: list[str]) -> None:
    if ids:
        ec2.terminate_instances(InstanceIds=ids)
        ec2.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig=WAIT)


def _placement(ec2, iid: str) -> dict:
    return ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["Placement"]


def test_spread_and_partition_launches(ep):
    ec2 = harness.client(ep, "ec2")
    ami = require_compute(ec2)
    spread, part = unique("spread"), unique("part")
    sid = ec2.create_placement_group(GroupName=spread, Strategy="spread")["PlacementGroup"]["GroupId"]
    ec2.create_placement_group(GroupName=part, Strategy="partition", PartitionCount=2)
    launched: list[str] = []
    try:
        first = _run(ec2, ami, GroupName=spread)["Instances"][0]
        launched.append(first["InstanceId"])
        got = _placement(ec2, first["InstanceId"])
        assert got["GroupName"] == spread and got["GroupId"] == sid
        # One host: a second spread member has no distinct host to go to.
        with pytest.raises(ClientError) as exc:
            _run(ec2, ami, GroupName=spread)
        assert code(exc) == "InsufficientInstanceCapacity"
        # GroupId works as well as GroupName.
        with pytest.raises(ClientError) as exc:
            _run(ec2, ami, GroupId=sid)
        assert code(exc) == "InsufficientInstanceCapacity"
        with pytest.raises(ClientError) as exc:
            _run(ec2, ami, GroupName=part, PartitionNumber=5)
        assert code(exc) == "InvalidParameterValue"
        with pytest.raises(ClientError) as exc:
            _run(ec2, ami, GroupName=unique("none"))
        assert code(exc) == "InvalidPlacementGroup.Unknown"
        p1 = _run(ec2, ami, GroupName=part, PartitionNumber=1)["Instances"][0]
        launched.append(p1["InstanceId"])
        assert _placement(ec2, p1["InstanceId"])["PartitionNumber"] == 1
        by_partition = ec2.describe_instances(
            Filters=[
                {"Name": "placement-group-name", "Values": [part]},
                {"Name": "placement-partition-number", "Values": ["1"]},
            ]
        )["Reservations"]
        assert [i["InstanceId"] for r in by_partition for i in r["Instances"]] == [p1["InstanceId"]]
        with pytest.raises(ClientError) as exc:
            ec2.delete_placement_group(GroupName=spread)
        assert code(exc) == "InvalidPlacementGroup.InUse"
    finally:
        _terminate(ec2, launched)
    ec2.delete_placement_group(GroupName=spread)
    ec2.delete_placement_group(GroupName=part)


def test_cluster_takes_several(ep):
    ec2 = harness.client(ep, "ec2")
    ami = require_compute(ec2)
    clus = unique("clus")
    ec2.create_placement_group(GroupName=clus, Strategy="cluster")
    launched: list[str] = []
    try:
        r = _run(ec2, ami, GroupName=clus, count=2, count_max=2)
        launched = [i["InstanceId"] for i in r["Instances"]]
        assert len(launched) == 2
        for iid in launched:
            assert _placement(ec2, iid)["GroupName"] == clus
        with pytest.raises(ClientError) as exc:
            ec2.delete_placement_group(GroupName=clus)
        assert code(exc) == "InvalidPlacementGroup.InUse"
    finally:
        _terminate(ec2, launched)
    # Terminated members no longer hold the group.
    ec2.delete_placement_group(GroupName=clus)
    with pytest.raises(ClientError) as exc:
        ec2.describe_placement_groups(GroupNames=[clus])
    assert code(exc) == "InvalidPlacementGroup.Unknown"
