"""Approval per account: refused up front when it cannot be asked for, asked on a terminal."""

from __future__ import annotations

import pytest

from ghe_backup.delivery.deploy.approval import check_approval_possible
from ghe_backup.errors import ConfigError, ExitCode
from support.targets import make_target


@pytest.fixture
def accounts():
    return make_target("prod"), make_target("staging")


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
