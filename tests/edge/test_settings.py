"""ghe.* settings: defaults in one place, switches read strictly."""

from __future__ import annotations

import pytest
from invoke import Config

import tasks
from ghe_backup.edge import settings
from ghe_backup.errors import ExitCode, UsageError


@pytest.mark.parametrize(
    "value, expected",
    [
        ("1", True),
        ("true", True),
        ("YES", True),
        ("on", True),
        (True, True),
        ("0", False),
        ("false", False),
        ("No", False),
        ("off", False),
        ("", False),
        (None, False),
        (False, False),
    ],
)
def test_switches_are_read_strictly(value, expected):
    assert settings.parse_switch(value, "X") is expected


@pytest.mark.parametrize("value", ["maybe", "2", "ture", "-1"])
def test_anything_else_is_bad_input(value):
    with pytest.raises(UsageError) as err:
        settings.parse_switch(value, "INVOKE_GHE_SANDBOX")
    assert err.value.exit_code == ExitCode.BAD_INPUT
    assert (
        str(err.value)
        == f"INVOKE_GHE_SANDBOX: {value!r} is not a yes/no value (use one of: 1, 0, true, false, yes, no)"
    )


def test_false_in_the_environment_is_false_even_over_a_config_true(monkeypatch):
    config = Config(overrides={"ghe": {"sandbox": True}})
    monkeypatch.setenv("INVOKE_GHE_SANDBOX", "false")
    assert settings.sandbox_wanted(False, config) is False
    assert settings.sandbox_wanted(True, config) is True  # the flag wins
    monkeypatch.delenv("INVOKE_GHE_SANDBOX")
    assert settings.sandbox_wanted(False, config) is True
    assert settings.sandbox_wanted(False, Config(overrides={"ghe": {"sandbox": "no"}})) is False


def test_every_setting_is_declared_with_its_default_on_the_collection():
    assert tasks.ns.configuration()["ghe"] == settings.DEFAULTS["ghe"]
    assert set(settings.DEFAULTS["ghe"]["image"]) == {
        "base_image",
        "backup_utils_source",
        "backup_utils_version",
        "pip_cert",
    }


def test_image_settings_keep_only_what_is_set():
    config = Config(overrides={"ghe": {"image": {"base_image": "debian:12", "pip_cert": None}}})
    assert settings.image_settings(config) == {"base_image": "debian:12"}
    with pytest.raises(UsageError, match="ghe.image"):
        settings.image_settings(Config(overrides={"ghe": {"image": "debian:12"}}))


def test_debug_is_a_switch_too(monkeypatch):
    monkeypatch.delenv("INVOKE_DEBUG", raising=False)
    monkeypatch.setenv("GHE_BACKUP_DEBUG", "0")
    assert settings.debug_wanted() is False
    monkeypatch.setenv("GHE_BACKUP_DEBUG", "1")
    assert settings.debug_wanted() is True
