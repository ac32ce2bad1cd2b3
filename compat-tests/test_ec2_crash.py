"""Compute durability: `kill -9` of Kumo during a burst of `RunInstances`.

A separate Kumo (own data directory and ports) takes a burst of concurrent `RunInstances`; once
some were acknowledged (and others are still in flight) it is killed with SIGKILL, restarted on
the same data directory, and then:
- every acknowledged instance is described and reaches `running` (bounded wait);
- after terminating every instance the restarted server knows of (acknowledged or not), no
  libvirt domain carrying this installation's owner mark, no disk in its block store other than
  the image base, and no tap or fabric link of those instances' ENIs remains: a launch the
  server never acknowledged leaves nothing orphaned either.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

import harness
from ec2_compute import block_files, links_of, owned_domains, require_compute, virsh
from harness import KumoServer

BURST = 6
MIN_ACKED = 2
BURST_DEADLINE_S = 60.0
CONVERGE_S = 240.0


def plant_orphans(work: Path, owner: str, blocks: Path) -> None:
    suffix = os.urandom(8).hex()[:17]
    xml = work / "orphan.xml"
    xml.write_text(
        f"<domain type='qemu'><name>i-0{suffix}</name><description>kumo-owner:{owner}</description>"
        "<memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os></domain>"
    )
    subprocess.run(["virsh", "-c", "qemu:///system", "define", str(xml)], check=True, capture_output=True, timeout=30)
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", str(blocks / f"vol-0{suffix}.qcow2"), "1M"],
        check=True,
        capture_output=True,
        timeout=30,
    )
    assert f"i-0{suffix}" in owned_domains(owner)


def _launcher(ep, ami, idx, acked, errors, lock, go: threading.Event):
    ec2 = harness.client(ep, "ec2")
    go.wait(timeout=30)
    time.sleep(0.15 * idx)  # a staggered burst: some answered before the kill, some in flight
    try:
        r = ec2.run_instances(ImageId=ami, InstanceType="t3.nano", MinCount=1, MaxCount=1)
    except Exception as err:  # the kill: connection refused/reset
        with lock:
            errors.append(f"{idx}: {type(err).__name__}")
        return
    with lock:
        acked.append(r["Instances"][0]["InstanceId"])


def _states(ec2, ids):
    return {
        i["InstanceId"]: i["State"]["Name"]
        for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]
        for i in r["Instances"]
    }


def test_kill9_during_run_instances_burst(kumo_bin):
    if shutil.which("virsh") is None:
        pytest.skip("SKIPPED: virsh is not installed (no libvirt on this machine)")
    work = Path(tempfile.mkdtemp(prefix="kumo-ec2-crash-"))
    os.chmod(work, 0o711)  # QEMU (libvirt-qemu) traverses to the disks
    server = KumoServer(kumo_bin, work / "data", work / "kumo-ec2-crash.log")
    server.start()
    try:
        ec2 = harness.client(server.endpoint("http"), "ec2")
        ami = require_compute(ec2)
        acked: list[str] = []
        errors: list[str] = []
        lock = threading.Lock()
        go = threading.Event()
        ep = server.endpoint("http")
        threads = [
            threading.Thread(target=_launcher, args=(ep, ami, i, acked, errors, lock, go), daemon=True)
            for i in range(BURST)
        ]
        for t in threads:
            t.start()
        go.set()
        deadline = time.monotonic() + BURST_DEADLINE_S
        while time.monotonic() < deadline:
            with lock:
                if len(acked) >= MIN_ACKED:
                    break
            time.sleep(0.02)
        server.kill9()  # SIGKILL, mid-burst
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "launch threads hung after the kill"
        with lock:
            acked_ids = list(acked)
        assert len(acked_ids) >= MIN_ACKED, f"too few launches acknowledged before the kill: {acked_ids} {errors}"
        print(f"ec2 crash test: {len(acked_ids)} acknowledged, {len(errors)} cut off: {errors}")

        server.start()  # same data directory, fresh ports
        ep = server.endpoint("http")
        ec2 = harness.client(ep, "ec2")
        require_compute(ec2)
        owner = (server.data_dir / "compute" / "owner").read_text().strip()
        # What a crash could leave with no record: a domain of this installation and a disk.
        plant_orphans(work, owner, server.data_dir / "compute" / "blocks")

        # Every acknowledged launch is there and converges to running.
        deadline = time.monotonic() + CONVERGE_S
        while True:
            states = _states(ec2, acked_ids)
            assert set(states) == set(acked_ids), f"acknowledged instances lost: {set(acked_ids) - set(states)}"
            if all(s == "running" for s in states.values()):
                break
            assert time.monotonic() < deadline, f"acknowledged instances not running after restart: {states}"
            time.sleep(2)

        # Everything the server knows of (acknowledged or caught in flight), then terminate all.
        known = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
        enis = {n["NetworkInterfaceId"] for i in known for n in i.get("NetworkInterfaces", [])}
        ids = [i["InstanceId"] for i in known]
        assert set(acked_ids) <= set(ids)
        assert len(ids) <= BURST
        ec2.terminate_instances(InstanceIds=ids)
        ec2.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig={"Delay": 2, "MaxAttempts": 90})

        # Nothing is left: the reconciler removes what has no record, on its next passes.
        blocks = server.data_dir / "compute" / "blocks"
        deadline = time.monotonic() + 60
        while True:
            left = (owned_domains(owner), block_files(blocks), links_of(enis))
            if left == ([], [], []):
                break
            assert time.monotonic() < deadline, (
                f"left behind after terminating all: domains={left[0]} disks={left[1]} links={left[2]}"
            )
            time.sleep(2)
        code = server.stop()
        assert code == 0, f"kumo exited {code} on SIGTERM after recovery"
    finally:
        if server.running:
            try:
                harness.terminate_all_instances(server.endpoint("http"), timeout=120)
            except Exception:  # noqa: BLE001 - best-effort cleanup
                pass
        server.kill9()
        # Last resort for a failed run: no domain of this installation survives the test.
        owner_file = work / "data" / "compute" / "owner"
        if owner_file.exists():
            for name in owned_domains(owner_file.read_text().strip()):
                virsh("destroy", name)
                virsh("undefine", name)
        harness.remove_vpc_namespaces(work / "data")
        shutil.rmtree(work, ignore_errors=True)
