"""Listings: v1 and v2, markers and tokens echoed, prefixes, delimiters, pagination, url encoding."""

from __future__ import annotations

import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import pytest

KEYS = sorted(
    [f"a/{i:02d}" for i in range(20)]
    + [f"b/c/{i:02d}" for i in range(10)]
    + [f"b/d{i}" for i in range(5)]
    + [f"top{i:02d}" for i in range(15)]
)  # 50 keys


@pytest.fixture
def filled(s3, bucket):
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=k.encode()), KEYS))
    return bucket


def test_list_v2_basics(s3, filled):
    r = s3.list_objects_v2(Bucket=filled)
    assert [o["Key"] for o in r["Contents"]] == KEYS
    assert r["KeyCount"] == len(KEYS) and not r["IsTruncated"]
    assert all(o["Size"] == len(o["Key"]) for o in r["Contents"])
    assert all(o["ETag"].startswith('"') for o in r["Contents"])
    assert all(o["StorageClass"] == "STANDARD" for o in r["Contents"])
    assert all("Owner" not in o for o in r["Contents"])  # v2 omits the owner unless asked
    owned = s3.list_objects_v2(Bucket=filled, MaxKeys=2, FetchOwner=True)["Contents"]
    assert all(o["Owner"]["ID"] for o in owned)

    r = s3.list_objects_v2(Bucket=filled, Prefix="b/")
    assert [o["Key"] for o in r["Contents"]] == [k for k in KEYS if k.startswith("b/")]

    r = s3.list_objects_v2(Bucket=filled, Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["a/", "b/"]
    assert [o["Key"] for o in r["Contents"]] == [k for k in KEYS if "/" not in k]
    assert r["KeyCount"] == 2 + 15

    r = s3.list_objects_v2(Bucket=filled, Prefix="b/", Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["b/c/"]
    assert [o["Key"] for o in r["Contents"]] == [f"b/d{i}" for i in range(5)]
    assert r["Prefix"] == "b/" and r["Delimiter"] == "/"

    r = s3.list_objects_v2(Bucket=filled, StartAfter="b/d2")
    assert [o["Key"] for o in r["Contents"]] == [k for k in KEYS if k > "b/d2"]
    assert r["StartAfter"] == "b/d2"

    r = s3.list_objects_v2(Bucket=filled, Prefix="nothing-here")
    assert r["KeyCount"] == 0 and "Contents" not in r


def test_list_v2_max_keys_and_tokens(s3, filled):
    r = s3.list_objects_v2(Bucket=filled, MaxKeys=7)
    assert r["MaxKeys"] == 7 and r["KeyCount"] == 7 and r["IsTruncated"]
    assert [o["Key"] for o in r["Contents"]] == KEYS[:7]
    token = r["NextContinuationToken"]
    r2 = s3.list_objects_v2(Bucket=filled, MaxKeys=7, ContinuationToken=token)
    assert r2["ContinuationToken"] == token  # echoed
    assert [o["Key"] for o in r2["Contents"]] == KEYS[7:14]

    seen, pages = [], 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=filled, PaginationConfig={"PageSize": 7}):
        pages += 1
        assert page["KeyCount"] <= 7
        seen += [o["Key"] for o in page.get("Contents", [])]
        assert pages < 100
    assert seen == KEYS and pages == 8

    # Delimiter with pagination: common prefixes count toward MaxKeys and are not repeated.
    seen_keys, seen_prefixes = [], []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=filled, Delimiter="/",
                                                              PaginationConfig={"PageSize": 4}):
        seen_keys += [o["Key"] for o in page.get("Contents", [])]
        seen_prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    assert seen_prefixes == ["a/", "b/"]
    assert seen_keys == [k for k in KEYS if "/" not in k]


def test_list_v1_marker(s3, filled):
    r = s3.list_objects(Bucket=filled, MaxKeys=7)
    assert [o["Key"] for o in r["Contents"]] == KEYS[:7] and r["IsTruncated"]
    r2 = s3.list_objects(Bucket=filled, MaxKeys=7, Marker=KEYS[6])
    assert r2["Marker"] == KEYS[6]  # echoed
    assert [o["Key"] for o in r2["Contents"]] == KEYS[7:14]

    seen = []
    for page in s3.get_paginator("list_objects").paginate(Bucket=filled, PaginationConfig={"PageSize": 7}):
        seen += [o["Key"] for o in page.get("Contents", [])]
    assert seen == KEYS

    r = s3.list_objects(Bucket=filled, Delimiter="/", MaxKeys=1000)
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["a/", "b/"]
    # v1 with a delimiter and truncation reports NextMarker.
    r = s3.list_objects(Bucket=filled, Delimiter="/", MaxKeys=1)
    assert r["IsTruncated"] and r.get("NextMarker"), r
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["a/"]
    r = s3.list_objects(Bucket=filled, Delimiter="/", MaxKeys=1, Marker=r["NextMarker"])
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["b/"] and "Contents" not in r

    # Owner is included in v1 listings.
    assert "Owner" in s3.list_objects(Bucket=filled, MaxKeys=1)["Contents"][0]


ODD_KEYS = sorted(["sp ace/x", "plus+/y", "pct%25/z", "ünï/ø", "amp&eq=", "ctl\tchar", "q?mark"])


def test_encoding_type_url(s3, bucket):
    for k in ODD_KEYS:
        s3.put_object(Bucket=bucket, Key=k, Body=b"1")
    # boto3 asks for EncodingType=url itself and decodes: keys come back exactly.
    r = s3.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in r["Contents"]] == ODD_KEYS
    r = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == sorted(k.split("/")[0] + "/" for k in ODD_KEYS if "/" in k)
    r = s3.list_objects(Bucket=bucket)
    assert [o["Key"] for o in r["Contents"]] == ODD_KEYS

    # The raw wire form: keys percent-encoded, `+` is a plus (never a space), `EncodingType` echoed.
    raw = {}

    def grab(http_response, **_):
        raw["body"] = http_response.content

    s3.meta.events.register("after-call.s3.ListObjectsV2", grab)
    try:
        s3.list_objects_v2(Bucket=bucket, Prefix="plus+", EncodingType="url")
    finally:
        s3.meta.events.unregister("after-call.s3.ListObjectsV2", grab)
    body = raw["body"].decode()
    assert "<EncodingType>url</EncodingType>" in body, body
    assert f"<Key>{urllib.parse.quote('plus+/y', safe='/')}</Key>" in body or "<Key>plus%2B/y</Key>" in body, body

    r = s3.list_objects_v2(Bucket=bucket, Prefix="sp ace/")
    assert [o["Key"] for o in r["Contents"]] == ["sp ace/x"]
    r = s3.list_objects_v2(Bucket=bucket, StartAfter="plus+/y")
    assert [o["Key"] for o in r["Contents"]] == [k for k in ODD_KEYS if k > "plus+/y"]
