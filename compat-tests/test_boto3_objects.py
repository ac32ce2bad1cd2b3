"""Object operations through boto3, on both transports (HTTP: signed body + CRC32 header;
HTTPS: aws-chunked body with a CRC32 trailer and no Content-Length)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os

import pytest
from botocore.exceptions import ClientError

import harness
from checksums import checksum, md5_b64


def code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


def status(exc: pytest.ExceptionInfo) -> int:
    return exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def etag_of(data: bytes) -> str:
    return '"' + hashlib.md5(data).hexdigest() + '"'


def test_put_get_head_delete(s3, bucket):
    body = os.urandom(100_000)
    put = s3.put_object(Bucket=bucket, Key="obj", Body=body)
    assert put["ETag"] == etag_of(body)
    got = s3.get_object(Bucket=bucket, Key="obj")
    assert got["Body"].read() == body
    assert got["ContentLength"] == len(body)
    assert got["ETag"] == etag_of(body)
    assert isinstance(got["LastModified"], dt.datetime)
    head = s3.head_object(Bucket=bucket, Key="obj")
    assert head["ContentLength"] == len(body)
    assert head["ETag"] == etag_of(body)
    # Overwrite replaces.
    s3.put_object(Bucket=bucket, Key="obj", Body=b"second")
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"second"
    assert s3.delete_object(Bucket=bucket, Key="obj")["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="obj")
    assert code(exc) == "NoSuchKey" and status(exc) == 404
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="obj")
    assert status(exc) == 404
    # Deleting a missing key is not an error.
    assert s3.delete_object(Bucket=bucket, Key="obj")["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_metadata_keys_are_case_insensitive(s3, bucket):
    s3.put_object(Bucket=bucket, Key="meta", Body=b"m", Metadata={"MixedCase-Key": "Value Kept"})
    # HTTP header names are case-insensitive; S3 returns user metadata names in lower case.
    assert s3.head_object(Bucket=bucket, Key="meta")["Metadata"] == {"mixedcase-key": "Value Kept"}


def test_empty_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["Body"].read() == b"" and got["ContentLength"] == 0
    assert got["ETag"] == etag_of(b"")


def test_metadata_and_content_headers(s3, bucket):
    s3.put_object(
        Bucket=bucket,
        Key="doc.txt",
        Body=b"hello",
        ContentType="text/plain; charset=utf-8",
        ContentDisposition='attachment; filename="doc.txt"',
        ContentEncoding="gzip",
        ContentLanguage="en-GB",
        CacheControl="max-age=60",
        Metadata={"color": "blue", "multi-word": "Some Value"},
    )
    for resp in (s3.head_object(Bucket=bucket, Key="doc.txt"), s3.get_object(Bucket=bucket, Key="doc.txt")):
        assert resp["ContentType"] == "text/plain; charset=utf-8"
        assert resp["ContentDisposition"] == 'attachment; filename="doc.txt"'
        # `aws-chunked` (added by boto3 over HTTPS) must not be stored.
        assert resp["ContentEncoding"] == "gzip"
        assert resp["ContentLanguage"] == "en-GB"
        assert resp["CacheControl"] == "max-age=60"
        assert resp["Metadata"] == {"color": "blue", "multi-word": "Some Value"}
    # Response overrides on GET.
    got = s3.get_object(Bucket=bucket, Key="doc.txt", ResponseContentType="application/x-test",
                        ResponseCacheControl="no-cache")
    assert got["ContentType"] == "application/x-test"
    assert got["CacheControl"] == "no-cache"
    assert got["Body"].read() == b"hello"


WEIRD_KEYS = [
    "ünïcødé/файл 日本語.txt",
    "with space",
    "plus+sign",
    "percent%20literal",
    "a%2Fb",
    "tilde~and!bang*(paren)'",
    "semi;colon=eq&amp,comma@at$dollar",
    "emoji-\U0001F600",
    "back\\slash",
    "double//slash",
]


def test_weird_keys(s3, bucket):
    for i, key in enumerate(WEIRD_KEYS):
        s3.put_object(Bucket=bucket, Key=key, Body=f"body {i}".encode())
    for i, key in enumerate(WEIRD_KEYS):
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == f"body {i}".encode(), key
        assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(f"body {i}")
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(listed) == sorted(WEIRD_KEYS)
    listed_v1 = [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]]
    assert sorted(listed_v1) == sorted(WEIRD_KEYS)
    # `+` is a plus, not a space.
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="plus sign")
    assert code(exc) == "NoSuchKey"


def test_keys_are_not_paths(s3, bucket):
    s3.put_object(Bucket=bucket, Key="dir/", Body=b"a directory marker with a body")
    s3.put_object(Bucket=bucket, Key="foo/bar", Body=b"file")
    s3.put_object(Bucket=bucket, Key="foo/bar/xyzzy", Body=b"nested")
    assert s3.get_object(Bucket=bucket, Key="dir/")["Body"].read() == b"a directory marker with a body"
    assert s3.get_object(Bucket=bucket, Key="foo/bar")["Body"].read() == b"file"
    assert s3.get_object(Bucket=bucket, Key="foo/bar/xyzzy")["Body"].read() == b"nested"
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == ["dir/", "foo/bar", "foo/bar/xyzzy"]
    s3.delete_object(Bucket=bucket, Key="foo/bar")
    assert s3.get_object(Bucket=bucket, Key="foo/bar/xyzzy")["Body"].read() == b"nested"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="foo")
    assert code(exc) == "NoSuchKey"


def test_virtual_host_addressing(ep, s3, bucket):
    vh = harness.client(ep, addressing="virtual")
    vh.put_object(Bucket=bucket, Key="via/vhost", Body=b"virtual")
    assert s3.get_object(Bucket=bucket, Key="via/vhost")["Body"].read() == b"virtual"
    assert vh.get_object(Bucket=bucket, Key="via/vhost")["Body"].read() == b"virtual"
    assert [o["Key"] for o in vh.list_objects_v2(Bucket=bucket)["Contents"]] == ["via/vhost"]
    vh.delete_object(Bucket=bucket, Key="via/vhost")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_range_get(s3, bucket):
    body = bytes(range(256)) * 40  # 10240 bytes
    n = len(body)
    s3.put_object(Bucket=bucket, Key="r", Body=body)
    cases = {
        "bytes=0-9": (0, 9),
        "bytes=100-199": (100, 199),
        "bytes=10000-": (10000, n - 1),
        "bytes=-5": (n - 5, n - 1),
        "bytes=10200-99999": (10200, n - 1),  # end past the size is clamped
    }
    for rng, (start, end) in cases.items():
        got = s3.get_object(Bucket=bucket, Key="r", Range=rng)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206, rng
        assert got["ContentRange"] == f"bytes {start}-{end}/{n}", rng
        assert got["ContentLength"] == end - start + 1, rng
        assert got["Body"].read() == body[start:end + 1], rng
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="r", Range=f"bytes={n + 10}-{n + 20}")
    assert code(exc) == "InvalidRange" and status(exc) == 416


def test_conditional_get_and_head(s3, bucket):
    s3.put_object(Bucket=bucket, Key="c", Body=b"conditional")
    head = s3.head_object(Bucket=bucket, Key="c")
    etag, modified = head["ETag"], head["LastModified"]
    later = modified + dt.timedelta(hours=1)
    earlier = modified - dt.timedelta(hours=1)

    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"conditional"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"00000000000000000000000000000000"')
    assert status(exc) == 412 and code(exc) == "PreconditionFailed"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert status(exc) == 304
    assert s3.get_object(Bucket=bucket, Key="c", IfNoneMatch='"0123"')["Body"].read() == b"conditional"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=later)
    assert status(exc) == 304
    assert s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=earlier)["Body"].read() == b"conditional"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="c", IfUnmodifiedSince=earlier)
    assert status(exc) == 412

    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="c", IfMatch='"00000000000000000000000000000000"')
    assert status(exc) == 412
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert status(exc) == 304
    assert s3.head_object(Bucket=bucket, Key="c", IfMatch=etag)["ETag"] == etag


def test_conditional_put_if_none_match(s3, bucket):
    s3.put_object(Bucket=bucket, Key="once", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="once", Body=b"second", IfNoneMatch="*")
    assert status(exc) == 412 and code(exc) == "PreconditionFailed"
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"first"


def test_copy_object(s3, bucket, make_bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"copy me", ContentType="text/x-src",
                  Metadata={"origin": "src"})
    etag = s3.head_object(Bucket=bucket, Key="src")["ETag"]

    r = s3.copy_object(Bucket=bucket, Key="dst-copy", CopySource={"Bucket": bucket, "Key": "src"})
    assert r["CopyObjectResult"]["ETag"] == etag
    h = s3.head_object(Bucket=bucket, Key="dst-copy")
    assert h["Metadata"] == {"origin": "src"} and h["ContentType"] == "text/x-src"
    assert s3.get_object(Bucket=bucket, Key="dst-copy")["Body"].read() == b"copy me"

    s3.copy_object(Bucket=bucket, Key="dst-replace", CopySource={"Bucket": bucket, "Key": "src"},
                   MetadataDirective="REPLACE", Metadata={"origin": "replaced"}, ContentType="text/x-new")
    h = s3.head_object(Bucket=bucket, Key="dst-replace")
    assert h["Metadata"] == {"origin": "replaced"} and h["ContentType"] == "text/x-new"
    assert s3.get_object(Bucket=bucket, Key="dst-replace")["Body"].read() == b"copy me"

    # Copy onto itself with REPLACE updates metadata in place.
    s3.copy_object(Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src"},
                   MetadataDirective="REPLACE", Metadata={"origin": "self"})
    assert s3.head_object(Bucket=bucket, Key="src")["Metadata"] == {"origin": "self"}
    assert s3.get_object(Bucket=bucket, Key="src")["Body"].read() == b"copy me"

    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="dst-cond", CopySource={"Bucket": bucket, "Key": "src"},
                       CopySourceIfMatch='"00000000000000000000000000000000"')
    assert status(exc) == 412 and code(exc) == "PreconditionFailed"
    s3.copy_object(Bucket=bucket, Key="dst-cond", CopySource={"Bucket": bucket, "Key": "src"},
                   CopySourceIfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="dst-cond")["Body"].read() == b"copy me"

    # Across buckets, with a key that needs escaping in x-amz-copy-source.
    other = make_bucket("copy")
    s3.put_object(Bucket=bucket, Key="ünï code+plus %", Body=b"escaped source")
    s3.copy_object(Bucket=other, Key="copied", CopySource={"Bucket": bucket, "Key": "ünï code+plus %"})
    assert s3.get_object(Bucket=other, Key="copied")["Body"].read() == b"escaped source"

    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "missing"})
    assert code(exc) == "NoSuchKey"


def test_delete_objects(s3, bucket):
    keys = ["d1", "d2", "dir/d3"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys + ["never-existed"]]})
    assert sorted(d["Key"] for d in r["Deleted"]) == sorted(keys + ["never-existed"])
    assert not r.get("Errors")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0

    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True})
    assert not r.get("Deleted") and not r.get("Errors")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"])
def test_flexible_checksums(s3, bucket, algorithm):
    body = os.urandom(70_000)
    expected = checksum(algorithm, body)
    field = "Checksum" + algorithm
    if algorithm in ("CRC32C", "CRC64NVME"):
        # botocore computes these only with awscrt: send the value we computed ourselves.
        put = s3.put_object(Bucket=bucket, Key="ck", Body=body, **{field: expected})
    else:
        put = s3.put_object(Bucket=bucket, Key="ck", Body=body, ChecksumAlgorithm=algorithm)
    assert put.get(field) == expected, put
    got = s3.get_object(Bucket=bucket, Key="ck", ChecksumMode="ENABLED")
    assert got["Body"].read() == body  # botocore validates the checksums it can compute
    assert got.get(field) == expected, {k: v for k, v in got.items() if k.startswith("Checksum")}
    head = s3.head_object(Bucket=bucket, Key="ck", ChecksumMode="ENABLED")
    assert head.get(field) == expected


def test_wrong_content_md5_keeps_old_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="md5", Body=b"original")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="md5", Body=b"replacement", ContentMD5=md5_b64(b"something else"))
    assert code(exc) == "BadDigest" and status(exc) == 400
    got = s3.get_object(Bucket=bucket, Key="md5", ChecksumMode="ENABLED")
    assert got["Body"].read() == b"original"
    # A correct Content-MD5 is accepted.
    s3.put_object(Bucket=bucket, Key="md5", Body=b"replacement", ContentMD5=md5_b64(b"replacement"))
    assert s3.get_object(Bucket=bucket, Key="md5")["Body"].read() == b"replacement"
    # A new key with a bad digest is not created.
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="md5-new", Body=b"x", ContentMD5=md5_b64(b"y"))
    assert code(exc) == "BadDigest"
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="md5-new")
    assert status(exc) == 404


def test_wrong_crc32_keeps_old_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="crc", Body=b"original")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="crc", Body=b"replacement", ChecksumCRC32=checksum("CRC32", b"other"))
    assert status(exc) == 400, exc.value.response
    assert code(exc) in ("BadDigest", "InvalidRequest", "XAmzContentChecksumMismatch"), exc.value.response
    got = s3.get_object(Bucket=bucket, Key="crc", ChecksumMode="ENABLED")
    assert got["Body"].read() == b"original"


def test_transport_body_framing(ep, s3, bucket):
    """Proves each transport exercises the framing it is meant to: HTTPS -> aws-chunked with a
    CRC32 trailer (no Content-Length on the wire body); HTTP -> SHA-256-signed body + CRC32 header."""
    seen = {}

    def grab(request, **_):
        seen.update({k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()})

    s3.meta.events.register("before-send.s3.PutObject", grab)
    body = os.urandom(200_000)
    try:
        s3.put_object(Bucket=bucket, Key="framing", Body=body)
    finally:
        s3.meta.events.unregister("before-send.s3.PutObject", grab)
    if ep.transport == "https":
        assert "aws-chunked" in seen.get("content-encoding", ""), seen
        assert seen.get("x-amz-trailer") == "x-amz-checksum-crc32", seen
        assert seen.get("x-amz-content-sha256") == "STREAMING-UNSIGNED-PAYLOAD-TRAILER", seen
        assert seen.get("x-amz-decoded-content-length") == str(len(body)), seen
    else:
        assert seen.get("x-amz-content-sha256") == hashlib.sha256(body).hexdigest(), seen
        assert seen.get("x-amz-checksum-crc32") == checksum("CRC32", body), seen
    got = s3.get_object(Bucket=bucket, Key="framing")
    assert got["Body"].read() == body
    assert "aws-chunked" not in got.get("ContentEncoding", "")


def test_concurrent_overwrites_never_mix(s3, bucket):
    """Many writers on one key: the survivor is exactly one of the bodies, never a blend."""
    from concurrent.futures import ThreadPoolExecutor

    bodies = [bytes([i]) * (256 * 1024 + i) for i in range(12)]

    def put(b):
        s3.put_object(Bucket=bucket, Key="contended", Body=b)  # boto3 clients are thread-safe

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(put, bodies))
    got = s3.get_object(Bucket=bucket, Key="contended")["Body"].read()
    assert got in bodies, f"mixed object: {len(got)} bytes, first byte {got[:1]!r}"
    assert s3.head_object(Bucket=bucket, Key="contended")["ETag"] == etag_of(got)
