"""User images that really boot: a disk image uploaded through Kumo's S3 API becomes an AMI
(RegisterImage, ImportImage), instances boot it from disk (BIOS, no direct kernel boot), and
CreateImage / CopyImage / DeregisterImage work on the result.

The disk image comes from `drivers/compute-libvirt/image/build-disk-image.sh` (run by
`compat-tests/install-deps.sh` and `.ci/run`) in `$KUMO_DISK_IMAGE_DIR`
(default /var/lib/kumo/images/disk); without it the booting scenarios say SKIPPED.
Boot-heavy scenarios use the HTTP endpoint only (one guest at a time, as the machine is shared).
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import boto3.s3.transfer
import pytest
from botocore.exceptions import ClientError, WaiterError

import harness
from ec2_compute import require_compute, wait_console

pytestmark = pytest.mark.usefixtures("kumo_server")

DISK_DIR = Path(os.environ.get("KUMO_DISK_IMAGE_DIR", "/var/lib/kumo/images/disk"))
# 8 MiB parts: the 32 MiB raw disk goes up as a 4-part multipart upload.
MULTIPART = boto3.s3.transfer.TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20)
WAIT = {"Delay": 2, "MaxAttempts": 90}


def code(exc) -> str:
    return exc.value.response["Error"]["Code"]


def disk_image(name: str) -> Path:
    path = DISK_DIR / name
    if not path.is_file():
        pytest.skip(f"SKIPPED: no disk image {path} (run drivers/compute-libvirt/image/build-disk-image.sh {DISK_DIR})")
    return path


def report(what: str, value: str) -> None:
    print(f"\n[figure] {what}: {value}")


@pytest.fixture
def world(http_ep):
    """EC2 and S3 clients on the HTTP endpoint, a fresh bucket, and cleanup of everything the
    test registers or launches."""
    ec2 = harness.client(http_ep, "ec2")
    s3 = harness.client(http_ep)
    bucket = harness.unique_bucket("images")
    s3.create_bucket(Bucket=bucket)
    made = {"instances": [], "images": []}
    yield ec2, s3, bucket, made
    if made["instances"]:
        ec2.terminate_instances(InstanceIds=made["instances"])
        ec2.get_waiter("instance_terminated").wait(InstanceIds=made["instances"], WaiterConfig=WAIT)
    for ami in made["images"]:
        try:
            ec2.deregister_image(ImageId=ami)
        except ClientError:
            pass
    harness.empty_and_delete_bucket(s3, bucket)


def upload(s3, bucket: str, key: str, path: Path) -> None:
    t0 = time.monotonic()
    s3.upload_file(str(path), bucket, key, Config=MULTIPART)
    dt = time.monotonic() - t0
    report(f"S3 upload of {path.name}", f"{path.stat().st_size / 1e6:.1f} MB in {dt:.2f} s")


def boot(ec2, made, ami: str, marker: str) -> str:
    """Launches `ami` with a user-data script printing `marker`; returns the instance id once
    the guest has printed its id (from IMDS) and the marker."""
    t0 = time.monotonic()
    r = ec2.run_instances(
        ImageId=ami,
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        UserData=f"#!/bin/sh\necho {marker}\n",
    )
    iid = r["Instances"][0]["InstanceId"]
    made["instances"].append(iid)
    ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig=WAIT)
    console = wait_console(ec2, iid, "KUMO-READY", timeout=240.0)
    report(f"boot of {ami} to KUMO-READY", f"{time.monotonic() - t0:.1f} s")
    assert f"instance-id={iid}" in console, console[-2000:]
    assert marker in console, console[-2000:]
    # It booted from its disk through the BIOS: SYSLINUX (on the disk) loaded the kernel.
    assert "SYSLINUX" in console, console[-2000:]
    return iid


def wait_image(ec2, ami: str) -> dict:
    t0 = time.monotonic()
    ec2.get_waiter("image_available").wait(ImageIds=[ami], WaiterConfig=WAIT)
    report(f"{ami} pending → available", f"{time.monotonic() - t0:.1f} s")
    return ec2.describe_images(ImageIds=[ami])["Images"][0]


def test_register_image_from_s3_boots_then_create_copy_deregister(world):
    ec2, s3, bucket, made = world
    require_compute(ec2)
    raw = disk_image("disk.raw")
    upload(s3, bucket, "images/disk.raw", raw)
    name = f"compat-user-{uuid.uuid4().hex[:8]}"
    ami = ec2.register_image(
        Name=name,
        ImageLocation=f"{bucket}/images/disk.raw",
        Architecture="x86_64",
        RootDeviceName="/dev/xvda",
        VirtualizationType="hvm",
        BootMode="legacy-bios",
    )["ImageId"]
    made["images"].append(ami)
    first = ec2.describe_images(ImageIds=[ami])["Images"][0]
    assert first["State"] in ("pending", "available")
    img = wait_image(ec2, ami)
    assert img["Name"] == name and img["OwnerId"] and img["ImageLocation"] == f"{bucket}/images/disk.raw"
    assert img["RootDeviceName"] == "/dev/xvda" and img["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] >= 1
    assert "StateReason" not in img

    marker = f"user-image-{uuid.uuid4().hex[:6]}"
    iid = boot(ec2, made, ami, marker)

    # CreateImage from the running instance: as on EC2 the guest is rebooted (NoReboot not
    # given) so its disk is imaged at rest; the instance stays `running` and boots again.
    boots = ec2.get_console_output(InstanceId=iid, Latest=True)["Output"].count("KUMO-READY")
    created = ec2.create_image(InstanceId=iid, Name=f"{name}-snap", Description="from a running guest")["ImageId"]
    made["images"].append(created)
    snap = wait_image(ec2, created)
    assert snap["SourceInstanceId"] == iid
    assert snap["Description"] == "from a running guest"
    deadline = time.monotonic() + 240
    while ec2.get_console_output(InstanceId=iid, Latest=True)["Output"].count("KUMO-READY") <= boots:
        assert time.monotonic() < deadline, "the guest did not boot again after CreateImage"
        time.sleep(3)
    state = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "running"

    # CopyImage (same region) of the registered image.
    copy = ec2.copy_image(SourceImageId=ami, SourceRegion="us-east-1", Name=f"{name}-copy")["ImageId"]
    made["images"].append(copy)
    got = wait_image(ec2, copy)
    assert got["SourceImageId"] == ami and got["Name"] == f"{name}-copy"
    with pytest.raises(ClientError) as exc:
        ec2.copy_image(SourceImageId=ami, SourceRegion="eu-west-1", Name=f"{name}-far")
    assert code(exc) == "InvalidRequest"

    # Deregistering the image the running guest's root disk is a clone of: the record goes
    # at once (the bytes wait for the clone), the guest keeps running.
    ec2.deregister_image(ImageId=ami)
    with pytest.raises(ClientError) as exc:
        ec2.describe_images(ImageIds=[ami])
    assert code(exc) == "InvalidAMIID.NotFound"
    state = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "running"

    # The snapshot image boots too (the copy shares the registered image's bytes).
    ec2.terminate_instances(InstanceIds=[iid])
    boot(ec2, made, created, f"snap-{uuid.uuid4().hex[:6]}")
    ec2.deregister_image(ImageId=copy)
    assert ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [f"{name}-copy"]}])["Images"] == []


def test_an_installer_iso_boots_from_a_cdrom_over_a_blank_root(world):
    """A non-hybrid ISO (El Torito only, no MBR: a disk would not boot it) registered from S3
    goes into the instance's CD-ROM drive, which boots first; the root volume is blank, of
    AWS's default size, for the installer to write — CloudStack's ISO attach."""
    ec2, s3, bucket, made = world
    require_compute(ec2)
    iso = disk_image("installer.iso")
    assert iso.read_bytes()[510:512] != b"\x55\xaa", "the test ISO must not be hybrid"
    upload(s3, bucket, "isos/installer.iso", iso)
    ami = ec2.register_image(Name=f"compat-iso-{uuid.uuid4().hex[:8]}", ImageLocation=f"{bucket}/isos/installer.iso")[
        "ImageId"
    ]
    made["images"].append(ami)
    img = wait_image(ec2, ami)
    assert img["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] == 8, img
    marker = f"iso-{uuid.uuid4().hex[:6]}"
    script = (
        "#!/bin/sh\n"
        f"echo {marker}\n"
        "echo ROOT-SECTORS=$(cat /sys/block/vda/size)\n"
        "echo ROOT-NONZERO=$(head -c 1048576 /dev/vda | tr -d '\\000' | wc -c)\n"
    )
    r = ec2.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1, UserData=script)
    iid = r["Instances"][0]["InstanceId"]
    made["instances"].append(iid)
    ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig=WAIT)
    console = wait_console(ec2, iid, marker, timeout=240.0)
    assert f"instance-id={iid}" in console, console[-2000:]
    # ISOLINUX (El Torito, from the CD-ROM) loaded the kernel, not a disk's SYSLINUX.
    assert "ISOLINUX" in console, console[-2000:]
    wait_console(ec2, iid, "ROOT-NONZERO=", timeout=240.0)
    console = ec2.get_console_output(InstanceId=iid, Latest=True)["Output"]
    assert f"ROOT-SECTORS={8 << 21}" in console, console[-2000:]
    assert "ROOT-NONZERO=0" in console, console[-2000:]
    root = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["BlockDeviceMappings"][0]
    vol = ec2.describe_volumes(VolumeIds=[root["Ebs"]["VolumeId"]])["Volumes"][0]
    assert vol["Size"] == 8 and not vol.get("SnapshotId"), vol


def test_import_image_task_completes_and_boots(world):
    ec2, s3, bucket, made = world
    require_compute(ec2)
    qcow2 = disk_image("disk.qcow2")
    upload(s3, bucket, "disk.qcow2", qcow2)
    t0 = time.monotonic()
    task = ec2.import_image(
        Description="compat import",
        DiskContainers=[{"Format": "qcow2", "UserBucket": {"S3Bucket": bucket, "S3Key": "disk.qcow2"}}],
        TagSpecifications=[{"ResourceType": "import-image-task", "Tags": [{"Key": "t", "Value": "v"}]}],
    )
    tid = task["ImportTaskId"]
    assert tid.startswith("import-ami-")
    assert task["Status"] == "active"
    seen = []
    deadline = time.monotonic() + 180
    while True:
        t = ec2.describe_import_image_tasks(ImportTaskIds=[tid])["ImportImageTasks"][0]
        seen.append((t["Status"], t.get("StatusMessage"), t.get("Progress")))
        if t["Status"] != "active":
            break
        assert time.monotonic() < deadline, seen
        time.sleep(0.5)
    report("ImportImage task active → completed", f"{time.monotonic() - t0:.1f} s; states seen {sorted(set(seen))}")
    assert t["Status"] == "completed", seen
    ami = t["ImageId"]
    made["images"].append(ami)
    assert t["Tags"] == [{"Key": "t", "Value": "v"}]
    detail = t["SnapshotDetails"][0]
    assert detail["Format"] == "QCOW2" and detail["UserBucket"] == {"S3Bucket": bucket, "S3Key": "disk.qcow2"}
    assert detail["DiskImageSize"] == qcow2.stat().st_size
    by_state = ec2.describe_import_image_tasks(Filters=[{"Name": "task-state", "Values": ["completed"]}])
    assert tid in [x["ImportTaskId"] for x in by_state["ImportImageTasks"]]
    img = ec2.describe_images(ImageIds=[ami])["Images"][0]
    assert img["State"] == "available" and img["Name"] == tid
    with pytest.raises(ClientError) as exc:
        ec2.cancel_import_task(ImportTaskId=tid)
    assert code(exc) == "IncorrectState"
    boot(ec2, made, ami, f"imported-{uuid.uuid4().hex[:6]}")


def test_image_import_errors(world):
    ec2, s3, bucket, made = world
    require_compute(ec2)
    # A missing object: refused at once, in AWS's shape.
    with pytest.raises(ClientError) as exc:
        ec2.register_image(Name=f"missing-{uuid.uuid4().hex[:6]}", ImageLocation=f"{bucket}/nope.raw")
    assert code(exc) == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        ec2.import_image(DiskContainers=[{"Format": "raw", "UserBucket": {"S3Bucket": bucket, "S3Key": "nope.raw"}}])
    assert code(exc) == "InvalidParameter"
    with pytest.raises(ClientError) as exc:
        ec2.import_image(DiskContainers=[{"Format": "vmdk", "UserBucket": {"S3Bucket": bucket, "S3Key": "x"}}])
    assert code(exc) == "InvalidParameterValue"

    # An unsupported format (a VMDK header): the image goes `failed` with a StateReason.
    s3.put_object(Bucket=bucket, Key="disk.vmdk", Body=b"KDMV" + bytes(256 * 1024))
    ami = ec2.register_image(Name=f"vmdk-{uuid.uuid4().hex[:6]}", ImageLocation=f"{bucket}/disk.vmdk")["ImageId"]
    made["images"].append(ami)
    with pytest.raises(WaiterError):
        ec2.get_waiter("image_available").wait(ImageIds=[ami], WaiterConfig=WAIT)  # fails fast on `failed`
    img = ec2.describe_images(ImageIds=[ami])["Images"][0]
    assert img["State"] == "failed"
    assert img["StateReason"]["Code"] == "Client.InvalidImage"
    assert "VMDK" in img["StateReason"]["Message"]
    failed = ec2.describe_images(Owners=["self"], Filters=[{"Name": "state", "Values": ["failed"]}])["Images"]
    assert ami in [i["ImageId"] for i in failed]
    with pytest.raises(ClientError) as exc:
        ec2.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1)
    assert code(exc) == "InvalidAMIID.Unavailable"
    ec2.deregister_image(ImageId=ami)

    # The same through ImportImage: the task ends `deleted` with a ClientError message.
    s3.put_object(Bucket=bucket, Key="disk.gz", Body=b"\x1f\x8b\x08\x00" + bytes(1024))
    tid = ec2.import_image(DiskContainers=[{"UserBucket": {"S3Bucket": bucket, "S3Key": "disk.gz"}}])["ImportTaskId"]
    deadline = time.monotonic() + 120
    while True:
        t = ec2.describe_import_image_tasks(ImportTaskIds=[tid])["ImportImageTasks"][0]
        if t["Status"] != "active":
            break
        assert time.monotonic() < deadline, t
        time.sleep(0.5)
    assert t["Status"] == "deleted", t
    assert t["StatusMessage"].startswith("ClientError:") and "gzip" in t["StatusMessage"], t
    assert "ImageId" not in t

    with pytest.raises(ClientError) as exc:
        ec2.describe_import_image_tasks(ImportTaskIds=["import-ami-0123456789abcdef0"])
    assert code(exc) == "InvalidConversionTaskId"
    with pytest.raises(ClientError) as exc:
        ec2.describe_import_image_tasks(ImportTaskIds=["bogus"])
    assert code(exc) == "InvalidConversionTaskId.Malformed"
    with pytest.raises(ClientError) as exc:
        ec2.cancel_import_task(ImportTaskId="import-ami-0123456789abcdef0")
    assert code(exc) == "InvalidConversionTaskId"


def test_pending_import_survives_kill9(kumo_bin, tmp_path):
    """`kill -9` while an image imports: after the restart the import runs again and the image
    becomes `available` whole; nothing half-written is left or published."""
    raw = disk_image("disk.raw")
    data = tmp_path / "data"
    server = harness.KumoServer(kumo_bin, data, tmp_path / "kumo-images-crash.log")
    server.start()
    try:
        ep = server.endpoint("http")
        ec2 = harness.client(ep, "ec2")
        s3 = harness.client(ep)
        require_compute(ec2)
        s3.create_bucket(Bucket="crash-images")
        s3.upload_file(str(raw), "crash-images", "disk.raw", Config=MULTIPART)
        ami = ec2.register_image(Name="crash-image", ImageLocation="crash-images/disk.raw")["ImageId"]
        server.kill9()  # at once: the builder is reading the object or converting it
        log = (tmp_path / "kumo-images-crash.log").read_text(errors="replace")
        report("import when killed", "finished" if "image built" in log else "in flight")
        server.start()
        ec2 = harness.client(server.endpoint("http"), "ec2")
        img = ec2.describe_images(ImageIds=[ami])["Images"][0]
        assert img["State"] in ("pending", "available"), img
        ec2.get_waiter("image_available").wait(ImageIds=[ami], WaiterConfig=WAIT)
        blocks = data / "compute" / "blocks"
        published = sorted(p.name for p in blocks.iterdir() if p.name.startswith("ami-"))
        assert published == [f"{ami}.qcow2"], published
        assert not [p for p in blocks.iterdir() if p.name.startswith(".tmp-")]
        assert list((data / "compute" / "imports").iterdir()) == []
        check = subprocess.run(["qemu-img", "check", "-f", "qcow2", str(blocks / f"{ami}.qcow2")],
                               capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
        # DeregisterImage frees the bytes (no root disk is a clone of them).
        ec2.deregister_image(ImageId=ami)
        deadline = time.monotonic() + 30
        while (blocks / f"{ami}.qcow2").exists():
            assert time.monotonic() < deadline, "deregistered image's bytes not freed"
            time.sleep(0.5)
    finally:
        server.stop()
