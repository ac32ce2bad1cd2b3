"""The `kumo serve` process itself: files it writes, its TLS certificate, graceful shutdown."""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import ssl
import stat
import time
import urllib.parse
import warnings

import pytest
import requests
from botocore.exceptions import ClientError

import harness
from harness import KumoServer

MiB = 1024 * 1024


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_private_files(kumo_server):
    assert mode(kumo_server.credentials_file) == 0o600
    # Traversable (QEMU, running as its own user, reaches DATA_DIR/compute) but not listable;
    # the state database and objects stay owner-only.
    assert mode(kumo_server.data_dir) == 0o711
    assert mode(kumo_server.data_dir / "state.redb") == 0o600
    assert mode(kumo_server.data_dir / "objects") == 0o700
    key_pem = kumo_server.data_dir / "tls" / "key.pem"
    assert mode(key_pem) == 0o600
    text = kumo_server.credentials_file.read_text()
    assert "[default]" in text and "aws_access_key_id" in text and "aws_secret_access_key" in text
    key, secret = kumo_server.credentials()
    assert key and len(secret) >= 30


def test_https_certificate(kumo_server):
    cert = kumo_server.ca_bundle
    assert cert.is_file() and "BEGIN CERTIFICATE" in cert.read_text()
    r = requests.get(kumo_server.https_url + harness.HEALTH_PATH, verify=str(cert), timeout=10)
    assert r.status_code == 200
    # By name too, and for a virtual-hosted bucket name (the conftest resolves *.localhost).
    for host in ("localhost", "some-bucket.s3.localhost"):
        r = requests.get(f"https://{host}:{kumo_server.https_port}{harness.HEALTH_PATH}", verify=str(cert),
                         timeout=10)
        assert r.status_code == 200, host
    # The certificate is not trusted without the bundle: it really is the server's own.
    ctx = ssl.create_default_context()
    with pytest.raises(ssl.SSLError):
        conn = http.client.HTTPSConnection("127.0.0.1", kumo_server.https_port, context=ctx, timeout=10)
        try:
            conn.request("GET", harness.HEALTH_PATH)
        finally:
            conn.close()
    # HTTP/2 via ALPN is offered (h2 or http/1.1 both fine for clients; check the handshake works).
    ctx = ssl.create_default_context(cafile=str(cert))
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", kumo_server.https_port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.selected_alpn_protocol() in ("h2", "http/1.1")


def _slow_presigned_put(url: str, body: bytes, on_halfway, chunk: int = 256 * 1024, pause: float = 0.08):
    """Sends a presigned PUT slowly over a raw connection; calls on_halfway() mid-body.
    Returns (status, response body) or (None, error text)."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    try:
        conn.putrequest("PUT", u.path + "?" + u.query, skip_accept_encoding=True)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        half = len(body) // 2
        sent = 0
        while sent < len(body):
            conn.send(body[sent:sent + chunk])
            sent += chunk
            if sent >= half and on_halfway is not None:
                on_halfway()
                on_halfway = None
            time.sleep(pause)
        resp = conn.getresponse()
        return resp.status, resp.read()
    except OSError as err:
        return None, repr(err)
    finally:
        conn.close()


def test_sigterm_drains_inflight_upload(kumo_bin, tmp_path):
    server = KumoServer(kumo_bin, tmp_path / "data", tmp_path / "kumo-sigterm.log")
    server.start()
    try:
        ep = server.endpoint("http")
        s3 = harness.client(ep, signature_version="s3v4")
        bucket = harness.unique_bucket("drain")
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="before", Body=b"written before shutdown")
        body = os.urandom(4 * MiB)
        url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "slow"}, ExpiresIn=300)
        signalled = []

        def sigterm():
            server.proc.send_signal(15)
            signalled.append(time.monotonic())

        status, answer = _slow_presigned_put(url, body, sigterm)
        assert signalled, "SIGTERM was never sent"
        code = server.stop(timeout=45)  # the signal was sent already; this waits for the exit
        assert code == 0, f"kumo exited {code} after SIGTERM"

        server.start()
        s3 = harness.client(server.endpoint("http"))
        assert s3.get_object(Bucket=bucket, Key="before")["Body"].read() == b"written before shutdown"
        try:
            got = s3.get_object(Bucket=bucket, Key="slow")["Body"].read()
        except ClientError as err:
            assert err.response["Error"]["Code"] == "NoSuchKey"
            got = None
        if status == 200:
            assert got is not None and hashlib.sha256(got).digest() == hashlib.sha256(body).digest(), \
                "upload acknowledged during shutdown but not stored whole"
        else:
            # Acceptable, but the drain did not let the request finish: say so.
            warnings.warn(f"in-flight upload did not complete across SIGTERM: {status} {answer!r}")
            assert got is None or got == body, "partial object visible after restart"
        assert server.stop() == 0
    finally:
        server.kill9()


def test_sigterm_idle_server_exits_zero_and_restarts(kumo_bin, tmp_path):
    server = KumoServer(kumo_bin, tmp_path / "data", tmp_path / "kumo-idle.log")
    server.start()
    try:
        key1 = server.credentials()
        t0 = time.monotonic()
        assert server.stop() == 0
        assert time.monotonic() - t0 < 10, "an idle server should stop promptly"
        server.start()
        assert server.credentials() == key1, "the administrator key must survive a restart"
        sts = harness.client(server.endpoint("https"), "sts")
        assert sts.get_caller_identity()["Arn"].endswith(":root")
        assert server.stop() == 0
    finally:
        server.kill9()


def test_logs_carry_no_secrets(kumo_server):
    """Presigned URLs carry credentials in the query string; secrets must never be logged."""
    ep = kumo_server.endpoint("http")
    s3 = harness.client(ep, signature_version="s3v4")
    bucket = harness.unique_bucket("logs")
    s3.create_bucket(Bucket=bucket)
    try:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x")
        url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=60)
        assert requests.get(url, timeout=10).status_code == 200
        v2 = harness.client(ep, signature_version="s3")
        url2 = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=60)
        assert requests.get(url2, timeout=10).status_code == 200
        signature = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["X-Amz-Signature"][0]
        signature2 = urllib.parse.parse_qs(urllib.parse.urlsplit(url2).query)["Signature"][0]
    finally:
        harness.empty_and_delete_bucket(s3, bucket)
    log = kumo_server.log_path.read_text(errors="replace")
    assert "/k" in log or bucket in log, "the access log should record the requests"
    assert ep.secret_key not in log
    assert signature not in log and signature2 not in log
    assert "X-Amz-Signature" not in log and "X-Amz-Credential" not in log
