"""The definition as deployed: a pinned AMI, remembered definitions."""

from __future__ import annotations

from ghe_backup.delivery.config import load_accounts
from ghe_backup.delivery.deploy.definition import PINNED_IMAGE, pin_ami, recall_definition, remember_definition


def _app(definition):
    return next(c["AppServer"] for c in definition["SenzaComponents"] if "AppServer" in c)


def test_pin_ami_maps_the_image_and_remembering_round_trips(config_tree):
    definition = load_accounts(config_tree)["staging"].definition
    pinned = pin_ami(definition, "eu-central-1", "ami-123")
    config = next(c["Configuration"] for c in pinned["SenzaComponents"] if "Configuration" in c)
    assert config["Images"] == {PINNED_IMAGE: {"eu-central-1": "ami-123"}} and _app(pinned)["Image"] == PINNED_IMAGE
    assert "Image" not in _app(definition) and pin_ami(definition, "eu-central-1", None) is definition
    remember_definition(config_tree, "staging", "ghe-backup-v1", pinned)
    assert recall_definition(config_tree, "staging", "ghe-backup-v1") == pinned
    assert recall_definition(config_tree, "staging", "ghe-backup-v2") is None
