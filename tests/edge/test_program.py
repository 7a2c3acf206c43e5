"""Our inv: Invoke's command line, with one-line errors and exit 2 for whatever it cannot parse."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import tasks
from ghe_backup.edge.program import PipelineProgram

REPO = Path(__file__).resolve().parents[2]
FIXTURE_TREE = REPO / "tests" / "data" / "tree"
BIN = Path(sys.executable).parent


def inv(*argv):
    try:
        PipelineProgram(namespace=tasks.ns).run(["inv", *argv])
    except SystemExit as exit_:
        return exit_.code
    return 0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["deplyo"], "error: No idea what 'deplyo' is!; did you mean 'deploy'? (see: inv --list, inv --help TASK)"),
        (
            ["deploy", "--acount=prod"],
            "error: No idea what '--acount' is!; did you mean '--account'? (see: inv --list, inv --help TASK)",
        ),
        (["history", "--limit"], "error: --limit needs a value, e.g. --limit=VALUE (see: inv --list, inv --help TASK)"),
        (["--bogus"], "error: No idea what '--bogus' is! (see: inv --list, inv --help TASK)"),
        (["--help", "nosuch"], "error: No idea what 'nosuch' is! (see: inv --list, inv --help TASK)"),
        (["push", "--account=prod", "extra"], "error: No idea what 'extra' is! (see: inv --list, inv --help TASK)"),
    ],
)
def test_parse_errors_are_one_line_and_exit_2(argv, message, capsys, config_tree):
    assert inv(*argv) == 2
    assert capsys.readouterr().err == message + "\n"


def test_help_list_and_version_still_exit_0(capsys, config_tree):
    assert inv("--list") == 0
    assert "deploy" in capsys.readouterr().out
    assert inv("--help", "deploy") == 0
    assert "--account" in capsys.readouterr().out
    assert inv("--version") == 0


def test_an_interrupt_while_parsing_exits_130(monkeypatch, capsys):
    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(PipelineProgram.__mro__[1], "parse_tasks", interrupted)
    assert inv("accounts") == 130
    assert capsys.readouterr().err == "error: interrupted\n"


# --- the installed inv: console scripts, invoke.yaml of a checkout ------------------------------


def run_inv(*argv, cwd=REPO, env=None, script="inv"):
    env = {**os.environ, "GHE_BACKUP_ROOT": str(FIXTURE_TREE), **(env or {})}
    return subprocess.run([str(BIN / script), *argv], cwd=cwd, capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.process
@pytest.mark.parametrize("script", ["inv", "invoke"])
def test_the_installed_scripts_are_ours(script):
    """Invoke ships scripts of the same names; ours must win (the Makefile checks it too)."""
    result = run_inv("deplyo", script=script)
    assert (result.returncode, result.stderr.splitlines()[-1:]) == (
        2,
        ["error: No idea what 'deplyo' is!; did you mean 'deploy'? (see: inv --list, inv --help TASK)"],
    )


@pytest.mark.process
def test_completion_still_works():
    result = run_inv("--complete", "--", "inv", "dep")
    assert result.returncode == 0 and "deploy" in result.stdout.split()
    script = run_inv("--print-completion-script", "bash")
    assert script.returncode == 0 and "complete -F" in script.stdout and "inv" in script.stdout


@pytest.fixture
def checkout(tmp_path):
    """A checkout's tasks.py with an invoke.yaml of the test's choosing."""
    shutil.copy(REPO / "tasks.py", tmp_path / "tasks.py")
    return tmp_path


@pytest.mark.parametrize(
    "content, message",
    [
        ("tasks: [\n", "error: invoke.yaml:2: malformed YAML: expected the node content, but found '<stream end>'"),
        ("ghe:\n  sandbox: maybe\n", "error: ghe.sandbox (Invoke config): 'maybe' is not a yes/no value"),
        (
            "tasks:\n  executor_class: nope.Nope\n",
            "error: tasks.executor_class (invoke.yaml): cannot import 'nope.Nope': No module named 'nope'",
        ),
    ],
)
@pytest.mark.process
def test_a_broken_invoke_yaml_is_one_line_and_exit_2(checkout, content, message):
    """The installed inv reads a checkout's invoke.yaml (the other cases: test_invokeconfig.py)."""
    (checkout / "invoke.yaml").write_text(content)
    result = run_inv("accounts", cwd=checkout)
    assert result.returncode == 2
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1, result.stderr


@pytest.mark.parametrize(
    "name, message",
    [
        ("ghe_backup.edge.executor.Nope", "'ghe_backup.edge.executor.Nope' is not a class that can be imported"),
        ("nope.Nope", "cannot import 'nope.Nope': No module named 'nope'"),
        ("invoke.Executor", "'invoke.Executor' would skip the pipeline's input checks and exit codes"),
        ("Executor", "'Executor' is not a class that can be imported"),
    ],
)
def test_an_executor_class_that_is_not_ours_is_refused(name, message):
    from ghe_backup.edge.invokeconfig import PipelineConfig
    from ghe_backup.errors import UsageError

    program = PipelineProgram(namespace=tasks.ns)
    program.config = PipelineConfig(overrides={"tasks": {"executor_class": name}})
    with pytest.raises(UsageError) as info:
        program._executor_class()
    assert str(info.value) == (
        f"tasks.executor_class (Invoke config): {message} "
        "(set tasks.executor_class: ghe_backup.edge.executor.PipelineExecutor)"
    )


@pytest.mark.process
@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_an_invoke_yaml_that_is_no_file_is_refused_without_hanging(checkout, kind):
    target = checkout / "invoke.yaml"
    {"fifo": lambda: os.mkfifo(target), "dev-zero": lambda: target.symlink_to("/dev/zero"), "directory": target.mkdir}[
        kind
    ]()
    result = run_inv("accounts", cwd=checkout)
    assert result.returncode == 2
    assert result.stderr.startswith("error: invoke.yaml: is ") and "not a file" in result.stderr


@pytest.mark.process
def test_no_tasks_py_is_exit_2(tmp_path):
    result = run_inv("accounts", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == ("error: Can't find any collection named 'tasks'! (run inv in the ghe-backup checkout)\n")


def parsed(namespace, *argv):
    """The program after Invoke's parse steps of ``inv ARGV`` (nothing runs)."""
    program = PipelineProgram(namespace=namespace)
    program.create_config()
    program.parse_core(["inv", *argv])
    program.parse_collection()
    program.parse_tasks()
    return program


def task_values(namespace, *argv, given_only=True):
    """Each parsed task with its arguments' values (only those given, or all)."""
    return [
        (c.name, {a.name: a.value for a in c.args.values() if a.value or not given_only})
        for c in parsed(namespace, *argv).tasks
    ]


def test_each_parse_and_each_use_of_a_task_gets_its_own_arguments():
    """The task contexts are not copied per parse (their copy was most of a parse's time): what one
    parse fills in reaches neither another parse nor another use of the same task."""
    assert task_values(tasks.ns, "history", "--account=prod", "--json", "history", "--account=staging") == [
        ("history", {"account": "prod", "json": True}),
        ("history", {"account": "staging"}),
    ]
    assert task_values(tasks.ns, "history") == [("history", {})]
    assert task_values(tasks.ns, "history", "--limit=3") == [("history", {"limit": "3"})]


def test_a_task_added_to_the_collection_is_parsed_the_next_time():
    from invoke import Collection, task

    @task
    def one(c, left=0):
        pass

    @task
    def two(c, right=0):
        pass

    ns = Collection(one)
    assert task_values(ns, "one", "--left=1", given_only=False) == [("one", {"left": 1})]
    ns.add_task(two)
    assert task_values(ns, "two", "--right=2", "one", given_only=False) == [
        ("two", {"right": 2}),
        ("one", {"left": 0}),
    ]


def test_core_flags_of_one_parse_reach_no_other():
    """The core flags' context is not copied per parse (each parser gets a new one)."""

    def core_flags(*argv):
        return {name: arg.value for name, arg in parsed(tasks.ns, *argv).core[0].args.items() if arg.value}

    defaults = core_flags("history")  # Invoke's defaults (list-format: flat)
    assert core_flags("--dry", "--debug", "history") == {**defaults, "dry": True, "debug": True}
    assert core_flags("history") == defaults and "dry" not in defaults
    program = PipelineProgram(namespace=tasks.ns)
    assert program.initial_context is not program.initial_context
