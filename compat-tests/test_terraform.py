"""Issue 4's acceptance test: the Terraform AWS provider applies a configuration with one of
every resource, refreshes it to an empty plan, and destroys it leaving nothing behind.

Needs terraform with the AWS provider in a local filesystem mirror (SKIPPED otherwise) and a
Kumo with a working compute host (the configuration runs an instance).
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

import harness
import tfharness

pytestmark = pytest.mark.usefixtures("kumo_server")

HERE = Path(__file__).parent


def _public_key(tmp_path: Path) -> str:
    key = tmp_path / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
        check=True,
        timeout=30,
    )
    return (tmp_path / "id_ed25519.pub").read_text().strip()


def test_apply_refresh_destroy(http_ep, tmp_path):
    tf_bin, mirror = tfharness.require_terraform()
    suffix = uuid.uuid4().hex[:8]
    tf = tfharness.Terraform(
        tf_bin,
        mirror,
        HERE / "terraform" / "full",
        tmp_path / "tf",
        {
            "endpoint": http_ep.url,
            "access_key": http_ep.access_key,
            "secret_key": http_ep.secret_key,
            "suffix": suffix,
            "public_key": _public_key(tmp_path),
        },
    )
    ec2 = harness.client(http_ep, "ec2")
    s3 = harness.client(http_ep, "s3")
    tf.init()
    try:
        tf.apply()
        instance_id = tf.output("instance_id")
        vpc_id = tf.output("vpc_id")
        bucket = tf.output("bucket")
        inst = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        assert inst["State"]["Name"] == "running", inst["State"]
        assert s3.get_object(Bucket=bucket, Key="README.txt")["Body"].read().startswith(b"applied")
        plan = tf.plan_is_empty()
        assert plan.returncode == 0, f"refresh found differences:\n{plan.stdout[-6000:]}"
    finally:
        tf.destroy()
    assert ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Vpcs"] == []
    inst = ec2.describe_instances(
        Filters=[{"Name": "instance-id", "Values": [instance_id]}]
    )["Reservations"]
    states = [i["State"]["Name"] for r in inst for i in r["Instances"]]
    assert all(s == "terminated" for s in states), states
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
