"""The delivery order of the accounts and the names CI files give them."""

from __future__ import annotations

import pytest

from ghe_backup.ci.layout import layout
from ghe_backup.delivery.config import load_accounts
from ghe_backup.errors import ConfigError
from support.accounts import add_account


def names(found):
    return [[a.name for a in wave] for wave in found.waves]


def test_accounts_without_approval_come_first(config_tree):
    assert names(layout(load_accounts(config_tree))) == [["staging"], ["prod"]]


def test_a_new_account_takes_its_place_from_its_approval_setting(config_tree):
    add_account(config_tree, "dr", approval=True)
    found = layout(load_accounts(config_tree))
    assert names(found) == [["staging"], ["dr", "prod"]]
    dr = found.accounts[1]
    assert [a.name for a in found.before(dr)] == ["staging"]
    assert found.before(found.accounts[0]) == ()


def test_an_unattended_new_account_joins_the_first_wave(config_tree):
    add_account(config_tree, "dev", approval=False)
    assert names(layout(load_accounts(config_tree))) == [["dev", "staging"], ["prod"]]


def test_only_one_kind_of_account_is_one_wave(config_tree):
    (config_tree / "config" / "accounts" / "prod.yaml").unlink()
    assert names(layout(load_accounts(config_tree))) == [["staging"]]


def test_names_ci_files_use(config_tree):
    prod = next(a for a in layout(load_accounts(config_tree)).accounts if a.name == "prod")
    assert prod.role_variable == "GHE_BACKUP_ROLE_PROD"
    assert prod.lock_resource == "ghe-backup-prod"
    assert prod.aws_credentials_id == "ghe-backup-aws-prod"
    assert prod.lizzy_credentials_id == "ghe-backup-lizzy-token-prod"
    assert prod.lizzy_token_env == "LIZZY_TOKEN"
    assert prod.plan_file == "plan-prod.json"
    # deploy_timeout 2400 s: lock wait 10 min + three times the timeout + 5 min grace, + 15 min set-up
    assert prod.job_minutes == 150


def test_a_senza_account_has_no_lizzy_token(config_tree):
    add_account(config_tree, "dr", approval=True, deployer="senza")
    dr = next(a for a in layout(load_accounts(config_tree)).accounts if a.name == "dr")
    assert dr.deployer == "senza" and dr.lizzy_token_env is None


def test_an_account_name_that_cannot_name_jobs_is_refused_naming_the_file(config_tree):
    add_account(config_tree, "eu.prod", approval=True)
    # the config check refuses it first: no task (the CI generators included) runs on such a name
    with pytest.raises(ConfigError, match=r"config/accounts/eu\.prod\.yaml: 'eu\.prod' is not an account name"):
        layout(load_accounts(config_tree))


def test_names_that_would_share_variables_are_refused(config_tree):
    add_account(config_tree, "dr-1", approval=True, account_id="345678901234")
    add_account(config_tree, "dr_1", approval=True, account_id="456789012345")
    with pytest.raises(ConfigError, match=r"accounts 'dr-1' and 'dr_1' would share CI variable names"):
        layout(load_accounts(config_tree))


def test_no_accounts_is_bad_input(config_tree):
    for path in (config_tree / "config" / "accounts").glob("*.yaml"):
        path.unlink()
    with pytest.raises(ConfigError, match="no account overlay"):
        layout(load_accounts(config_tree))
