"""EC2 images through boto3: RegisterImage from an S3 object, DescribeImages (owners,
executable users, ids, filters, pagination), attributes, deregistration."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

import harness

pytestmark = pytest.mark.usefixtures("kumo_server")


def code(exc) -> str:
    return exc.value.response["Error"]["Code"]


@pytest.fixture
def image_object(ep, make_bucket):
    s3 = harness.client(ep, "s3")
    bucket = make_bucket("images")
    s3.put_object(Bucket=bucket, Key="disks/root.raw", Body=b"\0" * 4096)
    return bucket, "disks/root.raw"


def test_register_describe_modify_deregister(ep, image_object):
    ec2 = harness.client(ep, "ec2")
    bucket, key = image_object
    name = f"img-{uuid.uuid4().hex[:10]}"
    image_id = ec2.register_image(
        Name=name,
        Description="my image",
        ImageLocation=f"{bucket}/{key}",
        Architecture="x86_64",
        RootDeviceName="/dev/xvda",
        VirtualizationType="hvm",
        BootMode="uefi",
        TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": "Name", "Value": name}]}],
    )["ImageId"]
    assert image_id.startswith("ami-")
    ec2.get_waiter("image_available").wait(ImageIds=[image_id], WaiterConfig={"Delay": 1})
    img = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    assert img["Name"] == name
    assert img["State"] == "available"
    assert img["Public"] is False
    assert img["ImageLocation"] == f"{bucket}/{key}"
    assert img["Architecture"] == "x86_64"
    assert img["RootDeviceType"] == "ebs"
    assert img["VirtualizationType"] == "hvm"
    assert img["BootMode"] == "uefi"
    assert img["PlatformDetails"] == "Linux/UNIX"
    assert img["ImageType"] == "machine"
    assert img["Tags"] == [{"Key": "Name", "Value": name}]
    root = img["BlockDeviceMappings"][0]
    assert root["DeviceName"] == "/dev/xvda"
    assert root["Ebs"]["SnapshotId"].startswith("snap-")
    assert root["Ebs"]["VolumeSize"] == 8
    owner = img["OwnerId"]

    mine = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [name]}])["Images"]
    assert [i["ImageId"] for i in mine] == [image_id]
    by_owner = ec2.describe_images(Owners=[owner], Filters=[{"Name": "tag:Name", "Values": [name]}])
    assert len(by_owner["Images"]) == 1
    for f in (
        {"Name": "architecture", "Values": ["x86_64"]},
        {"Name": "is-public", "Values": ["false"]},
        {"Name": "state", "Values": ["available"]},
        {"Name": "root-device-type", "Values": ["ebs"]},
        {"Name": "virtualization-type", "Values": ["hvm"]},
        {"Name": "block-device-mapping.device-name", "Values": ["/dev/xvda"]},
        {"Name": "owner-id", "Values": [owner]},
        {"Name": "image-type", "Values": ["machine"]},
    ):
        got = ec2.describe_images(ImageIds=[image_id], Filters=[f])["Images"]
        assert len(got) == 1, f
    assert ec2.describe_images(ImageIds=[image_id], Filters=[{"Name": "architecture", "Values": ["arm64"]}])["Images"] == []
    assert ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": [name]}])["Images"] == []

    attr = ec2.describe_image_attribute(ImageId=image_id, Attribute="description")
    assert attr["Description"]["Value"] == "my image"
    ec2.modify_image_attribute(ImageId=image_id, Description={"Value": "changed"})
    assert ec2.describe_image_attribute(ImageId=image_id, Attribute="description")["Description"]["Value"] == "changed"
    ec2.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [{"UserId": "123456789012"}]})
    perms = ec2.describe_image_attribute(ImageId=image_id, Attribute="launchPermission")["LaunchPermissions"]
    assert perms == [{"UserId": "123456789012"}]
    ec2.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [{"Group": "all"}]})
    assert ec2.describe_images(ImageIds=[image_id])["Images"][0]["Public"] is True
    public = ec2.describe_images(ExecutableUsers=["all"], Filters=[{"Name": "name", "Values": [name]}])["Images"]
    assert len(public) == 1
    ec2.modify_image_attribute(
        ImageId=image_id, Attribute="launchPermission", OperationType="remove",
        UserIds=["123456789012"], UserGroups=["all"],
    )
    perms = ec2.describe_image_attribute(ImageId=image_id, Attribute="launchPermission")["LaunchPermissions"]
    assert perms == []
    bdm = ec2.describe_image_attribute(ImageId=image_id, Attribute="blockDeviceMapping")
    assert bdm["BlockDeviceMappings"][0]["DeviceName"] == "/dev/xvda"

    with pytest.raises(ClientError) as exc:
        ec2.register_image(Name=name, ImageLocation=f"{bucket}/{key}")
    assert code(exc) == "InvalidAMIName.Duplicate"
    ec2.deregister_image(ImageId=image_id)
    with pytest.raises(ClientError) as exc:
        ec2.describe_images(ImageIds=[image_id])
    assert code(exc) == "InvalidAMIID.NotFound"
    with pytest.raises(ClientError) as exc:
        ec2.deregister_image(ImageId=image_id)
    assert code(exc) == "InvalidAMIID.NotFound"


def test_pagination(ep, image_object):
    ec2 = harness.client(ep, "ec2")
    bucket, key = image_object
    run = uuid.uuid4().hex[:8]
    ids = [
        ec2.register_image(Name=f"page-{run}-{i}", ImageLocation=f"{bucket}/{key}")["ImageId"]
        for i in range(7)
    ]
    pages = ec2.get_paginator("describe_images").paginate(
        Owners=["self"], Filters=[{"Name": "name", "Values": [f"page-{run}-*"]}],
        PaginationConfig={"PageSize": 5},
    )
    seen = [i["ImageId"] for p in pages for i in p["Images"]]
    assert sorted(seen) == sorted(ids)
    for i in ids:
        ec2.deregister_image(ImageId=i)


def test_errors(ep):
    ec2 = harness.client(ep, "ec2")
    with pytest.raises(ClientError) as exc:
        ec2.describe_images(ImageIds=["ami-0123456789abcdef0"])
    assert code(exc) == "InvalidAMIID.NotFound"
    with pytest.raises(ClientError) as exc:
        ec2.describe_images(ImageIds=["ami-0123456789abcdef0"], MaxResults=5)
    assert code(exc) == "InvalidParameterCombination"
    with pytest.raises(ClientError) as exc:
        ec2.describe_images(ImageIds=["ami-nothex"])
    assert code(exc) == "InvalidAMIID.Malformed"
    with pytest.raises(ClientError) as exc:
        ec2.describe_images(Filters=[{"Name": "colour", "Values": ["x"]}])
    assert code(exc) == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        ec2.register_image(Name="no-such-object", ImageLocation="no-such-bucket-kumo/x.raw")
    assert code(exc) == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        ec2.register_image(Name="no-location")
    assert code(exc) == "MissingParameter"
    with pytest.raises(ClientError) as exc:
        ec2.deregister_image(ImageId="ami-0123456789abcdef0")
    assert code(exc) == "InvalidAMIID.NotFound"


def test_public_images_from_configuration(kumo_bin, tmp_path):
    """Public images come from `[[images.public]]`, keep their ids across restarts, are found
    by `Owners=["amazon"]`, and only their owner (the cloud) may change them."""
    config = tmp_path / "kumo.toml"
    config.write_text(
        '[[images.public]]\nname = "kumo-linux-2026.01-x86_64"\ndescription = "Kumo Linux"\n'
        'block_store_image = "kumo-linux"\nsize_gib = 4\n'
        '[[images.public]]\nname = "kumo-linux-2026.01-arm64"\nblock_store_image = "kumo-linux-arm"\n'
        'architecture = "arm64"\n'
    )
    server = harness.KumoServer(kumo_bin, tmp_path / "data", tmp_path / "kumo.log",
                                extra_args=("--config", str(config)))
    server.start()
    try:
        ec2 = harness.client(server.endpoint("http"), "ec2")
        # (The cloud's own tiny image may be registered too, once compute is up.)
        imgs = ec2.describe_images(
            Owners=["amazon"], Filters=[{"Name": "name", "Values": ["kumo-linux-*"]}]
        )["Images"]
        assert sorted(i["Name"] for i in imgs) == ["kumo-linux-2026.01-arm64", "kumo-linux-2026.01-x86_64"]
        x86 = ec2.describe_images(
            Owners=["amazon"], Filters=[{"Name": "name", "Values": ["kumo-linux-*"]},
                                        {"Name": "architecture", "Values": ["x86_64"]}]
        )["Images"][0]
        assert x86["OwnerId"] == "000000000000"
        assert x86["ImageOwnerAlias"] == "amazon"
        assert x86["Public"] is True
        assert x86["Description"] == "Kumo Linux"
        assert x86["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] == 4
        assert x86["ImdsSupport"] == "v2.0"
        assert ec2.describe_images(Owners=["kumo"], Filters=[{"Name": "owner-alias", "Values": ["amazon"]}])["Images"]
        assert ec2.describe_images(ExecutableUsers=["all"], ImageIds=[x86["ImageId"]])["Images"]
        assert ec2.describe_images(Owners=["self"])["Images"] == []
        with pytest.raises(ClientError) as exc:
            ec2.deregister_image(ImageId=x86["ImageId"])
        assert code(exc) == "AuthFailure"
        with pytest.raises(ClientError) as exc:
            ec2.modify_image_attribute(ImageId=x86["ImageId"], Description={"Value": "mine"})
        assert code(exc) == "AuthFailure"
        with pytest.raises(ClientError) as exc:
            ec2.describe_image_attribute(ImageId=x86["ImageId"], Attribute="launchPermission")
        assert code(exc) == "AuthFailure"
        assert ec2.describe_image_attribute(ImageId=x86["ImageId"], Attribute="bootMode")["BootMode"]["Value"] == "uefi-preferred"
        server.stop()
        server.start()
        ec2 = harness.client(server.endpoint("http"), "ec2")
        again = ec2.describe_images(
            Owners=["amazon"], Filters=[{"Name": "name", "Values": [x86["Name"]]}]
        )["Images"]
        assert [i["ImageId"] for i in again] == [x86["ImageId"]], "stable id across restarts"
    finally:
        server.stop()
