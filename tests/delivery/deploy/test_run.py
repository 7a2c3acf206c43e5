"""Deploys through the real Lizzy agents and the real senza into moto's emulated accounts."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import time

import pytest
import yaml

from ghe_backup.delivery.config import load_accounts
from ghe_backup.delivery.deploy import history, steps
from ghe_backup.delivery.deploy.planning import plan_accounts
from ghe_backup.delivery.deploy.run import deploy_account
from ghe_backup.delivery.deploy.steps import ImageRef
from ghe_backup.edge.prompt import approve_all
from ghe_backup.edge.targets import Resolution
from ghe_backup.errors import ExitCode, GheBackupError
from ghe_backup.sandbox import aws as sandbox_aws
from ghe_backup.sandbox import tokeninfo
from ghe_backup.sandbox.state import SANDBOX_CREDENTIALS

pytestmark = pytest.mark.integration


def target(root, name, deployer, lizzy_url=None, **settings):
    """The account as the edge resolves it with --sandbox, with another deployer or settings."""
    [found] = Resolution(root).targets([name], True)
    account = dataclasses.replace(
        found.account, settings=dataclasses.replace(found.settings, deployer=deployer, **settings)
    )
    return dataclasses.replace(found, account=account, lizzy_url=lizzy_url or found.lizzy_url)


def digest_of(tag):
    return "sha256:" + hashlib.sha256(tag.encode()).hexdigest()


def deploy(account, tag, *, attempts=5, base_session=None):
    image = ImageRef(tag=tag, digest=digest_of(tag), repository=f"{account.registry}/ghe-backup")
    connect = lambda t: steps.connect(t, attempts=attempts, base_session=base_session)  # noqa: E731
    return deploy_account(account, image, assume_yes=True, connect=connect)


def settings_of(root, name):
    return load_accounts(root)[name].settings


def cfn(root, name):
    return sandbox_aws.account_client(settings_of(root, name), "cloudformation")


def live_stacks(root, name):
    return {
        s["StackName"]: s
        for s in cfn(root, name).describe_stacks()["Stacks"]
        if s["StackName"].startswith("ghe-backup-")
    }


def attempts(root, name):
    return history.read(root / ".state", name)


def secrets_of(state):
    return list(tokeninfo.read_tokens(state)) + [SANDBOX_CREDENTIALS["aws_secret_access_key"]]


def assert_no_secrets(text, state):
    for secret in secrets_of(state):
        assert secret not in text


def failure(excinfo):
    err = excinfo.value
    assert isinstance(err, GheBackupError)
    return int(err.exit_code), str(err)


@pytest.fixture
def sandbox(sandbox_accounts, shipped_tree):
    """Both emulated accounts without ghe-backup stacks (the data volume is never touched)."""
    for name in ("prod", "staging"):
        client = cfn(shipped_tree, name)
        for stack in live_stacks(shipped_tree, name):
            client.delete_stack(StackName=stack)
    return sandbox_accounts


def edit_base(root, old, new):
    path = root / "senza" / "ghe-backup.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize("deployer", ["lizzy", "senza"])
@pytest.mark.parametrize("name", ["prod", "staging"])
def test_deploys_the_image_into_the_account(sandbox, shipped_tree, name, deployer, capsys):
    root = shipped_tree
    endpoints = sandbox.endpoints
    account = target(root, name, deployer)
    result = deploy(account, "c0ffee42")

    stack = live_stacks(root, name)[result.stack]
    assert result.stack == f"ghe-backup-{result.version}" and result.version.startswith("c0ffee42d")
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert {"ParameterKey": "ImageVersion", "ParameterValue": "c0ffee42"} in stack["Parameters"]
    resources = cfn(root, name).describe_stack_resources(StackName=result.stack)["StackResources"]
    config_name = next(
        r["PhysicalResourceId"] for r in resources if r.get("ResourceType") == "AWS::AutoScaling::LaunchConfiguration"
    )
    autoscaling = sandbox_aws.account_client(settings_of(root, name), "autoscaling")
    [launch] = autoscaling.describe_launch_configurations(LaunchConfigurationNames=[config_name])[
        "LaunchConfigurations"
    ]
    assert launch["InstanceType"] == load_accounts(root)[name].component("AppServer")["InstanceType"]
    user_data = base64.b64decode(launch["UserData"]).decode()
    assert user_data.startswith("#taupage-ami-config")
    taupage = yaml.safe_load(user_data)
    assert taupage["source"] == f"{account.registry}/ghe-backup:c0ffee42"  # the account's own registry
    assert taupage["kms_private_ssh_key"] == endpoints["aws_accounts"][name]["kms_private_ssh_key"]
    assert taupage["volumes"]["ebs"] == {"/dev/sdf": "ghe-backup-data"}
    [entry] = attempts(root, name)
    assert entry["result"] == "succeeded" and entry["stack_version"] == result.version and entry["deployer"] == deployer
    out = capsys.readouterr()
    assert "CREATE_COMPLETE" in out.err
    assert_no_secrets(out.out + out.err, sandbox)


def test_second_deploy_replaces_the_first_and_keeps_the_volume(sandbox, shipped_tree):
    root = shipped_tree
    endpoints = sandbox.endpoints
    account = target(root, "staging", "lizzy")
    first = deploy(account, "first1")
    second = deploy(account, "second2")
    assert list(live_stacks(root, "staging")) == [second.stack]
    assert second.replaced == [first.stack]
    ec2 = sandbox_aws.account_client(account.settings, "ec2")
    volume = endpoints["aws_accounts"]["staging"]["volume_id"]
    [found] = ec2.describe_volumes(VolumeIds=[volume])["Volumes"]
    assert found["AvailabilityZone"] == "eu-central-1a"


@pytest.mark.parametrize("deployer", ["lizzy", "senza"])
def test_a_failing_stack_restores_the_previous_version(sandbox, shipped_tree, deployer, capsys):
    root = shipped_tree
    good = deploy(target(root, "prod", deployer), "good1")
    edit_base(root, "IamRoles:\n        - app-ghe-backup", "IamRoles:\n        - app-ghe-backup-gone")

    with pytest.raises(GheBackupError) as excinfo:
        deploy(target(root, "prod", deployer), "bad2")
    code, message = failure(excinfo)
    assert code == ExitCode.FAILED
    assert "NoSuchEntity" in message and "app-ghe-backup-gone" in message
    assert f"restored {good.stack} with image good1" in message
    stacks = live_stacks(root, "prod")
    assert list(stacks) == [good.stack] and stacks[good.stack]["StackStatus"] == "CREATE_COMPLETE"
    assert {"ParameterKey": "ImageVersion", "ParameterValue": "good1"} in stacks[good.stack]["Parameters"]
    assert [e["result"] for e in attempts(root, "prod")] == ["succeeded", "restored"]
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    assert_no_secrets(out.out + out.err + message, sandbox)


def test_a_bad_token_is_refused_with_401(sandbox, shipped_tree, monkeypatch):
    root = shipped_tree
    monkeypatch.setenv(sandbox.endpoints["token_env"], "not-a-valid-token")
    with pytest.raises(GheBackupError) as excinfo:
        deploy(target(root, "staging", "lizzy"), "t1")
    code, message = failure(excinfo)
    assert code == ExitCode.BAD_INPUT and "refused the token (401)" in message
    assert "not-a-valid-token" not in message
    assert live_stacks(root, "staging") == {}


def test_another_user_is_refused_with_403(sandbox, shipped_tree, monkeypatch):
    root = shipped_tree
    other = next(t for t, grant in tokeninfo.read_tokens(sandbox).items() if grant["uid"] == tokeninfo.OTHER_UID)
    monkeypatch.setenv(sandbox.endpoints["token_env"], other)
    with pytest.raises(GheBackupError) as excinfo:
        deploy(target(root, "staging", "lizzy"), "t1")
    code, message = failure(excinfo)
    assert code == ExitCode.BAD_INPUT and "(403)" in message and "not allowed" in message
    assert other not in message


def test_an_unreachable_agent_is_retried_then_exit_3(sandbox, shipped_tree):
    root = shipped_tree
    account = target(root, "staging", "lizzy", lizzy_url="http://127.0.0.1:5599")
    started = time.monotonic()
    with pytest.raises(GheBackupError) as excinfo:
        deploy(account, "t1", attempts=3)
    code, message = failure(excinfo)
    assert code == ExitCode.UNREACHABLE and "unreachable" in message and "tried 3 times" in message
    assert time.monotonic() - started >= 1.0  # it did wait between tries
    assert attempts(root, "staging")[-1]["result"] == "unreachable"


def test_credentials_of_another_account_are_refused(sandbox, shipped_tree):
    root = shipped_tree
    staging = settings_of(root, "staging")
    other = sandbox_aws.account_session(staging, role="someone")
    account = target(root, "prod", "senza", deploy_role=None)
    with pytest.raises(GheBackupError) as excinfo:
        deploy(account, "t1", base_session=other)
    code, message = failure(excinfo)
    assert code == ExitCode.BAD_INPUT and "act in account 210987654321, not 123456789012" in message
    assert live_stacks(root, "prod") == {}


def test_the_agent_of_another_account_is_refused(sandbox, shipped_tree):
    root = shipped_tree
    endpoints = sandbox.endpoints
    deploy(target(root, "staging", "lizzy"), "s1")
    wrong = target(root, "prod", "lizzy", lizzy_url=endpoints["lizzy"]["staging"])
    with pytest.raises(GheBackupError) as excinfo:
        deploy(wrong, "t1")
    code, message = failure(excinfo)
    assert code == ExitCode.BAD_INPUT and "does not see account 123456789012's stacks" in message
    assert live_stacks(root, "prod") == {}


def test_a_half_made_stack_of_a_dead_run_is_removed_and_the_deploy_proceeds(sandbox, shipped_tree):
    root = shipped_tree
    good = deploy(target(root, "staging", "senza"), "good1")
    # moto leaves a stack whose create call failed in CREATE_IN_PROGRESS for good, as a run killed
    # mid-create would: under the deploy lock nobody else is creating, so it is a leftover.
    template = {
        "Resources": {"Profile": {"Type": "AWS::IAM::InstanceProfile", "Properties": {"Roles": ["no-such-role"]}}}
    }
    with pytest.raises(Exception):
        cfn(root, "staging").create_stack(StackName="ghe-backup-stuck1", TemplateBody=json.dumps(template))
    assert live_stacks(root, "staging")["ghe-backup-stuck1"]["StackStatus"] == "CREATE_IN_PROGRESS"

    started = time.monotonic()
    result = deploy(target(root, "staging", "senza", deploy_timeout=60), "t1")
    assert time.monotonic() - started < 30
    assert list(live_stacks(root, "staging")) == [result.stack] and result.replaced == [good.stack]
    assert attempts(root, "staging")[-1]["result"] == "succeeded"


def test_a_senza_error_shows_its_first_meaningful_line(sandbox, shipped_tree, capsys):
    root = shipped_tree
    edit_base(root, "SecurityGroups:\n        - app-ghe-backup", "SecurityGroups:\n        - app-ghe-backup-nowhere")
    with pytest.raises(GheBackupError) as excinfo:
        deploy(target(root, "staging", "senza"), "t1")
    code, message = failure(excinfo)
    assert code == ExitCode.FAILED
    # senza's own words (it names the group "None" when it cannot find it by name)
    assert 'senza create failed: Security Group "None" does not exist' in message
    assert "Traceback" not in message and "format_exception" not in message
    assert "no previous version to restore" in message
    assert_no_secrets(capsys.readouterr().err + message, sandbox)


def test_prod_asks_with_the_plan_before_changing_anything_and_no_means_nothing_changes(sandbox, shipped_tree, capsys):
    root = shipped_tree
    account = target(root, "prod", "lizzy")
    assert account.settings.approval
    good = deploy(account, "good1")
    edit_base(root, "MAX_SNAPSHOT_AGE: 14400", "MAX_SNAPSHOT_AGE: 28800")
    account = target(root, "prod", "lizzy")
    image = ImageRef(tag="ask1", digest="sha256:" + "cd" * 32, repository=f"{account.registry}/ghe-backup")
    plans = plan_accounts([account], lambda t: image)

    with pytest.raises(GheBackupError) as excinfo:
        approve_all(plans, read=lambda prompt: "no")
    assert failure(excinfo) == (2, "prod: deploy not approved (nothing was changed)")
    assert list(live_stacks(root, "prod")) == [good.stack]
    err = capsys.readouterr().err
    assert "About to deploy prod (123456789012):" in err
    assert f"{good.stack} (CREATE_COMPLETE" in err and "good1 -> ask1" in err and "sha256:" + "cd" * 32 in err
    assert "-        MAX_SNAPSHOT_AGE: 14400\n+        MAX_SNAPSHOT_AGE: 28800" in err  # the definition's diff
    assert sandbox.endpoints["aws_accounts"]["prod"]["kms_private_ssh_key"].removeprefix("aws:kms:") not in err
    assert_no_secrets(err, sandbox)

    approved = approve_all(plans, read=lambda prompt: "yes")
    result = deploy_account(account, image, approved=approved)
    assert list(live_stacks(root, "prod")) == [result.stack] and result.replaced == [good.stack]
