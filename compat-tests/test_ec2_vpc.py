"""VPC networking through boto3: default networking, VPCs, subnets, internet gateways, route
tables, network ACLs, DHCP options, Elastic IPs and NAT gateways — create / describe / modify /
delete chains, dependency errors, filters and a paginator.

The session server is shared by both transports, so every test makes its own resources (in
10.x blocks picked per test) and deletes them; the account's default VPC is shared.
"""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

import harness

pytestmark = pytest.mark.usefixtures("kumo_server")


def code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


def tagged(kind: str, name: str) -> list[dict]:
    return [{"ResourceType": kind, "Tags": [{"Key": "Name", "Value": name}]}]


@pytest.fixture
def ec2(ep):
    return harness.client(ep, "ec2")


@pytest.fixture
def vpc(ec2):
    second = uuid.uuid4().int % 250 + 1
    v = ec2.create_vpc(CidrBlock=f"10.{second}.0.0/16",
                       TagSpecifications=tagged("vpc", f"t-{uuid.uuid4().hex[:8]}"))["Vpc"]
    yield v
    # Best-effort cleanup of whatever the test left.
    vid = v["VpcId"]
    for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vid]}])["Subnets"]:
        ec2.delete_subnet(SubnetId=s["SubnetId"])
    for g in ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vid]}])["InternetGateways"]:
        ec2.detach_internet_gateway(InternetGatewayId=g["InternetGatewayId"], VpcId=vid)
        ec2.delete_internet_gateway(InternetGatewayId=g["InternetGatewayId"])
    for rt in ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vid]}])["RouteTables"]:
        if not any(a.get("Main") for a in rt.get("Associations", [])):
            ec2.delete_route_table(RouteTableId=rt["RouteTableId"])
    for acl in ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vid]},
                                                  {"Name": "default", "Values": ["false"]}])["NetworkAcls"]:
        ec2.delete_network_acl(NetworkAclId=acl["NetworkAclId"])
    try:
        ec2.delete_vpc(VpcId=vid)
    except ClientError as e:
        if e.response["Error"]["Code"] != "InvalidVpcID.NotFound":
            raise


def test_default_networking_is_present(ec2):
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    assert len(vpcs) == 1
    d = vpcs[0]
    assert d["CidrBlock"] == "172.31.0.0/16" and d["IsDefault"] and d["State"] == "available"
    assert d["OwnerId"].isdigit() and len(d["OwnerId"]) == 12
    attrs = {a["AttributeName"]: [v["AttributeValue"] for v in a["AttributeValues"]]
             for a in ec2.describe_account_attributes()["AccountAttributes"]}
    assert attrs["default-vpc"] == [d["VpcId"]]
    assert attrs["supported-platforms"] == ["VPC"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    assert [s["CidrBlock"] for s in subnets] == ["172.31.0.0/20"]
    # A /20 minus AWS's 5 reserved addresses, minus what interfaces (instances other tests
    # launched into the default subnet) hold.
    enis = ec2.describe_network_interfaces(
        Filters=[{"Name": "subnet-id", "Values": [subnets[0]["SubnetId"]]}]
    )["NetworkInterfaces"]
    assert subnets[0]["MapPublicIpOnLaunch"]
    assert subnets[0]["AvailableIpAddressCount"] == 4091 - len(enis)
    igws = ec2.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [d["VpcId"]]}])["InternetGateways"]
    assert igws[0]["Attachments"] == [{"State": "available", "VpcId": d["VpcId"]}]
    main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [d["VpcId"]]},
                                              {"Name": "association.main", "Values": ["true"]}])["RouteTables"]
    assert {r["DestinationCidrBlock"]: r.get("GatewayId") for r in main[0]["Routes"]} == {
        "172.31.0.0/16": "local", "0.0.0.0/0": igws[0]["InternetGatewayId"]}
    acl = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [d["VpcId"]]},
                                             {"Name": "default", "Values": ["true"]}])["NetworkAcls"][0]
    assert sorted((e["RuleNumber"], e["Egress"], e["RuleAction"]) for e in acl["Entries"]) == [
        (100, False, "allow"), (100, True, "allow"), (32767, False, "deny"), (32767, True, "deny")]
    dopt = ec2.describe_dhcp_options(DhcpOptionsIds=[d["DhcpOptionsId"]])["DhcpOptions"][0]
    conf = {c["Key"]: [v["Value"] for v in c["Values"]] for c in dopt["DhcpConfigurations"]}
    assert conf == {"domain-name": ["ec2.internal"], "domain-name-servers": ["AmazonProvidedDNS"]}
    with pytest.raises(ClientError) as exc:
        ec2.create_default_vpc()
    assert code(exc) == "DefaultVpcAlreadyExists"


def test_vpc_lifecycle_attributes_and_errors(ec2, vpc):
    vid = vpc["VpcId"]
    assert vpc["State"] == "available" and vpc["InstanceTenancy"] == "default"
    assert vpc["CidrBlockAssociationSet"][0]["CidrBlockState"]["State"] == "associated"
    ec2.get_waiter("vpc_available").wait(VpcIds=[vid])
    got = ec2.describe_vpcs(VpcIds=[vid])["Vpcs"][0]
    assert got["Tags"] == vpc["Tags"] and got["CidrBlock"] == vpc["CidrBlock"]
    assert ec2.describe_vpc_attribute(VpcId=vid, Attribute="enableDnsSupport")["EnableDnsSupport"]["Value"]
    assert not ec2.describe_vpc_attribute(VpcId=vid, Attribute="enableDnsHostnames")["EnableDnsHostnames"]["Value"]
    ec2.modify_vpc_attribute(VpcId=vid, EnableDnsHostnames={"Value": True})
    assert ec2.describe_vpc_attribute(VpcId=vid, Attribute="enableDnsHostnames")["EnableDnsHostnames"]["Value"]
    # Filters.
    name = vpc["Tags"][0]["Value"]
    assert [v["VpcId"] for v in ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [name]}])["Vpcs"]] == [vid]
    assert ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": [vpc["CidrBlock"]]},
                                      {"Name": "is-default", "Values": ["true"]}])["Vpcs"] == []
    # Secondary block.
    second = vpc["CidrBlock"].replace("10.", "100.", 1)
    assoc = ec2.associate_vpc_cidr_block(VpcId=vid, CidrBlock=second)["CidrBlockAssociation"]
    got = ec2.describe_vpcs(Filters=[{"Name": "cidr-block-association.cidr-block", "Values": [second]}])["Vpcs"]
    assert [v["VpcId"] for v in got] == [vid]
    ec2.disassociate_vpc_cidr_block(AssociationId=assoc["AssociationId"])
    # Errors.
    for bad, want in [("10.0.0.0/8", "InvalidVpc.Range"), ("10.0.0.0/29", "InvalidVpc.Range"),
                      ("10.0.0.1/16", "InvalidParameterValue")]:
        with pytest.raises(ClientError) as exc:
            ec2.create_vpc(CidrBlock=bad)
        assert code(exc) == want, bad
    with pytest.raises(ClientError) as exc:
        ec2.describe_vpcs(VpcIds=["vpc-00000000000000000"])
    assert code(exc) == "InvalidVpcID.NotFound"
    with pytest.raises(ClientError) as exc:
        ec2.describe_vpcs(Filters=[{"Name": "colour", "Values": ["red"]}])
    assert code(exc) == "InvalidParameterValue"
    ec2.delete_vpc(VpcId=vid)
    with pytest.raises(ClientError) as exc:
        ec2.delete_vpc(VpcId=vid)
    assert code(exc) == "InvalidVpcID.NotFound"


def test_subnets_and_paginator(ec2, vpc):
    vid, base = vpc["VpcId"], vpc["CidrBlock"].rsplit(".", 2)[0]
    made = [ec2.create_subnet(VpcId=vid, CidrBlock=f"{base}.{i}.0/24",
                              TagSpecifications=tagged("subnet", f"s{i}"))["Subnet"] for i in range(7)]
    s0 = made[0]
    assert s0["AvailableIpAddressCount"] == 251 and s0["State"] == "available"
    assert s0["AvailabilityZone"] == "us-east-1a" and s0["AvailabilityZoneId"] == "use1-az1"
    assert s0["SubnetArn"].endswith(f":subnet/{s0['SubnetId']}") and not s0["DefaultForAz"]
    ec2.get_waiter("subnet_available").wait(SubnetIds=[s0["SubnetId"]])
    for cidr, want in [(f"{base}.0.128/25", "InvalidSubnet.Conflict"), ("192.168.0.0/24", "InvalidSubnet.Range"),
                       (f"{base}.200.0/29", "InvalidSubnet.Range")]:
        with pytest.raises(ClientError) as exc:
            ec2.create_subnet(VpcId=vid, CidrBlock=cidr)
        assert code(exc) == want, cidr
    pages = list(ec2.get_paginator("describe_subnets").paginate(
        Filters=[{"Name": "vpc-id", "Values": [vid]}], PaginationConfig={"PageSize": 5}))
    assert [len(p["Subnets"]) for p in pages] == [5, 2]
    assert sorted(s["SubnetId"] for p in pages for s in p["Subnets"]) == sorted(s["SubnetId"] for s in made)
    ec2.modify_subnet_attribute(SubnetId=s0["SubnetId"], MapPublicIpOnLaunch={"Value": True})
    got = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vid]},
                                        {"Name": "map-public-ip-on-launch", "Values": ["true"]}])["Subnets"]
    assert [s["SubnetId"] for s in got] == [s0["SubnetId"]]
    assert ec2.describe_subnets(Filters=[{"Name": "tag:Name", "Values": ["s3"]},
                                         {"Name": "vpc-id", "Values": [vid]}])["Subnets"][0]["SubnetId"] == made[3]["SubnetId"]
    with pytest.raises(ClientError) as exc:
        ec2.delete_vpc(VpcId=vid)
    assert code(exc) == "DependencyViolation"
    for s in made:
        ec2.delete_subnet(SubnetId=s["SubnetId"])
    with pytest.raises(ClientError) as exc:
        ec2.delete_subnet(SubnetId=s0["SubnetId"])
    assert code(exc) == "InvalidSubnetID.NotFound"


def test_internet_gateway_route_table_chain(ec2, vpc):
    vid, base = vpc["VpcId"], vpc["CidrBlock"].rsplit(".", 2)[0]
    subnet = ec2.create_subnet(VpcId=vid, CidrBlock=f"{base}.1.0/24")["Subnet"]
    igw = ec2.create_internet_gateway(TagSpecifications=tagged("internet-gateway", "gw"))["InternetGateway"]
    gid = igw["InternetGatewayId"]
    assert igw["Attachments"] == [] and igw["Tags"] == [{"Key": "Name", "Value": "gw"}]
    ec2.attach_internet_gateway(InternetGatewayId=gid, VpcId=vid)
    with pytest.raises(ClientError) as exc:
        ec2.attach_internet_gateway(InternetGatewayId=gid, VpcId=vid)
    assert code(exc) == "Resource.AlreadyAssociated"
    with pytest.raises(ClientError) as exc:
        ec2.delete_internet_gateway(InternetGatewayId=gid)
    assert code(exc) == "DependencyViolation"
    rt = ec2.create_route_table(VpcId=vid)["RouteTable"]
    rid = rt["RouteTableId"]
    assert rt["Routes"] == [{"DestinationCidrBlock": vpc["CidrBlock"], "GatewayId": "local",
                             "Origin": "CreateRouteTable", "State": "active"}]
    ec2.create_route(RouteTableId=rid, DestinationCidrBlock="0.0.0.0/0", GatewayId=gid)
    with pytest.raises(ClientError) as exc:
        ec2.create_route(RouteTableId=rid, DestinationCidrBlock="0.0.0.0/0", GatewayId=gid)
    assert code(exc) == "RouteAlreadyExists"
    with pytest.raises(ClientError) as exc:
        ec2.delete_route(RouteTableId=rid, DestinationCidrBlock=vpc["CidrBlock"])
    assert code(exc) == "InvalidParameterValue"
    assoc = ec2.associate_route_table(RouteTableId=rid, SubnetId=subnet["SubnetId"])
    assert assoc["AssociationState"]["State"] == "associated"
    with pytest.raises(ClientError) as exc:
        ec2.delete_route_table(RouteTableId=rid)
    assert code(exc) == "DependencyViolation"
    got = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [subnet["SubnetId"]]}])
    assert [r["RouteTableId"] for r in got["RouteTables"]] == [rid]
    got = ec2.describe_route_tables(Filters=[{"Name": "route.destination-cidr-block", "Values": ["0.0.0.0/0"]},
                                             {"Name": "vpc-id", "Values": [vid]}])
    assert [r["RouteTableId"] for r in got["RouteTables"]] == [rid]
    # Detaching the gateway leaves a blackhole route.
    ec2.detach_internet_gateway(InternetGatewayId=gid, VpcId=vid)
    with pytest.raises(ClientError) as exc:
        ec2.detach_internet_gateway(InternetGatewayId=gid, VpcId=vid)
    assert code(exc) == "Gateway.NotAttached"
    routes = ec2.describe_route_tables(RouteTableIds=[rid])["RouteTables"][0]["Routes"]
    assert {r["DestinationCidrBlock"]: r["State"] for r in routes}["0.0.0.0/0"] == "blackhole"
    ec2.delete_route(RouteTableId=rid, DestinationCidrBlock="0.0.0.0/0")
    # The main association moves and back.
    main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vid]},
                                              {"Name": "association.main", "Values": ["true"]}])["RouteTables"][0]
    main_assoc = next(a for a in main["Associations"] if a["Main"])["RouteTableAssociationId"]
    new = ec2.replace_route_table_association(AssociationId=main_assoc, RouteTableId=rid)["NewAssociationId"]
    back = ec2.replace_route_table_association(AssociationId=new, RouteTableId=main["RouteTableId"])
    assert back["NewAssociationId"].startswith("rtbassoc-")
    ec2.disassociate_route_table(AssociationId=assoc["AssociationId"])
    ec2.delete_route_table(RouteTableId=rid)
    ec2.delete_internet_gateway(InternetGatewayId=gid)
    with pytest.raises(ClientError) as exc:
        ec2.describe_internet_gateways(InternetGatewayIds=[gid])
    assert code(exc) == "InvalidInternetGatewayID.NotFound"


def test_network_acl_and_dhcp_options(ec2, vpc):
    vid, base = vpc["VpcId"], vpc["CidrBlock"].rsplit(".", 2)[0]
    subnet = ec2.create_subnet(VpcId=vid, CidrBlock=f"{base}.1.0/24")["Subnet"]
    acl = ec2.create_network_acl(VpcId=vid)["NetworkAcl"]
    aid = acl["NetworkAclId"]
    assert not acl["IsDefault"] and len(acl["Entries"]) == 2
    ec2.create_network_acl_entry(NetworkAclId=aid, RuleNumber=100, Protocol="6", RuleAction="allow",
                                 Egress=False, CidrBlock="0.0.0.0/0", PortRange={"From": 22, "To": 22})
    with pytest.raises(ClientError) as exc:
        ec2.create_network_acl_entry(NetworkAclId=aid, RuleNumber=100, Protocol="-1", RuleAction="deny",
                                     Egress=False, CidrBlock="0.0.0.0/0")
    assert code(exc) == "NetworkAclEntryAlreadyExists"
    ec2.replace_network_acl_entry(NetworkAclId=aid, RuleNumber=100, Protocol="-1", RuleAction="deny",
                                  Egress=False, CidrBlock="10.0.0.0/8")
    got = ec2.describe_network_acls(Filters=[{"Name": "entry.cidr", "Values": ["10.0.0.0/8"]}])["NetworkAcls"]
    assert [a["NetworkAclId"] for a in got] == [aid]
    default = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id",
                                                  "Values": [subnet["SubnetId"]]}])["NetworkAcls"][0]
    assert default["IsDefault"]
    old = next(a for a in default["Associations"] if a["SubnetId"] == subnet["SubnetId"])
    new = ec2.replace_network_acl_association(AssociationId=old["NetworkAclAssociationId"], NetworkAclId=aid)
    with pytest.raises(ClientError) as exc:
        ec2.delete_network_acl(NetworkAclId=aid)
    assert code(exc) == "DependencyViolation"
    ec2.replace_network_acl_association(AssociationId=new["NewAssociationId"], NetworkAclId=default["NetworkAclId"])
    ec2.delete_network_acl_entry(NetworkAclId=aid, RuleNumber=100, Egress=False)
    ec2.delete_network_acl(NetworkAclId=aid)
    # DHCP options.
    d = ec2.create_dhcp_options(DhcpConfigurations=[{"Key": "domain-name", "Values": ["corp.example"]},
                                                    {"Key": "domain-name-servers", "Values": ["10.0.0.2"]}])["DhcpOptions"]
    ec2.associate_dhcp_options(DhcpOptionsId=d["DhcpOptionsId"], VpcId=vid)
    assert ec2.describe_vpcs(VpcIds=[vid])["Vpcs"][0]["DhcpOptionsId"] == d["DhcpOptionsId"]
    with pytest.raises(ClientError) as exc:
        ec2.delete_dhcp_options(DhcpOptionsId=d["DhcpOptionsId"])
    assert code(exc) == "DependencyViolation"
    ec2.associate_dhcp_options(DhcpOptionsId="default", VpcId=vid)
    ec2.delete_dhcp_options(DhcpOptionsId=d["DhcpOptionsId"])
    with pytest.raises(ClientError) as exc:
        ec2.create_dhcp_options(DhcpConfigurations=[{"Key": "colour", "Values": ["red"]}])
    assert code(exc) == "InvalidParameterValue"


def test_elastic_ips_and_nat_gateway(ec2, vpc):
    vid, base = vpc["VpcId"], vpc["CidrBlock"].rsplit(".", 2)[0]
    subnet = ec2.create_subnet(VpcId=vid, CidrBlock=f"{base}.1.0/24")["Subnet"]
    eip = ec2.allocate_address(Domain="vpc", TagSpecifications=tagged("elastic-ip", "e"))
    assert eip["Domain"] == "vpc" and eip["PublicIp"].startswith("198.51.100.")
    got = ec2.describe_addresses(Filters=[{"Name": "public-ip", "Values": [eip["PublicIp"]]}])["Addresses"]
    assert got[0]["AllocationId"] == eip["AllocationId"] and got[0]["Tags"] == [{"Key": "Name", "Value": "e"}]
    attr = ec2.describe_addresses_attribute(AllocationIds=[eip["AllocationId"]], Attribute="domain-name")
    assert attr["Addresses"][0]["PublicIp"] == eip["PublicIp"]
    nat = ec2.create_nat_gateway(SubnetId=subnet["SubnetId"], AllocationId=eip["AllocationId"])["NatGateway"]
    nid = nat["NatGatewayId"]
    assert nat["State"] == "pending" and nat["VpcId"] == vid
    ec2.get_waiter("nat_gateway_available").wait(NatGatewayIds=[nid], WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    got = ec2.describe_addresses(AllocationIds=[eip["AllocationId"]])["Addresses"][0]
    assert got["PrivateIpAddress"] == nat["NatGatewayAddresses"][0]["PrivateIp"] == f"{base}.1.4"
    sub = ec2.describe_subnets(SubnetIds=[subnet["SubnetId"]])["Subnets"][0]
    assert sub["AvailableIpAddressCount"] == 250
    with pytest.raises(ClientError) as exc:
        ec2.release_address(AllocationId=eip["AllocationId"])
    assert code(exc) == "InvalidIPAddress.InUse"
    with pytest.raises(ClientError) as exc:
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    assert code(exc) == "DependencyViolation"
    rt = ec2.create_route_table(VpcId=vid)["RouteTable"]
    ec2.create_route(RouteTableId=rt["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nid)
    ec2.delete_nat_gateway(NatGatewayId=nid)
    ec2.get_waiter("nat_gateway_deleted").wait(NatGatewayIds=[nid], WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    routes = ec2.describe_route_tables(RouteTableIds=[rt["RouteTableId"]])["RouteTables"][0]["Routes"]
    assert routes[-1]["State"] == "blackhole"
    ec2.release_address(AllocationId=eip["AllocationId"])
    with pytest.raises(ClientError) as exc:
        ec2.describe_addresses(AllocationIds=[eip["AllocationId"]])
    assert code(exc) == "InvalidAllocationID.NotFound"
    with pytest.raises(ClientError) as exc:
        ec2.associate_address(AllocationId="eipalloc-00000000000000000", NetworkInterfaceId="eni-0")
    assert code(exc) == "InvalidAllocationID.NotFound"


def test_awscli_vpc_chain(ep, home):
    import json

    def aws(*args: str) -> dict:
        out = harness.run_aws(ep, home, "ec2", *args, "--output", "json").stdout
        return json.loads(out) if out.strip() else {}

    default = aws("describe-vpcs", "--filters", "Name=isDefault,Values=true")["Vpcs"]
    assert default[0]["CidrBlock"] == "172.31.0.0/16"
    second = uuid.uuid4().int % 250 + 1
    vid = aws("create-vpc", "--cidr-block", f"10.{second}.0.0/16")["Vpc"]["VpcId"]
    sid = aws("create-subnet", "--vpc-id", vid, "--cidr-block", f"10.{second}.3.0/24")["Subnet"]["SubnetId"]
    got = aws("describe-subnets", "--filters", f"Name=vpc-id,Values={vid}")["Subnets"]
    assert [s["SubnetId"] for s in got] == [sid]
    aws("delete-subnet", "--subnet-id", sid)
    aws("delete-vpc", "--vpc-id", vid)
    assert aws("describe-vpcs", "--filters", f"Name=vpc-id,Values={vid}")["Vpcs"] == []
