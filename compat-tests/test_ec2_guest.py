"""End-to-end checks inside real guests (the tiny image's console markers, see
drivers/compute-libvirt/image/init.sh):

- a volume attached to a running instance appears in the guest (`KUMO-DISKS:` lists its serial,
  the volume id without its dash) and disappears when detached; the instance then survives
  reboot, stop/start, and after terminate nothing of it is left on the host (domain, disks,
  tap and fabric links);
- the metadata service: IMDSv2 enforced when required (a token-less request is refused), two
  instances of one subnet each read only their own metadata, also when one forges the other's
  source address, and the token answer leaves with the configured hop limit as its IP TTL
  (after `ModifyInstanceMetadataOptions` and a reboot, counted in the VPC's router namespace).

At most two guests run at once.
"""

from __future__ import annotations

import ipaddress
import os
import random
import re
import subprocess
import time

import pytest

import harness
from ec2_compute import block_files, links_of, owned_domains, owner_of, require_compute, wait_console

pytestmark = pytest.mark.usefixtures("kumo_server")

WAIT = {"Delay": 2, "MaxAttempts": 90}


def last_disks(console: str) -> str:
    lines = re.findall(r"^KUMO-DISKS: (.*)$", console, re.M)
    return lines[-1] if lines else ""


def wait_disks(ec2, iid: str, pred, timeout: float = 90.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        disks = last_disks(ec2.get_console_output(InstanceId=iid, Latest=True).get("Output") or "")
        if pred(disks):
            return disks
        assert time.monotonic() < deadline, f"guest {iid} disks never matched; last: {disks!r}"
        time.sleep(2)


def assert_nothing_left(kumo_server, iid: str, enis: set[str], volumes: set[str]) -> None:
    owner = owner_of(kumo_server.data_dir)
    blocks = kumo_server.data_dir / "compute" / "blocks"
    deadline = time.monotonic() + 60
    while True:
        left = (
            [d for d in owned_domains(owner) if d == iid],
            [b for b in block_files(blocks) if b.removesuffix(".qcow2") in volumes],
            links_of(enis),
        )
        if left == ([], [], []):
            return
        assert time.monotonic() < deadline, f"left after terminate: domains={left[0]} disks={left[1]} links={left[2]}"
        time.sleep(2)


def test_volume_hotplug_is_seen_by_the_guest_and_nothing_is_left(ep, kumo_server):
    ec2 = harness.client(ep, "ec2")
    ami = require_compute(ec2)
    inst = ec2.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1)["Instances"][0]
    iid = inst["InstanceId"]
    enis = {n["NetworkInterfaceId"] for n in inst["NetworkInterfaces"]}
    volumes: set[str] = set()
    vid = None
    try:
        ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig=WAIT)
        got = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
        volumes |= {b["Ebs"]["VolumeId"] for b in got["BlockDeviceMappings"]}
        wait_console(ec2, iid, "KUMO-DISKS:")
        zone = got["Placement"]["AvailabilityZone"]
        vid = ec2.create_volume(AvailabilityZone=zone, Size=2, VolumeType="gp3")["VolumeId"]
        volumes.add(vid)
        serial = vid.replace("-", "")
        ec2.get_waiter("volume_available").wait(VolumeIds=[vid], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        before = last_disks(ec2.get_console_output(InstanceId=iid, Latest=True)["Output"])
        assert serial not in before
        ec2.attach_volume(VolumeId=vid, InstanceId=iid, Device="/dev/sdf")
        ec2.get_waiter("volume_in_use").wait(VolumeIds=[vid], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        disks = wait_disks(ec2, iid, lambda d: f":{serial}" in d)
        print(f"guest disks after attach: {disks}")
        ec2.detach_volume(VolumeId=vid)
        ec2.get_waiter("volume_available").wait(VolumeIds=[vid], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        disks = wait_disks(ec2, iid, lambda d: d and serial not in d)
        print(f"guest disks after detach: {disks}")

        # Reboot: the guest boots again (a second KUMO-READY) and the instance stays running.
        n_ready = (ec2.get_console_output(InstanceId=iid, Latest=True)["Output"] or "").count("KUMO-READY")
        ec2.reboot_instances(InstanceIds=[iid])
        deadline = time.monotonic() + 180
        while (ec2.get_console_output(InstanceId=iid, Latest=True)["Output"] or "").count("KUMO-READY") <= n_ready:
            assert time.monotonic() < deadline, "no second boot after RebootInstances"
            time.sleep(2)
        assert ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"] == "running"
        ec2.stop_instances(InstanceIds=[iid])
        ec2.get_waiter("instance_stopped").wait(InstanceIds=[iid], WaiterConfig=WAIT)
        ec2.start_instances(InstanceIds=[iid])
        ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig=WAIT)
        wait_console(ec2, iid, "KUMO-READY")
    finally:
        ec2.terminate_instances(InstanceIds=[iid])
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[iid], WaiterConfig=WAIT)
    ec2.delete_volume(VolumeId=vid)
    assert_nothing_left(kumo_server, iid, enis, volumes)


# The probe each guest runs as user-data: its own id with a token, a token-less request (must
# be refused: HttpTokens=required), then the same requests with the peer's address forged as
# the source (anti-spoofing drops them, or the service answers by link: never the peer's id).
PROBE = """#!/bin/sh
M=169.254.169.254
tok() {{ printf 'PUT /latest/api/token HTTP/1.0\\r\\nHost: %s\\r\\nX-aws-ec2-metadata-token-ttl-seconds: 60\\r\\n\\r\\n' $M |
  timeout 5 nc $M 80 2>/dev/null | tr -d '\\r' | awk 'b{{print}} /^$/{{b=1}}' | head -1; }}
iid() {{ timeout 5 wget -q -O - --header "X-aws-ec2-metadata-token: $1" http://$M/latest/meta-data/instance-id 2>/dev/null; }}
T=$(tok)
echo "PROBE-SELF=$(iid "$T")"
echo "PROBE-V1=$(timeout 5 wget -q -O - http://$M/latest/meta-data/instance-id 2>/dev/null)"
IF=$(ls /sys/class/net | grep -v '^lo$' | head -1)
GW=$(ip route | awk '/default/{{print $3}}')
ip addr add {peer}/32 dev $IF
ip route add $M/32 via $GW dev $IF src {peer}
T2=$(tok)
echo "PROBE-FORGED=$(iid "$T2")$(iid "$T")"
ip route del $M/32
ip addr del {peer}/32 dev $IF
echo "PROBE-DONE"
"""


def count_ttl(netns: str, table: str, ttl: int) -> None:
    script = (
        f"table inet {table} {{\n counter hop {{ }}\n chain out {{\n"
        "  type filter hook output priority 0; policy accept;\n"
        f"  ip saddr 169.254.169.254 tcp sport 80 ip ttl {ttl} counter name \"hop\"\n }}\n}}\n"
    )
    subprocess.run(["ip", "netns", "exec", netns, "nft", "-f", "-"], input=script, text=True, check=True,
                   capture_output=True, timeout=30)


def counted(netns: str, table: str) -> int:
    out = subprocess.run(["ip", "netns", "exec", netns, "nft", "list", "counter", "inet", table, "hop"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    words = out.split()
    return int(words[words.index("packets") + 1])


def test_imds_isolation_v2_enforced_and_hop_limit(ep, kumo_server):
    ec2 = harness.client(ep, "ec2")
    ami = require_compute(ec2)
    subnet = next(
        s for s in ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    )
    net = ipaddress.ip_network(subnet["CidrBlock"])
    taken = {
        i.get("PrivateIpAddress")
        for r in ec2.describe_instances()["Reservations"]
        for i in r["Instances"]
    }
    free = [str(net[n]) for n in range(20, min(net.num_addresses - 2, 250)) if str(net[n]) not in taken]
    ip_a, ip_b = random.sample(free, 2)
    ids = []
    table = "kumohop" + os.urandom(4).hex()
    netns = None
    try:
        for mine, peer in ((ip_a, ip_b), (ip_b, ip_a)):
            r = ec2.run_instances(
                ImageId=ami,
                InstanceType="t3.micro",
                MinCount=1,
                MaxCount=1,
                SubnetId=subnet["SubnetId"],
                PrivateIpAddress=mine,
                UserData=PROBE.format(peer=peer),
                MetadataOptions={"HttpTokens": "required", "HttpPutResponseHopLimit": 1},
            )
            ids.append(r["Instances"][0]["InstanceId"])
        ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig=WAIT)
        consoles = {
            iid: wait_console(ec2, iid, "KUMO-USERDATA-END", timeout=300).replace("\r", "") for iid in ids
        }
        for iid, other in ((ids[0], ids[1]), (ids[1], ids[0])):
            text = consoles[iid]
            print(f"{iid}: " + " | ".join(re.findall(r"PROBE-\w+=\S*", text)))
            assert f"PROBE-SELF={iid}" in text, text[-3000:]
            assert re.search(r"^\[user-data\] PROBE-V1=$", text, re.M), "IMDSv1 answered although tokens are required"
            forged = re.search(r"^\[user-data\] PROBE-FORGED=(\S*)$", text, re.M)
            assert forged is not None and other not in forged.group(1), text[-3000:]
            assert other not in text, f"{iid} read {other}'s metadata:\n{text[-3000:]}"

        # Hop limit: the token answer's TTL is the configured hop limit. Change it, reboot,
        # and count token answers with that TTL where the metadata service sends them.
        vpc = subnet["VpcId"]
        netns = f"kumo-vpc-{vpc}"
        count_ttl(netns, table, 7)
        ec2.modify_instance_metadata_options(InstanceId=ids[0], HttpPutResponseHopLimit=7, HttpTokens="required")
        opts = ec2.describe_instances(InstanceIds=[ids[0]])["Reservations"][0]["Instances"][0]["MetadataOptions"]
        assert opts["HttpPutResponseHopLimit"] == 7
        assert counted(netns, table) == 0
        n_ready = consoles[ids[0]].count("KUMO-READY")
        ec2.reboot_instances(InstanceIds=[ids[0]])
        deadline = time.monotonic() + 240
        while (ec2.get_console_output(InstanceId=ids[0], Latest=True)["Output"] or "").count("KUMO-READY") <= n_ready:
            assert time.monotonic() < deadline, "no second boot after RebootInstances"
            time.sleep(2)
        hops = counted(netns, table)
        print(f"token answers with TTL 7 after the change: {hops}")
        assert hops >= 2, "token answers did not leave with the configured hop limit (7)"
    finally:
        if netns:
            subprocess.run(["ip", "netns", "exec", netns, "nft", "delete", "table", "inet", table],
                           capture_output=True, timeout=30)
        if ids:
            ec2.terminate_instances(InstanceIds=ids)
            ec2.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig=WAIT)
