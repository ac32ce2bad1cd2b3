"""VPC networking through the Terraform AWS provider 5.100: `apply`, then `plan
-detailed-exitcode` must find nothing to change (every attribute the provider reads back is
filled), then `destroy` must leave nothing behind.

Skips loudly when terraform or the provider mirror (a `registry.terraform.io/hashicorp/aws`
folder, normally under /opt/tf-plugins) is missing: CI machines may not carry them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import harness
import tfharness

pytestmark = pytest.mark.usefixtures("kumo_server")

CONFIG = Path(__file__).parent / "terraform" / "network"


@pytest.fixture
def tf(tmp_path, http_ep):
    tf, name = tfharness.workspace(CONFIG, tmp_path, http_ep)
    yield tf, name
    tf.run("destroy", "-auto-approve", "-input=false", timeout=900, ok_codes=(0, 1))


def test_apply_plan_destroy(tf, http_ep):
    tf, name = tf
    tf.apply()
    ec2 = harness.client(http_ep, "ec2")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [name]}])["Vpcs"]
    assert len(vpcs) == 1 and vpcs[0]["CidrBlock"] == "10.42.0.0/16"
    vid = vpcs[0]["VpcId"]
    assert len(ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vid]}])["Subnets"]) == 2
    routes = {r["DestinationCidrBlock"]: r.get("GatewayId") for rt in ec2.describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [vid]}])["RouteTables"] for r in rt["Routes"]}
    assert routes["0.0.0.0/0"].startswith("igw-") and routes["192.0.2.0/24"].startswith("igw-")
    plan = tf.plan_is_empty()
    assert plan.returncode == 0, f"refresh found differences:\n{plan.stdout[-6000:]}"
    tf.destroy()
    assert ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [name]}])["Vpcs"] == []
    assert ec2.describe_addresses(Filters=[{"Name": "tag:Name", "Values": [name]}])["Addresses"] == []
    assert ec2.describe_internet_gateways(Filters=[{"Name": "tag:Name", "Values": [name]}])["InternetGateways"] == []
