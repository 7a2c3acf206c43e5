"""Settings from the environment: defaults, and errors that name the variable and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from ghe_backup.backup.settings import SettingError, load_settings


def test_defaults_match_the_documented_ones():
    s = load_settings({"HOME": "/root"})
    assert s.data_dir == Path("/data/ghe-data") and s.data_mount == Path("/data")
    assert s.health_port == 8080 and s.num_snapshots == 10
    assert s.max_snapshot_age == 2 * 86400 and s.stalled_snapshot_age == 86400
    assert s.ssh_key_path == Path("/root/.ssh/id_rsa")
    assert s.taupage_config == Path("/meta/taupage.yaml")
    assert s.backup_command == "ghe-backup" and s.require_data_mount is True
    assert s.lock_path.parent == s.data_dir and s.state_path.parent == s.data_dir


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("GHE_NUM_SNAPSHOTS", "0", "out of range"),
        ("GHE_NUM_SNAPSHOTS", "-3", "out of range"),
        ("GHE_NUM_SNAPSHOTS", "ten", "not a whole number"),
        ("HEALTH_PORT", "70000", "out of range"),
        ("MAX_SNAPSHOT_AGE", "1.5", "not a whole number"),
        ("MIN_FREE_PERCENT", "120", "not a percentage"),
        ("REQUIRE_DATA_MOUNT", "maybe", "not a yes/no value"),
        ("METADATA_TIMEOUT", "0", "must be positive"),
    ],
)
def test_bad_values_name_the_variable(name, value, fragment):
    with pytest.raises(SettingError) as err:
        load_settings({name: value})
    message = str(err.value)
    assert message.startswith(f"{name}=") and fragment in message and f"set {name}" in message
    assert err.value.exit_code == 2


def test_region_override_order():
    assert load_settings({"KMS_REGION": "eu-west-1", "AWS_REGION": "us-east-1"}).kms_region == "eu-west-1"
    assert load_settings({"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "x"}).kms_region == "us-east-1"
    assert load_settings({}).kms_region is None


def test_flags_and_percent_forms():
    s = load_settings({"REQUIRE_DATA_MOUNT": "no", "SSH_KEY_REPLACE": "YES", "MIN_FREE_PERCENT": "7.5%"})
    assert s.require_data_mount is False and s.replace_ssh_key is True and s.min_free_percent == 7.5
