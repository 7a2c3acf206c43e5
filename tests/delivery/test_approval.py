"""Approval per account: refused up front when it cannot be asked for, asked on a terminal."""

from __future__ import annotations

import pytest

from ghe_backup.delivery.approval import ask, check_approval_possible
from ghe_backup.delivery.config import load_accounts
from ghe_backup.errors import ConfigError, ExitCode


@pytest.fixture
def accounts(config_tree):
    loaded = load_accounts(config_tree)
    return loaded["prod"], loaded["staging"]


def test_approval_needed_without_terminal_or_yes_is_refused_up_front(accounts):
    prod, staging = accounts
    with pytest.raises(ConfigError) as info:
        check_approval_possible([staging, prod], assume_yes=False, interactive=False)
    assert info.value.exit_code == ExitCode.BAD_INPUT
    assert str(info.value) == (
        "prod: deployment needs approval and there is no terminal to ask on (approve in your CI system, then pass --yes)"
    )


@pytest.mark.parametrize("assume_yes, interactive", [(True, False), (False, True), (True, True)])
def test_approval_can_be_given_or_asked_for(accounts, assume_yes, interactive):
    check_approval_possible(list(accounts), assume_yes=assume_yes, interactive=interactive)


def test_accounts_without_approval_never_need_it(accounts):
    _, staging = accounts
    check_approval_possible([staging], assume_yes=False, interactive=False)


SUMMARY = [("image", "127.0.0.1:5000/ghe-backup:abc123"), ("digest", "sha256:feed"), ("AMI", "Taupage-AMI-20261101 (ami-1)")]


def test_yes_approves_after_showing_what_changes(accounts, capsys):
    prod, _ = accounts
    prompts = []
    ask(prod, SUMMARY, read=lambda prompt: prompts.append(prompt) or "yes")
    err = capsys.readouterr().err
    assert "About to deploy to prod (123456789012):" in err
    for label, value in SUMMARY:
        assert label in err and value in err
    assert prompts == ["Deploy to prod? Type 'yes' to continue: "]


@pytest.mark.parametrize("answer", ["", "y", "no", "YES please"])
def test_anything_but_yes_refuses_and_changes_nothing(accounts, answer):
    prod, _ = accounts
    with pytest.raises(ConfigError) as info:
        ask(prod, SUMMARY, read=lambda prompt: answer)
    assert info.value.exit_code == ExitCode.BAD_INPUT
    assert str(info.value) == "prod: deployment not approved (nothing was changed)"
