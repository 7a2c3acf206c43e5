"""The definition as deployed: the sandbox's KMS key, a pinned AMI, remembered definitions."""

from __future__ import annotations

from ghe_backup.delivery.config import load_accounts
from ghe_backup.delivery.definition import PINNED_IMAGE, deploy_definition, pin_ami, recall_definition, remember_definition


def _app(definition):
    return next(c["AppServer"] for c in definition["SenzaComponents"] if "AppServer" in c)


def test_the_sandbox_key_replaces_the_overlay_key_only_in_the_sandbox(config_tree):
    account = load_accounts(config_tree)["prod"]
    endpoints = {"aws_accounts": {"prod": {"kms_private_ssh_key": "aws:kms:SANDBOX"}}}
    assert _app(deploy_definition(account, endpoints))["TaupageConfig"]["kms_private_ssh_key"].startswith("aws:kms:AQICAHhprod")
    sandboxed = account.retarget(aws_endpoint="http://127.0.0.1:5501")
    assert _app(deploy_definition(sandboxed, endpoints))["TaupageConfig"]["kms_private_ssh_key"] == "aws:kms:SANDBOX"


def test_pin_ami_maps_the_image_and_remembering_round_trips(config_tree):
    definition = load_accounts(config_tree)["staging"].definition
    pinned = pin_ami(definition, "eu-central-1", "ami-123")
    config = next(c["Configuration"] for c in pinned["SenzaComponents"] if "Configuration" in c)
    assert config["Images"] == {PINNED_IMAGE: {"eu-central-1": "ami-123"}} and _app(pinned)["Image"] == PINNED_IMAGE
    assert "Image" not in _app(definition) and pin_ami(definition, "eu-central-1", None) is definition
    remember_definition(config_tree, "staging", "ghe-backup-v1", pinned)
    assert recall_definition(config_tree, "staging", "ghe-backup-v1") == pinned
    assert recall_definition(config_tree, "staging", "ghe-backup-v2") is None
