"""ELBv2 (awsQuery) through boto3: load balancers, target groups, targets, listeners, rules,
tags, attributes, waiters and paginators.

The load-balancer scenario needs a VPC with subnets, made through EC2's CreateVpc/CreateSubnet.
Where this build does not serve those yet (they are another family's work), that scenario
prints SKIPPED and the rest still runs: Lambda target groups need no VPC.
"""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

import harness

pytestmark = pytest.mark.usefixtures("kumo_server")

FAST = {"Delay": 1, "MaxAttempts": 20}


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _code(exc: pytest.ExceptionInfo) -> tuple[str, int]:
    r = exc.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]


def test_lambda_target_groups_tags_attributes_and_pages(ep):
    elb = harness.client(ep, "elbv2")
    names = [_name("fn") for _ in range(3)]
    arns = []
    for n in names:
        tg = elb.create_target_group(Name=n, TargetType="lambda", Tags=[{"Key": "suite", "Value": "elbv2"}])["TargetGroups"][0]
        assert tg["TargetGroupName"] == n
        assert tg["TargetType"] == "lambda"
        assert tg["HealthCheckEnabled"] is False
        assert tg["LoadBalancerArns"] == []
        assert tg["TargetGroupArn"].startswith("arn:aws:elasticloadbalancing:us-east-1:")
        assert f":targetgroup/{n}/" in tg["TargetGroupArn"]
        arns.append(tg["TargetGroupArn"])
    with pytest.raises(ClientError) as exc:
        elb.create_target_group(Name=names[0], TargetType="lambda")
    assert _code(exc) == ("DuplicateTargetGroupName", 400)

    pages = list(elb.get_paginator("describe_target_groups").paginate(PaginationConfig={"PageSize": 2}))
    seen = [g["TargetGroupArn"] for p in pages for g in p["TargetGroups"]]
    assert set(arns) <= set(seen)
    assert len(seen) == len(set(seen)), "no page repeats an item"
    assert len(pages) >= 2 and "NextMarker" in pages[0]

    got = elb.describe_target_groups(Names=names[:2])["TargetGroups"]
    assert sorted(g["TargetGroupName"] for g in got) == sorted(names[:2])
    with pytest.raises(ClientError) as exc:
        elb.describe_target_groups(Names=["no-such-group"])
    assert _code(exc) == ("TargetGroupNotFound", 400)

    elb.add_tags(ResourceArns=arns[:2], Tags=[{"Key": "env", "Value": "test"}])
    elb.remove_tags(ResourceArns=[arns[0]], TagKeys=["suite"])
    desc = {d["ResourceArn"]: d["Tags"] for d in elb.describe_tags(ResourceArns=arns)["TagDescriptions"]}
    assert desc[arns[0]] == [{"Key": "env", "Value": "test"}]
    assert {t["Key"] for t in desc[arns[1]]} == {"suite", "env"}
    with pytest.raises(ClientError) as exc:
        elb.add_tags(ResourceArns=[arns[2]], Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    assert _code(exc) == ("TooManyTags", 400)

    attrs = {a["Key"]: a["Value"] for a in elb.describe_target_group_attributes(TargetGroupArn=arns[0])["Attributes"]}
    assert attrs == {"lambda.multi_value_headers.enabled": "false"}
    out = elb.modify_target_group_attributes(
        TargetGroupArn=arns[0], Attributes=[{"Key": "lambda.multi_value_headers.enabled", "Value": "true"}]
    )["Attributes"]
    assert {"Key": "lambda.multi_value_headers.enabled", "Value": "true"} in out
    with pytest.raises(ClientError) as exc:
        elb.modify_target_group_attributes(TargetGroupArn=arns[0], Attributes=[{"Key": "stickiness.enabled", "Value": "true"}])
    assert _code(exc) == ("InvalidConfigurationRequest", 400)

    for a in arns:
        elb.delete_target_group(TargetGroupArn=a)
    with pytest.raises(ClientError) as exc:
        elb.describe_target_groups(TargetGroupArns=[arns[0]])
    assert _code(exc) == ("TargetGroupNotFound", 400)


def test_account_limits_ssl_policies_and_errors(ep):
    elb = harness.client(ep, "elbv2")
    limits = [l for p in elb.get_paginator("describe_account_limits").paginate(PaginationConfig={"PageSize": 5}) for l in p["Limits"]]
    names = {l["Name"] for l in limits}
    assert {"application-load-balancers", "target-groups", "listeners-per-application-load-balancer"} <= names
    policies = elb.describe_ssl_policies()["SslPolicies"]
    assert any(p["Name"] == "ELBSecurityPolicy-2016-08" for p in policies)
    assert all(p["Ciphers"] and p["SslProtocols"] for p in policies)
    with pytest.raises(ClientError) as exc:
        elb.describe_ssl_policies(Names=["NoSuchPolicy"])
    assert _code(exc) == ("SSLPolicyNotFound", 400)

    with pytest.raises(ClientError) as exc:
        elb.describe_load_balancers(Names=["no-such-lb"])
    assert _code(exc) == ("LoadBalancerNotFound", 400)
    missing = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/none/0123456789abcdef"
    elb.delete_load_balancer(LoadBalancerArn=missing)  # idempotent, as on AWS
    with pytest.raises(ClientError) as exc:
        elb.describe_load_balancer_attributes(LoadBalancerArn=missing)
    assert _code(exc) == ("LoadBalancerNotFound", 400)
    with pytest.raises(ClientError) as exc:
        elb.create_listener(LoadBalancerArn=missing, Protocol="HTTP", Port=80,
                            DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}])
    assert _code(exc) == ("LoadBalancerNotFound", 400)
    with pytest.raises(ClientError) as exc:
        elb.create_load_balancer(Name=_name("lb"), Subnets=["subnet-0123456789abcdef0"])
    assert _code(exc) == ("SubnetNotFound", 400)
    with pytest.raises(ClientError) as exc:
        elb.create_load_balancer(Name="-bad-", Subnets=["subnet-0123456789abcdef0"])
    assert _code(exc) == ("ValidationError", 400)
    with pytest.raises(ClientError) as exc:
        elb.describe_rules(RuleArns=[missing.replace(":loadbalancer/", ":listener-rule/") + "/aa/bb"])
    assert _code(exc) == ("RuleNotFound", 400)
    with pytest.raises(ClientError) as exc:
        elb.describe_load_balancers(PageSize=500)
    # The shared Query decoder checks the model's range before ELBv2 sees it (AWS: ValidationError).
    assert _code(exc)[0] in ("ValidationError", "InvalidParameterValue")


@pytest.fixture
def network(ep):
    """A VPC with one subnet per zone (at most two), or SKIPPED when EC2's VPC calls are absent."""
    ec2 = harness.client(ep, "ec2")
    try:
        vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    except ClientError as e:
        if e.response["Error"]["Code"] == "UnsupportedOperation":
            print("SKIPPED: EC2 CreateVpc is not served by this build; the ELBv2 load-balancer scenario needs it")
            pytest.skip("EC2 CreateVpc is not served by this build")
        raise
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:2]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{i}.0/24", AvailabilityZone=z)["Subnet"]["SubnetId"]
        for i, z in enumerate(zones)
    ]
    yield vpc, subnets, "10.42"
    # A failed test may leave its load balancers: their nodes' interfaces hold the subnets.
    elb = harness.client(ep, "elbv2")
    for lb in elb.describe_load_balancers()["LoadBalancers"]:
        if lb["VpcId"] == vpc:
            elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    for s in subnets:
        ec2.delete_subnet(SubnetId=s)
    ec2.delete_vpc(VpcId=vpc)


def test_application_load_balancer_scenario(ep, network):
    vpc, subnets, net = network
    elb = harness.client(ep, "elbv2")
    name = _name("alb")
    lb = elb.create_load_balancer(Name=name, Subnets=subnets, Tags=[{"Key": "app", "Value": "web"}])["LoadBalancers"][0]
    arn = lb["LoadBalancerArn"]
    assert lb["State"]["Code"] == "provisioning"
    assert lb["Type"] == "application" and lb["Scheme"] == "internet-facing"
    assert lb["VpcId"] == vpc and len(lb["SecurityGroups"]) == 1
    assert sorted(z["SubnetId"] for z in lb["AvailabilityZones"]) == sorted(subnets)
    assert lb["DNSName"].startswith(f"{name}-") and lb["CanonicalHostedZoneId"]
    elb.get_waiter("load_balancer_available").wait(LoadBalancerArns=[arn], WaiterConfig=FAST)
    assert elb.describe_load_balancers(Names=[name])["LoadBalancers"][0]["State"]["Code"] == "active"
    with pytest.raises(ClientError) as exc:
        elb.create_load_balancer(Name=name, Subnets=subnets)
    assert _code(exc) == ("DuplicateLoadBalancerName", 400)

    attrs = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]}
    assert attrs["idle_timeout.timeout_seconds"] == "60" and attrs["routing.http2.enabled"] == "true"
    elb.modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": "90"}])

    tg = elb.create_target_group(Name=_name("ip"), Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip",
                                 HealthCheckPath="/healthz", Matcher={"HttpCode": "200-299"})["TargetGroups"][0]
    tg_arn = tg["TargetGroupArn"]
    assert tg["HealthCheckPath"] == "/healthz" and tg["HealthCheckPort"] == "traffic-port"
    with pytest.raises(ClientError) as exc:
        elb.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": "192.168.1.1"}])
    assert _code(exc) == ("InvalidTarget", 400)
    elb.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": f"{net}.0.10"}, {"Id": f"{net}.0.11", "Port": 9090}])
    health = elb.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]
    assert {h["TargetHealth"]["Reason"] for h in health} == {"Target.NotInUse"}

    listener = elb.create_listener(LoadBalancerArn=arn, Protocol="HTTP", Port=80,
                                   DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}])["Listeners"][0]
    l_arn = listener["ListenerArn"]
    assert listener["DefaultActions"][0]["ForwardConfig"]["TargetGroups"][0]["TargetGroupArn"] == tg_arn
    with pytest.raises(ClientError) as exc:
        elb.create_listener(LoadBalancerArn=arn, Protocol="HTTP", Port=80,
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}])
    assert _code(exc) == ("DuplicateListener", 400)
    rule = elb.create_rule(ListenerArn=l_arn, Priority=5,
                           Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}}],
                           Actions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain"}}])["Rules"][0]
    with pytest.raises(ClientError) as exc:
        elb.create_rule(ListenerArn=l_arn, Priority=5,
                        Conditions=[{"Field": "host-header", "HostHeaderConfig": {"Values": ["a.example"]}}],
                        Actions=[{"Type": "forward", "TargetGroupArn": tg_arn}])
    assert _code(exc) == ("PriorityInUse", 400)
    rules = [r for p in elb.get_paginator("describe_rules").paginate(ListenerArn=l_arn, PaginationConfig={"PageSize": 1}) for r in p["Rules"]]
    assert [r["Priority"] for r in rules] == ["5", "default"]
    assert rules[1]["IsDefault"] is True and rules[0]["RuleArn"] == rule["RuleArn"]
    assert elb.describe_target_groups(LoadBalancerArn=arn)["TargetGroups"][0]["LoadBalancerArns"] == [arn]
    with pytest.raises(ClientError) as exc:
        elb.delete_target_group(TargetGroupArn=tg_arn)
    assert _code(exc) == ("ResourceInUse", 400)

    health = elb.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]
    # With the data plane the probes decide (no target answers here); without one, unavailable.
    assert {h["TargetHealth"]["State"] for h in health} <= {"initial", "unhealthy", "unavailable"}
    elb.modify_target_group_attributes(TargetGroupArn=tg_arn, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "2"}])
    elb.deregister_targets(TargetGroupArn=tg_arn, Targets=[{"Id": f"{net}.0.10"}])
    state = elb.describe_target_health(TargetGroupArn=tg_arn, Targets=[{"Id": f"{net}.0.10"}])["TargetHealthDescriptions"][0]["TargetHealth"]
    assert state["State"] == "draining"
    elb.get_waiter("target_deregistered").wait(TargetGroupArn=tg_arn, Targets=[{"Id": f"{net}.0.10"}], WaiterConfig=FAST)
    gone = elb.describe_target_health(TargetGroupArn=tg_arn, Targets=[{"Id": f"{net}.0.10"}])["TargetHealthDescriptions"][0]
    assert gone["TargetHealth"] == {"State": "unused", "Reason": "Target.NotRegistered",
                                    "Description": "Target is not registered to the target group"}

    elb.delete_load_balancer(LoadBalancerArn=arn)
    elb.get_waiter("load_balancers_deleted").wait(LoadBalancerArns=[arn], WaiterConfig=FAST)
    with pytest.raises(ClientError) as exc:
        elb.describe_listeners(ListenerArns=[l_arn])
    assert _code(exc) == ("ListenerNotFound", 400)
    elb.delete_target_group(TargetGroupArn=tg_arn)


def test_network_load_balancer(ep, network):
    vpc, subnets, _ = network
    elb = harness.client(ep, "elbv2")
    lb = elb.create_load_balancer(Name=_name("nlb"), Type="network", Scheme="internal", Subnets=subnets[:1])["LoadBalancers"][0]
    arn = lb["LoadBalancerArn"]
    assert ":loadbalancer/net/" in arn and "SecurityGroups" not in lb
    attrs = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]}
    assert attrs["load_balancing.cross_zone.enabled"] == "false"
    assert attrs["dns_record.client_routing_policy"] == "any_availability_zone"
    tg = elb.create_target_group(Name=_name("tcp"), Protocol="TCP", Port=22, VpcId=vpc)["TargetGroups"][0]
    assert tg["HealthCheckProtocol"] == "TCP" and "HealthCheckPath" not in tg
    listener = elb.create_listener(LoadBalancerArn=arn, Protocol="TCP", Port=22,
                                   DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])["Listeners"][0]
    l_attrs = elb.describe_listener_attributes(ListenerArn=listener["ListenerArn"])["Attributes"]
    assert l_attrs == [{"Key": "tcp.idle_timeout.seconds", "Value": "350"}]
    elb.delete_load_balancer(LoadBalancerArn=arn)
    elb.delete_target_group(TargetGroupArn=tg["TargetGroupArn"])


def test_internet_facing_nodes_have_public_addresses(ep, network):
    """Internet-facing nodes carry a public address (owner amazon-elb), internal ones none; a
    network load balancer takes the Elastic IP its subnet mapping names, holds it until it is
    deleted, and lists it in LoadBalancerAddresses."""
    vpc, subnets, _ = network
    ec2 = harness.client(ep, "ec2")
    elb = harness.client(ep, "elbv2")

    def nodes(arn: str) -> list[dict]:
        short = arn.split(":loadbalancer/")[1]
        return ec2.describe_network_interfaces(
            Filters=[{"Name": "description", "Values": [f"ELB {short}"]}])["NetworkInterfaces"]

    alb = elb.create_load_balancer(Name=_name("pub"), Subnets=subnets)["LoadBalancers"][0]
    enis = nodes(alb["LoadBalancerArn"])
    assert len(enis) == len(subnets)
    for e in enis:
        assert e["RequesterManaged"] is True and e["RequesterId"] == "amazon-elb"
        assert e["Association"]["IpOwnerId"] == "amazon-elb" and e["Association"]["PublicIp"]
    publics = {e["Association"]["PublicIp"] for e in enis}
    by_filter = ec2.describe_network_interfaces(
        Filters=[{"Name": "requester-id", "Values": ["amazon-elb"]}, {"Name": "vpc-id", "Values": [vpc]}])
    assert {e["NetworkInterfaceId"] for e in by_filter["NetworkInterfaces"]} == {e["NetworkInterfaceId"] for e in enis}
    internal = elb.create_load_balancer(Name=_name("in"), Scheme="internal", Subnets=subnets)["LoadBalancers"][0]
    assert not any("Association" in e for e in nodes(internal["LoadBalancerArn"]))
    # A node's address is the load balancer's: no Elastic IP can be put on the node.
    eip = ec2.allocate_address(Domain="vpc")
    assert eip["PublicIp"] not in publics
    with pytest.raises(ClientError) as exc:
        ec2.associate_address(AllocationId=eip["AllocationId"], NetworkInterfaceId=enis[0]["NetworkInterfaceId"])
    assert _code(exc)[0] == "AuthFailure"
    for lb in (alb, internal):
        elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])

    # Elastic IPs: network load balancers only, the caller's own, one mapping each.
    with pytest.raises(ClientError) as exc:
        elb.create_load_balancer(Name=_name("bad"), Type="network",
                                 SubnetMappings=[{"SubnetId": subnets[0], "AllocationId": "eipalloc-0123456789abcdef0"}])
    assert _code(exc) == ("AllocationIdNotFound", 400)
    nlb = elb.create_load_balancer(Name=_name("eip"), Type="network",
                                   SubnetMappings=[{"SubnetId": subnets[0], "AllocationId": eip["AllocationId"]}])["LoadBalancers"][0]
    zone = nlb["AvailabilityZones"][0]
    assert zone["LoadBalancerAddresses"] == [{"IpAddress": eip["PublicIp"], "AllocationId": eip["AllocationId"]}]
    described = elb.describe_load_balancers(LoadBalancerArns=[nlb["LoadBalancerArn"]])["LoadBalancers"][0]
    assert described["AvailabilityZones"][0]["LoadBalancerAddresses"] == zone["LoadBalancerAddresses"]
    node = nodes(nlb["LoadBalancerArn"])[0]
    assert node["InterfaceType"] == "network_load_balancer"
    assert node["Association"]["PublicIp"] == eip["PublicIp"]
    assert node["Association"]["AllocationId"] == eip["AllocationId"]
    held = ec2.describe_addresses(AllocationIds=[eip["AllocationId"]])["Addresses"][0]
    assert held["NetworkInterfaceId"] == node["NetworkInterfaceId"]
    with pytest.raises(ClientError) as exc:
        ec2.disassociate_address(AssociationId=held["AssociationId"])
    assert _code(exc)[0] == "AuthFailure"
    with pytest.raises(ClientError) as exc:
        ec2.release_address(AllocationId=eip["AllocationId"])
    assert _code(exc)[0] == "InvalidIPAddress.InUse"
    with pytest.raises(ClientError) as exc:
        elb.create_load_balancer(Name=_name("dup"), Type="network",
                                 SubnetMappings=[{"SubnetId": subnets[0], "AllocationId": eip["AllocationId"]}])
    assert _code(exc) == ("InvalidConfigurationRequest", 400)
    elb.delete_load_balancer(LoadBalancerArn=nlb["LoadBalancerArn"])
    assert "AssociationId" not in ec2.describe_addresses(AllocationIds=[eip["AllocationId"]])["Addresses"][0]
    ec2.release_address(AllocationId=eip["AllocationId"])
