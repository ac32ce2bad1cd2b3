"""Placement groups through the Terraform AWS provider 5.100: `apply`, then `plan
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

CONFIG = Path(__file__).parent / "terraform" / "placement_groups"


@pytest.fixture
def tf(tmp_path, http_ep):
    tf, name = tfharness.workspace(CONFIG, tmp_path, http_ep)
    yield tf, name
    tf.run("destroy", "-auto-approve", "-input=false", timeout=900, ok_codes=(0, 1))


def test_apply_plan_destroy(tf, http_ep):
    tf, name = tf
    tf.apply()
    ec2 = harness.client(http_ep, "ec2")
    mine = [f"{name}-cluster", f"{name}-partition", f"{name}-spread"]
    groups = ec2.describe_placement_groups(GroupNames=mine)["PlacementGroups"]
    assert {g["GroupName"]: g["Strategy"] for g in groups} == dict(zip(mine, ["cluster", "partition", "spread"]))
    assert next(g for g in groups if g["Strategy"] == "partition")["PartitionCount"] == 3
    plan = tf.plan_is_empty()
    assert plan.returncode == 0, f"refresh found differences:\n{plan.stdout[-6000:]}"
    tf.destroy()
    left = ec2.describe_placement_groups(Filters=[{"Name": "group-name", "Values": mine}])["PlacementGroups"]
    assert left == []
