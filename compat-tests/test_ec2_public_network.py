"""The public side of a VPC on real guests (TCG), through boto3: an internet gateway, an
elastic IP and its re-association.

Two instances in a public subnet (its route table sends 0.0.0.0/0 to the internet gateway)
serve their own name with busybox httpd. A client in the server's public namespace — the
Kumo-created namespace standing for the internet on a machine without an uplink — fetches
http://<elastic IP>:8080/ and must get the first instance's page; after AssociateAddress
moves the address to the second instance (AllowReassociation), the same URL answers with the
second's page. Each guest also probes a server at the outside address once a second and
prints the source address it was seen with: the elastic IP while it holds it, nothing
(`fail`, no public address) otherwise.
Every guest and resource is the test's own; traffic stays in namespaces Kumo created.
"""

from __future__ import annotations

import subprocess
import time
import uuid

import harness
from ec2_compute import public_namespace, require_compute, wait_console

PORT = 8080

OUTSIDE = "203.0.113.1"  # [network] outside_address: "the internet" in the public namespace
OUT_PORT = 8081

SERVER_USER_DATA = """#!/bin/sh
mkdir -p /www && echo kumo-eip-{name} > /www/index.html
httpd -p {port} -h /www
echo EIPSERVER up > /dev/console
( n=0; while true; do
    n=$((n+1))
    r=$(timeout 2 wget -q -O - http://{outside}:{out_port}/ 2>/dev/null)
    echo "EIPOUT seq=$n ${{r:-fail}}"
    sleep 1
  done ) > /dev/console 2>&1 &
"""

# An HTTP server answering with the caller's address: what the internet sees as the source.
WHOAMI = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = self.client_address[0].encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
"""


def wait_outbound(ec2, iid: str, want: str, timeout: float = 60.0) -> None:
    """Waits until the guest's latest probe of the outside reports `want`."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        out = ec2.get_console_output(InstanceId=iid, Latest=True).get("Output") or ""
        lines = [l.strip() for l in out.splitlines() if l.startswith("EIPOUT seq=")]
        last = lines[-1] if lines else ""
        if last.endswith(" " + want):
            return
        time.sleep(2)
    raise AssertionError(f"{iid}'s outbound probe never reported {want!r}: last {last!r}")


FETCH = """
import sys, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode().strip())
except Exception as e:
    print("error:", e)
"""


def fetch(ns: str, url: str) -> str:
    r = subprocess.run(["ip", "netns", "exec", ns, "python3", "-c", FETCH, url],
                       capture_output=True, text=True, timeout=30)
    return r.stdout.strip()


def wait_fetch(ns: str, url: str, want: str, timeout: float) -> float:
    started = time.monotonic()
    got = ""
    while time.monotonic() - started < timeout:
        got = fetch(ns, url)
        if got == want:
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"{url} from {ns} answered {got!r}, not {want!r}, within {timeout}s")


def test_elastic_ip_reaches_and_follows_the_instance(ep):
    ec2 = harness.client(ep, "ec2")
    ami = require_compute(ec2)
    tag = uuid.uuid4().hex[:8]
    vpc = ec2.create_vpc(CidrBlock="10.94.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.94.1.0/24")["Subnet"]["SubnetId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    assoc = ec2.associate_route_table(RouteTableId=rtb, SubnetId=subnet)["AssociationId"]
    sg = ec2.create_security_group(GroupName=f"web-{tag}", Description="web", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": PORT, "ToPort": PORT,
         "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ids: list[str] = []
    alloc = None
    whoami = None
    try:
        for name in ("a", "b"):
            i = ec2.run_instances(
                ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1, SubnetId=subnet,
                SecurityGroupIds=[sg], UserData=SERVER_USER_DATA.format(name=name, port=PORT, outside=OUTSIDE,
                                                 out_port=OUT_PORT),
            )["Instances"][0]
            ids.append(i["InstanceId"])
        for iid in ids:
            wait_console(ec2, iid, "EIPSERVER up", timeout=240.0)
        eip = ec2.allocate_address(Domain="vpc")
        alloc, public_ip = eip["AllocationId"], eip["PublicIp"]
        ec2.associate_address(AllocationId=alloc, InstanceId=ids[0])
        desc = ec2.describe_instances(InstanceIds=[ids[0]])["Reservations"][0]["Instances"][0]
        assert desc.get("PublicIpAddress") == public_ip
        ns = public_namespace(vpc)
        whoami = subprocess.Popen(["ip", "netns", "exec", ns, "python3", "-c", WHOAMI, OUTSIDE,
                                   str(OUT_PORT)])
        url = f"http://{public_ip}:{PORT}/"
        took_a = wait_fetch(ns, url, "kumo-eip-a", timeout=30)
        # a's outbound traffic leaves with the elastic IP; b (no public address) reaches nothing.
        wait_outbound(ec2, ids[0], public_ip)
        wait_outbound(ec2, ids[1], "fail")
        # The private address is not reachable from outside.
        private_a = desc["PrivateIpAddress"]
        assert fetch(ns, f"http://{private_a}:{PORT}/").startswith("error")

        started = time.monotonic()
        ec2.associate_address(AllocationId=alloc, InstanceId=ids[1], AllowReassociation=True)
        took_b = wait_fetch(ns, url, "kumo-eip-b", timeout=30)
        print(f"first answer {took_a:.2f}s after associating; moved in {took_b:.2f}s "
              f"({time.monotonic() - started:.2f}s after AssociateAddress)")
        assert took_b < 5, f"re-association took {took_b:.2f}s"
        wait_outbound(ec2, ids[1], public_ip)
        wait_outbound(ec2, ids[0], "fail")
        addr = ec2.describe_addresses(AllocationIds=[alloc])["Addresses"][0]
        assert addr["InstanceId"] == ids[1]
    finally:
        if whoami:
            whoami.kill()
            whoami.wait(timeout=10)
        if alloc:
            try:
                a = ec2.describe_addresses(AllocationIds=[alloc])["Addresses"][0]
                if a.get("AssociationId"):
                    ec2.disassociate_address(AssociationId=a["AssociationId"])
                ec2.release_address(AllocationId=alloc)
            except Exception:  # noqa: BLE001 - best-effort cleanup
                pass
        if ids:
            ec2.terminate_instances(InstanceIds=ids)
            ec2.get_waiter("instance_terminated").wait(
                InstanceIds=ids, WaiterConfig={"Delay": 2, "MaxAttempts": 90})
        for step in (
            lambda: ec2.delete_security_group(GroupId=sg),
            lambda: ec2.disassociate_route_table(AssociationId=assoc),
            lambda: ec2.delete_route_table(RouteTableId=rtb),
            lambda: ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc),
            lambda: ec2.delete_internet_gateway(InternetGatewayId=igw),
            lambda: ec2.delete_subnet(SubnetId=subnet),
            lambda: ec2.delete_vpc(VpcId=vpc),
        ):
            try:
                step()
            except Exception:  # noqa: BLE001 - best-effort; the VPC delete reports leftovers
                pass
