#!/usr/bin/env python3
"""Round trips through botocore itself for every operation of the EC2, ELBv2, STS and IAM models.

For each operation:
  input:  a full input (every member filled, lists of two, maps of two, nested structures) is
          serialised by botocore's own ec2/query serializer; Kumo decodes it into the generated
          type and hands it back as JSON; it must equal what was sent. awsQuery operations are
          also sent with every list empty (`Name=`).
  output: a full output is encoded by Kumo as XML; botocore's own response parser must read
          back the same values (and the request id).
And for each service, every modelled error (EC2: common codes) is encoded by Kumo and parsed by
botocore's error parser: code, message, request id, HTTP status and Sender/Receiver type.

Usage: python3 compat-tests/protocol/roundtrip.py [--bin PATH] [--service ec2] [--verbose]
Without --bin it builds and runs `cargo run -p kumo-ec2-api --example protocol_roundtrip`.
Exit status is non-zero when anything fails.
"""

import argparse
import base64
import datetime
import json
import os
import subprocess
import sys
import urllib.parse

import botocore
import botocore.parsers
import botocore.serialize
import botocore.session
from botocore.utils import parse_timestamp

PINNED = "1.43.11"
SERVICES = [("ec2", "ec2"), ("elbv2", "elbv2"), ("sts", "sts"), ("iam", "iam")]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# EC2 models no errors; these are codes every client meets, with the status AWS uses.
EC2_ERRORS = [
    ("InvalidInstanceID.NotFound", 400),
    ("InvalidParameterValue", 400),
    ("MissingParameter", 400),
    ("UnsupportedOperation", 400),
    ("InvalidAction", 400),
    ("IdempotentParameterMismatch", 400),
    ("DryRunOperation", 412),
    ("UnauthorizedOperation", 403),
    ("AuthFailure", 401),
    ("RequestLimitExceeded", 503),
    ("InternalError", 500),
]


class Gen:
    """Builds a value for a botocore shape: every member, two of everything."""

    def __init__(self, empty_lists=False):
        self.n = 0
        self.empty_lists = empty_lists

    def tick(self):
        self.n += 1
        return self.n

    def value(self, shape, stack=()):
        t = shape.type_name
        if t == "structure":
            out = {}
            for name, member in shape.members.items():
                if member.name in stack or len(stack) > 12:
                    continue  # recursive shapes: stop at the first repeat
                out[name] = self.value(member, stack + (shape.name,))
            return out
        if t == "list":
            return [] if self.empty_lists else [self.value(shape.member, stack) for _ in range(2)]
        if t == "map":
            keys = self.keys(shape.key)
            return {k: self.value(shape.value, stack) for k in keys}
        if t == "string":
            if shape.enum:
                return shape.enum[self.tick() % len(shape.enum)]
            return f"v{self.tick()} <&>\"' ü"
        if t in ("integer", "long"):
            lo = shape.metadata.get("min")
            hi = shape.metadata.get("max")
            v = 7 + self.tick() % 3 if t == "integer" else 1234567890123
            if lo is not None and v < lo:
                v = int(lo)
            if hi is not None and v > hi:
                v = int(hi)
            return v
        if t in ("float", "double"):
            return 1.5 + self.tick() % 4
        if t == "boolean":
            return self.tick() % 2 == 0
        if t == "timestamp":
            return datetime.datetime(2020, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.timezone.utc)
        if t == "blob":
            return b"\x00\x01blob\xff" + bytes([self.tick() % 256])
        raise ValueError(f"unhandled type {t}")

    def keys(self, shape):
        if shape.enum:
            return list(shape.enum[:2])
        return [f"key{self.tick()}", f"key{self.tick()} <&>"]


def to_json(shape, v):
    """Python value -> what the Rust side reads: timestamps as ISO 8601, blobs as base64."""
    t = shape.type_name
    if t == "structure":
        return {k: to_json(shape.members[k], x) for k, x in v.items()}
    if t == "list":
        return [to_json(shape.member, x) for x in v]
    if t == "map":
        return {k: to_json(shape.value, x) for k, x in v.items()}
    if t == "timestamp":
        return v.isoformat()
    if t == "blob":
        return base64.b64encode(v).decode()
    return v


def norm(shape, v):
    """A comparable form: timestamps as epoch milliseconds, blobs as bytes."""
    t = shape.type_name
    if t == "structure":
        return {k: norm(shape.members[k], x) for k, x in v.items()}
    if t == "list":
        return [norm(shape.member, x) for x in v]
    if t == "map":
        return {k: norm(shape.value, x) for k, x in v.items()}
    if t == "timestamp":
        if isinstance(v, str):
            v = parse_timestamp(v)
        return round(v.timestamp() * 1000)
    if t == "blob":
        return base64.b64decode(v) if isinstance(v, str) else bytes(v)
    if t in ("float", "double"):
        return float(v)
    return v


def first_difference(a, b, path="$"):
    if type(a) is not type(b):
        return f"{path}: {a!r} != {b!r}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{path}.{k}: present on one side only ({'sent' if k in a else 'received'})"
            d = first_difference(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    return None if a == b else f"{path}: {a!r} != {b!r}"


class Kumo:
    def __init__(self, binary):
        if binary:
            cmd = [binary]
        else:
            cmd = ["cargo", "run", "--quiet", "-p", "kumo-ec2-api", "--example", "protocol_roundtrip"]
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8"
        )

    def ask(self, req):
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("protocol_roundtrip exited")
        return json.loads(line)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def check_input(kumo, svc, model, op, gen):
    shape = op.input_shape
    params = gen.value(shape) if shape is not None else {}
    serializer = botocore.serialize.create_serializer(model.metadata["protocol"], include_validation=False)
    request = serializer.serialize_to_request(params, op)
    body = urllib.parse.urlencode(request["body"], doseq=True)
    reply = kumo.ask({"kind": "input", "service": svc, "op": op.name, "body": body})
    if not reply.get("ok"):
        return f"decode failed: {reply.get('why')}"
    if shape is None:
        return None
    return first_difference(norm(shape, params), norm(shape, reply["value"]))


def check_output(kumo, svc, model, op, gen):
    shape = op.output_shape
    value = gen.value(shape) if shape is not None else None
    request_id = f"req-{op.name}"
    reply = kumo.ask(
        {
            "kind": "output",
            "service": svc,
            "op": op.name,
            "value": to_json(shape, value) if shape is not None else None,
            "request_id": request_id,
        }
    )
    if not reply.get("ok"):
        return f"encode failed: {reply.get('why')}"
    parser = botocore.parsers.create_parser(model.metadata["protocol"])
    parsed = parser.parse({"body": reply["xml"].encode(), "headers": {}, "status_code": 200}, shape)
    meta = parsed.pop("ResponseMetadata", {})
    if meta.get("RequestId") != request_id:
        return f"request id not read back: {meta!r}"
    if shape is None:
        return None if not parsed else f"unexpected members {parsed!r}"
    return first_difference(norm(shape, value), norm(shape, parsed))


def check_errors(kumo, svc, model):
    cases = []
    if model.metadata["protocol"] == "ec2":
        cases = [(code, status, status < 500) for code, status in EC2_ERRORS]
    else:
        for name in model.shape_names:
            s = model.shape_for(name)
            if s.metadata.get("exception"):
                err = s.metadata.get("error", {})
                cases.append(
                    (err.get("code", name), err.get("httpStatusCode", 400), err.get("senderFault", False) or err.get("httpStatusCode", 400) < 500)
                )
    parser = botocore.parsers.create_parser(model.metadata["protocol"])
    failures = []
    for code, status, sender in cases:
        message = f"Message for {code} <&>"
        reply = kumo.ask({"kind": "error", "service": svc, "code": code, "message": message, "request_id": "rid-1"})
        if reply.get("status") != status and model.metadata["protocol"] != "ec2":
            failures.append(f"{code}: status {reply.get('status')} != modelled {status}")
            continue
        parsed = parser.parse({"body": reply["xml"].encode(), "headers": {}, "status_code": reply["status"]}, None)
        error = parsed.get("Error", {})
        if error.get("Code") != code or error.get("Message") != message:
            failures.append(f"{code}: parsed {error!r}")
        elif parsed.get("ResponseMetadata", {}).get("RequestId") != "rid-1":
            failures.append(f"{code}: request id {parsed.get('ResponseMetadata')!r}")
        elif model.metadata["protocol"] == "query" and error.get("Type") != ("Sender" if sender else "Receiver"):
            failures.append(f"{code}: type {error.get('Type')!r}")
    return len(cases), failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", help="path to a built protocol_roundtrip example")
    ap.add_argument("--service", action="append", help="only these services")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    if botocore.__version__ != PINNED:
        print(f"botocore {botocore.__version__} installed; the generated code is pinned to {PINNED}", file=sys.stderr)
        return 2
    session = botocore.session.get_session()
    kumo = Kumo(args.bin)
    failed = False
    try:
        for svc, name in SERVICES:
            if args.service and svc not in args.service:
                continue
            model = session.get_service_model(name)
            ops = model.operation_names
            passed = 0
            errors = []
            for op_name in ops:
                op = model.operation_model(op_name)
                gen = Gen()
                checks = [check_input(kumo, svc, model, op, gen), check_output(kumo, svc, model, op, gen)]
                if model.metadata["protocol"] == "query":
                    # awsQuery sends an empty list as `Name=`: it must decode as an empty list.
                    checks.append(check_input(kumo, svc, model, op, Gen(empty_lists=True)))
                problems = [p for p in checks if p]
                if problems:
                    errors.append(f"  {op_name}: {'; '.join(problems)}")
                else:
                    passed += 1
            n_err, err_failures = check_errors(kumo, svc, model)
            print(f"{svc}: {passed} of {len(ops)} operations pass; {n_err - len(err_failures)} of {n_err} error shapes pass")
            shown = errors if args.verbose else errors[:10]
            for e in shown + [f"  error {f}" for f in err_failures]:
                print(e)
            if len(shown) < len(errors):
                print(f"  … {len(errors) - len(shown)} more (--verbose)")
            failed |= bool(errors or err_failures)
    finally:
        kumo.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
