"""Bucket sub-resources: tagging, CORS, ACLs, policies, POST uploads, and the "not configured"
answers that Terraform's AWS provider reads for every bucket it manages."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
import requests
from botocore.exceptions import ClientError

import harness


def code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


def error_code(resp: requests.Response) -> str | None:
    try:
        return ET.fromstring(resp.content).findtext("Code")
    except ET.ParseError:
        return None


def test_bucket_tagging(s3, bucket):
    tags = [{"Key": "env", "Value": "test"}, {"Key": "team", "Value": "kumo compat"}]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    got = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    assert sorted(got, key=lambda t: t["Key"]) == tags
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "only", "Value": "one"}]})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "only", "Value": "one"}]
    s3.delete_bucket_tagging(Bucket=bucket)
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_tagging(Bucket=bucket)
    assert code(exc) == "NoSuchTagSet"


def test_cors(ep, s3, bucket):
    rules = [{
        "AllowedOrigins": ["https://app.example.com"],
        "AllowedMethods": ["GET", "PUT"],
        "AllowedHeaders": ["*"],
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": 3000,
    }]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
    got = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert len(got) == 1
    for k, v in rules[0].items():
        assert got[0][k] == v, (k, got[0])
    s3.put_object(Bucket=bucket, Key="cors.txt", Body=b"cors")

    pre = requests.options(f"{ep.url}/{bucket}/cors.txt", verify=ep.verify, timeout=30, headers={
        "Origin": "https://app.example.com",
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "content-type",
    })
    assert pre.status_code == 200, pre.text
    assert pre.headers.get("Access-Control-Allow-Origin") in ("https://app.example.com", "*")
    assert "PUT" in pre.headers.get("Access-Control-Allow-Methods", "")
    assert pre.headers.get("Access-Control-Max-Age") == "3000"

    denied = requests.options(f"{ep.url}/{bucket}/cors.txt", verify=ep.verify, timeout=30, headers={
        "Origin": "https://evil.example.net", "Access-Control-Request-Method": "GET"})
    assert denied.status_code == 403
    assert "Access-Control-Allow-Origin" not in denied.headers

    s3.delete_bucket_cors(Bucket=bucket)
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_cors(Bucket=bucket)
    assert code(exc) == "NoSuchCORSConfiguration"


def test_canned_acl_public_read(ep, s3, bucket):
    s3.put_object(Bucket=bucket, Key="public.txt", Body=b"for everyone", ACL="public-read")
    s3.put_object(Bucket=bucket, Key="private.txt", Body=b"for me", ACL="private")
    r = requests.get(f"{ep.url}/{bucket}/public.txt", verify=ep.verify, timeout=30)
    assert r.status_code == 200 and r.content == b"for everyone"
    r = requests.get(f"{ep.url}/{bucket}/private.txt", verify=ep.verify, timeout=30)
    assert r.status_code == 403 and error_code(r) == "AccessDenied"
    grants = s3.get_object_acl(Bucket=bucket, Key="public.txt")["Grants"]
    assert any(g["Grantee"].get("URI") == "http://acs.amazonaws.com/groups/global/AllUsers"
               and g["Permission"] == "READ" for g in grants), grants
    # Turning it private again closes it.
    s3.put_object_acl(Bucket=bucket, Key="public.txt", ACL="private")
    r = requests.get(f"{ep.url}/{bucket}/public.txt", verify=ep.verify, timeout=30)
    assert r.status_code == 403 and error_code(r) == "AccessDenied"
    # Anonymous writes stay refused.
    r = requests.put(f"{ep.url}/{bucket}/anon.txt", data=b"x", verify=ep.verify, timeout=30)
    assert r.status_code == 403


def test_bucket_policy_public_get(ep, s3, bucket):
    s3.put_object(Bucket=bucket, Key="doc.txt", Body=b"policy readable")
    r = requests.get(f"{ep.url}/{bucket}/doc.txt", verify=ep.verify, timeout=30)
    assert r.status_code == 403
    policy = {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "PublicRead",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{bucket}/*",
        }],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == policy
    r = requests.get(f"{ep.url}/{bucket}/doc.txt", verify=ep.verify, timeout=30)
    assert r.status_code == 200 and r.content == b"policy readable"
    # The policy grants GetObject only: listing stays private.
    r = requests.get(f"{ep.url}/{bucket}", verify=ep.verify, timeout=30)
    assert r.status_code == 403
    s3.delete_bucket_policy(Bucket=bucket)
    r = requests.get(f"{ep.url}/{bucket}/doc.txt", verify=ep.verify, timeout=30)
    assert r.status_code == 403
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_policy(Bucket=bucket, Policy="{not json")
    assert code(exc) == "MalformedPolicy"


def test_presigned_post(ep, bucket):
    s3 = harness.client(ep, signature_version="s3v4")
    post = s3.generate_presigned_post(
        Bucket=bucket, Key="post/hello.txt",
        Fields={"Content-Type": "text/plain"},
        Conditions=[{"Content-Type": "text/plain"}, ["content-length-range", 1, 1024 * 1024]],
        ExpiresIn=300,
    )
    r = requests.post(post["url"], data=post["fields"], files={"file": ("hello.txt", b"posted body")},
                      verify=ep.verify, timeout=30)
    assert r.status_code in (200, 201, 204), r.text
    got = s3.get_object(Bucket=bucket, Key="post/hello.txt")
    assert got["Body"].read() == b"posted body"
    assert got["ContentType"] == "text/plain"
    # Violating the policy (too large) is refused and creates nothing.
    big = s3.generate_presigned_post(
        Bucket=bucket, Key="post/big.txt", Conditions=[["content-length-range", 1, 1024]], ExpiresIn=300)
    r = requests.post(big["url"], data=big["fields"], files={"file": ("big.txt", b"x" * 2048)},
                      verify=ep.verify, timeout=30)
    assert r.status_code in (400, 403), r.text
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="post/big.txt")
    # A field the policy does not allow is refused (AWS: 403 AccessDenied "Invalid according to
    # Policy"; a 400 is accepted here, what matters is that nothing is written).
    fields = dict(post["fields"], key="elsewhere.txt")
    r = requests.post(post["url"], data=fields, files={"file": ("x.txt", b"x")}, verify=ep.verify, timeout=30)
    assert r.status_code in (400, 403), r.text
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="elsewhere.txt")


def test_presigned_post_filename_variable(ep, bucket):
    """`${filename}` in the key is replaced by the uploaded file's name (browser uploads)."""
    s3 = harness.client(ep, signature_version="s3v4")
    post = s3.generate_presigned_post(Bucket=bucket, Key="uploads/${filename}",
                                      Conditions=[["starts-with", "$key", "uploads/"]], ExpiresIn=300)
    r = requests.post(post["url"], data=post["fields"], files={"file": ("photo 1.jpg", b"jpeg bytes")},
                      verify=ep.verify, timeout=30)
    assert r.status_code in (200, 201, 204), r.text
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["uploads/photo 1.jpg"], keys
    assert s3.get_object(Bucket=bucket, Key="uploads/photo 1.jpg")["Body"].read() == b"jpeg bytes"


NOT_CONFIGURED = [
    ("get_bucket_cors", "NoSuchCORSConfiguration"),
    ("get_bucket_website", "NoSuchWebsiteConfiguration"),
    ("get_bucket_lifecycle_configuration", "NoSuchLifecycleConfiguration"),
    ("get_bucket_policy", "NoSuchBucketPolicy"),
    ("get_bucket_encryption", "ServerSideEncryptionConfigurationNotFoundError"),
    ("get_object_lock_configuration", "ObjectLockConfigurationNotFoundError"),
    ("get_bucket_replication", "ReplicationConfigurationNotFoundError"),
    ("get_bucket_tagging", "NoSuchTagSet"),
]


@pytest.mark.parametrize("method,expected", NOT_CONFIGURED, ids=[m for m, _ in NOT_CONFIGURED])
def test_not_configured_answers(s3, bucket, method, expected):
    with pytest.raises(ClientError) as exc:
        getattr(s3, method)(Bucket=bucket)
    assert code(exc) == expected, exc.value.response
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_plain_answers(s3, bucket):
    acl = s3.get_bucket_acl(Bucket=bucket)
    assert acl["Owner"]["ID"]
    assert any(g["Permission"] == "FULL_CONTROL" and g["Grantee"].get("ID") == acl["Owner"]["ID"]
               for g in acl["Grants"]), acl
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=bucket)
    assert s3.get_bucket_request_payment(Bucket=bucket)["Payer"] == "BucketOwner"
    acc = s3.get_bucket_accelerate_configuration(Bucket=bucket)
    assert acc.get("Status") in (None, "Suspended")
    assert acc["ResponseMetadata"]["HTTPStatusCode"] == 200
    try:
        oc = s3.get_bucket_ownership_controls(Bucket=bucket)
        rules = oc["OwnershipControls"]["Rules"]
        assert rules and rules[0]["ObjectOwnership"] in ("BucketOwnerEnforced", "BucketOwnerPreferred",
                                                          "ObjectWriter")
    except ClientError as err:
        assert err.response["Error"]["Code"] == "OwnershipControlsNotFoundError", err.response
    # Versioning of a fresh bucket: never configured.
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
