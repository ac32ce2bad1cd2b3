"""Fixtures: one `kumo serve` for the whole session, both transports, clients, buckets.

Run: `KUMO_BIN=target/release/kumo python3 -m pytest compat-tests/ -q`.

Developer aid (not used by `cargo xtask test`): `COMPAT_EXTERNAL_S3=http://127.0.0.1:PORT`
points the S3 tests at an already-running S3 server (e.g. moto) with access key `testing`;
tests that need the Kumo binary itself then skip loudly. The `https` transport runs too when
`COMPAT_EXTERNAL_S3_TLS=https://127.0.0.1:PORT` and `COMPAT_EXTERNAL_CA=cert.pem` are set.
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import pytest

import harness
from harness import Endpoint, KumoServer

# --- name resolution: `*.localhost` -> 127.0.0.1 --------------------------------------------
# Virtual-hosted-style requests go to `BUCKET.s3.localhost`, which Debian's resolver does not
# answer. Resolve every `localhost` name to the loopback address inside this process, so boto3
# builds real virtual-host requests (Host header, TLS SNI, signature) and traffic stays local.
_real_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host, *args, **kwargs):
    if isinstance(host, (bytes, str)):
        name = host.decode() if isinstance(host, bytes) else host
        if name == "localhost" or name.endswith(".localhost"):
            host = "127.0.0.1"
    return _real_getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _getaddrinfo

EXTERNAL = os.environ.get("COMPAT_EXTERNAL_S3")
EXTERNAL_TLS = os.environ.get("COMPAT_EXTERNAL_S3_TLS")
EXTERNAL_CA = os.environ.get("COMPAT_EXTERNAL_CA")
TRANSPORTS = ["http", "https"] if (not EXTERNAL or (EXTERNAL_TLS and EXTERNAL_CA)) else ["http"]


def kumo_binary() -> str:
    path = os.environ.get("KUMO_BIN")
    if not path:
        pytest.fail("KUMO_BIN is not set: point it at target/release/kumo", pytrace=False)
    if not os.access(path, os.X_OK):
        pytest.fail(f"KUMO_BIN={path} is not an executable file", pytrace=False)
    return os.path.abspath(path)


@pytest.fixture(scope="session")
def kumo_bin() -> str:
    if EXTERNAL:
        pytest.skip("SKIPPED: kumo binary not used: COMPAT_EXTERNAL_S3 is set")
    return kumo_binary()


@pytest.fixture(scope="session")
def workdir():
    with tempfile.TemporaryDirectory(prefix="kumo-compat-") as d:
        # QEMU runs guests as its own user (libvirt-qemu): it must traverse to the data dir.
        os.chmod(d, 0o711)
        yield Path(d)


@pytest.fixture(scope="session")
def kumo(workdir) -> KumoServer | None:
    """The session's Kumo server (None when testing an external S3 server)."""
    if EXTERNAL:
        yield None
        return
    binary = kumo_binary()
    server = KumoServer(binary, workdir / "data", workdir / "kumo-session.log")
    server.start()
    yield server
    harness.terminate_all_instances(server.endpoint("http"))
    code = server.stop()
    harness.remove_vpc_namespaces(server.data_dir)
    assert code == 0, f"kumo exited {code} on SIGTERM; log:\n{harness.tail(server.log_path)}"


@pytest.fixture(scope="session")
def kumo_server(kumo, kumo_bin) -> KumoServer:
    """The session server, for tests that need Kumo itself (admin CLI, STS, files)."""
    return kumo


def _external_endpoint(workdir: Path, transport: str = "http") -> Endpoint:
    creds = workdir / "external-credentials"
    creds.write_text("[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    url = (EXTERNAL if transport == "http" else EXTERNAL_TLS).rstrip("/")
    port = int(url.rsplit(":", 1)[1])
    ca = Path(EXTERNAL_CA) if transport == "https" else None
    return Endpoint(transport, url, port, "testing", "testing", ca, creds)


@pytest.fixture(scope="session", params=TRANSPORTS)
def ep(request, kumo, workdir) -> Endpoint:
    """One transport of the session server: `http` or `https`."""
    if EXTERNAL:
        return _external_endpoint(workdir, request.param)
    return kumo.endpoint(request.param)


@pytest.fixture(scope="session")
def http_ep(kumo, workdir) -> Endpoint:
    if EXTERNAL:
        return _external_endpoint(workdir)
    return kumo.endpoint("http")


@pytest.fixture
def s3(ep):
    """Path-style boto3 S3 client on the current transport."""
    return harness.client(ep)


@pytest.fixture
def s3_vhost(ep):
    """Virtual-hosted-style boto3 S3 client (`BUCKET.s3.localhost`)."""
    return harness.client(ep, addressing="virtual")


@pytest.fixture
def bucket(s3):
    """A fresh, empty bucket; emptied and deleted afterwards."""
    name = harness.unique_bucket()
    s3.create_bucket(Bucket=name)
    yield name
    harness.empty_and_delete_bucket(s3, name)


@pytest.fixture
def make_bucket(ep):
    """Factory for extra buckets, all cleaned up afterwards."""
    made = []
    cli = harness.client(ep)

    def make(prefix: str = "compat", **kwargs) -> str:
        name = harness.unique_bucket(prefix)
        cli.create_bucket(Bucket=name, **kwargs)
        made.append(name)
        return name

    yield make
    for name in made:
        harness.empty_and_delete_bucket(cli, name)


@pytest.fixture
def home(tmp_path) -> Path:
    """A private HOME for CLI tools (no ~/.aws, ~/.s3cfg or rclone config leaks in)."""
    h = tmp_path / "home"
    h.mkdir()
    return h


# --- server log on failure -------------------------------------------------------------------
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for server in harness.SERVERS:
            if server.log_path.exists():
                rep.sections.append((f"kumo log tail ({server.log_path.name})", harness.tail(server.log_path, 60)))
