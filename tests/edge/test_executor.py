"""The executor on its own: parameters handed to pre-tasks, de-duplication, preflight, errors."""

from __future__ import annotations

import pytest
from invoke import Collection, Config, task
from invoke.exceptions import Exit

from ghe_backup.edge.executor import PipelineExecutor, hand_down, preflight, task_parameters
from ghe_backup.errors import ConfigError, StageFailed, Unreachable


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


# --- --json: stdout holds exactly one JSON document, whether the run succeeds or fails ---------


def json_graph(log, fail=None, fail_in=None, print_first=False):
    """test -> push -> deploy, each with --json where a real task has it; ``fail`` raised in ``fail_in``."""

    def step(name):
        log.append(name)
        if fail_in == name:
            raise fail

    @task
    def test(c):
        print("pytest chatter on stdout")
        step("test")

    @task(pre=[test], iterable=["account"])
    def push(c, account, json=False):
        step("push")
        print('[{"pushed": true}]')

    @task(pre=[push], iterable=["account"])
    def deploy(c, account, json=False):
        if print_first:
            print('[{"account": "staging", "result": "deployed"}, {"account": "prod", "result": "failed"}]')
        step("deploy")
        print('[{"deployed": true}]')

    return Collection(test, push, deploy)


def one_document(out):
    import json

    document, end = json.JSONDecoder().raw_decode(out)
    assert out[end:].strip() == "", f"more than one document on stdout: {out!r}"
    return document


@pytest.fixture
def quiet(monkeypatch):
    monkeypatch.delenv("GHE_BACKUP_DEBUG", raising=False)
    monkeypatch.delenv("INVOKE_DEBUG", raising=False)


def test_json_success_prints_only_the_named_tasks_document(capsys, quiet):
    log = []
    run(json_graph(log), ("deploy", {"account": ["prod"], "json": True}))
    out, err = capsys.readouterr()
    assert one_document(out) == [{"deployed": True}]
    assert "pytest chatter" in err and '"pushed"' in err  # prerequisites report on stderr


def test_json_failure_in_preflight_is_one_document_naming_account_and_stage(capsys, quiet):
    log = []
    graph = json_graph(log)

    def refuse(config, **kwargs):
        raise ConfigError("unknown account 'prod'", hint="known accounts: staging")

    preflight(refuse)(graph["deploy"])
    with pytest.raises(Exit) as info:
        run(graph, ("deploy", {"account": ["prod"], "json": True}))
    out, err = capsys.readouterr()
    assert info.value.code == 2 and log == []
    assert one_document(out) == {
        "error": "unknown account 'prod' (known accounts: staging)",
        "exit_code": 2,
        "account": "prod",
        "stage": "preflight",
    }
    assert err == "error: unknown account 'prod' (known accounts: staging)\n"  # the line stays on stderr


def test_json_failure_in_a_prerequisite_names_that_stage(capsys, quiet):
    log = []
    with pytest.raises(Exit) as info:
        run(json_graph(log, Unreachable("registry down"), "push"), ("deploy", {"account": ["prod"], "json": True}))
    assert info.value.code == 3
    document = one_document(capsys.readouterr().out)
    assert document == {"error": "registry down", "exit_code": 3, "account": "prod", "stage": "push"}


def test_json_failure_prefers_the_errors_own_account_and_stage(capsys, quiet):
    log = []
    error = StageFailed("stack CREATE_FAILED", account="prod", stage="deploy.wait")
    with pytest.raises(Exit):
        run(json_graph(log, error, "deploy"), ("deploy", {"account": ["staging", "prod"], "json": True}))
    document = one_document(capsys.readouterr().out)
    assert (document["account"], document["stage"], document["exit_code"]) == ("prod", "deploy.wait", 1)


def test_json_failure_of_several_accounts_without_a_named_one_says_null(capsys, quiet):
    log = []
    with pytest.raises(Exit):
        run(json_graph(log, StageFailed("boom"), "deploy"), ("deploy", {"account": ["staging", "prod"], "json": True}))
    assert one_document(capsys.readouterr().out)["account"] is None


def test_json_failure_after_the_task_printed_keeps_its_result_inside_the_one_document(capsys, quiet):
    log = []
    graph = json_graph(log, StageFailed("prod failed", account="prod"), "deploy", print_first=True)
    with pytest.raises(Exit) as info:
        run(graph, ("deploy", {"account": ["staging", "prod"], "json": True}))
    assert info.value.code == 1
    document = one_document(capsys.readouterr().out)
    assert document["error"] == "prod failed"
    assert document["result"] == [
        {"account": "staging", "result": "deployed"},
        {"account": "prod", "result": "failed"},
    ]


def test_json_interrupt_is_one_document_with_130(capsys, quiet):
    log = []
    with pytest.raises(Exit) as info:
        run(json_graph(log, KeyboardInterrupt(), "deploy"), ("deploy", {"account": ["prod"], "json": True}))
    assert info.value.code == 130
    document = one_document(capsys.readouterr().out)
    assert document == {"error": "interrupted", "exit_code": 130, "account": "prod", "stage": "deploy"}


def test_json_unexpected_error_still_prints_one_document_and_keeps_the_traceback(capsys, quiet):
    log = []
    with pytest.raises(ZeroDivisionError):
        run(json_graph(log, ZeroDivisionError("secret-free"), "push"), ("deploy", {"account": ["prod"], "json": True}))
    document = one_document(capsys.readouterr().out)
    assert document["exit_code"] == 1 and document["stage"] == "push"
    assert document["error"].startswith("unexpected ZeroDivisionError")


def test_json_exit_chosen_by_a_task_keeps_its_document(capsys, quiet):
    @task
    def plan(c, json=False):
        print('{"changes": true}')
        raise Exit(code=5)

    with pytest.raises(Exit) as info:
        run(Collection(plan), ("plan", {"json": True}))
    assert info.value.code == 5
    assert one_document(capsys.readouterr().out) == {"changes": True}


def test_with_json_a_named_task_without_json_reports_on_stderr(capsys, quiet):
    log = []
    run(json_graph(log), ("test", {}), ("deploy", {"account": ["prod"], "json": True}))
    out, err = capsys.readouterr()
    assert one_document(out) == [{"deployed": True}]
    assert "pytest chatter" in err


def test_without_json_a_failure_prints_nothing_on_stdout(capsys, quiet):
    log = []
    with pytest.raises(Exit):
        run(json_graph(log, StageFailed("boom"), "deploy"), ("deploy", {"account": ["prod"]}))
    out, err = capsys.readouterr()
    assert '"error"' not in out and err.endswith("error: boom\n")
