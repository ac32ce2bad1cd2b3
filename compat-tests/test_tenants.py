"""Accounts are tenants: `kumo admin account-create` makes one; it sees only its own buckets.

Drives the real admin CLI against the running session server (over its admin socket).
"""

from __future__ import annotations

import re
import uuid

import pytest
from botocore.exceptions import ClientError

import harness


def _code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


@pytest.fixture
def tenant(kumo_server):
    name = f"tenant-{uuid.uuid4().hex[:10]}"
    cp = kumo_server.admin("account-create", name)
    block = harness.parse_secret_block(cp.stdout)
    assert "aws_access_key_id" in block and "aws_secret_access_key" in block, cp.stdout
    assert re.fullmatch(r"[A-Z0-9]{16,128}", block["aws_access_key_id"]), block
    assert len(block["aws_secret_access_key"]) >= 30, "secret looks too short"
    block["name"] = name
    return block


def test_account_create_prints_keys_that_work(http_ep, tenant, kumo_server):
    sts = harness.client(http_ep, "sts", access_key=tenant["aws_access_key_id"],
                         secret_key=tenant["aws_secret_access_key"])
    ident = sts.get_caller_identity()
    admin_ident = harness.client(http_ep, "sts").get_caller_identity()
    assert ident["Account"] != admin_ident["Account"], "a new account must get its own id"
    if "account_id" in tenant:
        assert ident["Account"] == tenant["account_id"]
    listing = kumo_server.admin("account-list").stdout
    assert tenant["name"] in listing


def test_tenant_isolation(ep, s3, bucket, tenant):
    s3.put_object(Bucket=bucket, Key="secret.txt", Body=b"admin data")
    t3 = harness.client(ep, access_key=tenant["aws_access_key_id"], secret_key=tenant["aws_secret_access_key"])

    with pytest.raises(ClientError) as exc:
        t3.get_object(Bucket=bucket, Key="secret.txt")
    assert _code(exc) == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        t3.list_objects_v2(Bucket=bucket)
    assert _code(exc) == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        t3.delete_object(Bucket=bucket, Key="secret.txt")
    assert _code(exc) == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        t3.put_object(Bucket=bucket, Key="intruder.txt", Body=b"x")
    assert _code(exc) == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        t3.delete_bucket(Bucket=bucket)
    assert _code(exc) == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        t3.head_bucket(Bucket=bucket)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # Bucket names are global: the tenant cannot take the admin's.
    with pytest.raises(ClientError) as exc:
        t3.create_bucket(Bucket=bucket)
    assert _code(exc) == "BucketAlreadyExists"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    # Nothing changed for the owner.
    assert s3.get_object(Bucket=bucket, Key="secret.txt")["Body"].read() == b"admin data"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["secret.txt"]

    own = harness.unique_bucket("tenant")
    t3.create_bucket(Bucket=own)
    try:
        t3.put_object(Bucket=own, Key="mine", Body=b"tenant data")
        tenant_buckets = {b["Name"] for b in t3.list_buckets()["Buckets"]}
        assert tenant_buckets == {own}, tenant_buckets
        admin_buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
        assert bucket in admin_buckets and own not in admin_buckets
        # And the other way round: the admin account has no rights in the tenant's bucket.
        with pytest.raises(ClientError) as exc:
            s3.get_object(Bucket=own, Key="mine")
        assert _code(exc) == "AccessDenied"
    finally:
        harness.empty_and_delete_bucket(t3, own)


def test_key_list_never_prints_secrets(kumo_server, tenant):
    out = kumo_server.admin("key-list").stdout
    admin_key, admin_secret = kumo_server.credentials()
    assert tenant["aws_access_key_id"] in out
    assert admin_key in out
    assert tenant["aws_secret_access_key"] not in out
    assert admin_secret not in out
    assert "secret" not in out.lower()
    # Nor does the server log (the account was created over the admin socket).
    log = kumo_server.log_path.read_text(errors="replace")
    assert tenant["aws_secret_access_key"] not in log and admin_secret not in log


def test_key_revoke(http_ep, kumo_server, tenant):
    key, secret = tenant["aws_access_key_id"], tenant["aws_secret_access_key"]
    t3 = harness.client(http_ep, access_key=key, secret_key=secret)
    t3.list_buckets()  # works before
    kumo_server.admin("key-revoke", key)
    with pytest.raises(ClientError) as exc:
        t3.list_buckets()
    assert _code(exc) == "InvalidAccessKeyId"
    sts = harness.client(http_ep, "sts", access_key=key, secret_key=secret)
    with pytest.raises(ClientError) as exc:
        sts.get_caller_identity()
    assert _code(exc) == "InvalidClientTokenId"
    # The listing shows the key as no longer active, still without its secret.
    out = kumo_server.admin("key-list").stdout
    line = next(line for line in out.splitlines() if key in line)
    assert "Inactive" in line, line
    assert secret not in out
