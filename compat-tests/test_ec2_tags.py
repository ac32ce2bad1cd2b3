"""EC2 CreateTags / DeleteTags / DescribeTags over every resource type, through boto3."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

import harness

pytestmark = pytest.mark.usefixtures("kumo_server")


def code(exc) -> str:
    return exc.value.response["Error"]["Code"]


@pytest.fixture
def keys(ep):
    ec2 = harness.client(ep, "ec2")
    names = [f"tags-{uuid.uuid4().hex[:10]}" for _ in range(3)]
    ids = [ec2.create_key_pair(KeyName=n, KeyType="ed25519")["KeyPairId"] for n in names]
    yield ids
    for n in names:
        ec2.delete_key_pair(KeyName=n)


def tags_of(ec2, rid):
    got = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [rid]}])["Tags"]
    return {t["Key"]: t["Value"] for t in got}


def test_create_overwrite_describe_delete(ep, keys):
    ec2 = harness.client(ep, "ec2")
    run = uuid.uuid4().hex[:8]
    ec2.create_tags(Resources=keys, Tags=[{"Key": "run", "Value": run}, {"Key": "env", "Value": "prod"}])
    ec2.create_tags(Resources=keys[:1], Tags=[{"Key": "env", "Value": "dev"}])
    assert tags_of(ec2, keys[0]) == {"run": run, "env": "dev"}
    got = ec2.describe_tags(Filters=[{"Name": "tag:run", "Values": [run]}])["Tags"]
    assert len(got) == 6
    assert {t["ResourceType"] for t in got} == {"key-pair"}
    assert {t["ResourceId"] for t in got} == set(keys)
    got = ec2.describe_tags(
        Filters=[{"Name": "key", "Values": ["env"]}, {"Name": "value", "Values": ["prod"]},
                 {"Name": "resource-id", "Values": keys}]
    )["Tags"]
    assert sorted(t["ResourceId"] for t in got) == sorted(keys[1:])
    # The paginator walks pages of MaxResults each, every tag once.
    pages = harness.client(ep, "ec2").get_paginator("describe_tags").paginate(
        Filters=[{"Name": "tag:run", "Values": [run]}], PaginationConfig={"PageSize": 5}
    )
    sizes = [len(p["Tags"]) for p in pages]
    assert sizes == [5, 1]
    # Tags show on the resource itself.
    pair = ec2.describe_key_pairs(KeyPairIds=[keys[1]])["KeyPairs"][0]
    assert {t["Key"]: t["Value"] for t in pair["Tags"]} == {"run": run, "env": "prod"}
    # key-pair filters by tag too.
    assert len(ec2.describe_key_pairs(Filters=[{"Name": "tag:env", "Values": ["dev"]},
                                               {"Name": "key-pair-id", "Values": keys}])["KeyPairs"]) == 1

    # DeleteTags: value mismatch keeps; key alone deletes; no tags deletes all.
    ec2.delete_tags(Resources=keys, Tags=[{"Key": "env", "Value": "prod"}])
    assert tags_of(ec2, keys[0]) == {"run": run, "env": "dev"}
    assert tags_of(ec2, keys[1]) == {"run": run}
    ec2.delete_tags(Resources=keys[:1], Tags=[{"Key": "env"}])
    assert tags_of(ec2, keys[0]) == {"run": run}
    ec2.delete_tags(Resources=keys)
    assert all(tags_of(ec2, k) == {} for k in keys)


def test_errors(ep, keys):
    ec2 = harness.client(ep, "ec2")
    with pytest.raises(ClientError) as exc:
        ec2.create_tags(Resources=["bogus-123"], Tags=[{"Key": "a", "Value": "b"}])
    assert code(exc) == "InvalidID"
    with pytest.raises(ClientError) as exc:
        ec2.create_tags(Resources=["key-0123456789abcdef0"], Tags=[{"Key": "a", "Value": "b"}])
    assert code(exc) == "InvalidKeyPair.NotFound"
    with pytest.raises(ClientError) as exc:
        ec2.create_tags(Resources=["vpc-0123456789abcdef0"], Tags=[{"Key": "a", "Value": "b"}])
    assert code(exc) == "InvalidVpcID.NotFound"
    with pytest.raises(ClientError) as exc:
        ec2.create_tags(Resources=["sg-0123456789abcdef0"], Tags=[{"Key": "a", "Value": "b"}])
    assert code(exc) == "InvalidGroup.NotFound"
    with pytest.raises(ClientError) as exc:
        ec2.create_tags(Resources=keys, Tags=[{"Key": "aws:reserved", "Value": "b"}])
    assert code(exc) == "InvalidParameterValue"
    too_many = [{"Key": f"k{i}", "Value": ""} for i in range(51)]
    with pytest.raises(ClientError) as exc:
        ec2.create_tags(Resources=keys[:1], Tags=too_many)
    assert code(exc) == "InvalidParameterValue"
    ec2.create_tags(Resources=keys[:1], Tags=too_many[:50])
    with pytest.raises(ClientError) as exc:
        ec2.create_tags(Resources=keys[:1], Tags=[{"Key": "one-more", "Value": ""}])
    assert code(exc) == "TagLimitExceeded"
    # A failed request changes nothing, even for the resources listed before the bad one.
    with pytest.raises(ClientError):
        ec2.create_tags(Resources=[keys[1], "key-0123456789abcdef0"], Tags=[{"Key": "x", "Value": "y"}])
    assert tags_of(ec2, keys[1]) == {}
    with pytest.raises(ClientError) as exc:
        ec2.describe_tags(Filters=[{"Name": "colour", "Values": ["x"]}])
    assert code(exc) == "InvalidParameterValue"
