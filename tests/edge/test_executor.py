"""The executor on its own: parameters handed to pre-tasks, de-duplication, preflight, errors."""

from __future__ import annotations

import pytest
from invoke import Collection, Config, task
from invoke.exceptions import Exit

from ghe_backup.edge.executor import PipelineExecutor, hand_down, preflight, task_parameters
from ghe_backup.errors import ConfigError, Unreachable


def make_graph(log):
    @task
    def test(c):
        log.append(("test",))

    @task(pre=[test])
    def image(c, sandbox=None):
        log.append(("image", sandbox))

    @task(pre=[image], iterable=["account"])
    def push(c, account, sandbox=None):
        log.append(("push", tuple(account), sandbox))

    @task(pre=[push], iterable=["account"])
    def deploy(c, account, sandbox=None, yes=False):
        log.append(("deploy", tuple(account), sandbox, yes))

    return Collection(test, image, push, deploy)


def run(collection, *calls):
    return PipelineExecutor(collection, Config()).execute(*calls)


def test_task_parameters_exclude_the_context():
    log = []
    assert task_parameters(make_graph(log)["deploy"]) == {"account", "sandbox", "yes"}


def test_pre_tasks_receive_the_parameters_they_declare():
    log = []
    run(make_graph(log), ("deploy", {"account": ["prod"], "sandbox": True, "yes": True}))
    assert log == [("test",), ("image", True), ("push", ("prod",), True), ("deploy", ("prod",), True, True)]


def test_each_stage_runs_once_when_tasks_are_named_together():
    log = []
    graph = make_graph(log)
    run(graph, ("push", {"account": ["prod"]}), ("deploy", {"account": ["prod"]}))
    assert [entry[0] for entry in log] == ["test", "image", "push", "deploy"]


def test_presentation_flags_are_not_handed_down():
    log = []
    graph = make_graph(log)
    call = hand_down(__import__("invoke").Call(graph["push"]), {"account": ["x"], "json": True})
    assert call.kwargs == {"account": ["x"]}


def test_hand_down_keeps_explicit_pre_task_arguments():
    log = []
    push_call = hand_down(
        __import__("invoke").Call(make_graph(log)["push"], kwargs={"sandbox": False}),
        {"sandbox": True, "account": ["x"]},
    )
    assert push_call.kwargs == {"sandbox": False, "account": ["x"]}


def test_preflight_runs_before_any_task_and_stops_everything():
    log = []
    graph = make_graph(log)

    def refuse(config, **kwargs):
        raise ConfigError(f"refused {kwargs['account']}")

    preflight(refuse)(graph["deploy"])
    with pytest.raises(Exit) as info:
        run(graph, ("deploy", {"account": ["prod"]}))
    assert info.value.code == 2
    assert log == []


@pytest.mark.parametrize("error, code", [(ConfigError("bad"), 2), (Unreachable("down"), 3)])
def test_errors_become_one_line_and_their_exit_code(capsys, monkeypatch, error, code):
    monkeypatch.delenv("GHE_BACKUP_DEBUG", raising=False)
    monkeypatch.delenv("INVOKE_DEBUG", raising=False)

    @task
    def fails(c):
        raise error

    with pytest.raises(Exit) as info:
        run(Collection(fails), "fails")
    assert info.value.code == code
    err = capsys.readouterr().err
    assert err == f"error: {error}\n"
    assert "Traceback" not in err


def test_debug_shows_the_traceback(capsys, monkeypatch):
    monkeypatch.setenv("GHE_BACKUP_DEBUG", "1")

    @task
    def fails(c):
        raise ConfigError("bad")

    with pytest.raises(Exit):
        run(Collection(fails), "fails")
    assert "Traceback" in capsys.readouterr().err
