"""Bucket versioning: versions, delete markers, version listings (also unversioned), suspension."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError


def code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


def test_unversioned_bucket_lists_null_versions(s3, bucket):
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="plain", Body=b"one")
    s3.put_object(Bucket=bucket, Key="plain", Body=b"two")
    put = s3.put_object(Bucket=bucket, Key="other", Body=b"x")
    assert "VersionId" not in put or put["VersionId"] == "null"
    r = s3.list_object_versions(Bucket=bucket)
    versions = r.get("Versions", [])
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in versions] == [
        ("other", "null", True), ("plain", "null", True)]
    assert not r.get("DeleteMarkers")
    assert s3.get_object(Bucket=bucket, Key="plain", VersionId="null")["Body"].read() == b"two"
    s3.delete_object(Bucket=bucket, Key="plain", VersionId="null")
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="plain")
    assert code(exc) == "NoSuchKey"


def test_versioning_lifecycle(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"

    bodies = [b"v1", b"v2 longer", b"v3 longest!"]
    ids = [s3.put_object(Bucket=bucket, Key="doc", Body=b)["VersionId"] for b in bodies]
    assert len(set(ids)) == 3 and "null" not in ids and all(ids)
    got = s3.get_object(Bucket=bucket, Key="doc")
    assert got["Body"].read() == bodies[-1] and got["VersionId"] == ids[-1]
    for vid, body in zip(ids, bodies):
        g = s3.get_object(Bucket=bucket, Key="doc", VersionId=vid)
        assert g["Body"].read() == body and g["VersionId"] == vid
        assert s3.head_object(Bucket=bucket, Key="doc", VersionId=vid)["ContentLength"] == len(body)

    r = s3.list_object_versions(Bucket=bucket, Prefix="doc")
    listed = [(v["VersionId"], v["IsLatest"], v["Size"]) for v in r["Versions"]]
    # Newest first.
    assert listed == [(ids[2], True, len(bodies[2])), (ids[1], False, len(bodies[1])),
                      (ids[0], False, len(bodies[0]))]

    # A plain delete adds a delete marker.
    d = s3.delete_object(Bucket=bucket, Key="doc")
    assert d["DeleteMarker"] is True
    marker_id = d["VersionId"]
    assert marker_id not in ids
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="doc")
    assert code(exc) == "NoSuchKey"
    assert exc.value.response["ResponseMetadata"]["HTTPHeaders"].get("x-amz-delete-marker") == "true"
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    r = s3.list_object_versions(Bucket=bucket)
    assert [(m["Key"], m["VersionId"], m["IsLatest"]) for m in r["DeleteMarkers"]] == [("doc", marker_id, True)]
    assert len(r["Versions"]) == 3 and not any(v["IsLatest"] for v in r["Versions"])
    # Old versions stay readable.
    assert s3.get_object(Bucket=bucket, Key="doc", VersionId=ids[0])["Body"].read() == bodies[0]

    # Deleting the marker brings the object back.
    s3.delete_object(Bucket=bucket, Key="doc", VersionId=marker_id)
    assert s3.get_object(Bucket=bucket, Key="doc")["Body"].read() == bodies[-1]
    # Deleting a specific version removes only it.
    s3.delete_object(Bucket=bucket, Key="doc", VersionId=ids[1])
    r = s3.list_object_versions(Bucket=bucket)
    assert [v["VersionId"] for v in r["Versions"]] == [ids[2], ids[0]]
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="doc", VersionId=ids[1])
    assert code(exc) in ("NoSuchVersion", "NoSuchKey")
    # Deleting the latest version promotes the previous one.
    s3.delete_object(Bucket=bucket, Key="doc", VersionId=ids[2])
    assert s3.get_object(Bucket=bucket, Key="doc")["Body"].read() == bodies[0]


def test_list_object_versions_pagination(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    expected = []
    for key in ("a", "b", "c"):
        vids = [s3.put_object(Bucket=bucket, Key=key, Body=f"{key}{i}".encode())["VersionId"] for i in range(3)]
        expected += [(key, v) for v in reversed(vids)]
    seen, pages = [], 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, PaginationConfig={"PageSize": 4}):
        pages += 1
        seen += [(v["Key"], v["VersionId"]) for v in page.get("Versions", [])]
        assert pages < 20
    assert seen == expected and pages == 3


def test_suspend(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"enabled")["VersionId"]
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"suspended 1")
    assert put.get("VersionId", "null") == "null"
    s3.put_object(Bucket=bucket, Key="k", Body=b"suspended 2")  # overwrites the null version
    r = s3.list_object_versions(Bucket=bucket)
    assert [(v["VersionId"], v["IsLatest"]) for v in r["Versions"]] == [("null", True), (v1, False)]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"suspended 2"
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=v1)["Body"].read() == b"enabled"
    # A delete while suspended puts a null delete marker.
    d = s3.delete_object(Bucket=bucket, Key="k")
    assert d.get("DeleteMarker") is True and d.get("VersionId", "null") == "null"
    r = s3.list_object_versions(Bucket=bucket)
    assert [v["VersionId"] for v in r["Versions"]] == [v1]
    assert [m["VersionId"] for m in r["DeleteMarkers"]] == ["null"]


def test_versioned_delete_objects(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    vid = s3.put_object(Bucket=bucket, Key="x", Body=b"1")["VersionId"]
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "x"}]})
    assert r["Deleted"][0]["DeleteMarker"] is True
    marker = r["Deleted"][0]["DeleteMarkerVersionId"]
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "x", "VersionId": marker},
                                                             {"Key": "x", "VersionId": vid}]})
    assert sorted(d["VersionId"] for d in r["Deleted"]) == sorted([marker, vid])
    r = s3.list_object_versions(Bucket=bucket)
    assert not r.get("Versions") and not r.get("DeleteMarkers")
