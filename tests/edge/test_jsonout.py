"""The held output of a --json run and the error document, on their own."""

from __future__ import annotations

from invoke import Call, task

from ghe_backup.edge.jsonout import HeldOutput, Where, call_account, error_document, json_wanted
from ghe_backup.errors import ConfigError


@task(iterable=["account"])
def deploy(c, account, json=False):
    pass


def test_json_is_wanted_when_any_named_call_has_it():
    assert json_wanted([Call(deploy, kwargs={"account": ["a"]}), Call(deploy, kwargs={"json": True})])
    assert not json_wanted([Call(deploy, kwargs={"account": ["a"], "json": False})])


def test_the_account_of_a_call_is_the_one_it_names():
    assert call_account(Call(deploy, kwargs={"account": ["prod"]})) == "prod"
    assert call_account(Call(deploy, kwargs={"account": ["prod", "prod"]})) == "prod"
    assert call_account(Call(deploy, kwargs={"account": "prod"})) == "prod"
    assert call_account(Call(deploy, kwargs={"account": ["staging", "prod"]})) is None
    assert call_account(Call(deploy, kwargs={"account": []})) is None
    assert call_account(None) is None


def test_held_output_parses_one_or_several_documents_and_keeps_other_text_whole():
    held = HeldOutput()
    assert held.documents() is None
    held.buffer.write('[{"a": 1}]\n')
    assert held.documents() == [{"a": 1}]
    held.buffer.write('{"b": 2}\n')
    assert held.documents() == [[{"a": 1}], {"b": 2}]
    held.buffer.write("not json\n")
    assert held.documents() == '[{"a": 1}]\n{"b": 2}\nnot json\n'


def test_error_document_has_the_four_keys_and_result_only_when_something_was_printed():
    where = Where(stage="push", call=Call(deploy, kwargs={"account": ["prod"]}))
    error = ConfigError("bad", hint="fix it")
    assert error_document(str(error), 2, where=where, error=error) == {
        "error": "bad (fix it)",
        "exit_code": 2,
        "account": "prod",
        "stage": "push",
    }
    held = HeldOutput()
    held.buffer.write("[]")
    assert error_document("x", 1, where=Where(), held=held) == {
        "error": "x",
        "exit_code": 1,
        "account": None,
        "stage": None,
        "result": [],
    }
