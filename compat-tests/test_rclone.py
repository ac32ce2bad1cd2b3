"""rclone (S3 backend, provider Other, path style) against Kumo, on both transports."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pytest

import harness

MiB = 1024 * 1024


@pytest.fixture
def rclone(ep, home):
    exe = harness.require_tool("rclone")
    cfg = home / "rclone.conf"
    cfg.write_text(
        "[kumo]\n"
        "type = s3\n"
        "provider = Other\n"
        "env_auth = false\n"
        f"access_key_id = {ep.access_key}\n"
        f"secret_access_key = {ep.secret_key}\n"
        "region = us-east-1\n"
        f"endpoint = {ep.url}\n"
        "force_path_style = true\n"
    )

    def run(*args, check=True, timeout=300):
        cmd = [exe, "--config", str(cfg), "--retries", "1", "--low-level-retries", "1", "--contimeout", "5s"]
        if ep.ca_bundle:
            cmd += ["--ca-cert", str(ep.ca_bundle)]
        cp = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout,
                            env=harness.tool_env(home))
        if check and cp.returncode != 0:
            raise AssertionError(f"rclone {' '.join(args)} failed ({cp.returncode}):\n{cp.stdout}\n{cp.stderr}")
        return cp

    return run


def test_rclone_round_trip(rclone, s3, tmp_path):
    name = harness.unique_bucket("rclone")
    rclone("mkdir", f"kumo:{name}")
    try:
        s3.head_bucket(Bucket=name)
        src = tmp_path / "file.bin"
        data = os.urandom(3 * MiB + 5)
        src.write_bytes(data)
        rclone("copyto", str(src), f"kumo:{name}/dir/file.bin")
        assert s3.get_object(Bucket=name, Key="dir/file.bin")["Body"].read() == data
        # Multipart through rclone (chunks of 5 MiB, cut-off below the file size).
        big = tmp_path / "big.bin"
        big_data = os.urandom(11 * MiB)
        big.write_bytes(big_data)
        rclone("copyto", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", str(big), f"kumo:{name}/big.bin")
        assert s3.head_object(Bucket=name, Key="big.bin")["ContentLength"] == len(big_data)

        entries = json.loads(rclone("lsjson", "-R", "--files-only", f"kumo:{name}").stdout)
        assert {e["Path"]: e["Size"] for e in entries} == {"dir/file.bin": len(data), "big.bin": len(big_data)}

        back = tmp_path / "back.bin"
        rclone("copyto", f"kumo:{name}/big.bin", str(back))
        assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(big_data).digest()

        # sync: the remote mirrors the local tree, deletions included; `check` agrees.
        tree = tmp_path / "tree"
        (tree / "sub").mkdir(parents=True)
        (tree / "a.txt").write_bytes(b"a")
        (tree / "sub" / "b c+d.txt").write_bytes(b"bcd")
        (tree / "gone.txt").write_bytes(b"soon deleted")
        rclone("sync", str(tree), f"kumo:{name}/tree")
        (tree / "gone.txt").unlink()
        (tree / "a.txt").write_bytes(b"a changed")
        rclone("sync", str(tree), f"kumo:{name}/tree")
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket=name, Prefix="tree/")["Contents"]}
        assert keys == {"tree/a.txt", "tree/sub/b c+d.txt"}
        assert s3.get_object(Bucket=name, Key="tree/a.txt")["Body"].read() == b"a changed"
        rclone("check", str(tree), f"kumo:{name}/tree")

        rclone("deletefile", f"kumo:{name}/dir/file.bin")
        assert "dir/file.bin" not in {o["Key"] for o in s3.list_objects_v2(Bucket=name)["Contents"]}
        rclone("purge", f"kumo:{name}")
        assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    finally:
        harness.empty_and_delete_bucket(s3, name)


def test_rclone_rmdir_refuses_non_empty(rclone, s3, bucket):
    s3.put_object(Bucket=bucket, Key="keep", Body=b"x")
    cp = rclone("rmdir", f"kumo:{bucket}", check=False)
    assert cp.returncode != 0
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == b"x"
