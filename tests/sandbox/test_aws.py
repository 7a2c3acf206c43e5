"""The emulated accounts: seeding, the Taupage catalogue and publishing a newer AMI."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from ghe_backup.delivery.config import load_accounts
from ghe_backup.edge.targets import Resolution
from ghe_backup.plumbing.cloudformation import CloudFormationAccount
from ghe_backup.sandbox import aws


def test_catalogue_has_published_and_staged_taupage_images(tmp_path):
    images = json.loads(aws.write_catalogue(tmp_path / "amis.json", dt.date(2026, 11, 27)).read_text())
    available = sorted(i["name"] for i in images if i["state"] == "available")
    assert available[-1] == "Taupage-AMI-20261107-000000" and len(available) == 3
    assert all(i["root_device_type"] == "ebs" and i["public"] is False for i in images)
    assert "Taupage-AMI-20261127-000000" in {i["name"] for i in images if i["state"] == "disabled"}


@pytest.mark.integration
def test_accounts_are_seeded_and_a_newer_taupage_can_be_published(sandbox_accounts):
    root = sandbox_accounts.root
    for name, account in load_accounts(root).items():
        seeded = sandbox_accounts.endpoints["aws_accounts"][name]
        ec2 = aws.account_client(account.settings, "ec2")
        [volume] = ec2.describe_volumes(Filters=[{"Name": "tag:Name", "Values": ["ghe-backup-data"]}])["Volumes"]
        assert volume["VolumeId"] == seeded["volume_id"] and volume["AvailabilityZone"] == "eu-central-1a"
        assert (
            ec2.describe_security_groups(GroupIds=[seeded["security_group_id"]])["SecurityGroups"][0]["GroupName"]
            == "app-ghe-backup"
        )
        assert (
            aws.account_client(account.settings, "iam").get_role(RoleName="app-ghe-backup")["Role"]["Arn"].split(":")[4]
            == account.settings.account_id
        )
        blob = seeded["kms_private_ssh_key"].removeprefix("aws:kms:")
        import base64

        plain = aws.account_client(account.settings, "kms").decrypt(CiphertextBlob=base64.b64decode(blob))["Plaintext"]
        assert plain.startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----")

    [staging] = Resolution(root).targets(["staging"], True)
    before = CloudFormationAccount(staging.access()).newest_taupage()
    published = aws.publish_taupage(root)
    after = CloudFormationAccount(staging.access()).newest_taupage()
    assert after["id"] == published["staging"]["image_id"] and after["name"] > before["name"]
