"""Placement groups through the Terraform AWS provider 5.100: `apply`, then `plan
-detailed-exitcode` must find nothing to change (every attribute the provider reads back is
filled), then `destroy` must leave nothing behind.

Skips loudly when terraform or the provider mirror (a `registry.terraform.io/hashicorp/aws`
folder, normally under /opt/tf-plugins) is missing: CI machines may not carry them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

import harness

pytestmark = pytest.mark.usefixtures("kumo_server")

CONFIG = Path(__file__).parent / "terraform" / "placement_groups"
MIRROR_ROOTS = [Path(os.environ.get("KUMO_TF_PLUGINS", "/opt/tf-plugins")), Path("/usr/share/terraform/plugins"),
                Path.home() / ".terraform.d" / "plugins"]
TIMEOUT_S = 600


def provider_mirror() -> Path | None:
    for root in MIRROR_ROOTS:
        if (root / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
            return root
    return None


def skip_loudly(reason: str) -> None:
    print(f"SKIPPED: {reason}")
    pytest.skip(reason)


@pytest.fixture
def tf(tmp_path, http_ep):
    binary = shutil.which("terraform")
    if not binary:
        skip_loudly("terraform is not installed")
    mirror = provider_mirror()
    if mirror is None:
        skip_loudly("no Terraform AWS provider mirror (registry.terraform.io/hashicorp/aws) on this machine")
    work = tmp_path / "placement_groups"
    shutil.copytree(CONFIG, work)
    cli = tmp_path / "terraformrc"
    cli.write_text(f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n}}\n')
    env = {
        **os.environ,
        "CHECKPOINT_DISABLE": "1",
        "TF_CLI_CONFIG_FILE": str(cli),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "TF_VAR_endpoint": http_ep.url,
        "TF_VAR_access_key": http_ep.access_key,
        "TF_VAR_secret_key": http_ep.secret_key,
        "TF_VAR_name": f"kumo-tf-{uuid.uuid4().hex[:8]}",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for k in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        env.pop(k, None)

    def run(*args: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess:
        cp = subprocess.run([binary, *args], cwd=work, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
        assert cp.returncode in ok, f"terraform {' '.join(args)} -> {cp.returncode}\n{cp.stdout[-6000:]}\n{cp.stderr[-6000:]}"
        return cp

    run("init", "-input=false", "-no-color")
    yield run, env["TF_VAR_name"]
    run("destroy", "-auto-approve", "-no-color", ok=(0, 1))


def test_apply_plan_destroy(tf, http_ep):
    run, name = tf
    run("apply", "-auto-approve", "-no-color")
    ec2 = harness.client(http_ep, "ec2")
    mine = [f"{name}-cluster", f"{name}-partition", f"{name}-spread"]
    groups = ec2.describe_placement_groups(GroupNames=mine)["PlacementGroups"]
    assert {g["GroupName"]: g["Strategy"] for g in groups} == dict(zip(mine, ["cluster", "partition", "spread"]))
    assert next(g for g in groups if g["Strategy"] == "partition")["PartitionCount"] == 3
    plan = run("plan", "-detailed-exitcode", "-no-color", ok=(0, 2))
    assert plan.returncode == 0, f"refresh found differences:\n{plan.stdout[-6000:]}"
    run("destroy", "-auto-approve", "-no-color")
    left = ec2.describe_placement_groups(Filters=[{"Name": "group-name", "Values": mine}])["PlacementGroups"]
    assert left == []
