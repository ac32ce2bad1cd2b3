"""Query protocols (STS, EC2, ELBv2, IAM) through boto3 and aws-cli, and the health endpoint.

EC2/ELBv2/IAM actions may not be implemented yet: each test accepts either a real, successful
answer or a well-formed `UnsupportedOperation` error that botocore parses (Code and Message), so
it keeps passing when the services arrive.
"""

from __future__ import annotations

import json
import re

import pytest
import requests
from botocore.exceptions import ClientError

import harness

pytestmark = pytest.mark.usefixtures("kumo_server")


def _assert_account_root(ident: dict) -> None:
    assert re.fullmatch(r"\d{12}", ident["Account"]), ident
    assert ident["Arn"] == f"arn:aws:iam::{ident['Account']}:root", ident
    assert ident["UserId"], ident


def test_sts_get_caller_identity_boto3(ep):
    sts = harness.client(ep, "sts")
    ident = sts.get_caller_identity()
    _assert_account_root(ident)
    assert ident["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert ident["ResponseMetadata"]["RequestId"]


def test_sts_get_caller_identity_awscli(ep, home):
    out = harness.run_aws(ep, home, "sts", "get-caller-identity", "--output", "json")
    ident = json.loads(out.stdout)
    _assert_account_root(ident)
    # The same identity as boto3 sees.
    assert ident["Account"] == harness.client(ep, "sts").get_caller_identity()["Account"]


def _supported_or_unsupported(call):
    """Runs `call`; returns its answer, or None if it failed with UnsupportedOperation."""
    try:
        return call()
    except ClientError as err:
        e = err.response["Error"]
        assert e.get("Code") == "UnsupportedOperation", err.response
        assert e.get("Message"), err.response
        assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 400, err.response
        return None


def test_ec2_describe_instances(ep):
    ec2 = harness.client(ep, "ec2")
    resp = _supported_or_unsupported(ec2.describe_instances)
    if resp is not None:
        assert isinstance(resp["Reservations"], list)


def test_elbv2_describe_load_balancers(ep):
    elb = harness.client(ep, "elbv2")
    resp = _supported_or_unsupported(elb.describe_load_balancers)
    if resp is not None:
        assert isinstance(resp["LoadBalancers"], list)


def test_iam_list_users(ep):
    iam = harness.client(ep, "iam")
    resp = _supported_or_unsupported(iam.list_users)
    if resp is not None:
        assert isinstance(resp["Users"], list)


def test_sts_wrong_secret(ep):
    sts = harness.client(ep, "sts", secret_key="x" * 40)
    with pytest.raises(ClientError) as exc:
        sts.get_caller_identity()
    assert exc.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_sts_unknown_key(ep):
    sts = harness.client(ep, "sts", access_key="AKIAUNKNOWNKEY000000", secret_key="x" * 40)
    with pytest.raises(ClientError) as exc:
        sts.get_caller_identity()
    assert exc.value.response["Error"]["Code"] == "InvalidClientTokenId"


def test_ec2_wrong_secret(ep):
    ec2 = harness.client(ep, "ec2", secret_key="x" * 40)
    with pytest.raises(ClientError) as exc:
        ec2.describe_instances()
    assert exc.value.response["Error"]["Code"] in ("AuthFailure", "SignatureDoesNotMatch"), exc.value.response


def test_health_without_auth(ep):
    r = requests.get(ep.url + harness.HEALTH_PATH, verify=ep.verify, timeout=10)
    assert r.status_code == 200
    assert r.text.strip() == "ok"
