"""EC2 key pairs through boto3 and aws-cli: create (RSA, ED25519), import, describe, delete,
with AWS's fingerprints checked against openssl and ssh-keygen computations."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import uuid

import pytest
from botocore.exceptions import ClientError

import harness

pytestmark = pytest.mark.usefixtures("kumo_server")


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def code(exc) -> str:
    return exc.value.response["Error"]["Code"]


def colon(digest: bytes) -> str:
    return ":".join(f"{b:02x}" for b in digest)


def test_create_rsa_key_pair_fingerprint_is_sha1_of_pkcs8(ep, tmp_path):
    ec2 = harness.client(ep, "ec2")
    kn = name("rsa")
    made = ec2.create_key_pair(
        KeyName=kn,
        TagSpecifications=[{"ResourceType": "key-pair", "Tags": [{"Key": "team", "Value": "a"}]}],
    )
    assert made["KeyName"] == kn
    assert made["KeyPairId"].startswith("key-")
    assert made["KeyMaterial"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert made["Tags"] == [{"Key": "team", "Value": "a"}]
    if shutil.which("openssl") is None:
        print("SKIPPED: openssl not installed; fingerprint not cross-checked")
    else:
        pem = tmp_path / "k.pem"
        pem.write_text(made["KeyMaterial"])
        der = subprocess.run(
            ["openssl", "pkcs8", "-topk8", "-nocrypt", "-in", str(pem), "-outform", "DER"],
            check=True,
            capture_output=True,
        ).stdout
        assert made["KeyFingerprint"] == colon(hashlib.sha1(der).digest())
        bits = subprocess.run(
            ["openssl", "rsa", "-in", str(pem), "-noout", "-text"], check=True, capture_output=True
        ).stdout
        assert b"2048 bit" in bits
    info = ec2.describe_key_pairs(KeyNames=[kn], IncludePublicKey=True)["KeyPairs"][0]
    assert info["KeyFingerprint"] == made["KeyFingerprint"]
    assert info["KeyType"] == "rsa"
    assert info["PublicKey"].startswith("ssh-rsa AAAA")
    assert info["CreateTime"].year >= 2024
    assert info["Tags"] == [{"Key": "team", "Value": "a"}]
    with pytest.raises(ClientError) as exc:
        ec2.create_key_pair(KeyName=kn)
    assert code(exc) == "InvalidKeyPair.Duplicate"
    ec2.delete_key_pair(KeyName=kn)


def test_create_ed25519_key_pair_matches_ssh_keygen(ep, tmp_path):
    ec2 = harness.client(ep, "ec2")
    kn = name("ed")
    made = ec2.create_key_pair(KeyName=kn, KeyType="ed25519", KeyFormat="pem")
    assert made["KeyMaterial"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    fp = made["KeyFingerprint"]
    assert len(fp) == 44 and fp.endswith("=")
    info = ec2.describe_key_pairs(KeyNames=[kn], IncludePublicKey=True)["KeyPairs"][0]
    assert info["KeyType"] == "ed25519"
    if shutil.which("ssh-keygen") is None:
        print("SKIPPED: ssh-keygen not installed; key not cross-checked")
    else:
        key = tmp_path / "id"
        key.write_text(made["KeyMaterial"])
        key.chmod(0o600)
        pub = subprocess.run(
            ["ssh-keygen", "-y", "-f", str(key)], check=True, capture_output=True, text=True
        ).stdout.split()
        assert info["PublicKey"].split()[:2] == pub[:2], "private key derives the stored public key"
        line = subprocess.run(
            ["ssh-keygen", "-l", "-E", "sha256", "-f", str(key)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        assert f"SHA256:{fp.rstrip('=')}" in line
    with pytest.raises(ClientError) as exc:
        ec2.create_key_pair(KeyName=name("ppk"), KeyFormat="ppk")
    assert code(exc) == "UnsupportedOperation"
    ec2.delete_key_pair(KeyPairId=made["KeyPairId"])
    assert ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": [kn]}])["KeyPairs"] == []


def test_import_rsa_and_ed25519(ep, tmp_path):
    if shutil.which("ssh-keygen") is None or shutil.which("openssl") is None:
        pytest.skip("SKIPPED: ssh-keygen/openssl not installed")
    ec2 = harness.client(ep, "ec2")
    rsa = tmp_path / "rsa"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-m", "PEM", "-N", "", "-f", str(rsa)],
        check=True,
    )
    spki = subprocess.run(
        ["openssl", "rsa", "-in", str(rsa), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    kn = name("imp-rsa")
    got = ec2.import_key_pair(KeyName=kn, PublicKeyMaterial=(tmp_path / "rsa.pub").read_bytes())
    assert got["KeyFingerprint"] == colon(hashlib.md5(spki).digest())
    assert got["KeyPairId"].startswith("key-")

    ed = tmp_path / "ed"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ed)], check=True)
    blob = base64.b64decode((tmp_path / "ed.pub").read_text().split()[1])
    kn2 = name("imp-ed")
    got2 = ec2.import_key_pair(KeyName=kn2, PublicKeyMaterial=(tmp_path / "ed.pub").read_bytes())
    assert got2["KeyFingerprint"] == base64.b64encode(hashlib.sha256(blob).digest()).decode()

    both = ec2.describe_key_pairs(
        Filters=[{"Name": "key-name", "Values": [kn, kn2]}, {"Name": "key-type", "Values": ["ed25519"]}]
    )["KeyPairs"]
    assert [k["KeyName"] for k in both] == [kn2]
    by_fp = ec2.describe_key_pairs(
        Filters=[{"Name": "fingerprint", "Values": [got["KeyFingerprint"]]}]
    )["KeyPairs"]
    assert [k["KeyPairId"] for k in by_fp] == [got["KeyPairId"]]
    by_id = ec2.describe_key_pairs(KeyPairIds=[got2["KeyPairId"]])["KeyPairs"]
    assert by_id[0]["KeyName"] == kn2
    assert "PublicKey" not in by_id[0]

    with pytest.raises(ClientError) as exc:
        ec2.import_key_pair(KeyName=name("bad"), PublicKeyMaterial=b"ssh-rsa not-a-key")
    assert code(exc) == "InvalidKey.Format"
    with pytest.raises(ClientError) as exc:
        ec2.import_key_pair(KeyName=kn, PublicKeyMaterial=(tmp_path / "ed.pub").read_bytes())
    assert code(exc) == "InvalidKeyPair.Duplicate"
    for k in (kn, kn2):
        ec2.delete_key_pair(KeyName=k)


def test_describe_missing_and_delete_is_idempotent(ep):
    ec2 = harness.client(ep, "ec2")
    with pytest.raises(ClientError) as exc:
        ec2.describe_key_pairs(KeyNames=[name("missing")])
    assert code(exc) == "InvalidKeyPair.NotFound"
    with pytest.raises(ClientError) as exc:
        ec2.describe_key_pairs(KeyPairIds=["key-0123456789abcdef0"])
    assert code(exc) == "InvalidKeyPair.NotFound"
    assert ec2.delete_key_pair(KeyName=name("never"))["Return"] is True
    with pytest.raises(ClientError) as exc:
        ec2.describe_key_pairs(Filters=[{"Name": "colour", "Values": ["red"]}])
    assert code(exc) == "InvalidParameterValue"


def test_awscli_import_and_describe(ep, home, tmp_path):
    if shutil.which("ssh-keygen") is None:
        pytest.skip("SKIPPED: ssh-keygen not installed")
    ed = tmp_path / "cli"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ed)], check=True)
    kn = name("cli")
    out = harness.run_aws(
        ep, home, "ec2", "import-key-pair", "--key-name", kn,
        "--public-key-material", f"fileb://{ed}.pub", "--output", "json",
    )
    assert json.loads(out.stdout)["KeyName"] == kn
    out = harness.run_aws(
        ep, home, "ec2", "describe-key-pairs", "--key-names", kn, "--include-public-key",
        "--output", "json",
    )
    pair = json.loads(out.stdout)["KeyPairs"][0]
    assert pair["PublicKey"].split()[1] == (tmp_path / "cli.pub").read_text().split()[1]
    harness.run_aws(ep, home, "ec2", "delete-key-pair", "--key-name", kn)
