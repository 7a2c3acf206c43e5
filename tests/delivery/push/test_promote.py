"""Promotion (``deploy --image=TAG``): where each account gets the tag, and the real thing on the sandbox."""

from __future__ import annotations

import dataclasses
import json
import uuid

import pytest
from invoke import Program

import tasks
from ghe_backup.delivery import gate
from ghe_backup.delivery.image import build as image_build
from ghe_backup.delivery.push import promote
from ghe_backup.delivery.push import push as push_stage
from ghe_backup.delivery.push.promote import Registries, locate_image
from ghe_backup.edge.executor import PipelineExecutor
from ghe_backup.errors import ConfigError, ExitCode, UsageError
from support.targets import make_target


class FakeRegistries(Registries):
    """Which repositories hold which tags; records each lookup."""

    def __init__(self, holding: dict[str, dict[str, str]]):
        super().__init__()
        self.holding, self.asked = holding, []

    def digest(self, target, tag):
        self.asked.append(target.repository)
        return self.holding.get(target.repository, {}).get(tag)


def at(name: str, registry: str):
    return dataclasses.replace(make_target(name), registry=registry)


PROD, STAGING = at("prod", "reg-prod:5000"), at("staging", "reg-staging:5000")


def test_an_account_takes_the_tag_from_its_own_registry_first():
    registries = FakeRegistries({PROD.repository: {"t1": "sha256:p"}, STAGING.repository: {"t1": "sha256:s"}})
    [found] = locate_image([PROD], "t1", [PROD, STAGING], registries)
    assert (found.source, found.digest, found.own) == (PROD, "sha256:p", True)
    assert registries.asked == [PROD.repository]


def test_else_from_the_first_other_account_that_has_it_each_registry_asked_once():
    third = at("prod", "reg-third:5000")  # a third account's registry (any name; its registry is what counts)
    registries = FakeRegistries({third.repository: {"t1": "sha256:x"}, STAGING.repository: {"t2": "sha256:s"}})
    found = locate_image([PROD, STAGING], "t1", [PROD, STAGING, third], registries)
    assert [(f.target.name, f.source.repository, f.digest, f.own) for f in found] == [
        ("prod", third.repository, "sha256:x", False),
        ("staging", third.repository, "sha256:x", False),
    ]
    assert sorted(registries.asked) == sorted([PROD.repository, STAGING.repository, third.repository])


def test_a_tag_found_nowhere_is_bad_input_naming_every_registry_looked_at():
    with pytest.raises(ConfigError) as err:
        locate_image([PROD], "t9", [PROD, STAGING], FakeRegistries({}))
    assert err.value.exit_code == ExitCode.BAD_INPUT
    assert str(err.value).startswith(
        "image t9 is in none of the registries looked at: reg-prod:5000/ghe-backup:t9, reg-staging:5000/ghe-backup:t9"
    )


@pytest.mark.parametrize("tag", ["", "with space", "-leading-dash", "a" * 129, "x/y"])
def test_a_bad_tag_is_refused_before_any_registry_is_asked(tag):
    registries = FakeRegistries({})
    with pytest.raises(UsageError, match="is not an image tag"):
        locate_image([PROD], tag, [PROD], registries)
    assert registries.asked == []


# --- on the sandbox: staging's registry -> prod's, through the real task graph ---------------------


def inv(*argv):
    program = Program(namespace=tasks.ns, executor_class=PipelineExecutor, name="inv", binary="inv")
    try:
        program.run(["inv", *argv])
    except SystemExit as exit_:
        return exit_.code
    return 0


@pytest.fixture
def nothing_else_runs(monkeypatch):
    """Test, image and push must not run: each would record its call here."""
    ran = []
    monkeypatch.setattr(gate, "run_unit_tests", lambda *a, **k: ran.append("test"))
    monkeypatch.setattr(image_build, "build_image", lambda *a, **k: ran.append("image"))
    monkeypatch.setattr(push_stage, "push_image", lambda *a, **k: ran.append("push") or [])
    return ran


@pytest.fixture
def staged(sandbox_engine_registry, sandbox_accounts, shipped_tree, tmp_path_factory):
    """A real image pushed for staging only (to staging's sandbox registry), under a tag of its own."""
    from ghe_backup.delivery.image.build import build_image
    from ghe_backup.delivery.push.push import push_to_account
    from ghe_backup.edge.targets import Resolution
    from ghe_backup.plumbing import engine
    from support.context_repo import make_repo, sandbox_site

    site = sandbox_site(make_repo(tmp_path_factory.mktemp("promote")), sandbox_engine_registry)
    image = dataclasses.replace(build_image(site), tag=f"promote-{uuid.uuid4().hex[:12]}")
    staging, prod = Resolution(shipped_tree).targets(["staging", "prod"], True)
    pushed = push_to_account(engine.connect(site.docker_host), image, staging)
    return {"tag": image.tag, "digest": pushed.digest, "staging": staging, "prod": prod}


def stacks(root, name):
    from ghe_backup.delivery.config import load_accounts
    from ghe_backup.sandbox import aws as sandbox_aws

    cfn = sandbox_aws.account_client(load_accounts(root)[name].settings, "cloudformation")
    return {s["StackName"]: s for s in cfn.describe_stacks()["Stacks"] if s["StackName"].startswith("ghe-backup-")}


@pytest.mark.integration
def test_image_promotes_a_tag_pushed_for_staging_into_prod_with_its_digest_and_runs_no_tests(
    staged, shipped_tree, nothing_else_runs, capfd
):
    from ghe_backup.delivery.deploy import history
    from ghe_backup.delivery.push.registry_api import RegistryClient

    tag, digest, prod = staged["tag"], staged["digest"], staged["prod"]
    prod_registry = RegistryClient(prod.registry)
    assert prod_registry.manifest_digest("ghe-backup", tag) is None  # only staging has it

    assert inv("deploy", "--account=prod", f"--image={tag}", "--sandbox", "--yes", "--json") == 0
    out, err = capfd.readouterr()
    assert nothing_else_runs == [] and "pytest" not in err and "passed" not in err
    assert not (shipped_tree / ".state" / "test-passes.json").exists()  # the gate never ran
    assert prod_registry.manifest_digest("ghe-backup", tag) == digest  # copied by digest, no rebuild
    record = json.loads((shipped_tree / ".state" / "pushes.json").read_text())["prod"]["registries"][prod.registry]
    assert (record["tag"], record["digest"], record["source"]) == (tag, digest, staged["staging"].repository)
    [deployed] = json.loads(out)
    assert deployed["image"].startswith(f"{prod.registry}/ghe-backup:{tag}") and deployed["status"] == "CREATE_COMPLETE"
    live = stacks(shipped_tree, "prod")[deployed["stack"]]
    assert {"ParameterKey": "ImageVersion", "ParameterValue": tag} in live["Parameters"]
    [attempt] = history.read(shipped_tree / ".state", "prod")
    assert attempt["image_digest"] == digest and attempt["result"] == "succeeded"
    assert f"copying {staged['staging'].repository}:{tag} ({digest}) to {prod.registry}" in err

    assert inv("deploy", "--account=prod", f"--image={tag}", "--sandbox", "--yes") == 0  # prod has it now
    assert "is in the account's registry" in capfd.readouterr().err and nothing_else_runs == []


@pytest.mark.integration
def test_a_tag_found_nowhere_is_refused_before_anything_runs(staged, shipped_tree, nothing_else_runs, capfd):
    before = set(stacks(shipped_tree, "prod"))
    tag = f"nowhere-{uuid.uuid4().hex[:8]}"
    assert inv("deploy", "--account=prod", f"--image={tag}", "--sandbox", "--yes") == 2
    lines = capfd.readouterr().err.strip().splitlines()
    # Only the preflight's progress lines come before the one error line.
    *progress, err = lines
    assert all(line.startswith("prod: preflight: ") for line in progress), lines
    assert err.startswith(f"error: image {tag} is in none of the registries looked at: ")
    assert f"{staged['prod'].repository}:{tag}" in err and f"{staged['staging'].repository}:{tag}" in err
    assert "Traceback" not in "\n".join(lines)
    assert nothing_else_runs == [] and set(stacks(shipped_tree, "prod")) == before
    assert not (shipped_tree / ".state" / "pushes.json").exists() and not (shipped_tree / ".state").exists()


def test_promote_records_what_deploy_deploys(monkeypatch, tmp_path):
    """Unit level: the promoted digest is what pushes.json says for the account's registry."""
    from ghe_backup.delivery.push.records import pushed_image
    from ghe_backup.delivery.push.registry_copy import CopyResult

    site = dataclasses.replace(PROD.build, root=tmp_path)
    prod = dataclasses.replace(PROD, build=site)
    staging = dataclasses.replace(STAGING, build=site)
    holding = FakeRegistries({staging.repository: {"t1": "sha256:s"}})
    monkeypatch.setattr(promote, "Registries", lambda: holding)
    monkeypatch.setattr(holding, "client", lambda target: target.registry)
    monkeypatch.setattr(
        promote,
        "copy_image",
        lambda *a, **k: CopyResult(digest="sha256:s", config_digest="sha256:c", copied_bytes=7, copied_blobs=1),
    )
    [result] = promote.promote_image([prod], "t1", [prod, staging], report=lambda line: None)
    assert (result.digest, result.image_id, result.uploaded_bytes, result.skipped) == ("sha256:s", "sha256:c", 7, False)
    assert pushed_image(tmp_path / ".state", "prod", prod.registry) == result
    assert result.source == staging.repository
