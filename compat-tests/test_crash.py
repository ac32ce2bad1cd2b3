"""Durability acceptance: every acknowledged write survives `kill -9`.

A separate Kumo (own data directory and ports) takes concurrent PUTs of random sizes and a few
multipart uploads over both transports; after ~2 s of load it is killed with SIGKILL, restarted
on the same data directory, and then:
- every PUT / CompleteMultipartUpload that returned success reads back with the right SHA-256;
- every object the listing shows is one the test tried to write, whole: right size, right bytes
  (an interrupted write may be absent, never partial or mixed).

With `KUMO_OBJECTS_BACKEND=rados` the data live in a RADOS namespace of the server's own, and
the test also checks the start-up collector (grace period 0 here): a half-written blob and an
unreferenced complete one (planted, besides whatever the kill interrupted) are gone after the
restart, no header-less head or headless stripe remains, and the pool holds exactly one head
per blob the metadata references.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time


import harness
from harness import KumoServer

MiB = 1024 * 1024
PUT_THREADS = 8
MULTIPART_THREADS = 2
MIN_LOAD_S = 2.0
MAX_LOAD_S = 20.0
TEST_DEADLINE_S = 240.0


class Ledger:
    """What was attempted and what was acknowledged, key -> (sha256 hex, size)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.attempted: dict[str, tuple[str, int]] = {}
        self.acked: dict[str, tuple[str, int]] = {}
        self.errors: list[str] = []
        self.multipart_acked = 0

    def attempt(self, key, body):
        with self.lock:
            self.attempted[key] = (hashlib.sha256(body).hexdigest(), len(body))

    def ack(self, key, multipart=False):
        with self.lock:
            self.acked[key] = self.attempted[key]
            if multipart:
                self.multipart_acked += 1

    def error(self, msg):
        with self.lock:
            self.errors.append(msg)


def _body(key: str, pool: bytes, rnd: random.Random, size: int) -> bytes:
    prefix = (key + "|").encode()
    off = rnd.randrange(0, len(pool) - size)
    return prefix + pool[off:off + size - len(prefix)]


def _putter(ep, bucket, idx, pool, ledger: Ledger, stop: threading.Event):
    cli = harness.client(ep, read_timeout=30)
    rnd = random.Random(1000 + idx)
    for n in range(100_000):
        if stop.is_set():
            return
        key = f"put/{idx}/{n:05d}"
        body = _body(key, pool, rnd, rnd.randint(1024, 2 * MiB))
        ledger.attempt(key, body)
        try:
            cli.put_object(Bucket=bucket, Key=key, Body=body)
        except Exception as err:  # the kill: connection refused/reset
            ledger.error(f"{key}: {type(err).__name__}")
            if stop.is_set():
                return
            time.sleep(0.05)
            continue
        ledger.ack(key)


def _multiparter(ep, bucket, idx, pool, ledger: Ledger, stop: threading.Event):
    cli = harness.client(ep, read_timeout=30)
    rnd = random.Random(2000 + idx)
    for n in range(10_000):
        if stop.is_set():
            return
        key = f"mpu/{idx}/{n:04d}"
        parts = [_body(f"{key}#1", pool, rnd, 5 * MiB), _body(f"{key}#2", pool, rnd, 5 * MiB),
                 _body(f"{key}#3", pool, rnd, rnd.randint(1, MiB))]
        try:
            uid = cli.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
            etags = [cli.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=i, Body=p)["ETag"]
                     for i, p in enumerate(parts, start=1)]
            ledger.attempt(key, b"".join(parts))
            cli.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={
                "Parts": [{"PartNumber": i, "ETag": e} for i, e in enumerate(etags, start=1)]})
        except Exception as err:
            ledger.error(f"{key}: {type(err).__name__}")
            if stop.is_set():
                return
            time.sleep(0.05)
            continue
        ledger.ack(key, multipart=True)


def test_kill9_keeps_acknowledged_writes(kumo_bin, tmp_path):
    started = time.monotonic()
    server = KumoServer(kumo_bin, tmp_path / "data", tmp_path / "kumo-crash.log", pending_grace_secs=0)
    on_rados = server.objects_backend == "rados"
    server.start()
    try:
        eps = [server.endpoint("http"), server.endpoint("https")]
        admin = harness.client(eps[0])
        bucket = harness.unique_bucket("crash")
        admin.create_bucket(Bucket=bucket)
        admin.put_object(Bucket=bucket, Key="before-load", Body=b"written before the load")
        ledger = Ledger()
        ledger.attempt("before-load", b"written before the load")
        ledger.ack("before-load")
        # Acknowledged overwrites and deletes must survive too.
        admin.put_object(Bucket=bucket, Key="overwritten", Body=b"old version")
        admin.put_object(Bucket=bucket, Key="overwritten", Body=b"new version, acknowledged")
        ledger.attempt("overwritten", b"new version, acknowledged")
        ledger.ack("overwritten")
        deleted = [f"deleted/{i}" for i in range(5)]
        for key in deleted:
            admin.put_object(Bucket=bucket, Key=key, Body=b"to be deleted")
        admin.delete_object(Bucket=bucket, Key=deleted[0])
        admin.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in deleted[1:]]})

        pool = os.urandom(8 * MiB)
        stop = threading.Event()
        threads = [threading.Thread(target=_putter, args=(eps[i % 2], bucket, i, pool, ledger, stop), daemon=True)
                   for i in range(PUT_THREADS)]
        threads += [threading.Thread(target=_multiparter, args=(eps[i % 2], bucket, i, pool, ledger, stop),
                                     daemon=True) for i in range(MULTIPART_THREADS)]
        for t in threads:
            t.start()
        load_start = time.monotonic()
        # At least MIN_LOAD_S of load, and (bounded) until a multipart upload has completed.
        while True:
            elapsed = time.monotonic() - load_start
            with ledger.lock:
                mp = ledger.multipart_acked
            if elapsed >= MAX_LOAD_S or (elapsed >= MIN_LOAD_S and mp >= 1):
                break
            time.sleep(0.05)
        server.kill9()  # SIGKILL, mid-stream
        stop.set()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "client threads hung after the kill"

        with ledger.lock:
            acked = dict(ledger.acked)
            attempted = dict(ledger.attempted)
            mp_acked = ledger.multipart_acked
        assert len(acked) > 10, f"too little load before the kill: {len(acked)} acknowledged writes"
        print(f"crash test: {len(acked)} acknowledged writes ({mp_acked} multipart), "
              f"{len(attempted) - len(acked)} in flight, {len(ledger.errors)} client errors")

        if on_rados:
            planted = _plant_rados_garbage(server.rados_namespace)
        server.start()  # same data directory, fresh ports
        cli = harness.client(server.endpoint("http"))

        # Every acknowledged write is there, whole.
        bad = []
        for key, (sha, size) in sorted(acked.items()):
            try:
                body = cli.get_object(Bucket=bucket, Key=key)["Body"].read()
            except Exception as err:
                bad.append(f"{key}: acknowledged but unreadable after kill -9: {err}")
                continue
            if len(body) != size or hashlib.sha256(body).hexdigest() != sha:
                bad.append(f"{key}: acknowledged {size} bytes, read back {len(body)} bytes with a different hash")
            assert time.monotonic() - started < TEST_DEADLINE_S, "verification too slow"
        assert not bad, "\n".join(bad[:20])

        # Nothing listed is partial, foreign or mixed.
        listed = {}
        for page in cli.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for o in page.get("Contents", []):
                listed[o["Key"]] = o["Size"]
        assert set(acked) <= set(listed), f"acknowledged but not listed: {sorted(set(acked) - set(listed))[:10]}"
        resurrected = [k for k in deleted if k in listed]
        assert not resurrected, f"acknowledged deletes undone by kill -9: {resurrected}"
        for key, size in sorted(listed.items()):
            assert key in attempted, f"listed object {key!r} was never written"
            sha, want = attempted[key]
            assert size == want, f"{key}: listed size {size}, written {want}"
            if key not in acked:  # in flight at the kill: may exist, but only whole
                body = cli.get_object(Bucket=bucket, Key=key)["Body"].read()
                assert len(body) == want and hashlib.sha256(body).hexdigest() == sha, f"{key}: partial object"
        if on_rados:
            _check_rados_collected(server.rados_namespace, cli, bucket, listed, planted)
        # The server is healthy after recovery: it takes new writes.
        cli.put_object(Bucket=bucket, Key="after-restart", Body=b"ok")
        assert cli.get_object(Bucket=bucket, Key="after-restart")["Body"].read() == b"ok"
        code = server.stop()
        assert code == 0, f"kumo exited {code} on SIGTERM after recovery"
    finally:
        server.kill9()


# --- RADOS: what the start-up collector leaves ------------------------------------------------
PLANTED_PENDING = "kumotestHalfWrittenBlob"
PLANTED_ORPHAN = "kumotestUnreferencedBlob"


def _plant_rados_garbage(namespace: str) -> list[str]:
    """Counts what the kill left and plants two more cases: a head claimed but never given its
    header (a put interrupted mid-stripes) and a complete blob no metadata references (a put
    interrupted between its header and the metadata commit)."""
    before = harness.rados_objects(namespace)
    pending = [n for n, size in before.items() if size == 0]
    print(f"crash test (rados): {len(before)} RADOS objects after the kill, "
          f"{len(pending)} half-written heads")
    harness.rados(namespace, "create", PLANTED_PENDING)
    for n in range(2):
        harness.rados(namespace, "put", f"{PLANTED_PENDING}.{n}", "-", input=b"x" * 1000)
    harness.rados(namespace, "put", PLANTED_ORPHAN, "-", input=b"kumo-blob 1 5 4194304\n")
    harness.rados(namespace, "put", f"{PLANTED_ORPHAN}.0", "-", input=b"hello")
    return [PLANTED_PENDING, f"{PLANTED_PENDING}.0", f"{PLANTED_PENDING}.1",
            PLANTED_ORPHAN, f"{PLANTED_ORPHAN}.0"]


def _check_rados_collected(namespace: str, cli, bucket: str, listed: dict, planted: list[str]) -> None:
    after = harness.rados_objects(namespace)
    left = [n for n in planted if n in after]
    assert not left, f"the collector left planted garbage: {left}"
    heads = {n for n, size in after.items() if size is not None}
    pending = sorted(n for n in heads if after[n] == 0)
    assert not pending, f"half-written heads survived the start-up collector: {pending[:10]}"
    headless = sorted(n for n in after if n not in heads and n.split(".", 1)[0] not in heads)
    assert not headless, f"stripes without a head: {headless[:10]}"
    # One blob per put object, one per part of a completed multipart object, one per part of
    # an upload still open (the kill may interrupt one between parts).
    want = sum(3 if key.startswith("mpu/") else 1 for key in listed)
    for up in cli.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        parts = cli.list_parts(Bucket=bucket, Key=up["Key"], UploadId=up["UploadId"]).get("Parts", [])
        want += len(parts)
    assert len(heads) == want, f"{len(heads)} blob heads in RADOS, {want} referenced by the metadata"
    print(f"crash test (rados): {len(heads)} blobs, {len(after) - len(heads)} stripes after the collector")
