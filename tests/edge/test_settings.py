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


# --- the environment, checked before any task runs ---------------------------------------------


def environment_error(env) -> str:
    with pytest.raises(UsageError) as err:
        settings.check_environment(env)
    assert err.value.exit_code == ExitCode.BAD_INPUT
    return str(err.value)


def test_a_clean_environment_passes(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "senza").mkdir()
    settings.check_environment(
        {
            "GHE_BACKUP_DEBUG": "0",
            "INVOKE_GHE_SANDBOX": "yes",
            "GHE_BACKUP_ROOT": str(tmp_path),
            "GHE_BACKUP_USER": "ci",
        }
    )


@pytest.mark.parametrize(
    "env, message",
    [
        ({"GHE_BACKUP_DEBUG": "maybe"}, "GHE_BACKUP_DEBUG: 'maybe' is not a yes/no value"),
        ({"INVOKE_DEBUG": "verbose"}, "INVOKE_DEBUG: 'verbose' is not a yes/no value"),
        ({"INVOKE_GHE_SANDBOX": "sandbox"}, "INVOKE_GHE_SANDBOX: 'sandbox' is not a yes/no value"),
        (
            {"INVOKE_GHE_SANDBX": "1"},
            "INVOKE_GHE_SANDBX: not a setting (Invoke would ignore it) (did you mean INVOKE_GHE_SANDBOX?)",
        ),
        (
            {"INVOKE_GHE_IMAGE_BASE": "debian:12"},
            "INVOKE_GHE_IMAGE_BASE: not a setting (Invoke would ignore it) (did you mean INVOKE_GHE_IMAGE_BASE_IMAGE?)",
        ),
        ({"GHE_BACKUP_ROOT": "/nonexistent"}, "GHE_BACKUP_ROOT: '/nonexistent' is not a directory"),
        ({"GHE_BACKUP_ROOT": "/"}, "GHE_BACKUP_ROOT: '/' has no config/ and senza/"),
        ({"GHE_BACKUP_USER": "ci\nadmin"}, "GHE_BACKUP_USER: not a user name"),
        ({"GHE_BACKUP_USER": " "}, "GHE_BACKUP_USER: not a user name"),
    ],
)
def test_a_bad_environment_is_refused(env, message):
    assert environment_error(env).startswith(message)


def test_a_token_set_as_a_switch_is_not_echoed():
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyMTIzNDUifQ.c2lnbmF0dXJlMTIzNDU2Nzg5"
    message = environment_error({"INVOKE_GHE_SANDBOX": token})
    assert token[:20] not in message and "looks like a token (JWT) (not shown)" in message


def test_every_setting_has_its_variable():
    assert settings.setting_variables() == {
        "INVOKE_GHE_SANDBOX",
        "INVOKE_GHE_PARALLEL",
        "INVOKE_GHE_ENGINE_TIMEOUT",
        "INVOKE_GHE_IMAGE_BASE_IMAGE",
        "INVOKE_GHE_IMAGE_BACKUP_UTILS_SOURCE",
        "INVOKE_GHE_IMAGE_BACKUP_UTILS_VERSION",
        "INVOKE_GHE_IMAGE_PIP_CERT",
    }


def test_invoke_config_settings_are_checked_up_front(monkeypatch):
    monkeypatch.delenv("INVOKE_GHE_SANDBOX", raising=False)
    settings.check_config(Config(overrides={"ghe": {"sandbox": "no", "image": {"base_image": "debian:12"}}}))
    with pytest.raises(UsageError, match=r"ghe.sandbox \(Invoke config\): 'perhaps' is not a yes/no value"):
        settings.check_config(Config(overrides={"ghe": {"sandbox": "perhaps"}}))
    with pytest.raises(UsageError, match=r"ghe.image.base_image \(Invoke config\): 12 is not a one-word text"):
        settings.check_config(Config(overrides={"ghe": {"image": {"base_image": 12}}}))
    with pytest.raises(UsageError, match=r"ghe.image.backup_utils_source \(Invoke config\): 'svn' is not allowed"):
        settings.check_config(Config(overrides={"ghe": {"image": {"backup_utils_source": "svn"}}}))


def test_the_backup_utils_sources_are_the_dockerfiles():
    """What the settings' comments claim: the sources the Dockerfile accepts, release its default."""
    import re
    from pathlib import Path

    from ghe_backup.delivery.image.args import DEFAULT_ARGS
    from ghe_backup.edge.settings import BACKUP_UTILS_SOURCES

    dockerfile = (Path(__file__).resolve().parents[2] / "Dockerfile").read_text()
    stage = dockerfile.split('case "$BACKUP_UTILS_SOURCE" in', 1)[1].split("esac", 1)[0]
    accepted = {name for pattern in re.findall(r"^\s+([a-z|]+)\) \\$", stage, re.M) for name in pattern.split("|")}
    assert accepted == set(BACKUP_UTILS_SOURCES) == {"release", "git", "context"}
    assert re.search(r"^\s+BACKUP_UTILS_SOURCE=release \\$", dockerfile, re.M)
    assert DEFAULT_ARGS["BACKUP_UTILS_SOURCE"] == "release"


@pytest.mark.parametrize("value", ["nan", "inf", "4", "3601", "-1", "ten", ""])
def test_an_engine_timeout_out_of_range_is_bad_input(value):
    with pytest.raises(UsageError, match=r"ghe.engine_timeout \(Invoke config\): .* is not a number of seconds"):
        settings.engine_timeout(Config(overrides={"ghe": {"engine_timeout": value}}))


def test_the_engine_timeout_defaults_to_five_minutes():
    assert settings.engine_timeout(Config(overrides={"ghe": {}})) == 300
    assert settings.engine_timeout(Config(overrides={"ghe": {"engine_timeout": " 20 "}})) == 20
