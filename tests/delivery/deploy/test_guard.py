"""The agent check: an agent must see exactly the account's own ghe-backup stacks."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ghe_backup.delivery.deploy.guard import WrongAccount, check_agent, check_caller
from ghe_backup.errors import ExitCode

PROD = SimpleNamespace(
    settings=SimpleNamespace(name="prod", account_id="123456789012"), lizzy_url="https://lizzy.prod.example.org"
)


def test_matching_stacks_pass():
    check_agent(PROD, ["ghe-backup-v2", "ghe-backup-v1"], ["ghe-backup-v1", "ghe-backup-v2"])


def test_another_accounts_agent_is_refused_with_exit_2():
    with pytest.raises(WrongAccount) as excinfo:
        check_agent(PROD, ["ghe-backup-s1"], ["ghe-backup-p1"])
    assert excinfo.value.exit_code == ExitCode.BAD_INPUT
    assert "agent sees ghe-backup-s1; account 123456789012 has ghe-backup-p1" in str(excinfo.value)


def test_credentials_of_another_account_are_refused_with_exit_2():
    assert check_caller(PROD, "123456789012") == "123456789012"
    with pytest.raises(WrongAccount) as excinfo:
        check_caller(PROD, "210987654321")
    assert excinfo.value.exit_code == ExitCode.BAD_INPUT
    assert "prod: the AWS credentials act in account 210987654321, not 123456789012" in str(excinfo.value)
