"""Saved plans (inv plan --out, inv deploy --plan): the file round trip, bad files, what moved on."""

from __future__ import annotations

import dataclasses
import json

import pytest

from ghe_backup.delivery.deploy.planning import PLAN_FORMAT, load, moved_on, require_no_change, save
from ghe_backup.errors import Attention, ConfigError, ExitCode
from support.plans import NEW_AMI, a_plan


def test_a_saved_plan_reads_back_as_it_was(tmp_path):
    plans = [a_plan(), a_plan(account="staging", running=None, changes=["first deployment"], deletes=[])]
    save(plans, tmp_path / "sub" / "plan.json", revision="c0ffee")
    assert load(tmp_path / "sub" / "plan.json") == plans
    saved = json.loads((tmp_path / "sub" / "plan.json").read_text())
    assert saved["format"] == PLAN_FORMAT and saved["revision"] == "c0ffee"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such plan file"),
        ("{not json", "not a saved plan (JSONDecodeError)"),
        (b"\xff\xfe", "not a saved plan (UnicodeDecodeError)"),
        ('{"format": 99, "accounts": []}', "not a saved plan of this version"),
        ('["a list"]', "not a saved plan of this version"),
        (json.dumps({"format": PLAN_FORMAT, "accounts": [{"account": "prod"}]}), "accounts[0].account_id: missing"),
        (json.dumps({"format": PLAN_FORMAT, "accounts": ["prod"]}), "accounts[0]: not a mapping"),
    ],
)
def test_anything_but_a_saved_plan_is_one_line_exit_2(tmp_path, content, message):
    path = tmp_path / "plan.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError) as err:
        load(path)
    assert err.value.exit_code == ExitCode.BAD_INPUT and message in str(err.value) and str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_an_extra_field_from_a_newer_version_is_refused_not_ignored(tmp_path):
    path = tmp_path / "plan.json"
    save([a_plan()], path, revision=None)
    data = json.loads(path.read_text())
    data["accounts"][0]["surprise"] = 1
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"accounts\[0\]\.surprise: not a field of this version"):
        load(path)


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        (("image_tag",), 5, "accounts[1].image_tag: int is not str"),
        (("no_op",), "yes", "accounts[1].no_op: str is not bool"),
        (("approval_needed",), None, "accounts[1].approval_needed: NoneType is not bool"),
        (("changes",), "AMI", "accounts[1].changes: str is not list[str]"),
        (("deletes",), [1], "accounts[1].deletes: list is not list[str]"),
        (("image_digest",), ["sha256:x"], "accounts[1].image_digest: list is not str | None"),
        (("running", "ami"), "ami-1", "accounts[1].running.ami: not a mapping"),
        (("ami", "age_days"), True, "accounts[1].ami.age_days: bool is not float | None"),
        (("running", "stack"), None, "accounts[1].running.stack: NoneType is not str"),
    ],
)
def test_a_field_of_the_wrong_type_is_named(tmp_path, where, value, message):
    path = tmp_path / "plan.json"
    save([a_plan(account="staging"), a_plan()], path, revision=None)
    data = json.loads(path.read_text())
    node = data["accounts"][1]
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as err:
        load(path)
    assert f"{path}: a saved plan with a missing or wrong field: {message} " in str(err.value)


def test_a_plan_that_still_holds_has_moved_on_nowhere():
    assert moved_on(a_plan(), a_plan()) == []


def test_everything_that_moved_on_is_named():
    approved = a_plan()
    fresh = a_plan(
        running=dataclasses.replace(approved.running, stack="ghe-backup-other"),
        ami=dataclasses.replace(NEW_AMI, id="ami-3", name="Taupage-AMI-20261128-000000"),
        image_digest="sha256:pushed-again",
        definition_hash="cccc",
    )
    assert moved_on(approved, fresh) == [
        "the running stack is ghe-backup-other, not ghe-backup-old1 (another deploy?)",
        "the AMI would be Taupage-AMI-20261128-000000, not Taupage-AMI-20261127-000000",
        "new1 is now sha256:pushed-again, not sha256:new",
        "the definition changed (the config or the senza base)",
    ]
    assert moved_on(approved, a_plan(image_tag="new2")) == ["the image is new2, not new1"]
    assert moved_on(approved, a_plan(running=None)) == [
        "the running stack is none, not ghe-backup-old1 (another deploy?)"
    ]


def test_exit_code_flag_is_attention_only_when_something_would_change():
    quiet = a_plan(changes=[], no_op=True, deletes=[])
    assert require_no_change([quiet]) == [quiet]
    with pytest.raises(Attention) as err:
        require_no_change([quiet, a_plan(account="staging", changes=["AMI"])])
    assert err.value.exit_code == ExitCode.ATTENTION and str(err.value).startswith(
        "a deploy would change staging (AMI)"
    )
