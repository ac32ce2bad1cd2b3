"""EC2 regions and availability zones through boto3 and aws-cli."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

import harness

pytestmark = pytest.mark.usefixtures("kumo_server")


def test_describe_regions_and_zones(ep):
    ec2 = harness.client(ep, "ec2")
    regions = ec2.describe_regions()["Regions"]
    assert [r["RegionName"] for r in regions] == ["us-east-1"]
    assert regions[0]["OptInStatus"] == "opt-in-not-required"
    zones = ec2.describe_availability_zones()["AvailabilityZones"]
    assert [z["ZoneName"] for z in zones] == ["us-east-1a"]
    assert zones[0]["ZoneId"] == "use1-az1"
    assert zones[0]["State"] == "available"
    got = ec2.describe_availability_zones(
        Filters=[{"Name": "zone-name", "Values": ["*-1z"]}]
    )["AvailabilityZones"]
    assert got == []


def test_unknown_zone_and_filter_errors(ep):
    ec2 = harness.client(ep, "ec2")
    with pytest.raises(ClientError) as exc:
        ec2.describe_availability_zones(ZoneNames=["us-east-1q"])
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        ec2.describe_availability_zones(Filters=[{"Name": "no-such", "Values": ["x"]}])
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_awscli_zones(ep, home):
    out = harness.run_aws(ep, home, "ec2", "describe-availability-zones", "--output", "json")
    zones = json.loads(out.stdout)["AvailabilityZones"]
    assert zones[0]["ZoneName"] == "us-east-1a"
