"""Shared helpers for the EC2 compute tests: does the server have a compute host?

The server answers `RunInstances` with `InsufficientInstanceCapacity` ("no compute host is
registered") until a hypervisor is wired; scenarios that need real guests skip loudly then.
A probe launch uses an image id that cannot exist, so it never creates anything.
"""

from __future__ import annotations

import os

import pytest
from botocore.exceptions import ClientError

PROBE_AMI = "ami-00000000000000000"


def compute_host_registered(ec2) -> bool:
    try:
        ec2.run_instances(ImageId=PROBE_AMI, InstanceType="t3.micro", MinCount=1, MaxCount=1)
    except ClientError as e:
        err = e.response["Error"]
        if err["Code"] == "InsufficientInstanceCapacity" and "no compute host" in err["Message"]:
            return False
        return True
    return True


def require_compute(ec2) -> str:
    """The image to launch, or a loud skip when there is no compute host or no image."""
    if not compute_host_registered(ec2):
        pytest.skip("SKIPPED: the server reports no compute host (no hypervisor wired)")
    ami = os.environ.get("KUMO_COMPAT_AMI")
    if not ami:
        images = ec2.describe_images(Owners=["self", "amazon"]).get("Images", [])
        if not images:
            pytest.skip("SKIPPED: no machine image registered (set KUMO_COMPAT_AMI)")
        ami = images[0]["ImageId"]
    return ami
