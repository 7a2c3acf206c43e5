"""The definition as deployed: its hash, the stack's tags, a pinned AMI, remembered definitions."""

from __future__ import annotations

import copy

from ghe_backup.delivery.config import load_accounts
from ghe_backup.delivery.deploy.definition import (
    PINNED_IMAGE,
    definition_hash,
    pin_ami,
    recall_definition,
    remember_definition,
    with_tags,
)
from ghe_backup.errors import Unreachable
from support.fakes import FakeStore


def _app(definition):
    return next(c["AppServer"] for c in definition["SenzaComponents"] if "AppServer" in c)


def test_pin_ami_maps_the_image(config_tree):
    definition = load_accounts(config_tree)["staging"].definition
    pinned = pin_ami(definition, "eu-central-1", "ami-123")
    config = next(c["Configuration"] for c in pinned["SenzaComponents"] if "Configuration" in c)
    assert config["Images"] == {PINNED_IMAGE: {"eu-central-1": "ami-123"}} and _app(pinned)["Image"] == PINNED_IMAGE
    assert "Image" not in _app(definition) and pin_ami(definition, "eu-central-1", None) is definition


def test_the_hash_follows_content_not_key_order(config_tree):
    definition = load_accounts(config_tree)["staging"].definition
    reordered = copy.deepcopy(dict(reversed(list(definition.items()))))
    assert definition_hash(definition) == definition_hash(reordered) and len(definition_hash(definition)) == 16
    _app(reordered)["InstanceType"] = "m5.large"
    assert definition_hash(definition) != definition_hash(reordered)


def test_tags_go_on_the_stack_and_replace_their_own_earlier_values(config_tree):
    definition = load_accounts(config_tree)["staging"].definition
    definition["SenzaInfo"]["Tags"] = [{"team": "ops"}, {"ghe-backup:image-digest": "old"}]
    tagged = with_tags(definition, {"ghe-backup:image-digest": "sha256:new", "ghe-backup:git-sha": None})
    assert tagged["SenzaInfo"]["Tags"] == [{"team": "ops"}, {"ghe-backup:image-digest": "sha256:new"}]
    assert definition["SenzaInfo"]["Tags"][1] == {"ghe-backup:image-digest": "old"}  # a copy


def test_remembered_in_the_account_and_locally(config_tree):
    definition = load_accounts(config_tree)["staging"].definition
    store, state = FakeStore(), config_tree / ".state"
    remember_definition(store, state, "staging", "ghe-backup-v1", definition)
    assert recall_definition(store, config_tree / "another-machine", "staging", "ghe-backup-v1") == definition
    assert recall_definition(None, state, "staging", "ghe-backup-v1") == definition  # offline: the local copy
    assert recall_definition(store, state, "staging", "ghe-backup-v2") is None


def test_an_unreachable_store_falls_back_to_the_local_copy(config_tree):
    definition = load_accounts(config_tree)["staging"].definition
    state = config_tree / ".state"
    remember_definition(None, state, "staging", "ghe-backup-v1", definition)

    class Down:
        def get(self, pk, sk):
            raise Unreachable("DynamoDB did not answer")

    assert recall_definition(Down(), state, "staging", "ghe-backup-v1") == definition


def test_a_dumped_definition_is_remembered_by_value_and_types():
    from ghe_backup.delivery.deploy.definition import dump

    definition = {"SenzaInfo": {"StackName": "ghe-backup"}, "Port": 1}
    first = dump(definition)
    assert dump(definition) == first and "Port: 1\n" in first
    assert "Port: '1'\n" in dump({"SenzaInfo": {"StackName": "ghe-backup"}, "Port": "1"})
    assert "Port: true\n" in dump({"SenzaInfo": {"StackName": "ghe-backup"}, "Port": True})
    definition["Port"] = 2  # changed after it was written: written anew
    assert "Port: 2\n" in dump(definition)
    assert dump({"Port": 1, "SenzaInfo": {"StackName": "ghe-backup"}}).startswith("Port: 1\n")  # key order kept
