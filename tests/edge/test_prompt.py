"""The approval question on a terminal: the plan is shown, anything but 'yes' refuses."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ghe_backup.edge.prompt import ask_approval
from ghe_backup.errors import ConfigError, ExitCode
from support.targets import make_target

SUMMARY = [
    ("image", "127.0.0.1:5000/ghe-backup:abc123"),
    ("digest", "sha256:feed"),
    ("AMI", "Taupage-AMI-20261101 (ami-1)"),
]


def plan():
    return SimpleNamespace(target=make_target("prod"), summary=lambda: SUMMARY)


def test_yes_approves_after_showing_what_changes(capsys):
    prompts = []
    ask_approval(plan(), read=lambda prompt: prompts.append(prompt) or "yes")
    err = capsys.readouterr().err
    assert "About to deploy to prod (123456789012):" in err
    for label, value in SUMMARY:
        assert label in err and value in err
    assert prompts == ["Deploy to prod? Type 'yes' to continue: "]


@pytest.mark.parametrize("answer", ["", "y", "no", "YES please"])
def test_anything_but_yes_refuses_and_changes_nothing(answer):
    with pytest.raises(ConfigError) as info:
        ask_approval(plan(), read=lambda prompt: answer)
    assert info.value.exit_code == ExitCode.BAD_INPUT
    assert str(info.value) == "prod: deployment not approved (nothing was changed)"


def test_end_of_input_refuses():
    def closed(prompt):
        raise EOFError

    with pytest.raises(ConfigError, match="not approved"):
        ask_approval(plan(), read=closed)
