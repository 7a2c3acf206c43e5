"""The real task graph of tasks.py, run through Invoke's own parser and our executor.

Stage bodies are replaced by recorders here (unit level); the stages themselves are tested
in tests/delivery/ against real engines and servers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

import tasks
from ghe_backup.delivery import gate
from ghe_backup.delivery.deploy import reachability
from ghe_backup.delivery.deploy import run as deploy_run
from ghe_backup.delivery.deploy.run import Outcome
from ghe_backup.delivery.image import build as image_build
from ghe_backup.delivery.push import push as push_stage
from ghe_backup.edge.program import PipelineProgram

REPO = Path(__file__).resolve().parents[1]
FIXTURE_TREE = REPO / "tests" / "data" / "tree"
INV = str(Path(sys.executable).parent / "inv")


@pytest.fixture
def stages(monkeypatch, config_tree, probes):
    """Record stage calls instead of running them; config comes from a temp copy of the fixture tree."""
    log = []
    monkeypatch.setattr(
        gate,
        "run_unit_tests",
        lambda root, reuse=False, junit=None: log.append(("test", reuse) if junit is None else ("test", reuse, junit)),
    )
    monkeypatch.setattr(image_build, "build_image", lambda site: log.append(("image", site.sandbox)))
    monkeypatch.setattr(push_stage, "push_image", lambda targets: log.append(("push", [t.name for t in targets])) or [])
    monkeypatch.setattr(
        deploy_run,
        "deploy_accounts",
        lambda targets, **options: (
            log.append(("deploy", [t.name for t in targets], options["assume_yes"])) or Outcome()
        ),
    )
    # The fixture tree's agents and registries do not exist: probes are recorded, not sent
    # (tests/delivery/deploy/test_reachability.py sends them to real servers).
    monkeypatch.setattr(
        reachability, "check_reachable", lambda targets, kinds: probes.append(([t.name for t in targets], kinds))
    )
    return log


@pytest.fixture
def probes():
    return []


def inv(*argv):
    program = PipelineProgram(namespace=tasks.ns)
    try:
        program.run(["inv", *argv])
    except SystemExit as exit_:  # Program raises it for Exit
        return exit_.code
    return 0


def test_deploy_runs_each_stage_once_in_order(stages, probes):
    assert inv("deploy", "--account=staging") == 0
    assert stages == [("test", True), ("image", False), ("push", ["staging"]), ("deploy", ["staging"], False)]
    # before any stage: push's check probes the registry, deploy's the agent and the role (each once)
    assert probes == [(["staging"], ("registry",)), (["staging"], ("lizzy", "role"))]


def test_account_reaches_push_and_deploy_and_several_accounts_test_and_build_once(stages):
    assert inv("deploy", "--account=staging", "--account=prod", "--yes") == 0
    assert stages == [
        ("test", True),
        ("image", False),
        ("push", ["staging", "prod"]),
        ("deploy", ["staging", "prod"], True),
    ]


SANDBOX = {
    "registries": {"prod": "127.0.0.1:5500"},
    "lizzy": {},
    "docker_host": "unix:///nowhere.sock",
    "base_image": "base:1",
}


def test_sandbox_flag_reaches_image(stages, monkeypatch):
    from ghe_backup import sandbox

    monkeypatch.setattr(sandbox, "endpoints", lambda root, state=None: SANDBOX)
    assert inv("push", "--account=prod", "--sandbox") == 0
    assert stages == [("test", True), ("image", True), ("push", ["prod"])]


def test_unknown_account_stops_before_any_stage(stages, capsys):
    assert inv("deploy", "--account=dev") == 2
    assert stages == []
    assert "unknown account 'dev'" in capsys.readouterr().err


def test_approval_without_terminal_or_yes_stops_before_any_stage(stages, monkeypatch):
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False, raising=False)
    assert inv("deploy", "--account=prod") == 2
    assert stages == []


def test_sandbox_not_running_is_unreachable_before_any_stage(stages):
    assert inv("push", "--account=prod", "--sandbox") == 3
    assert stages == []


def test_json_is_not_handed_down_so_stdout_holds_one_document(stages, capsys):
    import json

    assert inv("deploy", "--account=staging", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []  # deploy's (recorded, empty) result; push printed no JSON


def test_test_and_image_alone(stages):
    assert inv("image") == 0
    assert stages == [("test", True), ("image", False)]


def test_deploy_with_image_runs_no_test_image_or_push_and_promotes_first(stages, monkeypatch):
    from ghe_backup.delivery.push import promote

    located = []
    monkeypatch.setattr(promote, "locate_image", lambda targets, tag, sources: located.append(tag))
    monkeypatch.setattr(
        promote,
        "promote_image",
        lambda targets, tag, sources: stages.append(
            ("promote", [t.name for t in targets], tag, [s.name for s in sources])
        ),
    )
    assert inv("deploy", "--account=prod", "--image=3749798ab1c2", "--yes") == 0
    assert located == ["3749798ab1c2"]  # the preflight looked for it before anything ran
    assert stages == [("promote", ["prod"], "3749798ab1c2", ["prod", "staging"]), ("deploy", ["prod"], True)]


def test_deploy_with_a_bad_image_tag_is_exit_2_before_anything_runs(stages, capsys):
    assert inv("deploy", "--account=prod", "--image=not a tag", "--yes") == 2
    assert stages == []
    assert capsys.readouterr().err.startswith("error: --image: 'not a tag' is not an image tag")


def test_test_named_directly_runs_and_reuse_is_its_flag(stages):
    assert inv("test") == 0 and inv("test", "--reuse") == 0
    assert stages == [("test", False), ("test", True)]


@pytest.mark.process
def test_the_real_gate_through_the_graph_skips_a_pass_as_a_prerequisite_only(monkeypatch, config_tree, capfd):
    """The test stage for real (pytest on a tiny checkout) under image; only image is recorded."""
    from ghe_backup.delivery.gate import unit_tests
    from support.gate_repo import TINY_TEST, runs

    counter = config_tree.parent / "runs"
    monkeypatch.setenv("GATE_RUNS", str(counter))
    monkeypatch.setattr(unit_tests, "workers_wanted", lambda: 0)  # one test: no worker start-up
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setattr(image_build, "build_image", lambda site: None)
    (config_tree / "tests").mkdir()
    (config_tree / "tests" / "test_tiny.py").write_text(TINY_TEST)
    (config_tree / ".gitignore").write_text(".state/\n")
    subprocess.run(["git", "init", "-q"], cwd=config_tree, check=True)

    assert inv("image") == 0 and runs(counter) == 1  # nothing passed yet: the tests run
    out, err = capfd.readouterr()
    assert "1 passed" in err and "passed" not in out  # a prerequisite's output goes to stderr
    assert inv("image") == 0 and runs(counter) == 1  # the same inputs passed: skipped, saying so
    skipped = capfd.readouterr().err
    assert "test: skipped: these inputs passed at" in skipped and "hash " in skipped
    assert inv("test") == 0 and runs(counter) == 2  # named directly: it runs, its output on stdout
    assert "1 passed" in capfd.readouterr().out
    assert inv("test", "--reuse") == 0 and runs(counter) == 2
    (config_tree / "tests" / "test_tiny.py").write_text(TINY_TEST + "\n# changed\n")
    assert inv("image") == 0 and runs(counter) == 3  # a change (uncommitted, untracked alike) runs them


def test_junit_reaches_the_test_stage(stages):
    assert inv("test", "--junit=reports/junit.xml") == 0
    assert stages == [("test", False, "reports/junit.xml")]


# --- the installed `inv` itself (reads invoke.yaml, so the executor is wired for users) --------


def run_inv(*argv, env=None):
    """The installed inv in this checkout, on the tests' own config tree."""
    env = {**os.environ, "GHE_BACKUP_ROOT": str(FIXTURE_TREE), **(env or {})}
    return subprocess.run([INV, *argv], cwd=REPO, capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.process
def test_inv_list_explains_every_task():
    out = run_inv("--list").stdout
    for name, first_line in [
        ("test", "Run the fast unit tests"),
        ("image", "Build the ghe-backup image"),
        ("push", "Push the image"),
        ("deploy", "Deploy the pushed image"),
        ("accounts", "List the configured accounts"),
        ("config", "Show the account's merged senza definition"),
        ("sandbox.up", "Start the local sandbox"),
        ("sandbox.down", "Stop what sandbox.up started"),
        ("sandbox.status", "Show the sandbox's endpoints"),
    ]:
        assert any(line.split()[:1] == [name] and first_line in line for line in out.splitlines()), name


@pytest.mark.process
def test_inv_help_explains_the_flags():
    out = run_inv("--help", "deploy").stdout
    assert "--account" in out and "account name from config/accounts/" in out
    assert "--sandbox" in out and "--yes" in out
    assert "--image=STRING" in out and "deploy this pushed tag" in out


@pytest.mark.process
def test_inv_bad_input_is_one_line_exit_2_and_no_traceback():
    result = run_inv("push", "--account=nope")
    assert result.returncode == 2
    assert result.stderr == (
        "error: unknown account 'nope' (no tests/data/tree/config/accounts/nope.yaml) (known accounts: prod, staging)\n"
    )
    assert "pytest" not in result.stdout  # the test stage never started


@pytest.mark.process
def test_inv_json_failure_prints_one_json_document_on_stdout():
    import json

    result = run_inv("deploy", "--account=nope", "--yes", "--json")
    assert result.returncode == 2
    assert json.loads(result.stdout) == {
        "error": "unknown account 'nope' (no tests/data/tree/config/accounts/nope.yaml) (known accounts: prod, staging)",
        "exit_code": 2,
        "account": "nope",
        "stage": "preflight",
    }
    assert result.stderr.startswith("error: unknown account 'nope'")


def test_inv_config_shows_each_accounts_values_with_secrets_redacted(config_tree, capsys):
    # in-process (the installed inv's wiring is checked above): a subprocess costs 0.3 s of CPU
    assert inv("config", "--account=prod") == 0
    prod = capsys.readouterr().out
    assert inv("config", "--account=staging") == 0
    staging = capsys.readouterr().out
    assert "InstanceType: m5.large" in prod and "GHE_NUM_SNAPSHOTS: 72" in prod
    assert "InstanceType: t3.medium" in staging and "0 1-23/2 * * *" in staging
    for out in (prod, staging):
        assert "kms_private_ssh_key: aws:kms:<redacted>" in out
        assert "PLACEHOLDERciphertext" not in out


def test_inv_accounts_json(config_tree, capsys):
    import json

    assert inv("accounts", "--json") == 0
    assert json.loads(capsys.readouterr().out) == [
        {"name": "prod", "account_id": "123456789012", "region": "eu-central-1", "deployer": "lizzy", "approval": True},
        {
            "name": "staging",
            "account_id": "210987654321",
            "region": "eu-central-1",
            "deployer": "lizzy",
            "approval": False,
        },
    ]


def test_sandbox_can_be_chosen_by_environment(stages, monkeypatch):
    monkeypatch.setenv("INVOKE_GHE_SANDBOX", "1")
    assert inv("push", "--account=prod") == 3  # re-targeted at the sandbox, which is not running
    assert stages == []


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ("history", "--account=dev"),
            "error: unknown account 'dev' (no config/accounts/dev.yaml) (known accounts: prod, staging)",
        ),
        (("history", "--limit=x"), "error: --limit: 'x' is not a positive whole number (e.g. --limit=10)"),
        (("history", "--limit=-3"), "error: --limit: '-3' is not a positive whole number (e.g. --limit=10)"),
    ],
)
def test_history_bad_input_is_one_line_and_exit_2(stages, capsys, argv, message):
    assert inv(*argv) == 2
    assert capsys.readouterr().err == message + "\n"


def test_history_of_an_account_with_no_attempts_is_empty_json(stages, capsys):
    import json

    assert inv("history", "--account=prod", "--limit=5", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []


def test_config_without_an_account_is_bad_input(stages, capsys):
    assert inv("config") == 2
    assert capsys.readouterr().err == "error: no account given (pass --account=NAME (see: inv accounts))\n"


# --- results in a CI log: piped, 80 columns, every value whole -----------------------------------

LONG_TAG = "0123456789ab-" + "c" * 107  # 120 characters


def test_results_piped_through_a_ci_log_are_whole(config_tree, monkeypatch, capsys):
    import json as json_module

    state = config_tree / ".state"
    state.mkdir()
    entry = {
        "time": "2026-11-27T10:00:00+00:00",
        "user": "ci",
        "account": "prod",
        "deployer": "lizzy",
        "sandbox": True,
        "stack_version": "0123456789abd261127100000",
        "image_tag": LONG_TAG,
        "result": "succeeded",
        "duration": 3.0,
        "reason": "",
    }
    (state / "history.jsonl").write_text(json_module.dumps(entry) + "\n")
    overlay = config_tree / "config" / "accounts" / "prod.yaml"
    long_value = "x" * 120
    overlay.write_text(
        overlay.read_text().replace("GHE_NUM_SNAPSHOTS: 72", f"GHE_NUM_SNAPSHOTS: 72\n            NOTE: {long_value}")
    )
    monkeypatch.setenv("COLUMNS", "80")
    outputs = []
    for argv in (["history"], ["config", "--account=prod", "--origins"], ["accounts"]):
        assert inv(*argv) == 0
        outputs.append(SimpleNamespace(stdout=capsys.readouterr().out))  # captured: a pipe, not a terminal
    history, origins, listed = outputs
    for result in outputs:
        assert "…" not in result.stdout and not set("┏┃━│└") & set(result.stdout)
    assert LONG_TAG in history.stdout and "prod (sandbox)" in history.stdout and "succeeded" in history.stdout
    [note] = [line.split() for line in origins.stdout.splitlines() if ".environment.NOTE" in line]
    assert note[1] == long_value and note[2].endswith("config/accounts/prod.yaml")
    assert (
        "SenzaComponents.AppServer.TaupageConfig.kms_private_ssh_key" in origins.stdout
        and "PLACEHOLDERciphertext" not in origins.stdout
    )
    assert listed.stdout.splitlines()[0].split() == ["account", "id", "region", "deployer", "approval"]


def test_ci_check_fails_until_the_generators_ran_then_passes(config_tree, capsys):
    assert inv("ci.check") == 1
    out, err = capsys.readouterr()
    assert "ci/Jenkinsfile" in out and "missing" in out
    assert err.splitlines()[-1] == (
        "error: generated CI files differ from what config/accounts gives now: .github/workflows/deliver.yml "
        "(missing), .github/workflows/taupage-refresh.yml (missing), ci/Jenkinsfile (missing) "
        "(run inv ci.github and inv ci.jenkins and commit the result)"
    )
    assert inv("ci.github") == 0 and inv("ci.jenkins") == 0
    assert "written" in capsys.readouterr().out
    assert inv("ci.check") == 0
    assert (config_tree / ".github" / "workflows" / "deliver.yml").is_file()


def test_ci_check_json_failure_is_one_document(config_tree, capsys):
    import json

    assert inv("ci.check", "--json") == 1
    document = json.loads(capsys.readouterr().out)
    assert document["exit_code"] == 1 and document["stage"] == "ci.check"
    assert [s["state"] for s in document["result"]] == ["missing", "missing", "missing"]
