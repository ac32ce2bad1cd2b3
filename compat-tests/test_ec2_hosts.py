"""`kumo host add/list/remove`: a further compute host by libvirt URI.

What is real here and what is not: the added host is reached by its own libvirt connection
(`qemu:///session`) and driven by its own reconciler, its capacity is read from that libvirt,
the scheduler places instances on it, and they boot and reach the metadata service. But on
this machine root's `qemu:///session` is served by the same privileged libvirt driver as
`qemu:///system` (measured: both list the same domains), so this is a second *connection*, not
a second machine; a remote host would also need shared storage and its own network fabric
(see server/src/hosts.rs). Placement is observed through `kumo host list` (vCPUs used per
host), the driving through the instance reaching `running` although the local host's
reconciler ignores instances placed elsewhere. Own Kumo (data directory, ports); two guests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import harness
from ec2_compute import require_compute, wait_console
from harness import KumoServer

SESSION = "qemu:///session"
WAIT = {"Delay": 2, "MaxAttempts": 90}


def host_cli(server: KumoServer, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cp = subprocess.run(
        [server.binary, "host", "--data-dir", str(server.data_dir), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and cp.returncode != 0:
        raise AssertionError(f"kumo host {' '.join(args)} failed ({cp.returncode}):\n{cp.stdout}\n{cp.stderr}")
    return cp


def rows(server: KumoServer) -> dict[str, dict[str, str]]:
    lines = host_cli(server, "list").stdout.strip().splitlines()
    head = lines[0].split("\t")
    return {r.split("\t")[0]: dict(zip(head, r.split("\t"))) for r in lines[1:]}


def domains(uri: str, owner: str) -> list[str]:
    out = subprocess.run(["virsh", "-c", uri, "list", "--all", "--name"], capture_output=True, text=True, timeout=30)
    names = []
    for n in out.stdout.split():
        desc = subprocess.run(["virsh", "-c", uri, "desc", n], capture_output=True, text=True, timeout=30).stdout
        if f"kumo-owner:{owner}" in desc:
            names.append(n)
    return names


def test_second_host_add_list_place_remove(kumo_bin):
    if shutil.which("virsh") is None:
        pytest.skip("SKIPPED: virsh is not installed (no libvirt on this machine)")
    if subprocess.run(["virsh", "-c", SESSION, "uri"], capture_output=True, timeout=60).returncode != 0:
        pytest.skip(f"SKIPPED: {SESSION} is not reachable (no per-user libvirt daemon)")
    work = Path(tempfile.mkdtemp(prefix="kumo-hosts-"))
    os.chmod(work, 0o711)
    server = KumoServer(kumo_bin, work / "data", work / "kumo-hosts.log")
    server.start()
    name = "h2-" + os.urandom(3).hex()
    ids: list[str] = []
    try:
        ec2 = harness.client(server.endpoint("http"), "ec2")
        ami = require_compute(ec2)
        owner = (server.data_dir / "compute" / "owner").read_text().strip()
        zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
        before = rows(server)
        assert list(before) == ["host-1"], before
        assert before["host-1"]["STATE"] == "up (local)"
        assert int(before["host-1"]["CPUS"]) == os.cpu_count()

        out = host_cli(server, "add", "--uri", SESSION, "--zone", zone, "--name", name).stdout
        assert name in out and SESSION in out
        listed = rows(server)
        h2 = listed[name]
        assert h2["STATE"] == "up (registered)" and h2["ZONE"] == zone, h2
        assert int(h2["CPUS"]) >= 1 and int(h2["MEMORY_MIB"]) > 0 and h2["VCPUS_USED"] == "0", h2
        # The rules: duplicates, bad zones, URIs that do not answer, the local host.
        for args, needle in [
            (("add", "--uri", "qemu+tcp://127.0.0.1:1/system", "--name", name), "Duplicate"),
            (("add", "--uri", SESSION, "--name", "other"), "registered already"),
            (("add", "--uri", "qemu+tcp://127.0.0.1:1/system", "--zone", "mars-1a", "--name", "h3"), "zone"),
            (("add", "--uri", "qemu+tcp://127.0.0.1:1/system", "--name", "h3"), "connecting"),
            (("remove", "host-1"), "own host"),
            (("remove", "nope"), "NotFound"),
        ]:
            cp = host_cli(server, *args, check=False)
            assert cp.returncode != 0 and needle in cp.stderr, (args, cp.stderr)
        assert set(rows(server)) == {"host-1", name}

        # The scheduler spreads two launches over the two hosts; both run and boot.
        r = ec2.run_instances(ImageId=ami, InstanceType="t2.nano", MinCount=2, MaxCount=2)
        ids = [i["InstanceId"] for i in r["Instances"]]
        ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig=WAIT)
        used = rows(server)
        assert (used["host-1"]["VCPUS_USED"], used[name]["VCPUS_USED"]) == ("1", "1"), used
        assert sorted(domains(SESSION, owner)) == sorted(ids)
        # Both booted and both ENIs were plugged into the VPC (DHCP answered): the registered
        # host's reconciler did its part. (Metadata isolation is test_ec2_guest.py's.)
        for iid in ids:
            console = wait_console(ec2, iid, "KUMO-READY", timeout=240)
            assert "KUMO-NET: if=eth0 ip=" in console, console[-2000:]
        cp = host_cli(server, "remove", name, check=False)
        assert cp.returncode != 0 and "HostInUse" in cp.stderr, cp.stderr

        # Registration survives a restart; the instance there is adopted, still running.
        assert server.stop() == 0
        server.start()
        ec2 = harness.client(server.endpoint("http"), "ec2")
        require_compute(ec2)
        deadline = time.monotonic() + 60
        while rows(server).get(name, {}).get("STATE") != "up (registered)":
            assert time.monotonic() < deadline, rows(server)
            time.sleep(1)
        states = {i["InstanceId"]: i["State"]["Name"] for rr in ec2.describe_instances(InstanceIds=ids)["Reservations"] for i in rr["Instances"]}
        assert set(states.values()) == {"running"}, states

        ec2.terminate_instances(InstanceIds=ids)
        ec2.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig=WAIT)
        assert domains(SESSION, owner) == []
        assert "removed" in host_cli(server, "remove", name).stdout
        assert set(rows(server)) == {"host-1"}
        assert server.stop() == 0
    finally:
        if server.running:
            try:
                harness.terminate_all_instances(server.endpoint("http"), timeout=120)
            except Exception:  # noqa: BLE001 - best-effort cleanup
                pass
        server.kill9()
        owner_file = work / "data" / "compute" / "owner"
        if owner_file.exists():
            for uri in ("qemu:///system", SESSION):
                for d in domains(uri, owner_file.read_text().strip()):
                    subprocess.run(["virsh", "-c", uri, "destroy", d], capture_output=True, timeout=30)
                    subprocess.run(["virsh", "-c", uri, "undefine", d], capture_output=True, timeout=30)
        harness.remove_vpc_namespaces(work / "data")
        shutil.rmtree(work, ignore_errors=True)
