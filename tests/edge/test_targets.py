"""Target resolution at the edge: sandbox state read once per run, endpoints resolved, never by stages."""

from __future__ import annotations

import json

import pytest

import tasks
from ghe_backup import sandbox
from ghe_backup.delivery import gate
from ghe_backup.delivery.deploy import reachability
from ghe_backup.delivery.deploy import run as deploy_run
from ghe_backup.delivery.deploy.run import Outcome
from ghe_backup.delivery.image import build as image_build
from ghe_backup.delivery.push import push as push_stage
from ghe_backup.edge.program import PipelineProgram
from ghe_backup.edge.targets import Resolution
from ghe_backup.sandbox.state import SANDBOX_CREDENTIALS, SandboxState

ENDPOINTS = {
    "docker_host": "unix:///sandbox/docker.sock",
    "base_image": "ghe-backup-base:bookworm-1",
    "registries": {"prod": "127.0.0.1:5000", "staging": "127.0.0.1:5001"},
    "aws_endpoint": "http://127.0.0.1:5501",
    "token_env": "GHE_SANDBOX_LIZZY_TOKEN",
    "token_file": "/sandbox/token",
    "lizzy": {"prod": "http://127.0.0.1:5510", "staging": "http://127.0.0.1:5511"},
    "aws_accounts": {
        "prod": {"kms_private_ssh_key": "aws:kms:SANDBOXPROD"},
        "staging": {"kms_private_ssh_key": "aws:kms:SANDBOXSTAGING"},
    },
}


@pytest.fixture
def running_sandbox(config_tree, monkeypatch):
    """A sandbox state file and every component answering; counts reads of the state and probes."""
    (config_tree / ".sandbox").mkdir()
    (config_tree / ".sandbox" / "state.json").write_text(json.dumps(ENDPOINTS))
    counts = {"load": 0, "probe": 0}
    load = SandboxState.load.__func__

    def counting_load(cls, root):
        counts["load"] += 1
        return load(cls, root)

    def probe(state):
        counts["probe"] += 1
        return dict.fromkeys(sandbox.COMPONENTS, True)

    monkeypatch.setattr(SandboxState, "load", classmethod(counting_load))
    monkeypatch.setattr(sandbox, "probe", probe)
    return counts


def test_the_sandboxs_endpoints_and_key_replace_only_endpoints(running_sandbox, config_tree):
    [prod] = Resolution(config_tree).targets(["prod"], True)
    real = Resolution(config_tree).targets(["prod"], False)[0]
    assert (prod.registry, prod.lizzy_url, prod.aws.url) == (
        "127.0.0.1:5000",
        "http://127.0.0.1:5510",
        "http://127.0.0.1:5501",
    )
    assert prod.aws.credentials == SANDBOX_CREDENTIALS and real.aws.credentials is None and real.aws.url is None
    assert prod.token.env == "GHE_SANDBOX_LIZZY_TOKEN" and str(prod.token.file) == "/sandbox/token"
    assert prod.build.docker_host == "unix:///sandbox/docker.sock"
    assert (
        prod.build.build_args["BASE_IMAGE"] == "ghe-backup-base:bookworm-1"
        and prod.build.build_args["BACKUP_UTILS_SOURCE"] == "context"
    )
    app = next(c["AppServer"] for c in prod.definition["SenzaComponents"] if "AppServer" in c)
    assert app["TaupageConfig"]["kms_private_ssh_key"] == "aws:kms:SANDBOXPROD"
    assert app["TaupageConfig"]["source"] == "127.0.0.1:5000/ghe-backup:{{Arguments.ImageVersion}}"
    real_app = next(c["AppServer"] for c in real.definition["SenzaComponents"] if "AppServer" in c)
    assert real_app["TaupageConfig"]["kms_private_ssh_key"].startswith("aws:kms:AQICAHhprod")
    assert real_app["TaupageConfig"]["source"].startswith("123456789012.dkr.ecr.eu-central-1.amazonaws.com/ghe-backup:")
    assert (prod.settings, prod.account.merged) == (real.settings, real.account.merged)  # same config, other endpoints


def test_each_sandbox_account_has_its_own_registry_as_real_accounts_have_their_ecr(running_sandbox, config_tree):
    prod, staging = Resolution(config_tree).targets(["prod", "staging"], True)
    assert (prod.registry, staging.registry) == ("127.0.0.1:5000", "127.0.0.1:5001")
    assert staging.repository == "127.0.0.1:5001/ghe-backup"


def test_a_sandbox_without_a_registry_for_the_account_asks_for_a_restart(running_sandbox, config_tree):
    from ghe_backup.errors import Unreachable

    state = json.loads((config_tree / ".sandbox" / "state.json").read_text())
    state["registries"] = {"prod": "127.0.0.1:5000"}
    (config_tree / ".sandbox" / "state.json").write_text(json.dumps(state))
    with pytest.raises(
        Unreachable, match="the sandbox has no registry for account staging .restart it: inv sandbox.up"
    ):
        Resolution(config_tree).targets(["staging"], True)


def test_one_deploy_reads_the_sandbox_state_once_and_loads_the_config_once(running_sandbox, monkeypatch):
    from ghe_backup.edge import targets

    loads = []
    original = targets.load_accounts
    monkeypatch.setattr(targets, "load_accounts", lambda root: loads.append(root) or original(root))
    seen = []
    monkeypatch.setattr(gate, "run_unit_tests", lambda root, **options: None)
    monkeypatch.setattr(image_build, "build_image", lambda site: seen.append(site))
    monkeypatch.setattr(push_stage, "push_image", lambda found: seen.append(found) or [])
    monkeypatch.setattr(deploy_run, "deploy_accounts", lambda found, **options: seen.append(found) or Outcome())
    probed = []  # the fake sandbox's endpoints do not exist: probes are recorded
    monkeypatch.setattr(
        reachability, "check_reachable", lambda found, kinds: probed.append(([t.name for t in found], kinds))
    )
    program = PipelineProgram(namespace=tasks.ns)
    program.run(["inv", "deploy", "--account=prod", "--account=staging", "--sandbox", "--yes"], exit=False)
    assert running_sandbox == {"load": 1, "probe": 1}
    assert len(loads) == 1
    site, pushed, deployed = seen
    assert site.sandbox and [t.name for t in pushed] == [t.name for t in deployed] == ["prod", "staging"]
    assert all(t.build == site for t in deployed)
    assert probed == [(["prod", "staging"], ("registry",)), (["prod", "staging"], ("lizzy", "role"))]


def test_each_accounts_target_is_made_once_per_place(config_tree):
    found = Resolution(config_tree)
    [prod] = found.targets(["prod"], False)
    assert found.all_targets(False)[0] is prod and found.some_targets(None, False)[0] is prod
