"""Merge rules, on real YAML files (tests/data/merge/)."""

from pathlib import Path

import pytest
import yaml

from ghe_backup.delivery.config.merge import leaves, merge_layers

DATA = Path(__file__).resolve().parents[2] / "data" / "merge"


def load(name):
    return yaml.safe_load((DATA / name).read_text())


@pytest.fixture
def merged():
    return merge_layers(
        [("base", load("base.yaml")), ("defaults", load("defaults.yaml")), ("overlay", load("overlay.yaml"))]
    )


def test_layers_merge_to_the_expected_file(merged):
    assert merged.data == load("expected.yaml")


def test_result_is_deterministic_and_keeps_base_order(merged):
    again = merge_layers(
        [("base", load("base.yaml")), ("defaults", load("defaults.yaml")), ("overlay", load("overlay.yaml"))]
    )
    assert yaml.safe_dump(again.data, sort_keys=False) == yaml.safe_dump(merged.data, sort_keys=False)
    assert [next(iter(c)) for c in merged.data["SenzaComponents"]] == ["Configuration", "AppServer", "Sidecar"]


def test_mappings_merge_recursively(merged):
    env = merged.data["SenzaComponents"][1]["AppServer"]["TaupageConfig"]["environment"]
    assert env["GHE_HOSTNAME"] == "github.example.org"  # untouched base value kept
    assert env["BACKUP_SCHEDULE"] == "0 1-23/2 * * *"  # overlay value wins


def test_keyed_lists_merge_by_key_and_append_new_entries(merged):
    params = merged.data["SenzaInfo"]["Parameters"]
    assert params == [
        {"ImageVersion": {"Description": "content tag"}},
        {"Extra": {"Description": "added by the overlay"}},
    ]


def test_other_lists_are_replaced(merged):
    assert merged.data["SenzaComponents"][1]["AppServer"]["SecurityGroups"] == ["only-this-sg"]


def test_explicit_null_removes_a_key(merged):
    assert "ports" not in merged.data["SenzaComponents"][1]["AppServer"]["TaupageConfig"]
    assert not [p for p in merged.origins if "ports" in p]


def test_later_layers_win_over_earlier_ones():
    merged = merge_layers([("a", {"x": {"y": 1}}), ("b", {"x": {"y": 2}}), ("c", {"x": {"y": 3}})])
    assert merged.data == {"x": {"y": 3}}
    assert merged.origin("x", "y") == "c"


def test_origins_name_the_layer_each_value_came_from(merged):
    assert merged.origin("SenzaInfo", "StackName") == "base"
    assert (
        merged.origin("SenzaComponents", "AppServer", "TaupageConfig", "environment", "GHE_NUM_SNAPSHOTS") == "defaults"
    )
    assert merged.origin("SenzaComponents", "AppServer", "InstanceType") == "overlay"
    assert merged.origin("SenzaComponents", "AppServer", "SecurityGroups") == "overlay"
    assert merged.origin("SenzaComponents", "Sidecar", "Type") == "overlay"


def test_leaves_cover_every_value_once(merged):
    found = {path: (value, source) for path, value, source in leaves(merged)}
    assert found[("SenzaComponents", "AppServer", "InstanceType")] == ("m5.large", "overlay")
    assert found[("SenzaInfo", "Parameters", "Extra", "Description")] == ("added by the overlay", "overlay")
    assert len(found) == len(leaves(merged))
    assert all(source != "?" for _, _, source in leaves(merged))


def test_inputs_are_not_modified():
    base = load("base.yaml")
    before = yaml.safe_dump(base)
    merge_layers([("base", base), ("overlay", load("overlay.yaml"))])
    assert yaml.safe_dump(base) == before


def test_a_malformed_keyed_list_is_rejected():
    with pytest.raises(ValueError, match="SenzaComponents must be a list of single-key mappings"):
        merge_layers([("base", {"SenzaComponents": [{"A": {}, "B": {}}]})])
