"""Shared helpers for the EC2 compute tests: does the server have a compute host?

The server answers `RunInstances` with `InsufficientInstanceCapacity` ("no compute host is
registered") until its hypervisor is ready (compute starts in the background) or when the
machine cannot run guests; scenarios that need real guests then skip loudly — unless
`KUMO_REQUIRE_COMPUTE=1` (set by `cargo xtask test` once libvirt is set up), where a missing
host is a failure. A probe launch uses an image id that cannot exist, so it never creates
anything.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

PROBE_AMI = "ami-00000000000000000"
TINY_IMAGE = "kumo-tiny-x86_64"
READY_TIMEOUT_S = 120.0


def compute_host_registered(ec2) -> bool:
    try:
        ec2.run_instances(ImageId=PROBE_AMI, InstanceType="t3.micro", MinCount=1, MaxCount=1)
    except ClientError as e:
        err = e.response["Error"]
        if err["Code"] == "InsufficientInstanceCapacity" and "no compute host" in err["Message"]:
            return False
        return True
    return True


def wait_for_compute(ec2, timeout: float = READY_TIMEOUT_S) -> bool:
    """Whether a compute host registers within `timeout` seconds (compute starts after the
    listeners, possibly probing the accelerator first)."""
    deadline = time.monotonic() + timeout
    while True:
        if compute_host_registered(ec2):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(2)


def _missing(reason: str):
    if os.environ.get("KUMO_REQUIRE_COMPUTE") == "1":
        pytest.fail(f"KUMO_REQUIRE_COMPUTE=1 but {reason}", pytrace=False)
    pytest.skip(f"SKIPPED: {reason}")


def require_compute(ec2) -> str:
    """The image to launch, or a loud skip (a failure under KUMO_REQUIRE_COMPUTE=1) when there
    is no compute host or no image."""
    if not wait_for_compute(ec2):
        _missing("the server reports no compute host (see its log: libvirt unreachable?)")
    ami = os.environ.get("KUMO_COMPAT_AMI")
    if not ami:
        images = ec2.describe_images(
            Owners=["amazon", "self"], Filters=[{"Name": "name", "Values": [TINY_IMAGE]}]
        ).get("Images", [])
        if not images:
            _missing(f"no machine image named {TINY_IMAGE} (build-image.sh not run?)")
        ami = images[0]["ImageId"]
    return ami


# -- what a test leaves on the host --------------------------------------------------------
# Blocks that are image bases, not an instance's disk.
BASES = {"kumo-tiny"}


def virsh(*args: str) -> str:
    cp = subprocess.run(["virsh", "-c", "qemu:///system", *args], capture_output=True, text=True, timeout=30)
    return cp.stdout if cp.returncode == 0 else ""


def owned_domains(owner: str) -> list[str]:
    """Domains (any state) whose description carries this installation's owner mark."""
    out = []
    for name in virsh("list", "--all", "--name").split():
        if f"kumo-owner:{owner}" in virsh("desc", name):
            out.append(name)
    return out


def block_files(blocks: Path) -> list[str]:
    return sorted(
        p.name for p in blocks.iterdir() if p.is_file() and p.suffix == ".qcow2" and p.stem not in BASES
    )


def links_of(enis: set[str]) -> list[str]:
    """Host links (taps, bridges, veths) whose name or alias belongs to one of `enis`."""
    cp = subprocess.run(["ip", "-o", "-d", "link", "show"], capture_output=True, text=True, timeout=30)
    taps = {"tap" + e.removeprefix("eni-")[-12:] for e in enis}
    found = []
    for line in cp.stdout.splitlines():
        name = line.split(":", 2)[1].strip().split("@")[0]
        if name in taps or any(e in line for e in enis):
            found.append(name)
    return found


def owner_of(data_dir: Path) -> str:
    """The installation id that marks a server's domains."""
    return (Path(data_dir) / "compute" / "owner").read_text().strip()


def wait_console(ec2, iid: str, marker: str, timeout: float = 180.0, after: int = 0) -> str:
    """The guest's console once it shows `marker` past character `after` (bounded wait)."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = ec2.get_console_output(InstanceId=iid, Latest=True).get("Output") or ""
        if marker in text[after:]:
            return text
        time.sleep(2)
    raise AssertionError(f"{marker} not on {iid}'s console within {timeout}s:\n{text[-3000:]}")


def public_namespace(vpc: str, timeout: float = 60.0) -> str:
    """The namespace holding this VPC's uplink (its alias names the VPC), once it exists."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                               timeout=30).stdout.split()
        for ns in (n for n in names if n.startswith("kumo-public-")):
            links = subprocess.run(["ip", "-n", ns, "-o", "link", "show"], capture_output=True,
                                   text=True, timeout=30).stdout
            if f"uplink:{vpc}" in links:
                return ns
        time.sleep(1)
    raise AssertionError(f"no public namespace with {vpc}'s uplink within {timeout}s")
