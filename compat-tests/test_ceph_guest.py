"""A real guest on RBD (`[storage.blocks] backend = "rbd"`), through the EC2 API:

- the instance boots from its root volume, an RBD copy-on-write clone of the image's base
  (`rbd info` names the parent `POOL/kumo-tiny@kumo_base`);
- an RBD volume attached to it is seen by the guest, which writes a marker onto it;
- CreateSnapshot of that volume, CreateVolume from the snapshot, and the new volume, attached
  to the same guest after the first is detached, reads back the marker;
- after terminate and deletes, the pool holds nothing of the test but the image base.

The server runs on a pool of its own (created and removed here), so the block store's sweep
of unknown `vol-`/`snap-` images never meets another server's disks. Needs a cluster
(`KUMO_CEPH_CONF`, as `cargo xtask test` provides) and a compute host; otherwise it says
SKIPPED (a missing host fails under `KUMO_REQUIRE_COMPUTE=1`). One guest.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

import harness
from ec2_compute import require_compute, wait_console
from harness import KumoServer

WAIT = {"Delay": 2, "MaxAttempts": 90}
VOL_WAIT = {"Delay": 1, "MaxAttempts": 120}

# The guest's part (user-data, run at boot): wait for the volume with serial A, write the
# marker into its first sector, then wait for a disk whose serial is neither A's nor one present
# at boot (the restored volume: its id does not exist yet when the guest boots) and print its
# serial and first line. Progress goes straight to the console (user-data output is printed
# only when the script ends). Every wait is bounded.
SCRIPT = """#!/bin/sh
say() {{ echo "$*" > /dev/console; }}
serials() {{ for d in $(ls /sys/block); do
  s=$(cat /sys/block/$d/serial 2>/dev/null | tr -d ' \\n'); [ -n "$s" ] && echo "$d:$s"; done; }}
BOOT=$(serials | cut -d: -f2 | tr '\\n' ' ')
A=""
for i in $(seq 1 300); do A=$(serials | grep ":{serial_a}$" | cut -d: -f1); [ -n "$A" ] && break; sleep 1; done
[ -n "$A" ] || {{ say "RBD-GUEST-FAILED no disk {serial_a}"; exit 1; }}
printf '%s\\n' '{marker}' > /tmp/marker
dd if=/tmp/marker of=/dev/$A bs=512 count=1 conv=sync,fsync 2>/dev/null
sync
say "RBD-WROTE $A $(head -c 64 /dev/$A | head -1)"
B=""
for i in $(seq 1 600); do
  for ds in $(serials); do
    s=${{ds#*:}}
    case " $BOOT {serial_a} " in *" $s "*) ;; *) B=$ds;; esac
  done
  [ -n "$B" ] && break; sleep 1
done
[ -n "$B" ] || {{ say "RBD-GUEST-FAILED no restored disk"; exit 1; }}
say "RBD-READ ${{B#*:}} $(head -c 64 /dev/${{B%%:*}} | head -1)"
"""


def rbd(conf: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["rbd", "-c", conf, *args], capture_output=True, text=True, timeout=60)


def ceph(conf: str, *args: str) -> None:
    cp = subprocess.run(["ceph", "-c", conf, "--connect-timeout", "20", *args], capture_output=True,
                        text=True, timeout=60)
    assert cp.returncode == 0, f"ceph {' '.join(args)}: {cp.stderr}"


def images(conf: str, pool: str) -> set[str]:
    cp = rbd(conf, "-p", pool, "ls")
    assert cp.returncode == 0, cp.stderr
    return set(cp.stdout.split())


def wait_images(conf: str, pool: str, want: set[str], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while (got := images(conf, pool)) != want:
        assert time.monotonic() < deadline, f"RBD images in {pool}: {sorted(got)}, expected {sorted(want)}"
        time.sleep(2)


def console_line(ec2, iid: str, marker: str, timeout: float = 240.0) -> str:
    text = wait_console(ec2, iid, marker, timeout=timeout).replace("\r", "")
    assert "RBD-GUEST-FAILED" not in text, text[-2000:]
    return re.findall(rf"^{marker} .*$", text, re.M)[-1]


def test_guest_boots_from_rbd_clone_and_restores_a_snapshot(kumo_bin):
    conf = harness.ceph_conf()
    if not conf:
        pytest.skip("SKIPPED: no Ceph cluster (KUMO_CEPH_CONF unset; drivers/ceph/setup-ceph.sh starts one)")
    if shutil.which("rbd") is None or shutil.which("virsh") is None:
        pytest.skip("SKIPPED: rbd or virsh not installed")
    pool = f"kumo-blocks-t{uuid.uuid4().hex[:8]}"
    ceph(conf, "osd", "pool", "create", pool, "8", "8")
    ceph(conf, "osd", "pool", "application", "enable", pool, "rbd")
    work = Path(tempfile.mkdtemp(prefix="kumo-rbd-guest-"))
    os.chmod(work, 0o711)  # QEMU (libvirt-qemu) traverses to the console log
    server = KumoServer(kumo_bin, work / "data", work / "kumo-rbd-guest.log", blocks="rbd", block_pool=pool)
    iid = None
    ec2 = None
    try:
        server.start()
        ec2 = harness.client(server.endpoint("http"), "ec2")
        ami = require_compute(ec2)
        zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
        vol_a = ec2.create_volume(AvailabilityZone=zone, Size=1, VolumeType="gp3")["VolumeId"]
        ec2.get_waiter("volume_available").wait(VolumeIds=[vol_a], WaiterConfig=VOL_WAIT)
        marker = f"KUMO-RBD-MARKER-{uuid.uuid4().hex[:12]}"
        user_data = SCRIPT.format(serial_a=vol_a.replace("-", ""), marker=marker)
        inst = ec2.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1,
                                 UserData=user_data)["Instances"][0]
        iid = inst["InstanceId"]
        ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig=WAIT)
        got = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
        root = got["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
        info = rbd(conf, "-p", pool, "info", root)
        assert info.returncode == 0, f"root volume {root} is no RBD image in {pool}: {info.stderr}"
        assert re.search(rf"parent: {re.escape(pool)}/kumo-tiny@kumo_base", info.stdout), info.stdout
        print(f"root disk {root}: RBD clone of {pool}/kumo-tiny@kumo_base")
        wait_console(ec2, iid, "KUMO-USERDATA-BEGIN", timeout=240)

        ec2.attach_volume(VolumeId=vol_a, InstanceId=iid, Device="/dev/sdf")
        ec2.get_waiter("volume_in_use").wait(VolumeIds=[vol_a], WaiterConfig=VOL_WAIT)
        wrote = console_line(ec2, iid, "RBD-WROTE")
        assert wrote.endswith(marker), wrote
        print(f"guest: {wrote}")

        snap = ec2.create_snapshot(VolumeId=vol_a, Description="rbd guest test")["SnapshotId"]
        ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[snap], WaiterConfig=VOL_WAIT)
        ec2.detach_volume(VolumeId=vol_a)
        ec2.get_waiter("volume_available").wait(VolumeIds=[vol_a], WaiterConfig=VOL_WAIT)
        vol_b = ec2.create_volume(AvailabilityZone=zone, SnapshotId=snap, VolumeType="gp3")["VolumeId"]
        ec2.get_waiter("volume_available").wait(VolumeIds=[vol_b], WaiterConfig=VOL_WAIT)
        assert {vol_a, vol_b, snap, root} <= images(conf, pool)
        ec2.attach_volume(VolumeId=vol_b, InstanceId=iid, Device="/dev/sdg")
        ec2.get_waiter("volume_in_use").wait(VolumeIds=[vol_b], WaiterConfig=VOL_WAIT)
        read = console_line(ec2, iid, "RBD-READ")
        assert read == f"RBD-READ {vol_b.replace('-', '')} {marker}", read
        print(f"guest: {read}")

        ec2.terminate_instances(InstanceIds=[iid])
        ec2.get_waiter("instance_terminated").wait(InstanceIds=[iid], WaiterConfig=WAIT)
        iid = None
        for vol in (vol_a, vol_b):
            ec2.get_waiter("volume_available").wait(VolumeIds=[vol], WaiterConfig=VOL_WAIT)
            ec2.delete_volume(VolumeId=vol)
        ec2.delete_snapshot(SnapshotId=snap)
        # The root volume went with the instance (DeleteOnTermination); the rest with the calls.
        wait_images(conf, pool, {"kumo-tiny"})
    finally:
        if iid and ec2 is not None:
            harness.terminate_all_instances(server.endpoint("http"))
        code = server.stop() if server.running else 0
        harness.remove_vpc_namespaces(server.data_dir)
        # memstore keeps nothing on disk: the pool goes with whatever the test left in it.
        subprocess.run(["ceph", "-c", conf, "osd", "pool", "rm", pool, pool, "--yes-i-really-really-mean-it"],
                       capture_output=True, timeout=60)
        shutil.rmtree(work, ignore_errors=True)
    assert code == 0, f"kumo exited {code} on SIGTERM"
