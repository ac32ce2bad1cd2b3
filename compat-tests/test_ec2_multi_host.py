"""One VPC across two compute hosts: guests on different hosts reach each other through the
VPC's VXLAN tunnel between the hosts (real TCG guests, through boto3).

The second host is simulated on this machine: `drivers/compute-libvirt/start-netns-host.sh`
creates a network namespace with its own libvirtd (its guests' taps live in that namespace)
and a veth "underlay" between the root namespace and it, addressed from a /30 of 10.255.0.0/16
picked at random. Kumo runs with `[network] underlay_address` = the root end and two zones;
`kumo host add --netns NS --underlay <namespace end>` registers the second host in the second
zone, where Kumo gives it a network fabric of its own. The scheduler places an instance by its
subnet's zone, so A (subnet in zone 1) runs on the local host and B (zone 2) on the second one.

B serves HTTP (busybox httpd) with its own instance id and a 200 kB file; A probes B's private
address once a second (ping, HTTP, the download, B's private DNS name through the VPC's DNS on
A's side) and prints `MHPROBE seq=N ping=ok|fail http=<answer>|fail big=<bytes> dns=ok|fail` on
its console. B's id on A's console means a TCP connection crossed from one host's VPC router to
the other's over the tunnel and back (the underlay's packet counters grow too); the download
means full-size packets (1550 bytes encapsulated) cross the underlay. Revoking the group's
TCP rule then makes new connections fail while ping still answers: security groups hold across
hosts; after a restart of Kumo, revoking ICMP stops ping while HTTP still answers. Also checked:
B is a domain of the second libvirtd and its tap lives in the second host's namespace, not in
the root one; after DeleteVpc both hosts' VPC routers go.
Everything the test creates (guests, host, namespaces, links, daemons) is removed, also on
failure; traffic stays in namespaces the test (or the Kumo it started) created.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import harness
from ec2_compute import require_compute, wait_console
from harness import KumoServer

REPO = Path(__file__).resolve().parent.parent
START = REPO / "drivers/compute-libvirt/start-netns-host.sh"
STOP = REPO / "drivers/compute-libvirt/stop-netns-host.sh"
ZONES = ("us-east-1a", "us-east-1b")
PORT = 8080
BIG = 200_000  # bytes B serves at /big: full-size segments through the tunnel
WAIT = {"Delay": 2, "MaxAttempts": 90}

SERVER_USER_DATA = f"""#!/bin/sh
mkdir -p /www && echo "mh-answer-$(hostname)" > /www/index.html
head -c {BIG} /dev/zero > /www/big
httpd -p {PORT} -h /www
echo "MHSERVER up $(hostname)" > /dev/console
"""

CLIENT_USER_DATA = """#!/bin/sh
( n=0; while [ $n -lt 900 ]; do
    n=$((n+1))
    if ping -c 1 -W 1 {server} >/dev/null 2>&1; then p=ok; else p=fail; fi
    h=$(timeout 3 wget -q -O - http://{server}:{port}/ 2>/dev/null | head -1)
    b=0; [ -n "$h" ] && b=$(timeout 5 wget -q -O - http://{server}:{port}/big 2>/dev/null | wc -c)
    if timeout 3 nslookup {name} 2>/dev/null | grep -q "{server}"; then d=ok; else d=fail; fi
    echo "MHPROBE seq=$n ping=$p http=${{h:-fail}} big=$b dns=$d"
    sleep 1
  done ) > /dev/console 2>/dev/null &
"""


def _missing(reason: str):
    if os.environ.get("KUMO_REQUIRE_COMPUTE") == "1":
        pytest.fail(f"KUMO_REQUIRE_COMPUTE=1 but {reason}", pytrace=False)
    pytest.skip(f"SKIPPED: {reason}")


def run(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
    cp = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check and cp.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({cp.returncode}):\n{cp.stdout}\n{cp.stderr}")
    return cp


def underlay_pair() -> tuple[str, str]:
    """A /30 of 10.255.0.0/16 no address of the root namespace lies in: (root end, ns end)."""
    used = []
    for line in run("ip", "-o", "-4", "addr", "show").stdout.splitlines():
        parts = line.split()
        if "inet" in parts:
            used.append(ipaddress.ip_interface(parts[parts.index("inet") + 1]).network)
    for _ in range(100):
        net = ipaddress.ip_network(f"10.255.{random.randrange(256)}.{4 * random.randrange(1, 64)}/30")
        if not any(net.overlaps(u) for u in used):
            hosts = list(net.hosts())
            return f"{hosts[0]}/30", f"{hosts[1]}/30"
    raise AssertionError("no free /30 in 10.255.0.0/16")


def host_cli(server: KumoServer, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cp = subprocess.run([server.binary, "host", "--data-dir", str(server.data_dir), *args],
                        capture_output=True, text=True, timeout=120)
    if check and cp.returncode != 0:
        raise AssertionError(f"kumo host {' '.join(args)} failed ({cp.returncode}):\n{cp.stdout}\n{cp.stderr}")
    return cp


def host_rows(server: KumoServer) -> dict[str, dict[str, str]]:
    lines = host_cli(server, "list").stdout.strip().splitlines()
    head = lines[0].split("\t")
    return {r.split("\t")[0]: dict(zip(head, r.split("\t"))) for r in lines[1:]}


def domains(uri: str) -> list[str]:
    return run("virsh", "-c", uri, "list", "--all", "--name", check=False, timeout=30).stdout.split()


def links(netns: str | None) -> str:
    cmd = ["ip", *(["-n", netns] if netns else []), "-o", "link", "show"]
    return run(*cmd, timeout=30).stdout


def underlay_packets(netns: str) -> tuple[int, int]:
    """(received, sent) packets on the root end of the underlay (named as the start script does)."""
    link = "ul" + hashlib.md5(netns.encode()).hexdigest()[:10]
    stats = Path("/sys/class/net") / link / "statistics"
    return int((stats / "rx_packets").read_text()), int((stats / "tx_packets").read_text())


def tap_of(eni: str) -> str:
    """The tap libvirt creates for an ENI (kumo-compute-libvirt names it after the ENI id)."""
    return "tap" + eni.removeprefix("eni-")[-12:]


def last_probe(ec2, iid: str) -> tuple[int, str, str, dict[str, str]] | None:
    """(seq, ping, http, all fields) of the client's latest probe line."""
    out = ec2.get_console_output(InstanceId=iid, Latest=True).get("Output") or ""
    lines = [l.strip() for l in out.splitlines() if l.startswith("MHPROBE seq=")]
    if not lines:
        return None
    fields = dict(f.split("=", 1) for f in lines[-1].split()[1:] if "=" in f)
    return int(fields.get("seq", "0")), fields.get("ping", ""), fields.get("http", ""), fields


def wait_probe(ec2, iid: str, ok, what: str, timeout: float, need: int = 1):
    """Waits (bounded) until `need` consecutive new probes satisfy `ok(ping, http, fields)`; returns
    the last probe (see `last_probe`)."""
    deadline = time.monotonic() + timeout
    first = last_probe(ec2, iid)
    after = first[0] if first else 0
    seen, streak, p = -1, 0, first
    while time.monotonic() < deadline:
        p = last_probe(ec2, iid)
        if p and p[0] > after and p[0] != seen:
            seen = p[0]
            streak = streak + 1 if ok(p[1], p[2], p[3]) else 0
            if streak >= need:
                return p
        time.sleep(1)
    out = ec2.get_console_output(InstanceId=iid, Latest=True).get("Output") or ""
    raise AssertionError(f"{iid}: probes never showed {what} within {timeout}s (last {p}):\n{out[-2500:]}")


def network_state(vpc: str | None, netns: str) -> str:
    """The links, addresses and routes of the test's VPC routers and of the second host's
    namespace: what a failure report needs to say where packets stopped."""
    out = []
    names = run("ip", "netns", "list", timeout=30, check=False).stdout.split()
    for ns in [n for n in names if vpc and vpc in n] + [netns]:
        for what in (("link",), ("-d", "link", "show", "type", "vxlan"), ("-br", "addr"), ("route",)):
            cp = run("ip", "-n", ns, *what, timeout=30, check=False)
            out.append(f"--- ip -n {ns} {' '.join(what)}\n{cp.stdout}{cp.stderr}")
        cp = run("ip", "netns", "exec", ns, "bridge", "fdb", "show", timeout=30, check=False)
        out.append(f"--- bridge fdb ({ns})\n" + "\n".join(l for l in cp.stdout.splitlines() if "dst" in l))
    return "\n".join(out)


def remove_vpc_leftovers(vpc: str | None) -> None:
    """Router namespaces and DHCP servers of the test's VPC that a killed server left, whatever
    host fabric made them (their names and runtime directories carry the VPC id)."""
    if not vpc:
        return
    for pid_file in Path("/run").glob(f"kumo-net*/**/{vpc}*/dnsmasq.pid"):
        try:
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
        except (OSError, ValueError):
            pass
        shutil.rmtree(pid_file.parent, ignore_errors=True)
        if pid_file.parent.parent.name != "kumo-net":
            try:
                pid_file.parent.parent.rmdir()  # a host fabric's directory, if that was its last VPC
            except OSError:
                pass
    for ns in run("ip", "netns", "list", timeout=30, check=False).stdout.split():
        if vpc in ns:
            run("ip", "netns", "delete", ns, timeout=30, check=False)


def test_vpc_across_two_hosts(kumo_bin):
    if shutil.which("virsh") is None or shutil.which("ip") is None:
        _missing("virsh or ip is not installed (no libvirt on this machine)")
    if os.geteuid() != 0:
        _missing("not root: cannot create network namespaces or a second libvirtd")
    if not Path("/run/libvirt/libvirt-sock").exists():
        _missing("no libvirtd on this machine (drivers/compute-libvirt/setup-libvirt.sh)")
    netns = "kumo-mh-" + os.urandom(3).hex()
    root_end, ns_end = underlay_pair()
    work = Path(tempfile.mkdtemp(prefix="kumo-multihost-"))
    os.chmod(work, 0o711)
    server = KumoServer(kumo_bin, work / "data", work / "kumo-multihost.log")
    config = work / "kumo-multihost.toml"
    config.write_text(
        (server.config_path.read_text() if server.config_path else "")
        + f"[region]\navailability_zones = {list(ZONES)!r}\n".replace("'", '"')
        + f'[network]\nunderlay_address = "{root_end.split("/")[0]}"\n'
    )
    server.config_path = config
    h2 = "h2-" + os.urandom(3).hex()
    fabric = None
    ids: list[str] = []
    vpc = None
    ec2 = None
    uri = None
    try:
        started = time.monotonic()
        cp = run("bash", str(START), netns, root_end, ns_end, check=False, timeout=120)
        if cp.returncode != 0:
            _missing(f"the second host did not start ({START.name} {netns}): {cp.stderr.strip()[-800:]}")
        uri = cp.stdout.strip().splitlines()[-1]
        server.start()
        ec2 = harness.client(server.endpoint("http"), "ec2")
        ami = require_compute(ec2)
        out = host_cli(server, "add", "--uri", uri, "--zone", ZONES[1], "--name", h2,
                       "--netns", netns, "--underlay", ns_end.split("/")[0]).stdout
        assert h2 in out, out
        rows = host_rows(server)
        assert rows[h2]["STATE"] == "up (registered)" and rows[h2]["ZONE"] == ZONES[1], rows
        assert (rows[h2]["NETNS"], rows[h2]["UNDERLAY"]) == (netns, ns_end.split("/")[0]), rows
        fabric = rows[h2]["FABRIC"]
        local = next(n for n, r in rows.items() if r["STATE"] == "up (local)")
        assert rows[local]["ZONE"] == ZONES[0], rows

        vpc = ec2.create_vpc(CidrBlock="10.94.0.0/16")["Vpc"]["VpcId"]
        sub_a = ec2.create_subnet(VpcId=vpc, CidrBlock="10.94.1.0/24", AvailabilityZone=ZONES[0])["Subnet"]["SubnetId"]
        sub_b = ec2.create_subnet(VpcId=vpc, CidrBlock="10.94.2.0/24", AvailabilityZone=ZONES[1])["Subnet"]["SubnetId"]
        sg = ec2.create_security_group(GroupName="mh-" + netns, Description="multi-host", VpcId=vpc)["GroupId"]
        icmp = [{"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": "10.94.0.0/16"}]}]
        tcp = [{"IpProtocol": "tcp", "FromPort": PORT, "ToPort": PORT, "IpRanges": [{"CidrIp": "10.94.0.0/16"}]}]
        ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=icmp + tcp)

        b = ec2.run_instances(ImageId=ami, InstanceType="t2.nano", MinCount=1, MaxCount=1, SubnetId=sub_b,
                              SecurityGroupIds=[sg], UserData=SERVER_USER_DATA)["Instances"][0]
        ids.append(b["InstanceId"])
        a = ec2.run_instances(ImageId=ami, InstanceType="t2.nano", MinCount=1, MaxCount=1, SubnetId=sub_a,
                              SecurityGroupIds=[sg],
                              UserData=CLIENT_USER_DATA.format(server=b["PrivateIpAddress"], port=PORT,
                                                                name=b["PrivateDnsName"]))["Instances"][0]
        ids.append(a["InstanceId"])
        ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig=WAIT)

        # Placement: A on the local host, B on the namespace host, each in its own libvirtd.
        rows = host_rows(server)
        assert (rows[local]["VCPUS_USED"], rows[h2]["VCPUS_USED"]) == ("1", "1"), rows
        assert b["InstanceId"] in domains(uri), domains(uri)
        assert a["InstanceId"] not in domains(uri)
        assert a["InstanceId"] in domains("qemu:///system")
        # B's tap lives in the second host's namespace, not in the root one.
        tap_b = tap_of(b["NetworkInterfaces"][0]["NetworkInterfaceId"])
        assert tap_b in links(netns), links(netns)
        assert tap_b not in links(None)

        wait_console(ec2, b["InstanceId"], "MHSERVER up", timeout=150)
        wait_console(ec2, a["InstanceId"], "MHPROBE seq=", timeout=150)
        answer = f"mh-answer-{b['InstanceId']}"
        before = underlay_packets(netns)
        try:
            # Full-size packets cross too (a 1500-byte guest packet is 1550 bytes encapsulated),
            # and B's name resolves on A's side (the VPC's DNS knows ENIs of other hosts).
            got = wait_probe(ec2, a["InstanceId"],
                             lambda p, h, f: p == "ok" and h == answer and f.get("big") == str(BIG)
                             and f.get("dns") == "ok",
                             f"ping=ok http={answer} big={BIG} dns=ok", timeout=60)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{network_state(vpc, netns)}") from None
        # ... and the packets went over the underlay (encapsulated), both ways.
        after = underlay_packets(netns)
        assert after[0] - before[0] >= 4 and after[1] - before[1] >= 4, (before, after)
        print(f"A {a['InstanceId']} reached B {b['InstanceId']} across hosts: {got[3]} "
              f"({time.monotonic() - started:.0f}s after start)")

        # Security groups hold across hosts: without the TCP rule, new connections fail (ping,
        # still allowed, keeps answering: the tunnel is up, the group decides).
        ec2.revoke_security_group_ingress(GroupId=sg, IpPermissions=tcp)
        wait_probe(ec2, a["InstanceId"], lambda p, h, _: p == "ok" and h == "fail",
                   "ping=ok http=fail after the revoke", timeout=45, need=2)
        ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=tcp)
        wait_probe(ec2, a["InstanceId"], lambda p, h, _: h == answer, "http back after the re-authorize", timeout=45)

        # A restarted Kumo drives the second host's fabric again from its record: a new rule
        # (ICMP revoked) is enforced there, and the tunnel still carries HTTP.
        assert server.stop() == 0
        server.start()
        ec2 = harness.client(server.endpoint("http"), "ec2")
        require_compute(ec2)
        deadline = time.monotonic() + 60
        while host_rows(server).get(h2, {}).get("STATE") != "up (registered)":
            assert time.monotonic() < deadline, host_rows(server)
            time.sleep(1)
        ec2.revoke_security_group_ingress(GroupId=sg, IpPermissions=icmp)
        wait_probe(ec2, a["InstanceId"], lambda p, h, _: p == "fail" and h == answer,
                   "ping=fail http=ok after a restart and the ICMP revoke", timeout=60, need=2)

        ec2.terminate_instances(InstanceIds=ids)
        ec2.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig=WAIT)
        assert b["InstanceId"] not in domains(uri)
        assert tap_b not in links(netns)
        ec2.delete_security_group(GroupId=sg)
        ec2.delete_subnet(SubnetId=sub_a)
        ec2.delete_subnet(SubnetId=sub_b)
        ec2.delete_vpc(VpcId=vpc)
        # Each host's reconciler removes the VPC's router from its own fabric (bounded wait).
        deadline = time.monotonic() + 60
        while left := [n for n in run("ip", "netns", "list", timeout=30).stdout.split() if vpc in n]:
            assert time.monotonic() < deadline, f"VPC routers left after DeleteVpc: {left}"
            time.sleep(1)
        assert "removed" in host_cli(server, "remove", h2).stdout
        assert server.stop() == 0
        print(f"multi-host scenario took {time.monotonic() - started:.0f}s")
    finally:
        exc = sys.exc_info()[0]
        failed = exc is not None and not issubclass(exc, pytest.skip.Exception)
        if server.running and ec2 is not None:
            try:
                harness.terminate_all_instances(server.endpoint("http"), timeout=120)
                host_cli(server, "remove", h2, "--force", check=False)
            except Exception:  # noqa: BLE001 - best-effort cleanup
                pass
        server.kill9()
        owner_file = work / "data" / "compute" / "owner"
        if owner_file.exists():
            owner = owner_file.read_text().strip()
            for u in ("qemu:///system", *([uri] if uri else [])):
                for d in domains(u):
                    desc = run("virsh", "-c", u, "desc", d, check=False, timeout=30).stdout
                    if f"kumo-owner:{owner}" in desc:
                        run("virsh", "-c", u, "destroy", d, check=False, timeout=30)
                        run("virsh", "-c", u, "undefine", d, check=False, timeout=30)
        if failed and server.log_path.exists():
            print(f"--- kumo log tail ({server.log_path.name})\n{harness.tail(server.log_path, 80)}")
        run("bash", str(STOP), netns, check=False, timeout=120)
        harness.remove_vpc_namespaces(work / "data")
        remove_vpc_leftovers(vpc)
        if fabric:  # the second host's fabric's runtime directory (its VPCs' are gone)
            try:
                (Path("/run/kumo-net") / fabric).rmdir()
            except OSError:
                pass
        shutil.rmtree(work, ignore_errors=True)
