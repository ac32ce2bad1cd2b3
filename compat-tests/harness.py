"""Helpers shared by the compat tests: spawning `kumo`, building clients, running CLIs.

Why a module and not only fixtures: the crash and shutdown tests start their own servers
(own data directory and ports) and need the same start/stop/health logic as the session server.

Every wait here is bounded in time; every server listens on 127.0.0.1 only, on ports the kernel
picked as free.
"""

from __future__ import annotations

import configparser
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import botocore.config
import requests

REGION = "us-east-1"
HEALTH_PATH = "/_kumo/health"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 45.0

# Every server started in this process, so that a failing test can show their logs.
SERVERS: list["KumoServer"] = []


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, lines: int = 80) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as err:
        return f"(cannot read {path}: {err})"
    return "\n".join(text.splitlines()[-lines:])


# --- storage backends from the environment ----------------------------------------------------
# `KUMO_OBJECTS_BACKEND=rados` (S3 data in RADOS) and `KUMO_BLOCKS_BACKEND=rbd` (volumes in RBD)
# make every server this module starts use the Ceph cluster of `KUMO_CEPH_CONF` (what
# `drivers/ceph/setup-ceph.sh` prints; `cargo xtask test` sets all three for its Ceph tier).
# Each server gets a RADOS namespace of its own, so its objects can be counted apart.
OBJECTS_BACKEND = os.environ.get("KUMO_OBJECTS_BACKEND", "local")
BLOCKS_BACKEND = os.environ.get("KUMO_BLOCKS_BACKEND", "local")


def ceph_conf() -> str | None:
    """The test cluster's ceph.conf, when one is named."""
    return os.environ.get("KUMO_CEPH_CONF") or None


def object_pool() -> str:
    return os.environ.get("KUMO_CEPH_OBJECT_POOL", "kumo-objects")


def block_pool() -> str:
    return os.environ.get("KUMO_CEPH_BLOCK_POOL", "kumo-blocks")


def storage_config(objects: str, blocks: str, namespace: str, pending_grace_secs: int | None = None,
                   block_pool_name: str | None = None) -> str:
    """The `[storage.*]` TOML for these backends (empty for local ones)."""
    for what, value, allowed in (("KUMO_OBJECTS_BACKEND", objects, ("local", "rados")),
                                 ("KUMO_BLOCKS_BACKEND", blocks, ("local", "rbd"))):
        if value not in allowed:
            raise RuntimeError(f"{what}={value!r}: expected one of {allowed}")
    if objects == "local" and blocks == "local":
        return ""
    conf = ceph_conf()
    if not conf or not Path(conf).is_file():
        raise RuntimeError(f"a Ceph backend was asked for but KUMO_CEPH_CONF={conf!r} names no file "
                           "(start a cluster with drivers/ceph/setup-ceph.sh and source its env)")
    text = ""
    if objects == "rados":
        text += (f'[storage.objects]\nbackend = "rados"\npool = "{object_pool()}"\n'
                 f'namespace = "{namespace}"\nceph_conf = "{conf}"\n')
        if pending_grace_secs is not None:
            text += f"pending_grace_secs = {int(pending_grace_secs)}\n"
    if blocks == "rbd":
        # No namespace: libvirt 9 cannot attach RBD images inside one (see kumo-config).
        text += f'[storage.blocks]\nbackend = "rbd"\npool = "{block_pool_name or block_pool()}"\nceph_conf = "{conf}"\n'
    return text


def rados(namespace: str, *args: str, timeout: float = 60, input: bytes | None = None) -> str:
    """Runs the `rados` CLI on `namespace` of the object pool; returns its stdout."""
    cp = subprocess.run(["rados", "-c", ceph_conf(), "-p", object_pool(), "-N", namespace, *args],
                        capture_output=True, timeout=timeout, input=input)
    if cp.returncode != 0:
        raise AssertionError(f"rados {' '.join(args)} failed ({cp.returncode}): {cp.stderr.decode(errors='replace')}")
    return cp.stdout.decode(errors="replace")


def rados_objects(namespace: str) -> dict[str, int | None]:
    """Every RADOS object of `namespace` in the object pool: blob heads (names without `.`)
    with their size, stripes (`HEAD.N`) with None. Stats run 8 at a time."""
    from concurrent.futures import ThreadPoolExecutor

    names = rados(namespace, "ls").split()
    heads = [n for n in names if "." not in n]

    def size(name: str) -> int:
        return int(rados(namespace, "stat", name).rsplit("size", 1)[1].strip())

    with ThreadPoolExecutor(8) as pool:
        sizes = dict(zip(heads, pool.map(size, heads)))
    return {n: sizes.get(n) for n in names}


class KumoServer:
    """One `kumo serve` process on its own data directory and ports.

    Storage backends follow `KUMO_OBJECTS_BACKEND` / `KUMO_BLOCKS_BACKEND` unless given; with a
    Ceph backend the server reads a config file written beside its log."""

    def __init__(self, binary: str, data_dir: Path, log_path: Path, extra_args: tuple[str, ...] = (),
                 objects: str | None = None, blocks: str | None = None,
                 pending_grace_secs: int | None = None, block_pool: str | None = None):
        self.binary = binary
        self.extra_args = tuple(extra_args)
        self.data_dir = Path(data_dir)
        self.log_path = Path(log_path)
        self.objects_backend = objects or OBJECTS_BACKEND
        self.blocks_backend = blocks or BLOCKS_BACKEND
        self.rados_namespace = f"kumo-{uuid.uuid4().hex[:12]}"
        config = storage_config(self.objects_backend, self.blocks_backend, self.rados_namespace,
                                pending_grace_secs, block_pool)
        self.config_path: Path | None = None
        if config:
            self.config_path = self.log_path.with_suffix(".toml")
            self.config_path.write_text(config)
        self.proc: subprocess.Popen | None = None
        self.http_port = 0
        self.https_port = 0
        self._log = None
        SERVERS.append(self)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Starts the server (fresh ports each time) and waits for a healthy answer."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.http_port = free_port()
        self.https_port = free_port()
        while self.https_port == self.http_port:
            self.https_port = free_port()
        self._log = open(self.log_path, "ab")
        self._log.write(f"\n===== kumo serve start {time.strftime('%H:%M:%S')} =====\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(
            [
                self.binary,
                "serve",
                "--data-dir",
                str(self.data_dir),
                "--listen",
                f"127.0.0.1:{self.http_port}",
                "--tls-listen",
                f"127.0.0.1:{self.https_port}",
                *(["--config", str(self.config_path)] if self.config_path else []),
                *self.extra_args,
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                raise RuntimeError(
                    f"kumo serve exited with {code} during start-up; log:\n{tail(self.log_path)}"
                )
            try:
                r = requests.get(self.http_url + HEALTH_PATH, timeout=1)
                if r.status_code == 200:
                    return
                last = f"HTTP {r.status_code}"
            except requests.RequestException as err:
                last = repr(err)
            time.sleep(0.1)
        self.kill9()
        raise RuntimeError(
            f"kumo serve not healthy after {timeout}s ({last}); log:\n{tail(self.log_path)}"
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT_S) -> int:
        """Signals the server and waits for it to exit; returns the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise AssertionError(f"kumo did not exit within {timeout}s of signal {sig}")
        finally:
            self._close_log()
        return code

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # SIGKILL
            self.proc.wait(timeout=10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- what clients need -----------------------------------------------------------------
    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def ca_bundle(self) -> Path:
        return self.data_dir / "tls" / "cert.pem"

    @property
    def credentials_file(self) -> Path:
        return self.data_dir / "credentials"

    def credentials(self) -> tuple[str, str]:
        return read_credentials(self.credentials_file)

    def endpoint(self, transport: str) -> "Endpoint":
        key, secret = self.credentials()
        if transport == "http":
            return Endpoint("http", self.http_url, self.http_port, key, secret, None, self.credentials_file)
        return Endpoint("https", self.https_url, self.https_port, key, secret, self.ca_bundle, self.credentials_file)

    def admin(self, *args: str, timeout: float = 30, check: bool = True) -> subprocess.CompletedProcess:
        """Runs `kumo admin --data-dir DIR ARGS…`."""
        cp = subprocess.run(
            [self.binary, "admin", "--data-dir", str(self.data_dir), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and cp.returncode != 0:
            raise AssertionError(f"kumo admin {' '.join(args)} failed ({cp.returncode}):\n{cp.stdout}\n{cp.stderr}")
        return cp


def read_credentials(path: Path, profile: str = "default") -> tuple[str, str]:
    cp = configparser.ConfigParser()
    assert cp.read(path), f"cannot read {path}"
    return cp[profile]["aws_access_key_id"], cp[profile]["aws_secret_access_key"]


def parse_secret_block(text: str) -> dict[str, str]:
    """`key = value` lines as printed by `kumo admin account-create` / `key-create`."""
    out = {}
    for line in text.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


@dataclass
class Endpoint:
    """One transport of one server, plus the credentials to use on it."""

    transport: str  # "http" | "https"
    url: str
    port: int
    access_key: str
    secret_key: str
    ca_bundle: Path | None
    credentials_file: Path
    extra: dict = field(default_factory=dict)

    @property
    def verify(self):
        """What boto3 / requests take as `verify`."""
        return str(self.ca_bundle) if self.ca_bundle else True

    @property
    def vhost_url(self) -> str:
        """Base URL for virtual-hosted-style addressing (`BUCKET.s3.localhost`)."""
        scheme = "https" if self.transport == "https" else "http"
        return f"{scheme}://s3.localhost:{self.port}"

    def with_keys(self, access_key: str, secret_key: str) -> "Endpoint":
        return Endpoint(self.transport, self.url, self.port, access_key, secret_key, self.ca_bundle, self.credentials_file)


def client_config(addressing: str = "path", signature_version: str | None = None, **extra) -> botocore.config.Config:
    kwargs = dict(
        region_name=REGION,
        s3={"addressing_style": addressing},
        # No retries: a retried 500 or a retried checksum failure would hide the bug under test.
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=5,
        read_timeout=120,
    )
    if signature_version:
        kwargs["signature_version"] = signature_version
    kwargs.update(extra)
    return botocore.config.Config(**kwargs)


def client(ep: Endpoint, service: str = "s3", *, addressing: str = "path", signature_version: str | None = None,
           access_key: str | None = None, secret_key: str | None = None, **extra):
    """A boto3 client for `service` on `ep` (S3: path style unless `addressing='virtual'`)."""
    url = ep.vhost_url if (service == "s3" and addressing == "virtual") else ep.url
    return boto3.session.Session().client(
        service,
        endpoint_url=url,
        verify=ep.verify,
        aws_access_key_id=access_key or ep.access_key,
        aws_secret_access_key=secret_key or ep.secret_key,
        region_name=REGION,
        config=client_config(addressing, signature_version, **extra),
    )


def unique_bucket(prefix: str = "compat") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def empty_and_delete_bucket(s3, bucket: str, deadline_s: float = 60.0) -> None:
    """Best-effort cleanup: every version, every upload, then the bucket. Bounded in time."""
    deadline = time.monotonic() + deadline_s
    try:
        for _ in range(1000):
            if time.monotonic() > deadline:
                break
            try:
                resp = s3.list_object_versions(Bucket=bucket, MaxKeys=1000)
                items = [
                    {"Key": v["Key"], "VersionId": v["VersionId"]}
                    for v in resp.get("Versions", []) + resp.get("DeleteMarkers", [])
                ]
            except Exception:
                resp = s3.list_objects_v2(Bucket=bucket, MaxKeys=1000)
                items = [{"Key": o["Key"]} for o in resp.get("Contents", [])]
            if not items:
                break
            for i in range(0, len(items), 1000):
                s3.delete_objects(Bucket=bucket, Delete={"Objects": items[i:i + 1000], "Quiet": True})
        try:
            ups = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
            for u in ups:
                s3.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
        except Exception:
            pass
        s3.delete_bucket(Bucket=bucket)
    except Exception:
        pass


def require_tool(name: str) -> str:
    """The path of a CLI tool, or a loud skip."""
    import pytest

    path = shutil.which(name)
    if not path:
        pytest.skip(f"SKIPPED: {name} not found: not on PATH (run compat-tests/install-deps.sh)")
    return path


def tool_env(home: Path) -> dict:
    """Environment for a CLI tool: private HOME, and no AWS_* settings leaking in from the
    caller (an inherited AWS_CA_BUNDLE, profile or key would change what is tested)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["HOME"] = str(home)
    return env


def aws_env(ep: Endpoint, home: Path) -> dict:
    env = tool_env(home)
    env.update(
        AWS_SHARED_CREDENTIALS_FILE=str(ep.credentials_file),
        AWS_CONFIG_FILE=str(home / "aws-config-none"),
        AWS_DEFAULT_REGION=REGION,
        AWS_PAGER="",
    )
    return env


def run_aws(ep: Endpoint, home: Path, *args: str, check: bool = True, timeout: float = 180,
            input: bytes | None = None) -> subprocess.CompletedProcess:
    """Runs aws-cli against `ep`; returns the completed process (text output)."""
    aws = require_tool("aws")
    cmd = [aws, "--endpoint-url", ep.url]
    if ep.ca_bundle:
        cmd += ["--ca-bundle", str(ep.ca_bundle)]
    cmd += list(args)
    cp = subprocess.run(cmd, env=aws_env(ep, home), capture_output=True, timeout=timeout, input=input)
    out = subprocess.CompletedProcess(cp.args, cp.returncode, cp.stdout.decode(errors="replace"),
                                      cp.stderr.decode(errors="replace"))
    if check and cp.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({cp.returncode}):\nstdout: {out.stdout}\nstderr: {out.stderr}")
    return out


def terminate_all_instances(ep: "Endpoint", timeout: float = 180.0) -> None:
    """Terminates every live instance of `ep`'s account and waits (bounded) until the server
    reports them terminated: the reconciler then destroys their domains, disks and taps."""
    ec2 = client(ep, "ec2")
    try:
        ids = [
            i["InstanceId"]
            for r in ec2.describe_instances()["Reservations"]
            for i in r["Instances"]
            if i["State"]["Name"] not in ("terminated", "shutting-down")
        ]
    except Exception:  # noqa: BLE001 - a server without EC2 has nothing to clean
        return
    if not ids:
        return
    ec2.terminate_instances(InstanceIds=ids)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [
            i["State"]["Name"]
            for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]
            for i in r["Instances"]
        ]
        if all(s == "terminated" for s in states):
            return
        time.sleep(2)


def remove_lb_namespaces(data_dir: Path) -> None:
    """Stops the load balancers' haproxy processes and removes their namespaces (recorded
    under DATA_DIR/compute/lb/<id>; they outlive the server by design, as VPC routers)."""
    lbs = Path(data_dir) / "compute" / "lb"
    if not lbs.is_dir():
        return
    for lb in lbs.iterdir():
        try:
            os.kill(int((lb / "haproxy.pid").read_text().strip()), signal.SIGTERM)
        except (OSError, ValueError):
            pass
        subprocess.run(["ip", "netns", "delete", f"kumo-lb-{lb.name}"], capture_output=True, timeout=30)


def remove_vpc_namespaces(data_dir: Path) -> None:
    """Removes the VPC router namespaces and DHCP servers a stopped test server left (they
    outlive the server by design: a restarted server adopts them), and its load balancers'."""
    remove_lb_namespaces(data_dir)
    vpcs = Path(data_dir) / "compute" / "net" / "vpcs"
    if not vpcs.is_dir():
        return
    for vpc in vpcs.iterdir():
        pid_file = Path("/run/kumo-net") / vpc.name / "dnsmasq.pid"
        try:
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
        except (OSError, ValueError):
            pass
        subprocess.run(
            ["ip", "netns", "delete", f"kumo-vpc-{vpc.name}"],
            capture_output=True,
            timeout=30,
        )
        shutil.rmtree(Path("/run/kumo-net") / vpc.name, ignore_errors=True)
    # The public side (internet gateways, public IPs): one namespace per installation, named
    # after a hash of its state directory (LinuxFabric::new).
    state = str((Path(data_dir) / "compute" / "net").resolve())
    public = "kumo-public-" + hashlib.sha256(state.encode()).hexdigest()[:8]
    subprocess.run(["ip", "netns", "delete", public], capture_output=True, timeout=30)
