"""deploy --plan=FILE before anything runs: which accounts, made for this place, the image there."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from ghe_backup.delivery.deploy.planning import save
from ghe_backup.delivery.push import push as push_stage
from ghe_backup.delivery.target import ImageRef
from ghe_backup.edge import checks
from ghe_backup.errors import ConfigError, ExitCode, UsageError
from support.plans import a_plan
from support.targets import make_target


@pytest.fixture
def registry_has(monkeypatch):
    """What each account's registry holds for a tag (account -> digest); images_for reads it."""
    holding: dict[str, str | None] = {}

    def images_for(targets, tag=None, client=None):
        return {t.name: ImageRef(tag=tag, digest=holding.get(t.name), repository=t.repository) for t in targets}

    monkeypatch.setattr(push_stage, "images_for", images_for)
    return holding


def resolution():
    return SimpleNamespace(intents={}, approved={})


def plan_file(tmp_path, *plans):
    path = tmp_path / "plan.json"
    save(list(plans), path, revision=None)
    return path


def test_the_plan_names_the_accounts_when_none_is_given(tmp_path):
    path = plan_file(tmp_path, a_plan(account="staging", account_id="210987654321"), a_plan())
    assert list(checks.saved_plans(str(path))) == ["staging", "prod"]


def test_a_plan_of_no_account_is_refused(tmp_path):
    with pytest.raises(UsageError, match="holds no account's plan"):
        checks.saved_plans(str(plan_file(tmp_path)))


def test_an_approved_plan_becomes_the_deploys_intent(tmp_path, registry_has):
    prod = make_target("prod")
    plan = a_plan(repository=prod.repository)
    registry_has["prod"] = plan.image_digest
    found = resolution()
    checks.saved_plan(found, [prod], "plan.json", {"prod": plan}, yes=True)
    assert found.intents["prod"].image == ImageRef(tag="new1", digest="sha256:new", repository=prod.repository)
    assert found.approved == {"prod": plan}


def test_a_plan_for_the_sandbox_is_not_applied_to_the_real_account_and_back(registry_has):
    prod = make_target("prod")
    with pytest.raises(UsageError) as err:
        checks.saved_plan(resolution(), [prod], "plan.json", {"prod": a_plan(sandbox=True)}, yes=True)
    assert str(err.value) == "--plan: plan.json was made for the sandbox of prod (add --sandbox)"
    with pytest.raises(UsageError, match="made for the real account of prod .drop --sandbox"):
        checks.saved_plan(
            resolution(), [dataclasses.replace(prod, sandbox=True)], "plan.json", {"prod": a_plan()}, yes=True
        )


def test_a_plan_for_another_account_id_is_refused(registry_has):
    with pytest.raises(UsageError) as err:
        checks.saved_plan(resolution(), [make_target("prod")], "p.json", {"prod": a_plan(account_id="999")}, yes=True)
    assert str(err.value).startswith("--plan: p.json is for prod in account 999, config/accounts/prod.yaml says ")


def test_an_account_the_plan_does_not_cover_is_refused(registry_has):
    with pytest.raises(UsageError, match="p.json has no plan for staging"):
        checks.saved_plan(
            resolution(), [make_target("prod"), make_target("staging")], "p.json", {"prod": a_plan()}, yes=True
        )


@pytest.mark.parametrize(("held", "says"), [(None, "does not have it"), ("sha256:other", "has sha256:other")])
def test_the_plans_image_must_be_in_the_accounts_registry_as_planned(registry_has, held, says):
    registry_has["prod"] = held
    with pytest.raises(ConfigError) as err:
        checks.saved_plan(resolution(), [make_target("prod")], "p.json", {"prod": a_plan()}, yes=True)
    assert err.value.exit_code == ExitCode.BAD_INPUT and f"it {says}" in str(err.value)
