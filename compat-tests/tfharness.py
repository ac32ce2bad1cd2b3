"""Running Terraform against a Kumo server: the provider from the machine's local filesystem
mirror (never the network), a throwaway working directory, bounded runs.

A machine without terraform or without the AWS provider mirror cannot run these tests: they
say SKIPPED with the reason (see `require_terraform`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

PROVIDER = Path("registry.terraform.io/hashicorp/aws")
SEARCH_ROOTS = [Path("/opt"), Path("/usr/local/share"), Path("/usr/share"), Path.home()]


def find_mirror() -> Path | None:
    """The directory that holds `registry.terraform.io/hashicorp/aws`, if any."""
    env = os.environ.get("KUMO_TF_MIRROR")
    if env and (Path(env) / PROVIDER).is_dir():
        return Path(env)
    for root in SEARCH_ROOTS:
        if not root.is_dir():
            continue
        for dirpath, dirnames, _ in os.walk(root):
            depth = len(Path(dirpath).relative_to(root).parts)
            if depth > 4:
                dirnames[:] = []
                continue
            if (Path(dirpath) / PROVIDER).is_dir():
                return Path(dirpath)
    return None


def require_terraform() -> tuple[str, Path]:
    """terraform's path and the mirror, or a loud skip."""
    tf = shutil.which("terraform")
    if tf is None:
        pytest.skip("SKIPPED: terraform is not installed on this machine")
    mirror = find_mirror()
    if mirror is None:
        pytest.skip("SKIPPED: no local filesystem mirror with registry.terraform.io/hashicorp/aws")
    return tf, mirror


class Terraform:
    """One working directory holding a copy of a configuration."""

    def __init__(self, tf: str, mirror: Path, source: Path, workdir: Path, variables: dict[str, str]):
        self.tf = tf
        self.dir = workdir
        shutil.copytree(source, workdir, dirs_exist_ok=True)
        rc = workdir / "terraformrc"
        rc.write_text(
            'provider_installation {\n'
            f'  filesystem_mirror {{\n    path = "{mirror}"\n    include = ["registry.terraform.io/*/*"]\n  }}\n'
            '  direct { exclude = ["registry.terraform.io/*/*"] }\n}\n'
        )
        self.env = {
            **os.environ,
            "TF_CLI_CONFIG_FILE": str(rc),
            "CHECKPOINT_DISABLE": "1",
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            # No credentials or settings from the machine leak in.
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }
        self.env.pop("AWS_PROFILE", None)
        for k, v in variables.items():
            self.env[f"TF_VAR_{k}"] = v
        self.log: list[str] = []

    def run(self, *args: str, timeout: float = 600, ok_codes: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess:
        cp = subprocess.run(
            [self.tf, *args, "-no-color"],
            cwd=self.dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        self.log.append(f"$ terraform {' '.join(args)} -> {cp.returncode}\n{cp.stdout[-6000:]}\n{cp.stderr[-6000:]}")
        if cp.returncode not in ok_codes:
            raise AssertionError(
                f"terraform {' '.join(args)} exited {cp.returncode}\n--- stdout\n{cp.stdout[-8000:]}\n--- stderr\n{cp.stderr[-8000:]}"
            )
        return cp

    def init(self) -> None:
        self.run("init", "-input=false")

    def apply(self) -> None:
        self.run("apply", "-auto-approve", "-input=false", timeout=900)

    def plan_is_empty(self) -> subprocess.CompletedProcess:
        """`plan -detailed-exitcode`: 0 = no changes; 2 = changes (a perpetual diff)."""
        return self.run("plan", "-detailed-exitcode", "-input=false", ok_codes=(0, 2))

    def destroy(self) -> None:
        self.run("destroy", "-auto-approve", "-input=false", timeout=900)

    def output(self, name: str) -> str:
        return self.run("output", "-raw", name).stdout.strip()


def workspace(config: Path, tmp_path: Path, ep) -> tuple[Terraform, str]:
    """A Terraform working copy of `config` pointed at the server `ep` (variables `endpoint`,
    `access_key`, `secret_key` and a unique `name`), initialised; skips loudly without
    terraform or the mirror."""
    tf_bin, mirror = require_terraform()
    name = f"kumo-tf-{uuid.uuid4().hex[:8]}"
    tf = Terraform(
        tf_bin,
        mirror,
        config,
        tmp_path / config.name,
        {"endpoint": ep.url, "access_key": ep.access_key, "secret_key": ep.secret_key, "name": name},
    )
    tf.env["AWS_EC2_METADATA_DISABLED"] = "true"
    tf.init()
    return tf, name
