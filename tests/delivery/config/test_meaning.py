"""What values mean, checked on whole accounts: the one line names the file and line the value came from."""

from __future__ import annotations

import pytest

from ghe_backup.delivery.config import load_accounts
from ghe_backup.errors import ConfigError, ExitCode

PROD, STAGING = "config/accounts/prod.yaml", "config/accounts/staging.yaml"
BASE, DEFAULTS = "senza/ghe-backup.yaml", "config/defaults.yaml"


def edit(root, relpath, old, new):
    path = root / relpath
    text = path.read_text()
    assert old in text, f"{old!r} not in {relpath}"
    path.write_text(text.replace(old, new, 1))


def error_of(root) -> str:
    with pytest.raises(ConfigError) as info:
        load_accounts(root)
    assert info.value.exit_code == ExitCode.BAD_INPUT
    return str(info.value)


def test_the_fixture_tree_means_what_it_says(config_tree):
    assert sorted(load_accounts(config_tree)) == ["prod", "staging"]


def test_a_value_from_the_base_is_reported_in_the_base(config_tree):
    edit(config_tree, BASE, "erase_on_boot: false", "erase_on_boot: true")
    assert error_of(config_tree) == (
        "senza/ghe-backup.yaml:48: SenzaComponents.AppServer.TaupageConfig.mounts./data.erase_on_boot: true would "
        "erase the data volume, and every backup on it, at each boot (keep erase_on_boot: false)"
    )


def test_a_value_from_the_defaults_is_reported_in_the_defaults(config_tree):
    edit(config_tree, DEFAULTS, "GHE_HOSTNAME: github.example.org", "GHE_HOSTNAME: https://github.example.org")
    assert error_of(config_tree) == (
        "config/defaults.yaml:21: SenzaComponents.AppServer.TaupageConfig.environment.GHE_HOSTNAME: "
        "'https://github.example.org' is a URL, not a host name (give the host only: github.example.org)"
    )


def test_an_overlay_value_is_reported_in_the_overlay_even_over_the_base(config_tree):
    edit(config_tree, PROD, "InstanceType: m5.large", "InstanceType: m5.lrage")
    assert error_of(config_tree).startswith(
        "config/accounts/prod.yaml:14: SenzaComponents.AppServer.InstanceType: 'm5.lrage' is not an EC2 instance type"
    )


def test_a_pipeline_value_from_the_defaults(config_tree):
    edit(config_tree, DEFAULTS, "deploy_timeout: 1800", "deploy_timeout: 5")
    edit(config_tree, PROD, "  deploy_timeout: 2400\n", "")
    assert error_of(config_tree) == (
        "config/defaults.yaml:7: pipeline.deploy_timeout: 5 seconds is too short for a stack (use 60 to 21600)"
    )


def test_availability_zones_keep_working_with_the_region_placeholder(config_tree):
    edit(config_tree, BASE, '["${region}a"]', '["${region}a", "${region}b"]')
    load_accounts(config_tree)
    edit(config_tree, BASE, '"${region}b"', '"us-east-1b"')
    assert error_of(config_tree) == (
        "senza/ghe-backup.yaml:18: SenzaComponents.Configuration.AvailabilityZones.1: 'us-east-1b' is not an "
        "availability zone of eu-central-1 (use ${region}a, the zone the data volume lives in)"
    )


def test_a_schedule_overlapping_another_accounts_names_both(config_tree):
    edit(config_tree, STAGING, '"0 1-23/2 * * *"', '"30 */2 * * *"')
    assert error_of(config_tree) == (
        "config/accounts/staging.yaml:18: SenzaComponents.AppServer.TaupageConfig.environment.BACKUP_SCHEDULE: "
        "'30 */2 * * *' starts within 59 minutes of prod's '0 */2 * * *' (e.g. Mon 00:00 and Mon 00:30 UTC): two "
        "backups of the appliance would run at once (give each account its own hours, e.g. prod '0 */2 * * *' "
        "and staging '0 1-23/2 * * *')"
    )


def test_a_schedule_sparser_than_the_health_check_wants(config_tree):
    edit(config_tree, STAGING, '"0 1-23/2 * * *"', '"0 1 * * *"')
    assert (
        "'0 1 * * *' leaves up to 24 h between backups, but MAX_SNAPSHOT_AGE is 4 h: /health would raise the "
        "stale alert between backups (back up more often, or raise MAX_SNAPSHOT_AGE)"
    ) in error_of(config_tree)
    edit(config_tree, STAGING, "GHE_NUM_SNAPSHOTS: 24", "GHE_NUM_SNAPSHOTS: 24\n            MAX_SNAPSHOT_AGE: 90000")
    load_accounts(config_tree)  # raised to over a day: fine


def test_two_accounts_sharing_an_agent(config_tree):
    edit(config_tree, STAGING, "https://lizzy.staging.example.org", "https://lizzy.prod.example.org/")
    assert error_of(config_tree) == (
        "config/accounts/staging.yaml:6: pipeline.lizzy_url: is also prod's agent: each account has its own Lizzy "
        "agent (use this account's agent)"
    )


def test_a_secret_pasted_anywhere_is_refused_and_not_shown(config_tree):
    token = "ghp_" + "aB3" * 12
    edit(config_tree, PROD, "GHE_NUM_SNAPSHOTS: 72", f"GHE_NUM_SNAPSHOTS: 72\n            NOTE: {token}")
    message = error_of(config_tree)
    assert message.startswith(
        "config/accounts/prod.yaml:19: SenzaComponents.AppServer.TaupageConfig.environment.NOTE: looks like a "
        "GitHub token (not shown)"
    )
    assert token not in message


def test_the_data_volume_is_checked_before_single_values(config_tree):
    edit(config_tree, BASE, "erase_on_boot: false", "erase_on_boot: true")
    edit(config_tree, PROD, "InstanceType: m5.large", "InstanceType: m5.lrage")
    assert "erase_on_boot: true would erase the data volume" in error_of(config_tree)


def test_shape_comes_before_meaning_and_names_the_claimed_id(config_tree):
    edit(config_tree, STAGING, '"210987654321"', '"123456789012"')  # also makes staging's registry another account's
    assert "pipeline.account_id: 123456789012 is already claimed by config/accounts/prod.yaml" in error_of(config_tree)


@pytest.mark.parametrize(
    "line, message",
    [
        (
            "BACKUP_SCHEDULES: '0 1 * * *'",
            "environment.BACKUP_SCHEDULES: the container reads no such variable, so BACKUP_SCHEDULE keeps its "
            "default or the base's value (did you mean BACKUP_SCHEDULE?)",
        ),
        ("HEALTH_PORT: 70000", "environment.HEALTH_PORT: 70000 is out of range: the container would refuse to start"),
        (
            "MIN_FREE_PERCENT: 150",
            "environment.MIN_FREE_PERCENT: '150' is not a percentage: the container would refuse",
        ),
        ("SSH_KEY_REPLACE: maybe", "environment.SSH_KEY_REPLACE: 'maybe' is not a yes/no value: the container would"),
        ("MAX_SNAPSHOT_AGE: 5", "environment.MAX_SNAPSHOT_AGE: 5 is out of range: the container would refuse to start"),
        ("GHE_NUM_SNAPSH\u041eTS: 5", "environment.'GHE_NUM_SNAPSH\\u041eTS': not an environment variable name"),
        ("HEALTH_PORT: 9090", "TaupageConfig.health_check_port: 8080 is not HEALTH_PORT (9090)"),
    ],
)
def test_the_container_environment_means_what_the_container_reads(config_tree, line, message):
    edit(config_tree, PROD, "GHE_NUM_SNAPSHOTS: 72", f"GHE_NUM_SNAPSHOTS: 72\n            {line}")
    assert message in error_of(config_tree)


@pytest.mark.parametrize(
    "line, message",
    [
        (
            "STATE_TABLE: other-table",
            "config/accounts/prod.yaml:19: SenzaComponents.AppServer.TaupageConfig.environment.STATE_TABLE: "
            "'other-table' is not pipeline.state_table (ghe-backup-state): deploys would not wait for this "
            "container's backups and inv status would not see them (remove STATE_TABLE (the pipeline passes "
            "pipeline.state_table to the container), or set pipeline.state_table to that table)",
        ),
        (
            "STATE_TABLE: ''",
            "environment.STATE_TABLE: '' turns the container's recording off (ghe-backup-state): deploys would not",
        ),
    ],
)
def test_a_container_state_table_other_than_the_pipelines_is_refused(config_tree, line, message):
    edit(config_tree, PROD, "GHE_NUM_SNAPSHOTS: 72", f"GHE_NUM_SNAPSHOTS: 72\n            {line}")
    assert message in error_of(config_tree)


def _host_key(seed: int = 1) -> str:
    """An ed25519 host key as ssh-keyscan prints it (the SSH wire format, base64)."""
    import base64
    import struct

    blob = b"".join(struct.pack(">I", len(part)) + part for part in (b"ssh-ed25519", bytes([seed]) * 32))
    return f"ssh-ed25519 {base64.b64encode(blob).decode()}"


PINNED = f"GHE_KNOWN_HOSTS: |\n              [github.example.org]:122 {_host_key()}\n              {_host_key(2)}"


@pytest.mark.parametrize(
    "lines, message",
    [
        (
            [PINNED],  # the base's accept-new left in place
            "config/accounts/prod.yaml:19: SenzaComponents.AppServer.TaupageConfig.environment.GHE_KNOWN_HOSTS: "
            "is set and SSH_HOST_KEY_POLICY=accept-new: the container would refuse to start (pin the keys with "
            "SSH_HOST_KEY_POLICY=pinned, or accept new ones without GHE_KNOWN_HOSTS, not both)",
        ),
        (
            ["SSH_HOST_KEY_POLICY: pinned"],
            "config/accounts/prod.yaml:19: SenzaComponents.AppServer.TaupageConfig.environment.SSH_HOST_KEY_POLICY: "
            "GHE_KNOWN_HOSTS is not set: the appliance's host key must be pinned: the container would refuse",
        ),
        (
            ["SSH_HOST_KEY_POLICY: pinned", "GHE_KNOWN_HOSTS: 'github.example.org ssh-ed25519 AAAAnot-a-key'"],
            "environment.GHE_KNOWN_HOSTS: line 1 has a ssh-ed25519 key that is not valid base64 of that type: "
            "the container would refuse to start",
        ),
        (
            ["SSH_HOST_KEY_POLICY: pinned", "GHE_KNOWN_HOSTS: '@cert-authority * ssh-ed25519 AAAA'"],
            "environment.GHE_KNOWN_HOSTS: line 1 has the marker @cert-authority, which is not supported",
        ),
        (
            ["GHE_EXTRA_SSH_OPTS: -o StrictHostKeyChecking=no"],
            "environment.GHE_EXTRA_SSH_OPTS: sets stricthostkeychecking, which decides which host key is trusted: "
            "the container would refuse to start",
        ),
    ],
    ids=["keys-with-accept-new", "pinned-without-keys", "bad-key", "marker", "extra-ssh-opts"],
)
def test_host_key_settings_the_container_refuses_are_refused(config_tree, lines, message):
    text = "".join(f"\n            {line}" for line in lines)
    edit(config_tree, PROD, "GHE_NUM_SNAPSHOTS: 72", f"GHE_NUM_SNAPSHOTS: 72{text}")
    assert message in error_of(config_tree)


def test_pinned_host_keys_are_accepted_and_reach_the_container(config_tree):
    edit(
        config_tree,
        PROD,
        "GHE_NUM_SNAPSHOTS: 72",
        f"GHE_NUM_SNAPSHOTS: 72\n            SSH_HOST_KEY_POLICY: pinned\n            {PINNED}",
    )
    env = load_accounts(config_tree)["prod"].component("AppServer")["TaupageConfig"]["environment"]
    assert env["SSH_HOST_KEY_POLICY"] == "pinned"
    assert env["GHE_KNOWN_HOSTS"] == f"[github.example.org]:122 {_host_key()}\n{_host_key(2)}\n"


def test_every_documented_container_variable_is_known():
    import re
    from pathlib import Path

    from ghe_backup.delivery.config.values import CONTAINER_ENVIRONMENT

    doc = (Path(__file__).resolve().parents[3] / "docs" / "backup-program.md").read_text()
    table = doc.split("## Environment", 1)[1].split("\n\n", 2)[1]
    assert sorted(re.findall(r"^\| `([A-Z0-9_]+)`", table, re.M)) == sorted(CONTAINER_ENVIRONMENT)
