"""Multipart uploads: the transfer manager, the raw API, copies, aborts and the error cases."""

from __future__ import annotations

import hashlib
import os

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

MiB = 1024 * 1024


def code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


def multipart_etag(parts: list[bytes]) -> str:
    digests = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(digests).hexdigest()}-{len(parts)}"'


def test_upload_file_multipart(s3, bucket, tmp_path):
    src = tmp_path / "big.bin"
    data = os.urandom(20 * MiB)
    src.write_bytes(data)
    cfg = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_concurrency=4)
    s3.upload_file(str(src), bucket, "big.bin", Config=cfg)
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == len(data)
    parts = [data[i:i + 5 * MiB] for i in range(0, len(data), 5 * MiB)]
    assert head["ETag"] == multipart_etag(parts)
    dst = tmp_path / "back.bin"
    s3.download_file(bucket, "big.bin", str(dst), Config=cfg)  # ranged GETs in parallel
    assert hashlib.sha256(dst.read_bytes()).digest() == hashlib.sha256(data).digest()
    # Part-level reads.
    p2 = s3.get_object(Bucket=bucket, Key="big.bin", PartNumber=2)
    assert p2["Body"].read() == parts[1]
    assert p2["ResponseMetadata"]["HTTPStatusCode"] == 206


def test_raw_multipart_api(s3, bucket):
    key = "mp/raw object"
    up = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType="application/x-mp",
                                    Metadata={"kind": "multipart"})
    uid = up["UploadId"]
    assert up["Key"] == key and up["Bucket"] == bucket
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(MiB + 17)]
    etags = []
    for n, body in enumerate(parts, start=1):
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=body)
        assert r["ETag"] == '"' + hashlib.md5(body).hexdigest() + '"'
        etags.append(r["ETag"])
    # Re-uploading a part replaces it.
    r = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=3, Body=parts[2])
    assert r["ETag"] == etags[2]

    listed = s3.list_parts(Bucket=bucket, Key=key, UploadId=uid)
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed["Parts"]] == [
        (n, e, len(b)) for n, (e, b) in enumerate(zip(etags, parts), start=1)
    ]
    page = s3.list_parts(Bucket=bucket, Key=key, UploadId=uid, MaxParts=2)
    assert [p["PartNumber"] for p in page["Parts"]] == [1, 2] and page["IsTruncated"]
    page = s3.list_parts(Bucket=bucket, Key=key, UploadId=uid, PartNumberMarker=page["NextPartNumberMarker"])
    assert [p["PartNumber"] for p in page["Parts"]] == [3]

    uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [(key, uid)]
    # The object does not exist before completion.
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key=key)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    done = s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)]},
    )
    assert done["ETag"] == multipart_etag(parts)
    assert done["Key"] == key
    got = s3.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == b"".join(parts)
    assert got["ETag"] == multipart_etag(parts)
    assert got["ContentType"] == "application/x-mp" and got["Metadata"] == {"kind": "multipart"}
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")

    # A repeated CompleteMultipartUpload succeeds with the same answer (clients retry it).
    again = s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)]},
    )
    assert again["ETag"] == done["ETag"]


def test_upload_part_copy(s3, bucket):
    source = os.urandom(6 * MiB)
    s3.put_object(Bucket=bucket, Key="copy-src", Body=source)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="copy-dst")["UploadId"]
    p1 = s3.upload_part_copy(Bucket=bucket, Key="copy-dst", UploadId=uid, PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "copy-src"},
                             CopySourceRange=f"bytes=0-{5 * MiB - 1}")
    p2 = s3.upload_part_copy(Bucket=bucket, Key="copy-dst", UploadId=uid, PartNumber=2,
                             CopySource={"Bucket": bucket, "Key": "copy-src"})  # whole object
    p3 = s3.upload_part_copy(Bucket=bucket, Key="copy-dst", UploadId=uid, PartNumber=3,
                             CopySource={"Bucket": bucket, "Key": "copy-src"},
                             CopySourceRange="bytes=100-1099")
    expected_parts = [source[:5 * MiB], source, source[100:1100]]
    for p, body in zip((p1, p2, p3), expected_parts):
        assert p["CopyPartResult"]["ETag"] == '"' + hashlib.md5(body).hexdigest() + '"'
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="copy-dst", UploadId=uid,
        MultipartUpload={"Parts": [
            {"PartNumber": n, "ETag": p["CopyPartResult"]["ETag"]} for n, p in enumerate((p1, p2, p3), start=1)
        ]},
    )
    assert done["ETag"] == multipart_etag(expected_parts)
    assert s3.get_object(Bucket=bucket, Key="copy-dst")["Body"].read() == b"".join(expected_parts)


def test_abort(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="aborted")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="aborted", UploadId=uid, PartNumber=1, Body=b"x" * 1000)
    assert s3.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId=uid)[
        "ResponseMetadata"]["HTTPStatusCode"] == 204
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=bucket, Key="aborted", UploadId=uid)
    assert code(exc) == "NoSuchUpload"
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="aborted", UploadId=uid, PartNumber=2, Body=b"y")
    assert code(exc) == "NoSuchUpload"
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="aborted", UploadId=uid,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]})
    assert code(exc) == "NoSuchUpload"
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="aborted")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def _upload(s3, bucket, key, bodies):
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    etags = [s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=b)["ETag"]
             for n, b in enumerate(bodies, start=1)]
    return uid, etags


def test_entity_too_small(s3, bucket):
    uid, etags = _upload(s3, bucket, "small", [b"a" * MiB, b"b" * MiB])
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="small", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)]})
    assert code(exc) == "EntityTooSmall"
    s3.abort_multipart_upload(Bucket=bucket, Key="small", UploadId=uid)


def test_invalid_part(s3, bucket):
    bodies = [b"a" * (5 * MiB), b"b" * (5 * MiB)]  # both large enough: only the order is wrong
    uid, etags = _upload(s3, bucket, "inv", bodies)
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="inv", UploadId=uid, MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": etags[0]},
            {"PartNumber": 2, "ETag": '"0123456789abcdef0123456789abcdef"'}]})
    assert code(exc) == "InvalidPart"
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="inv", UploadId=uid, MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": etags[0]},
            {"PartNumber": 3, "ETag": etags[1]}]})
    assert code(exc) == "InvalidPart"
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="inv", UploadId=uid, MultipartUpload={"Parts": [
            {"PartNumber": 2, "ETag": etags[1]},
            {"PartNumber": 1, "ETag": etags[0]}]})
    assert code(exc) == "InvalidPartOrder"
    # After the failures the upload is still usable.
    done = s3.complete_multipart_upload(Bucket=bucket, Key="inv", UploadId=uid, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": etags[0]}, {"PartNumber": 2, "ETag": etags[1]}]})
    assert done["ETag"] == multipart_etag(bodies)
    assert s3.get_object(Bucket=bucket, Key="inv")["ContentLength"] == 10 * MiB


def test_upload_to_missing_bucket(s3):
    with pytest.raises(ClientError) as exc:
        s3.create_multipart_upload(Bucket="compat-no-such-bucket-0000", Key="k")
    assert code(exc) == "NoSuchBucket"
