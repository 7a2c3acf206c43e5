"""The deploy and restore logic on a fake account, state table and deployer (no services): order,
restore, deadline, refusals, the lock, the history, up-to-date deploys, interrupts."""

from __future__ import annotations

import dataclasses

import pytest

from ghe_backup.delivery.deploy import history, lock
from ghe_backup.delivery.deploy.definition import (
    DIGEST_TAG,
    HASH_TAG,
    PINNED_IMAGE,
    definition_hash,
    dump,
    pin_ami,
    remember_definition,
    with_tags,
)
from ghe_backup.delivery.deploy.guard import WrongAccount
from ghe_backup.delivery.deploy.interrupts import Interrupted, Interrupts
from ghe_backup.delivery.deploy.planning import plan_account
from ghe_backup.delivery.deploy.run import deploy_account
from ghe_backup.delivery.deploy.steps import ImageRef
from ghe_backup.delivery.target import Actor
from ghe_backup.errors import ConfigError, ExitCode, GheBackupError, Locked
from support.fakes import NEWEST, FakeAccount, FakeClock, FakeDeployer, FakeStore, connector, pinned_ami
from support.targets import make_target

IMAGE = ImageRef(
    tag="newtag", digest="sha256:" + "ab" * 32, repository="registry.example/ghe-backup", revision="c0ffee"
)
ALICE = Actor(user="alice", host="laptop", pid=4242, ci_url="https://ci.example/job/7")
OLD = "ghe-backup-oldd261101000000"


@pytest.fixture
def target(tmp_path):
    found = make_target("staging")
    return dataclasses.replace(found, build=dataclasses.replace(found.build, root=tmp_path))


def with_settings(target, **settings):
    return dataclasses.replace(
        target, account=dataclasses.replace(target.account, settings=dataclasses.replace(target.settings, **settings))
    )


def deploy(target, account, deployer, store=None, **options):
    clock = FakeClock()
    options.setdefault("clock", clock)
    options.setdefault("sleep", clock.sleep)
    options.setdefault("actor", ALICE)
    store = store if store is not None else FakeStore()
    return deploy_account(
        target, IMAGE, connect=connector(account, deployer, store), report=lambda line: None, **options
    )


def changes(account):
    return [call for call in account.calls if call[0] != "check"]


def attempts(store):
    return [item for (pk, _), item in sorted(store.items.items()) if pk == history.PK]


def test_a_first_deploy_creates_the_stack_on_the_newest_taupage_with_its_tags(target):
    account, store = FakeAccount(account_id=target.settings.account_id), FakeStore()
    result = deploy(target, account, FakeDeployer(account), store)
    assert changes(account) == [("create", result.stack, "newtag")]
    assert (
        result.status == "CREATE_COMPLETE" and result.ami == NEWEST["id"] and result.replaced == [] and result.changed
    )
    created = account.stacks[result.stack]
    assert created.tags == {
        DIGEST_TAG: IMAGE.digest,
        "ghe-backup:git-sha": "c0ffee",
        HASH_TAG: definition_hash(target.definition),
        "ghe-backup:deployed-by": "alice",
    }
    assert created.ami == NEWEST["id"] and pinned_ami(created.definition) == NEWEST["id"]  # the AMI approved, pinned
    [entry] = history.read(target.state_dir, "staging")
    assert entry["result"] == "succeeded" and entry["image_digest"] == IMAGE.digest and entry["ami"] == NEWEST["id"]
    [shared] = attempts(store)
    assert (
        shared["result"] == "succeeded" and shared["user"] == "alice" and shared["ci_url"] == "https://ci.example/job/7"
    )
    assert shared["git_sha"] == "c0ffee" and shared["definition_hash"] == definition_hash(target.definition)
    assert store.get("definition", result.stack)["definition"] == dump(target.definition)
    assert store.get(lock.PK, lock.SK) is None  # released


def test_the_previous_stack_is_deleted_before_the_new_one_is_created(target):
    account = FakeAccount(account_id=target.settings.account_id)
    account.add(OLD, "oldd261101000000")
    result = deploy(target, account, FakeDeployer(account))  # the fake refuses a create while a stack holds the volume
    assert changes(account) == [("delete", OLD), ("create", result.stack, "newtag")]
    assert list(account.stacks) == [result.stack] and result.replaced == [OLD]


def test_an_up_to_date_account_is_left_alone_and_force_replaces_it(target):
    account, store = FakeAccount(account_id=target.settings.account_id), FakeStore()
    first = deploy(target, account, FakeDeployer(account), store)
    again = deploy(target, account, FakeDeployer(account), store)
    assert (again.changed, again.status, again.stack) == (False, "up to date", first.stack)
    assert changes(account) == [("create", first.stack, "newtag")]  # nothing more
    assert sorted(a["result"] for a in attempts(store)) == ["succeeded", "up to date"]
    forced = deploy(target, account, FakeDeployer(account), store, force=True)
    assert forced.changed and forced.stack != first.stack and list(account.stacks) == [forced.stack]


@pytest.mark.parametrize("change", ["image", "ami", "definition"])
def test_a_new_image_ami_or_definition_deploys(target, change):
    account = FakeAccount(account_id=target.settings.account_id)
    first = deploy(target, account, FakeDeployer(account))
    if change == "image":
        image = dataclasses.replace(IMAGE, digest="sha256:" + "cd" * 32)
        result = deploy_account(
            target, image, connect=connector(account, FakeDeployer(account)), report=lambda line: None
        )
    else:
        if change == "ami":
            account.newest = {"id": "ami-newer", "name": "Taupage-AMI-20261201-000000"}
        else:
            target = with_settings(target, deploy_timeout=target.settings.deploy_timeout)  # same settings ...
            app = next(c["AppServer"] for c in target.account.merged.data["SenzaComponents"] if "AppServer" in c)
            app["InstanceType"] = "m5.xlarge"  # ... another definition
        result = deploy(target, account, FakeDeployer(account))
    assert result.changed and result.replaced == [first.stack]


@pytest.mark.parametrize("mode", ["stack", "call"])
def test_a_failed_create_restores_the_previous_version_exactly(target, mode):
    account, store = FakeAccount(account_id=target.settings.account_id), FakeStore()
    old_tags = {DIGEST_TAG: "sha256:" + "00" * 32, HASH_TAG: "0123456789abcdef"}
    old = account.add(OLD, "oldd261101000000", image_tag="oldtag", ami="ami-old", tags=old_tags)
    deployed_with = dict(
        target.definition, SenzaInfo={**target.definition["SenzaInfo"], "OperatorTopicId": "was-there"}
    )
    remember_definition(store, target.state_dir / "elsewhere", "staging", old.name, deployed_with)  # another machine's
    deployer = FakeDeployer(account)
    new_version = None

    def failing_create(definition_yaml, version, image_tag, log, create=deployer.create, **options):
        nonlocal new_version
        if image_tag == "newtag":
            new_version = version
            deployer.failing[version] = mode
        return create(definition_yaml, version, image_tag, log, **options)

    deployer.create = failing_create
    with pytest.raises(GheBackupError) as excinfo:
        deploy(target, account, deployer, store)
    err = excinfo.value
    assert err.exit_code == ExitCode.FAILED
    assert f"restored {old.name} with image oldtag and AMI ami-old" in str(err)
    new = f"ghe-backup-{new_version}"
    assert changes(account) == [
        ("delete", old.name),
        ("create", new, "newtag"),
        ("delete", new),
        ("create", old.name, "oldtag"),
    ]
    restored = account.stacks[old.name]
    assert (restored.image_tag, restored.ami, restored.status, restored.tags) == (
        "oldtag",
        "ami-old",
        "CREATE_COMPLETE",
        old_tags,
    )
    # the definition recorded in the account (not this machine's), its AMI pinned, its tags as they were
    assert restored.definition == pin_ami(with_tags(deployed_with, old_tags), "eu-central-1", "ami-old")
    assert PINNED_IMAGE in dump(restored.definition)
    assert history.read(target.state_dir, "staging")[-1]["result"] == "restored"


def test_without_a_previous_version_a_failure_says_so(target):
    account = FakeAccount(account_id=target.settings.account_id)
    deployer = FakeDeployer(account)
    deployer.create = lambda *args, create=deployer.create, **options: (
        deployer.failing.setdefault(args[1], "stack"),
        create(*args, **options),
    )
    with pytest.raises(
        GheBackupError, match="no previous version to restore: staging has NO backup instance"
    ) as excinfo:
        deploy(target, account, deployer)
    assert excinfo.value.exit_code == ExitCode.FAILED
    assert account.stacks == {}  # the failed stack was removed
    assert history.read(target.state_dir, "staging")[-1]["result"] == "failed"


def test_the_deadline_stops_the_wait_and_restores_nothing(target):
    target = with_settings(target, deploy_timeout=60)
    account = FakeAccount(account_id=target.settings.account_id)
    account.add(OLD, "oldd261101000000")
    deployer = FakeDeployer(account)
    deployer.create = lambda *args, create=deployer.create, **options: (
        account.stuck.add(f"ghe-backup-{args[1]}"),
        create(*args, **options),
    )
    clock = FakeClock()
    with pytest.raises(GheBackupError) as excinfo:
        deploy(target, account, deployer, clock=clock, sleep=clock.sleep)
    assert excinfo.value.exit_code == ExitCode.FAILED
    assert "deadline exceeded after 60s" in str(excinfo.value) and "is still CREATE_IN_PROGRESS" in str(excinfo.value)
    assert [c[0] for c in changes(account)] == ["delete", "create"]  # no restore: the stuck stack may hold the volume
    assert 60 <= clock.now - 1000.0 < 66
    assert history.read(target.state_dir, "staging")[-1]["result"] == "timeout"


def test_credentials_of_another_account_change_nothing(target):
    account = FakeAccount(account_id="999999999999")
    account.add(OLD, "oldd261101000000")
    with pytest.raises(WrongAccount) as excinfo:
        deploy(target, account, FakeDeployer(account))
    assert excinfo.value.exit_code == ExitCode.BAD_INPUT
    assert changes(account) == [] and list(account.stacks) == [OLD]
    assert history.read(target.state_dir, "staging")[-1]["result"] == "refused"


def test_an_agent_of_another_account_changes_nothing(target):
    account = FakeAccount(account_id=target.settings.account_id)
    account.add(OLD, "oldd261101000000")
    refusal = WrongAccount("staging: the Lizzy agent does not see account 210987654321's stacks")
    with pytest.raises(WrongAccount):
        deploy(target, account, FakeDeployer(account, refuse=refusal))
    assert changes(account) == []


def test_the_agent_is_checked_before_any_change_and_never_for_a_no_op(target):
    account, store = FakeAccount(account_id=target.settings.account_id), FakeStore()
    first = deploy(target, account, FakeDeployer(account), store)
    assert [c[0] for c in account.calls if c[0] in ("check", "create", "delete")] == ["check", "create"]
    account.calls.clear()
    refusal = WrongAccount("staging: the Lizzy agent does not see account 210987654321's stacks")
    again = deploy(target, account, FakeDeployer(account, refuse=refusal), store)  # the agent is not asked
    assert (again.changed, again.stack) == (False, first.stack) and ("check",) not in account.calls


def test_an_agent_of_another_account_removes_no_leftover(target):
    account = FakeAccount(account_id=target.settings.account_id)
    account.add("ghe-backup-halfd261102000000", "halfd261102000000", status="CREATE_FAILED", image_tag="half")
    refusal = WrongAccount("staging: the Lizzy agent does not see account 210987654321's stacks")
    with pytest.raises(WrongAccount):
        deploy(target, account, FakeDeployer(account, refuse=refusal))
    assert changes(account) == [] and list(account.stacks) == ["ghe-backup-halfd261102000000"]


def test_an_agent_of_another_empty_account_is_caught_after_its_create_and_cleaned_up(target):
    account, other = FakeAccount(account_id=target.settings.account_id), FakeAccount(account_id="123456789012")
    deployer = FakeDeployer(account, elsewhere=other)  # both accounts empty: the stack lists agree
    with pytest.raises(WrongAccount) as excinfo:
        deploy(target, account, deployer)
    assert excinfo.value.exit_code == ExitCode.BAD_INPUT
    assert "not in staging (210987654321); removed it there" in str(excinfo.value)
    assert other.stacks == {} and account.stacks == {}
    assert [c[0] for c in changes(account)] == ["create", "delete"]


def test_an_approved_plan_that_no_longer_holds_changes_nothing(target):
    target = with_settings(target, approval=True)
    account, store = FakeAccount(account_id=target.settings.account_id), FakeStore()
    account.add(OLD, "oldd261101000000")
    approved = plan_account(target, IMAGE, connector(account, FakeDeployer(account), store)(target))
    account.newest = {"id": "ami-newer", "name": "Taupage-AMI-20261201-000000"}  # a new Taupage since
    with pytest.raises(ConfigError) as excinfo:
        deploy(target, account, FakeDeployer(account), store, approved={"staging": approved})
    assert excinfo.value.exit_code == ExitCode.BAD_INPUT
    assert "staging: the approved plan no longer holds: the AMI would be Taupage-AMI-20261201-000000" in str(
        excinfo.value
    )
    assert changes(account) == []


def test_an_approved_plan_that_holds_is_deployed(target):
    target = with_settings(target, approval=True)
    account, store = FakeAccount(account_id=target.settings.account_id), FakeStore()
    account.add(OLD, "oldd261101000000")
    approved = plan_account(target, IMAGE, connector(account, FakeDeployer(account), store)(target))
    assert approved.changes == ["image", "AMI", "definition"] and approved.deletes == [OLD]
    result = deploy(target, account, FakeDeployer(account), store, approved={"staging": approved})
    assert result.changed and result.replaced == [OLD]


def test_an_account_that_needs_approval_without_it_is_refused(target):
    target = with_settings(target, approval=True)
    account = FakeAccount(account_id=target.settings.account_id)
    with pytest.raises(ConfigError, match="staging: deployment needs approval"):
        deploy(target, account, FakeDeployer(account))
    assert changes(account) == []
    assert deploy(target, account, FakeDeployer(account), assume_yes=True).changed


def test_a_stack_being_updated_is_waited_for_first(target):
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


@pytest.mark.parametrize("status", ["CREATE_IN_PROGRESS", "CREATE_FAILED", "ROLLBACK_COMPLETE", "DELETE_FAILED"])
def test_leftovers_of_earlier_runs_are_removed_and_never_restored(target, status):
    account = FakeAccount(account_id=target.settings.account_id)
    account.add(OLD, "oldd261101000000", image_tag="good")
    account.add("ghe-backup-halfd261102000000", "halfd261102000000", status=status, image_tag="half")
    result = deploy(target, account, FakeDeployer(account))
    assert changes(account) == [
        ("delete", "ghe-backup-halfd261102000000"),
        ("delete", OLD),
        ("create", result.stack, "newtag"),
    ]
    assert result.replaced == [OLD]  # the half-made stack was never the version to restore


# --- the lock ----------------------------------------------------------------------------------


def test_a_held_lock_refuses_with_its_holder_and_changes_nothing(target):
    account, store = FakeAccount(account_id=target.settings.account_id), FakeStore()
    account.add(OLD, "oldd261101000000")
    bob = Actor(user="bob", host="ci-runner-3", pid=77, ci_url="https://ci.example/job/9")
    theirs = lock.acquire(store, "staging", bob, operation="deploy", ttl=3600)
    with pytest.raises(Locked) as excinfo:
        deploy(target, account, FakeDeployer(account), store)
    assert excinfo.value.exit_code == ExitCode.LOCKED == 4
    message = str(excinfo.value)
    assert (
        "held by bob on ci-runner-3 (pid 77, https://ci.example/job/9) for deploy" in message
        and "nothing changed" in message
    )
    assert changes(account) == [] and account.calls == []
    assert store.get(lock.PK, lock.SK)["token"] == theirs.token  # still theirs
    assert history.read(target.state_dir, "staging")[-1]["result"] == "locked"


def test_waiting_for_the_lock_takes_it_when_it_is_released(target):
    account, store = FakeAccount(account_id=target.settings.account_id), FakeStore()
    theirs = lock.acquire(store, "staging", Actor("bob", "ci", 1), operation="deploy", ttl=3600)
    clock = FakeClock()

    def sleep(seconds):
        clock.sleep(seconds)
        if clock.now > 1005:
            lock.release(store, theirs)

    result = deploy(target, account, FakeDeployer(account), store, lock_wait=30, clock=clock, sleep=sleep)
    assert result.changed and 1005 < clock.now < 1030


def test_a_stale_lock_is_reported_and_only_force_breaks_it(target):
    store = FakeStore()
    old = lock.new_holder("staging", Actor("carol", "old-box", 5), operation="deploy", ttl=600, now=1_000_000.0)
    store.put(old.item())
    account = FakeAccount(account_id=target.settings.account_id)
    with pytest.raises(Locked, match="stale: held by carol on old-box") as excinfo:
        deploy(target, account, FakeDeployer(account), store, lock_wait=60)
    assert "inv lock.release --account=staging --force" in str(excinfo.value)
    with pytest.raises(Locked, match="not by alice"):
        lock.release_as(store, "staging", ALICE, force=False)
    assert lock.release_as(store, "staging", ALICE, force=True).user == "carol"
    assert deploy(target, account, FakeDeployer(account), store).changed


def test_the_lock_is_released_after_a_failure(target):
    account, store = FakeAccount(account_id=target.settings.account_id), FakeStore()
    deployer = FakeDeployer(account)
    deployer.create = lambda *args, create=deployer.create, **options: (
        deployer.failing.setdefault(args[1], "call"),
        create(*args, **options),
    )
    with pytest.raises(GheBackupError):
        deploy(target, account, deployer, store)
    assert store.get(lock.PK, lock.SK) is None
    assert [a["result"] for a in attempts(store)] == ["failed"]  # one attempt: started, then ended


# --- interrupts ----------------------------------------------------------------------------------


def test_a_signal_before_any_change_stops_there(target):
    account, store = FakeAccount(account_id=target.settings.account_id), FakeStore()
    account.add(OLD, "oldd261101000000")
    interrupts = Interrupts()
    interrupts.receive("SIGINT")  # while the lock is taken and the account read
    with pytest.raises(Interrupted) as excinfo:
        deploy(target, account, FakeDeployer(account), store, interrupts=interrupts)
    assert excinfo.value.exit_code == ExitCode.INTERRUPTED == 130
    assert "nothing was changed" in str(excinfo.value) and changes(account) == []
    assert store.get(lock.PK, lock.SK) is None and attempts(store)[-1]["result"] == "interrupted"


def test_a_signal_during_the_delete_restores_the_previous_version(target):
    account, store = FakeAccount(account_id=target.settings.account_id), FakeStore()
    account.add(OLD, "oldd261101000000", image_tag="oldtag", ami="ami-old")
    interrupts = Interrupts()
    deployer = FakeDeployer(account, after={"delete": lambda: interrupts.receive("SIGTERM")})
    with pytest.raises(Interrupted) as excinfo:
        deploy(target, account, deployer, store, interrupts=interrupts)
    assert f"restored {OLD} (image oldtag, AMI ami-old)" in str(excinfo.value)
    assert changes(account) == [("delete", OLD), ("create", OLD, "oldtag")]
    assert account.stacks[OLD].status == "CREATE_COMPLETE" and account.stacks[OLD].ami == "ami-old"
    [entry] = attempts(store)
    assert entry["result"] == "interrupted" and entry["left"] == f"runs {OLD} (restored)"
    assert store.get(lock.PK, lock.SK) is None


def test_a_signal_during_the_create_finishes_it(target):
    account, store = FakeAccount(account_id=target.settings.account_id), FakeStore()
    account.add(OLD, "oldd261101000000")
    interrupts = Interrupts()
    deployer = FakeDeployer(account, after={"create": lambda: interrupts.receive("SIGINT")})
    with pytest.raises(Interrupted) as excinfo:
        deploy(target, account, deployer, store, interrupts=interrupts)
    [new] = list(account.stacks)
    assert f"finished the create: staging runs {new} (CREATE_COMPLETE)" in str(excinfo.value)
    assert attempts(store)[-1]["left"] == f"runs {new}"


def test_a_second_signal_stops_at_once_saying_what_runs(target):
    account, store = FakeAccount(account_id=target.settings.account_id), FakeStore()
    account.add(OLD, "oldd261101000000")
    interrupts = Interrupts()

    def twice():
        interrupts.receive("SIGINT")
        interrupts.receive("SIGINT")

    deployer = FakeDeployer(account, after={"delete": twice})
    with pytest.raises(Interrupted) as excinfo:
        deploy(target, account, deployer, store, interrupts=interrupts)
    message = str(excinfo.value)
    assert f"stopped at once while deleting {OLD}" in message and "staging may have NO backup instance" in message
    assert "inv deploy --account=staging recovers" in message
    assert store.get(lock.PK, lock.SK) is None and attempts(store)[-1]["result"] == "interrupted"


# --- a running backup ----------------------------------------------------------------------------------


def backup_running(store, *, started="2026-11-27T10:00:00+00:00", updated=None):
    import datetime as dt

    updated = updated or dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    store.put(
        {"pk": "backup", "sk": "status", "running": True, "run_started": started, "updated": updated, "host": "i-1"}
    )


def test_a_running_backup_is_waited_for_then_the_deploy_goes_on(target):
    account, store = FakeAccount(account_id=target.settings.account_id), FakeStore()
    account.add(OLD, "oldd261101000000")
    backup_running(store)
    clock = FakeClock()

    def sleep(seconds):
        clock.sleep(seconds)
        if clock.now > 1025:
            store.put({**store.get("backup", "status"), "running": False})

    result = deploy(target, account, FakeDeployer(account), store, clock=clock, sleep=sleep, backup_wait=600)
    assert result.changed and 1025 < clock.now < 1060
    assert changes(account)[0] == ("delete", OLD)


def test_a_backup_still_running_after_the_wait_refuses_and_changes_nothing(target):
    account, store = FakeAccount(account_id=target.settings.account_id), FakeStore()
    account.add(OLD, "oldd261101000000")
    backup_running(store)
    with pytest.raises(Locked) as excinfo:
        deploy(target, account, FakeDeployer(account), store, backup_wait=60)
    assert excinfo.value.exit_code == ExitCode.LOCKED
    assert "a backup has been running since 2026-11-27T10:00:00+00:00 and is still running after waiting 60s" in str(
        excinfo.value
    )
    assert "--now" in str(excinfo.value) and changes(account) == []
    assert store.get(lock.PK, lock.SK) is None


def test_now_does_not_wait_and_a_dead_containers_flag_is_not_waited_for(target):
    account, store = FakeAccount(account_id=target.settings.account_id), FakeStore()
    account.add(OLD, "oldd261101000000")
    backup_running(store)
    assert deploy(target, account, FakeDeployer(account), store, now=True).changed
    backup_running(store, updated="2026-11-01T00:00:00+00:00")  # its container was killed weeks ago
    assert deploy(target, account, FakeDeployer(account), store, force=True, backup_wait=0).changed


# --- faults after the previous version is gone ----------------------------------------------------------


def flaky_create(deployer, failures):
    """The deployer's creates fail as unreachable ``failures`` times, then work."""
    from ghe_backup.errors import Unreachable

    real, left = deployer.create, [failures]

    def create(*args, **options):
        if left[0]:
            left[0] -= 1
            raise Unreachable("Lizzy at http://agent unreachable: connection refused", what="Lizzy at http://agent")
        return real(*args, **options)

    deployer.create = create


def test_an_agent_unreachable_for_a_while_is_retried_and_the_deploy_goes_on(target):
    account = FakeAccount(account_id=target.settings.account_id)
    account.add(OLD, "oldd261101000000")
    deployer = FakeDeployer(account)
    flaky_create(deployer, 2)
    said = []
    clock = FakeClock()
    result = deploy_account(
        target, IMAGE, connect=connector(account, deployer), clock=clock, sleep=clock.sleep, report=said.append
    )
    assert result.changed and list(account.stacks) == [result.stack]
    assert sum("trying again in 10s" in line for line in said) == 2


def test_an_agent_that_stays_unreachable_is_retried_until_the_budget_then_says_what_runs(target):
    target = with_settings(target, deploy_timeout=120)
    account = FakeAccount(account_id=target.settings.account_id)
    account.add(OLD, "oldd261101000000")
    deployer = FakeDeployer(account)
    flaky_create(deployer, 10_000)
    clock = FakeClock()
    with pytest.raises(GheBackupError) as excinfo:
        deploy(target, account, deployer, clock=clock, sleep=clock.sleep)
    message = str(excinfo.value)
    assert excinfo.value.exit_code == ExitCode.UNREACHABLE  # a component that did not answer: exit 3
    assert message.startswith("staging: creating ghe-backup-newtag") and "Lizzy at http://agent unreachable" in message
    assert f"restoring {OLD} failed too: the same way (tried " in message
    assert f"staging has NO backup instance now: {OLD} was deleted and ghe-backup-newtag" in message
    assert (
        "once Lizzy at http://agent answers, run: inv status --account=staging; inv rollback --account=staging"
        in message
    )
    assert 1000 + 120 <= clock.now <= 1000 + 2 * 120 + 30  # the deploy's budget, then the restore's
    assert history.read(target.state_dir, "staging")[-1]["result"] == "unreachable"


def test_an_agent_back_in_time_for_the_restore_restores(target):
    account = FakeAccount(account_id=target.settings.account_id)
    account.add(OLD, "oldd261101000000", image_tag="oldtag")
    deployer = FakeDeployer(account)
    real = deployer.create
    from ghe_backup.errors import Unreachable

    def create(definition_yaml, version, tag, log, **options):
        if tag == "newtag":
            raise Unreachable("Lizzy at http://agent unreachable: connection refused", what="Lizzy at http://agent")
        return real(definition_yaml, version, tag, log, **options)

    deployer.create = create
    target = with_settings(target, deploy_timeout=60)
    clock = FakeClock()
    with pytest.raises(GheBackupError) as excinfo:
        deploy(target, account, deployer, clock=clock, sleep=clock.sleep)
    message = str(excinfo.value)
    assert excinfo.value.exit_code == ExitCode.UNREACHABLE  # the cause was a fault, not the new version
    assert f"restored {OLD} with image oldtag" in message and "staging runs it" in message
    assert "deploy again once Lizzy at http://agent answers" in message
    assert account.stacks[OLD].status == "CREATE_COMPLETE"
    assert history.read(target.state_dir, "staging")[-1]["result"] == "restored"


def test_a_delete_that_got_no_answer_is_never_reported_as_kept(target):
    """The agent took the delete and never answered: the previous stack still runs when the budget ends,
    but it may be deleted yet, so the line does not say it runs, and says to deploy (not roll back)."""
    from ghe_backup.errors import Unreachable

    target = with_settings(target, deploy_timeout=60)
    account = FakeAccount(account_id=target.settings.account_id)
    account.add(OLD, "oldd261101000000", image_tag="oldtag")
    deployer = FakeDeployer(account)

    def delete(base, version, log, **options):
        raise Unreachable(
            "Lizzy at http://agent did not answer DELETE /api/stacks/x within 60s",
            what="Lizzy at http://agent",
            maybe_done=True,
        )

    deployer.delete = delete
    clock = FakeClock()
    with pytest.raises(GheBackupError) as excinfo:
        deploy(target, account, deployer, clock=clock, sleep=clock.sleep)
    message = str(excinfo.value)
    assert excinfo.value.exit_code == ExitCode.UNREACHABLE
    assert message.startswith(f"staging: deleting {OLD}: Lizzy at http://agent did not answer DELETE"), message
    assert "kept" not in message and "staging runs it" not in message, message
    assert f"staging may have NO backup instance soon: {OLD} still ran, but its delete got no answer" in message
    assert (
        "once Lizzy at http://agent answers, run: inv status --account=staging; inv deploy --account=staging" in message
    )
    assert account.stacks[OLD].status == "CREATE_COMPLETE"
    assert history.read(target.state_dir, "staging")[-1]["result"] == "unreachable"


def test_a_delete_refused_outright_keeps_the_previous_stack_running(target):
    """Not reached at all (connection refused): nothing was taken, so the previous stack is kept and runs."""
    from ghe_backup.errors import Unreachable

    target = with_settings(target, deploy_timeout=60)
    account = FakeAccount(account_id=target.settings.account_id)
    account.add(OLD, "oldd261101000000", image_tag="oldtag")
    deployer = FakeDeployer(account)

    def delete(base, version, log, **options):
        raise Unreachable("Lizzy at http://agent unreachable: connection refused", what="Lizzy at http://agent")

    deployer.delete = delete
    clock = FakeClock()
    with pytest.raises(GheBackupError) as excinfo:
        deploy(target, account, deployer, clock=clock, sleep=clock.sleep)
    message = str(excinfo.value)
    assert excinfo.value.exit_code == ExitCode.UNREACHABLE
    assert f"kept {OLD} with image oldtag" in message and "staging runs it" in message, message
    assert history.read(target.state_dir, "staging")[-1]["result"] == "restored"
