"""s3cmd against Kumo (path-style host, both transports)."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess

import pytest

import harness

MiB = 1024 * 1024


@pytest.fixture
def s3cmd(ep, home):
    exe = harness.require_tool("s3cmd")
    cfg = home / "s3cfg"
    lines = [
        "[default]",
        f"access_key = {ep.access_key}",
        f"secret_key = {ep.secret_key}",
        f"host_base = 127.0.0.1:{ep.port}",
        f"host_bucket = 127.0.0.1:{ep.port}",
        "bucket_location = us-east-1",
        f"use_https = {'True' if ep.transport == 'https' else 'False'}",
        "signature_v2 = False",
        "check_ssl_certificate = True",
        "check_ssl_hostname = True",
        "progress_meter = False",
    ]
    if ep.ca_bundle:
        lines.append(f"ca_certs_file = {ep.ca_bundle}")
    cfg.write_text("\n".join(lines) + "\n")

    def run(*args, check=True, timeout=300):
        cp = subprocess.run([exe, "-c", str(cfg), *args], capture_output=True, text=True, timeout=timeout,
                            env=harness.tool_env(home))
        if check and cp.returncode != 0:
            raise AssertionError(f"s3cmd {' '.join(args)} failed ({cp.returncode}):\n{cp.stdout}\n{cp.stderr}")
        return cp

    return run


def listing(stdout: str) -> dict[str, int]:
    """`s3cmd ls` object lines: `DATE TIME SIZE s3://bucket/key` -> {url: size}."""
    out = {}
    for line in stdout.splitlines():
        m = re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d\s+(\d+)\s+(s3://.+)$", line)
        if m:
            out[m.group(2)] = int(m.group(1))
    return out


def test_s3cmd_round_trip(s3cmd, s3, tmp_path):
    name = harness.unique_bucket("s3cmd")
    s3cmd("mb", f"s3://{name}")
    try:
        s3.head_bucket(Bucket=name)
        assert f"s3://{name}" in s3cmd("ls").stdout

        small = tmp_path / "small file.txt"
        small.write_bytes(b"hello from s3cmd\n")
        big = tmp_path / "big.bin"
        big_data = os.urandom(12 * MiB)
        big.write_bytes(big_data)
        s3cmd("put", str(small), f"s3://{name}/docs/small file.txt")
        s3cmd("put", "--multipart-chunk-size-mb=5", str(big), f"s3://{name}/big.bin")
        assert s3.get_object(Bucket=name, Key="docs/small file.txt")["Body"].read() == b"hello from s3cmd\n"
        assert s3.head_object(Bucket=name, Key="big.bin")["ETag"].endswith('-3"')

        objs = listing(s3cmd("ls", "--recursive", f"s3://{name}").stdout)
        assert objs == {f"s3://{name}/big.bin": len(big_data), f"s3://{name}/docs/small file.txt": 17}

        out = tmp_path / "back.bin"
        s3cmd("get", f"s3://{name}/big.bin", str(out))
        assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(big_data).digest()

        # sync up, then down into an empty directory.
        up = tmp_path / "tree"
        (up / "sub").mkdir(parents=True)
        (up / "one.txt").write_bytes(b"1")
        (up / "sub" / "two+plus.txt").write_bytes(b"22")
        s3cmd("sync", f"{up}/", f"s3://{name}/tree/")
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket=name, Prefix="tree/")["Contents"]}
        assert keys == {"tree/one.txt", "tree/sub/two+plus.txt"}
        down = tmp_path / "down"
        down.mkdir()
        s3cmd("sync", f"s3://{name}/tree/", f"{down}/")
        assert (down / "one.txt").read_bytes() == b"1"
        assert (down / "sub" / "two+plus.txt").read_bytes() == b"22"

        s3cmd("del", f"s3://{name}/big.bin")
        assert f"s3://{name}/big.bin" not in listing(s3cmd("ls", "--recursive", f"s3://{name}").stdout)
        s3cmd("del", "--recursive", "--force", f"s3://{name}/")
        assert s3.list_objects_v2(Bucket=name)["KeyCount"] == 0
        s3cmd("rb", f"s3://{name}")
        assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    finally:
        harness.empty_and_delete_bucket(s3, name)
