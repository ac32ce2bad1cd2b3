#!/usr/bin/env python3
"""Launch benchmark: time from `RunInstances` to each guest's first console line, for one
instance alone and then for eight launched by one call, in the same run; prints the ratio
(slowest of eight / single).

Why the first console line: it is the earliest moment the guest itself proves it runs
(`KUMO-INIT` from the tiny image's init), independent of network and metadata timing.

    cargo build --release -p kumo
    python3 compat-tests/bench/launch8.py [--kumo target/release/kumo] [--count 8] [--type t2.nano]

Starts its own `kumo serve` (temporary data directory, free ports on 127.0.0.1) as root with
libvirt available, terminates everything it launched and removes its VPC namespaces.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import harness  # noqa: E402
from ec2_compute import require_compute  # noqa: E402

FIRST_LINE_TIMEOUT_S = 600.0


def first_console_line(ec2, iid: str, t0: float, out: dict, lock: threading.Lock) -> None:
    deadline = time.monotonic() + FIRST_LINE_TIMEOUT_S
    while time.monotonic() < deadline:
        text = ec2.get_console_output(InstanceId=iid, Latest=True).get("Output") or ""
        if text.strip():
            with lock:
                out[iid] = time.monotonic() - t0
            return
        time.sleep(0.25)


def launch(ep, ami: str, count: int, itype: str) -> dict[str, float]:
    ec2 = harness.client(ep, "ec2")
    t0 = time.monotonic()
    r = ec2.run_instances(ImageId=ami, InstanceType=itype, MinCount=count, MaxCount=count)
    ids = [i["InstanceId"] for i in r["Instances"]]
    times: dict[str, float] = {}
    lock = threading.Lock()
    threads = [
        threading.Thread(target=first_console_line, args=(harness.client(ep, "ec2"), iid, t0, times, lock))
        for iid in ids
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ec2.terminate_instances(InstanceIds=ids)
    ec2.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig={"Delay": 2, "MaxAttempts": 150})
    missing = set(ids) - set(times)
    if missing:
        raise SystemExit(f"no console line within {FIRST_LINE_TIMEOUT_S}s from {sorted(missing)}")
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kumo", default=os.environ.get("KUMO_BIN", "target/release/kumo"))
    ap.add_argument("--count", type=int, default=8)
    ap.add_argument("--type", default="t2.nano", help="1 vCPU: 8 fit a 2-core host at the default 4x CPU overcommit")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kumo-bench-launch-"))
    os.chmod(work, 0o711)  # QEMU traverses to the disks
    server = harness.KumoServer(str(Path(args.kumo).resolve()), work / "data", work / "kumo.log")
    server.start()
    try:
        ep = server.endpoint("http")
        ami = require_compute(harness.client(ep, "ec2"))
        one = launch(ep, ami, 1, args.type)
        single = next(iter(one.values()))
        print(f"1 instance:  {single:6.2f} s to the first console line")
        many = launch(ep, ami, args.count, args.type)
        vals = sorted(many.values())
        print(
            f"{args.count} instances: first {vals[0]:6.2f} s, median {statistics.median(vals):6.2f} s, "
            f"slowest {vals[-1]:6.2f} s"
        )
        print(f"ratio (slowest of {args.count} / single): {vals[-1] / single:.2f}")
        print(f"cpus on this host: {os.cpu_count()}")
    finally:
        try:
            harness.terminate_all_instances(server.endpoint("http"), timeout=300)
        except Exception:  # noqa: BLE001 - best-effort cleanup
            pass
        server.stop()
        harness.remove_vpc_namespaces(work / "data")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
