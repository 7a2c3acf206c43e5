"""Rollback and refresh intents from the account's history, and several accounts at once (fakes, no services)."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from ghe_backup.delivery.deploy import history
from ghe_backup.delivery.deploy.definition import DIGEST_TAG, remember_definition
from ghe_backup.delivery.deploy.run import Failures, deploy_account, deploy_intents
from ghe_backup.delivery.deploy.steps import Connection, Intent
from ghe_backup.delivery.deploy.versions_history import refresh_intent, rollback_intent, versions
from ghe_backup.delivery.target import ImageRef
from ghe_backup.errors import ConfigError, ExitCode, Locked
from support.fakes import FakeAccount, FakeClock, FakeDeployer, FakeStore, connector
from support.targets import make_target

V1, V2 = "onetagd261101000000", "twotagd261102000000"


@pytest.fixture
def target(tmp_path):
    found = make_target("staging")
    return dataclasses.replace(found, build=dataclasses.replace(found.build, root=tmp_path))


def ran(store, version, tag, digest, ami, when):
    history.record(
        store,
        history.Attempt(
            time=when,
            account="staging",
            deployer="lizzy",
            sandbox=False,
            stack_version=version,
            image_tag=tag,
            image_digest=digest,
            ami=ami,
            result="succeeded",
        ),
        print,
    )


@pytest.fixture
def account_with_two_versions(target):
    account, store = FakeAccount(account_id=target.settings.account_id), FakeStore()
    ran(store, V1, "onetag", "sha256:one", "ami-old", "2026-11-01T00:00:00+00:00")
    history.record(
        store,
        history.Attempt(
            time="2026-11-01T12:00:00+00:00",
            account="staging",
            deployer="lizzy",
            sandbox=False,
            stack_version="badd261101120000",
            image_tag="bad",
            result="restored",
        ),
        print,
    )
    ran(store, V2, "twotag", "sha256:two", "ami-newest", "2026-11-02T00:00:00+00:00")
    remember_definition(store, target.state_dir, "staging", f"ghe-backup-{V1}", marked(target.definition, "m5.xlarge"))
    account.add(f"ghe-backup-{V2}", V2, image_tag="twotag", ami="ami-newest", tags={DIGEST_TAG: "sha256:two"})
    return account, store


def marked(definition, instance_type):
    """A definition told apart by its instance type."""
    next(c["AppServer"] for c in definition["SenzaComponents"] if "AppServer" in c)["InstanceType"] = instance_type
    return definition


def instance_type(definition):
    return next(c["AppServer"] for c in definition["SenzaComponents"] if "AppServer" in c)["InstanceType"]


def conn_of(account, store):
    return Connection(account=account, deployer=None, store=store)


def test_versions_are_the_ones_that_ran_newest_first(account_with_two_versions):
    _, store = account_with_two_versions
    assert [v.stack_version for v in versions(store, "staging")] == [V2, V1]


def test_rollback_defaults_to_the_last_good_version_before_the_running_one(target, account_with_two_versions):
    account, store = account_with_two_versions
    intent = rollback_intent(target, conn_of(account, store), to=None, digest_in_registry=lambda image: "sha256:one")
    assert intent.operation == "rollback" and intent.ami == "ami-old"
    assert (intent.image.tag, intent.image.digest) == ("onetag", "sha256:one")
    assert instance_type(intent.definition) == "m5.xlarge"


def test_rollback_is_refused_naming_everything_that_is_missing(target, account_with_two_versions):
    account, store = account_with_two_versions
    del account_with_two_versions  # the AMI of V1 retired, its image overwritten, its definition unknown
    store.items.pop(("definition", f"ghe-backup-{V1}"))
    (target.state_dir / "definitions" / "staging" / f"ghe-backup-{V1}.yaml").unlink()
    import support.fakes as fakes

    retired = dict(fakes.AMIS["ami-old"], state="disabled")
    account.describe_ami = lambda ami: retired if ami == "ami-old" else fakes.AMIS.get(ami)
    with pytest.raises(ConfigError) as excinfo:
        rollback_intent(target, conn_of(account, store), to=V1, digest_in_registry=lambda image: "sha256:other")
    message = str(excinfo.value)
    assert excinfo.value.exit_code == ExitCode.BAD_INPUT
    assert f"staging: cannot roll back to {V1}: the definition of ghe-backup-{V1} was not recorded" in message
    assert "its AMI ami-old is no longer available" in message and "is now sha256:other, not sha256:one" in message
    with pytest.raises(ConfigError, match="is gone from the registry"):
        rollback_intent(target, conn_of(account, store), to=V1, digest_in_registry=lambda image: None)
    with pytest.raises(ConfigError, match="no version 'nope' in the account's history"):
        rollback_intent(target, conn_of(account, store), to="nope", digest_in_registry=lambda image: "sha256:one")


def test_a_rollback_deploys_that_version_exactly(target, account_with_two_versions):
    account, store = account_with_two_versions
    intent = rollback_intent(target, conn_of(account, store), to=None, digest_in_registry=lambda image: "sha256:one")
    clock = FakeClock()
    result = deploy_account(
        target,
        intent,
        connect=connector(account, FakeDeployer(account), store),
        clock=clock,
        sleep=clock.sleep,
        report=lambda line: None,
    )
    restored = account.stacks[result.stack]
    assert (restored.image_tag, restored.ami, restored.tags[DIGEST_TAG]) == ("onetag", "ami-old", "sha256:one")
    assert instance_type(restored.definition) == "m5.xlarge"  # the recorded definition, not today's config
    assert history.read_account(store)[-1]["operation"] == "rollback"


def test_refresh_keeps_the_running_image_and_definition(target, account_with_two_versions):
    account, store = account_with_two_versions
    running = account.list_stacks("ghe-backup")[-1]
    remember_definition(store, target.state_dir, "staging", running.name, marked(target.definition, "c5.large"))
    intent = refresh_intent(target, conn_of(account, store), running, print)
    assert intent.operation == "refresh" and intent.ami is None  # the newest Taupage
    assert (intent.image.tag, intent.image.digest, instance_type(intent.definition)) == (
        "twotag",
        "sha256:two",
        "c5.large",
    )


def test_accounts_run_at_once_and_one_failure_does_not_stop_the_others(target):
    prod = make_target("prod")
    prod = dataclasses.replace(prod, build=target.build)
    accounts = {"staging": FakeAccount(account_id=target.settings.account_id), "prod": FakeAccount(account_id="999")}
    both_in = threading.Barrier(2, timeout=10)  # one after the other, the first would wait here in vain

    def connect(t):
        both_in.wait()  # both accounts are in here at once
        return connector(accounts[t.name], FakeDeployer(accounts[t.name]))(t)

    image = ImageRef(tag="t1", digest="sha256:1")
    import ghe_backup.delivery.deploy.run as run

    original = run.deploy_account
    run_calls = []

    def deploy_one(t, intent, **options):
        run_calls.append(t.name)
        return original(t, intent, connect=connect, **{**options, "report": lambda line: None})

    run.deploy_account = deploy_one
    try:
        outcome = deploy_intents(
            [(target, Intent(image)), (prod, Intent(image))], assume_yes=True, parallel=4, report=lambda line: None
        )
    finally:
        run.deploy_account = original
    assert sorted(run_calls) == ["prod", "staging"] and not both_in.broken
    assert [r.account for r in outcome.results] == ["staging"] and set(outcome.errors) == {"prod"}
    assert outcome.errors["prod"].exit_code == ExitCode.BAD_INPUT  # credentials of account 999
    with pytest.raises(ConfigError):
        outcome.raise_worst()


def test_the_worst_exit_code_wins():
    from ghe_backup.delivery.deploy.run import Outcome
    from ghe_backup.errors import StageFailed

    outcome = Outcome(errors={"a": Locked("a: held"), "b": StageFailed("b: failed"), "c": ConfigError("c: bad")})
    with pytest.raises(Failures) as excinfo:
        outcome.raise_worst()
    assert excinfo.value.exit_code == ExitCode.FAILED
    assert str(excinfo.value) == "3 accounts failed: a: held; b: failed; c: bad"


def test_nothing_to_deploy_is_an_empty_outcome():
    # inv refresh when every account is fresh or cannot be refreshed: no pool, no error.
    outcome = deploy_intents([], assume_yes=True, parallel=4, report=lambda line: None)
    assert outcome.results == [] and outcome.errors == {}
    outcome.raise_worst()
