"""The deploy and restore logic on a fake account and deployer (no services): order, restore, deadline, refusals."""

from __future__ import annotations

import dataclasses

import pytest

from ghe_backup.delivery.deploy import history
from ghe_backup.delivery.deploy.definition import PINNED_IMAGE, dump, pin_ami, remember_definition
from ghe_backup.delivery.deploy.guard import WrongAccount
from ghe_backup.delivery.deploy.run import deploy_account
from ghe_backup.delivery.deploy.steps import ImageRef
from ghe_backup.errors import ConfigError, ExitCode, GheBackupError
from support.fakes import NEWEST, FakeAccount, FakeClock, FakeDeployer, connector, pinned_ami
from support.targets import make_target

IMAGE = ImageRef(tag="newtag", digest="sha256:" + "ab" * 32, repository="registry.example/ghe-backup")


@pytest.fixture
def target(tmp_path):
    found = make_target("staging")
    return dataclasses.replace(found, build=dataclasses.replace(found.build, root=tmp_path))


def deploy(target, account, deployer, **options):
    clock = FakeClock()
    options.setdefault("clock", clock)
    options.setdefault("sleep", clock.sleep)
    return deploy_account(target, IMAGE, connect=connector(account, deployer), report=lambda line: None, **options)


def changes(account):
    return [call for call in account.calls if call[0] != "check"]


def test_a_first_deploy_creates_the_stack_on_the_newest_taupage(target):
    account = FakeAccount(account_id=target.settings.account_id)
    result = deploy(target, account, FakeDeployer(account))
    assert changes(account) == [("create", result.stack, "newtag")]
    assert result.status == "CREATE_COMPLETE" and result.ami == NEWEST["id"] and result.replaced == []
    [entry] = history.read(target.state_dir, "staging")
    assert entry["result"] == "succeeded" and entry["image_digest"] == IMAGE.digest and entry["ami"] == NEWEST["id"]


def test_the_previous_stack_is_deleted_before_the_new_one_is_created(target):
    account = FakeAccount(account_id=target.settings.account_id)
    account.add("ghe-backup-oldd261101000000", "oldd261101000000")
    result = deploy(target, account, FakeDeployer(account))  # the fake refuses a create while a stack holds the volume
    assert changes(account) == [("delete", "ghe-backup-oldd261101000000"), ("create", result.stack, "newtag")]
    assert list(account.stacks) == [result.stack] and result.replaced == ["ghe-backup-oldd261101000000"]


@pytest.mark.parametrize("mode", ["stack", "call"])
def test_a_failed_create_restores_the_previous_version_exactly(target, mode):
    account = FakeAccount(account_id=target.settings.account_id)
    old = account.add("ghe-backup-oldd261101000000", "oldd261101000000", image_tag="oldtag", ami="ami-old")
    deployed_with = dict(
        target.definition, SenzaInfo={**target.definition["SenzaInfo"], "OperatorTopicId": "was-there"}
    )
    remember_definition(target.state_dir, "staging", old.name, deployed_with)
    deployer = FakeDeployer(account)
    new_version = None

    def failing_create(definition_yaml, version, image_tag, log, create=deployer.create):
        nonlocal new_version
        if image_tag == "newtag":
            new_version = version
            deployer.failing[version] = mode
        return create(definition_yaml, version, image_tag, log)

    deployer.create = failing_create
    with pytest.raises(GheBackupError) as excinfo:
        deploy(target, account, deployer)
    err = excinfo.value
    assert err.exit_code == ExitCode.FAILED
    assert f"restored {old.name} with image oldtag and AMI ami-old" in str(err)
    new = f"ghe-backup-{new_version}"
    removal = ("delete", new) if mode == "stack" else ("delete", new)
    assert changes(account) == [
        ("delete", old.name),
        ("create", new, "newtag"),
        removal,
        ("create", old.name, "oldtag"),
    ]
    restored = account.stacks[old.name]
    assert (restored.image_tag, restored.ami, restored.status) == ("oldtag", "ami-old", "CREATE_COMPLETE")
    assert restored.definition == pin_ami(
        deployed_with, "eu-central-1", "ami-old"
    )  # the recorded definition, AMI pinned
    assert pinned_ami(restored.definition) == "ami-old" and PINNED_IMAGE in dump(restored.definition)
    assert history.read(target.state_dir, "staging")[-1]["result"] == "restored"


def test_without_a_previous_version_a_failure_says_so(target):
    account = FakeAccount(account_id=target.settings.account_id)
    deployer = FakeDeployer(account)
    deployer.create = lambda *args, create=deployer.create: (
        deployer.failing.setdefault(args[1], "stack"),
        create(*args),
    )
    with pytest.raises(GheBackupError, match="no previous version to restore") as excinfo:
        deploy(target, account, deployer)
    assert excinfo.value.exit_code == ExitCode.FAILED
    assert account.stacks == {}  # the failed stack was removed
    assert history.read(target.state_dir, "staging")[-1]["result"] == "failed"


def test_the_deadline_stops_the_wait_and_restores_nothing(target):
    target = dataclasses.replace(
        target,
        account=dataclasses.replace(target.account, settings=dataclasses.replace(target.settings, deploy_timeout=60)),
    )
    account = FakeAccount(account_id=target.settings.account_id)
    account.add("ghe-backup-oldd261101000000", "oldd261101000000")
    deployer = FakeDeployer(account)
    deployer.create = lambda *args, create=deployer.create: (account.stuck.add(f"ghe-backup-{args[1]}"), create(*args))
    clock = FakeClock()
    with pytest.raises(GheBackupError) as excinfo:
        deploy(target, account, deployer, clock=clock, sleep=clock.sleep)
    assert excinfo.value.exit_code == ExitCode.FAILED
    assert "deadline exceeded after 60s" in str(excinfo.value) and "is still CREATE_IN_PROGRESS" in str(excinfo.value)
    assert [c[0] for c in changes(account)] == ["delete", "create"]  # no restore: the stuck stack may hold the volume
    assert 60 <= clock.now - 1000.0 < 63
    assert history.read(target.state_dir, "staging")[-1]["result"] == "timeout"


def test_credentials_of_another_account_change_nothing(target):
    account = FakeAccount(account_id="999999999999")
    account.add("ghe-backup-oldd261101000000", "oldd261101000000")
    with pytest.raises(WrongAccount) as excinfo:
        deploy(target, account, FakeDeployer(account))
    assert excinfo.value.exit_code == ExitCode.BAD_INPUT
    assert changes(account) == [] and list(account.stacks) == ["ghe-backup-oldd261101000000"]
    assert history.read(target.state_dir, "staging")[-1]["result"] == "refused"


def test_an_agent_of_another_account_changes_nothing(target):
    account = FakeAccount(account_id=target.settings.account_id)
    account.add("ghe-backup-oldd261101000000", "oldd261101000000")
    refusal = WrongAccount("staging: the Lizzy agent does not see account 210987654321's stacks")
    with pytest.raises(WrongAccount):
        deploy(target, account, FakeDeployer(account, refuse=refusal))
    assert changes(account) == []


def test_a_refused_approval_changes_nothing(target):
    target = dataclasses.replace(
        target,
        account=dataclasses.replace(target.account, settings=dataclasses.replace(target.settings, approval=True)),
    )
    account = FakeAccount(account_id=target.settings.account_id)
    account.add("ghe-backup-oldd261101000000", "oldd261101000000")
    asked = []

    def refuse(plan):
        asked.append(plan)
        raise ConfigError("staging: deployment not approved", hint="nothing was changed")

    with pytest.raises(ConfigError):
        deploy(target, account, FakeDeployer(account), ask=refuse)
    [plan] = asked
    assert plan.previous[0].name == "ghe-backup-oldd261101000000" and plan.ami == NEWEST
    assert dict(plan.summary())["replaces"].startswith("ghe-backup-oldd261101000000 (image old, AMI ami-old)")
    assert changes(account) == []


def test_an_account_without_approval_is_not_asked(target):
    account = FakeAccount(account_id=target.settings.account_id)
    deploy(target, account, FakeDeployer(account), ask=lambda plan: pytest.fail("staging needs no approval"))


def test_a_stack_still_in_progress_is_waited_for_first(target):
    account = FakeAccount(account_id=target.settings.account_id)
    busy = account.add("ghe-backup-busyd261101000000", "busyd261101000000", status="UPDATE_IN_PROGRESS")
    clock = FakeClock()
    original = clock.sleep

    def settle(seconds):
        original(seconds)
        if clock.now > 1003:
            busy.status = "UPDATE_COMPLETE"

    result = deploy(target, account, FakeDeployer(account), clock=clock, sleep=settle)
    assert changes(account) == [("delete", busy.name), ("create", result.stack, "newtag")]
    assert clock.now > 1003
