"""Settings from the environment: defaults, and errors that name the variable and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from ghe_backup.backup.settings import SettingError, load_settings


def test_defaults_match_the_documented_ones():
    s = load_settings({"HOME": "/root"})
    # The original ghe-backup's directory: an old volume continues its own chain.
    assert s.data_dir == Path("/data/ghe-production-data") and s.data_mount == Path("/data")
    assert load_settings({"DATA_MOUNT": "/mnt/v"}).data_dir == Path("/mnt/v/ghe-production-data")
    assert s.host_key_policy == "pinned" and s.known_hosts is None and s.rsync_bwlimit is None
    assert s.shutdown_grace == 60 and s.state_table == "ghe-backup-state"
    assert load_settings({"STATE_TABLE": ""}).state_table is None  # off
    assert load_settings({"STATE_TABLE": "other"}).state_table == "other"
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
        ("RSYNC_BWLIMIT", "fast", "not a transfer rate"),
        ("RSYNC_BWLIMIT", "0", "not a transfer rate"),
        ("RSYNC_BWLIMIT", "10T", "not a transfer rate"),
        ("SSH_HOST_KEY_POLICY", "no", "not one of pinned, accept-new"),
    ],
)
def test_bad_values_name_the_variable(name, value, fragment):
    with pytest.raises(SettingError) as err:
        load_settings({name: value})
    message = str(err.value)
    assert message.startswith(f"{name}=") and fragment in message and f"set {name}" in message
    assert err.value.exit_code == 2


def test_region_override_order():
    assert load_settings({"KMS_REGION": "eu-west-1", "AWS_REGION": "us-east-1"}).aws_region == "eu-west-1"
    assert load_settings({"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "x"}).aws_region == "us-east-1"
    assert load_settings({}).aws_region is None


def test_bandwidth_limits_as_rsync_takes_them():
    for value in ("20000", "20M", "1.5g", "500k"):
        assert load_settings({"RSYNC_BWLIMIT": value}).rsync_bwlimit == value


def test_known_hosts_keep_their_lines():
    lines = "[ghe]:122 ssh-ed25519 AAAA\n[ghe]:122 ssh-rsa BBBB\n"
    assert load_settings({"GHE_KNOWN_HOSTS": lines}).known_hosts == lines


def test_flags_and_percent_forms():
    s = load_settings({"REQUIRE_DATA_MOUNT": "no", "SSH_KEY_REPLACE": "YES", "MIN_FREE_PERCENT": "7.5%"})
    assert s.require_data_mount is False and s.replace_ssh_key is True and s.min_free_percent == 7.5
