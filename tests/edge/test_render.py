"""The renderer: whole values and no markup without a terminal; JSON for machines."""

from __future__ import annotations

import io
import json

import pytest

from ghe_backup.delivery.deploy.freshness import AmiAge
from ghe_backup.delivery.deploy.status import AccountStatus
from ghe_backup.edge import render, views
from ghe_backup.plumbing.cloudformation import StackInfo

LONG_TAG = "t" * 100 + "-0123456789abcdefghi"  # 120 characters


def status(sandbox=True):
    stack = StackInfo(
        name="ghe-backup-v1",
        version="v1",
        status="CREATE_IN_PROGRESS",
        image_tag=LONG_TAG,
        ami="ami-1",
        instance_type="m5.large",
        created="2026-11-27T10:00:00+00:00",
    )
    return AccountStatus(
        account="prod",
        account_id="123456789012",
        region="eu-central-1",
        sandbox=sandbox,
        stacks=[stack],
        newest_taupage={"id": "ami-2", "name": "Taupage-AMI-20261127-000000"},
        newer_taupage_available=True,
        running_ami_names={"ami-1": "Taupage-AMI-20261101-000000"},
        newest_ami=AmiAge(
            id="ami-2", name="Taupage-AMI-20261127-000000", created="2026-11-27T00:00:00+00:00", age_days=0.5
        ),
    )


def test_without_a_terminal_every_value_is_whole_and_markup_is_text(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    out = io.StringIO()
    render.show([status()], views.status, out=out)
    text = out.getvalue()
    assert LONG_TAG in text and "CREATE_IN_PROGRESS" in text and "…" not in text
    assert "prod (123456789012, eu-central-1) [sandbox]" in text.splitlines()[0]
    assert not set("┏┃━│└") & set(text)
    assert "a newer Taupage AMI is available: Taupage-AMI-20261127-000000 (ami-2), 0 days old" in text


def test_plain_tables_align_columns_and_show_empty_cells():
    text = render.plain_table(("a", "bb"), [["x", "-"], ["longer", "y"]])
    assert text == "a       bb\nx       -\nlonger  y\n"
    assert (
        render.cell(None) == render.cell("") == "-"
        and render.cell(["a", "b"]) == "a, b"
        and render.cell(True) == "true"
    )


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_on_a_terminal_values_fold_but_are_never_cut_or_read_as_markup(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    out = Terminal()
    render.show([status()], views.status, out=out)
    text = out.getvalue()
    assert "┃" in text or "│" in text  # a real table on a terminal
    assert "[sandbox]" in text and "…" not in text
    image_column = "".join(line.split("│")[3].strip() for line in text.splitlines() if line.startswith("│"))
    assert image_column == LONG_TAG  # folded over lines, nothing cut off


def test_json_is_the_result_data():
    out = io.StringIO()
    render.show([status()], views.status, json=True, out=out)
    [data] = json.loads(out.getvalue())
    assert data["stacks"][0]["image_tag"] == LONG_TAG and data["sandbox"] is True


@pytest.mark.parametrize(
    "run, says",
    [
        ("running", "prod: last good backup 2026-11-27T08:00:00Z; last run succeeded (a backup is running)"),
        (
            "dead",
            "prod: last good backup 2026-11-27T08:00:00Z; last run succeeded (a run marked running since "
            "2026-11-27T10:00:00Z has been silent too long: its container is gone, deploys do not wait for it)",
        ),
        ("idle", "prod: last good backup 2026-11-27T08:00:00Z; last run succeeded\n"),
    ],
)
def test_status_tells_a_live_backup_run_from_a_dead_containers_flag(run, says):
    found = status()
    found.backup = {
        "running": run != "idle",
        "run_started": "2026-11-27T10:00:00Z",
        "last_result": "succeeded",
        "last_good_snapshot": "2026-11-27T08:00:00Z",
    }
    found.backup_run = run
    out = io.StringIO()
    render.show([found], views.status, out=out)
    assert says in out.getvalue()
