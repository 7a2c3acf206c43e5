"""docs/backup-program.md against the code, so the reference cannot drift from the program.

Each list is taken from the code, never typed here: the variables ``load_settings`` reads (by
running it and from its source) with their defaults, the commands and options of the parser, the
exit codes the CLI returns or raises, every ``log_event`` with its fields, the metric families,
the alert kinds, the files on the data volume and the state-table attributes. A change in the
code fails here until the doc says it too; a doc entry for something the code no longer has
fails as well.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import importlib
import inspect
import re
import typing
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from ghe_backup.backup import backup_utils, markers, settings, snapshots, state_table
from ghe_backup.backup.cli import PROG, build_parser
from ghe_backup.backup.settings import ENVIRONMENT, load_settings
from ghe_backup.backup.status import ALERT_KINDS
from ghe_backup.errors import ExitCode, GheBackupError

DOC = REPO_ROOT / "docs" / "backup-program.md"
PACKAGE = REPO_ROOT / "ghe_backup" / "backup"
#: argparse's own exit code for a bad command line (it never goes through our errors).
ARGPARSE_USAGE = 2


# -- reading the doc ----------------------------------------------------------------------------


def section(title: str, text: str | None = None) -> str:
    """The text under the heading ``title`` (any level), up to the next heading of that level or higher."""
    text = DOC.read_text() if text is None else text
    match = re.search(rf"^(#+) {re.escape(title)}\s*$", text, re.M)
    assert match, f"docs/backup-program.md has no heading {title!r}"
    level = len(match[1])
    end = re.compile(rf"^#{{1,{level}}} ", re.M).search(text, match.end())
    return text[match.end() : end.start() if end else len(text)]


def table(text: str) -> list[list[str]]:
    """The body rows (cells stripped) of the first Markdown table in ``text``."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    start = next(i for i, line in enumerate(lines) if re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", line))
    rows = []
    for line in lines[start + 1 :]:
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    assert rows, "an empty table"
    return rows


def spans(cell: str) -> list[str]:
    """The code spans (`...`) in a cell."""
    return re.findall(r"`([^`]+)`", cell)


def leading_span(cell: str) -> str | None:
    """The code span a cell starts with: the documented default; None when the cell starts with prose."""
    match = re.match(r"`([^`]+)`", cell)
    return match[1] if match else None


def documented_variables(text: str | None = None) -> dict[str, str]:
    """Variable -> its default cell, from the Environment table."""
    rows = table(section("Environment", text))
    found = {}
    for row in rows:
        names = spans(row[0])
        assert len(names) == 1, f"the first cell of an Environment row names one variable: {row[0]!r}"
        assert names[0] not in found, f"{names[0]} is documented twice"
        found[names[0]] = row[1]
    return found


# -- reading the code ---------------------------------------------------------------------------


class _Recording(dict):
    """An environment that remembers every name looked up in it."""

    def __init__(self, *args):
        super().__init__(*args)
        self.read: set[str] = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)


def variables_read() -> set[str]:
    """What ``load_settings`` reads: looked up in an empty environment, and named in its source."""
    env = _Recording()
    load_settings(env)
    source = ast.parse(inspect.getsource(settings.load_settings))
    named = {
        node.value
        for node in ast.walk(source)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and re.fullmatch(r"[A-Z][A-Z0-9_]+", node.value)
    }
    return env.read | named


def modules() -> list[tuple[object, ast.Module]]:
    """Every module of the backup program, imported and parsed."""
    found = []
    for path in sorted(PACKAGE.glob("*.py")):
        name = "ghe_backup.backup" if path.stem == "__init__" else f"ghe_backup.backup.{path.stem}"
        found.append((importlib.import_module(name), ast.parse(path.read_text())))
    return found


def events_in_code() -> dict[str, set[str]]:
    """Every ``log_event(logger, "name", ...)`` in the backup program: name -> its fields."""
    events: dict[str, set[str]] = {}
    for module, tree in modules():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "log_event"):
                continue
            name = node.args[1] if len(node.args) > 1 else None
            assert isinstance(name, ast.Constant) and isinstance(name.value, str), (
                f"{module.__name__}:{node.lineno}: log_event's event name is not a string literal, so this test cannot see it"
            )
            events.setdefault(name.value, set()).update(k.arg for k in node.keywords if k.arg != "level")
    return events


def _exit_code_of(raised: object) -> int | None:
    """The exit code of a raised error class, or of a function's return annotation; None if not ours."""
    if inspect.isfunction(raised):
        raised = typing.get_type_hints(raised).get("return")
    if inspect.isclass(raised) and issubclass(raised, GheBackupError):
        return int(raised.exit_code)
    return None


def exit_codes_in_code() -> set[int]:
    """Codes the CLI returns (``ExitCode.X``) or raises (our errors), plus argparse's usage error."""
    codes = {ARGPARSE_USAGE}
    for module, tree in modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and getattr(node.value, "id", None) == "ExitCode":
                codes.add(int(ExitCode[node.attr]))
            if isinstance(node, ast.Raise) and node.exc is not None:
                target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if not isinstance(target, ast.Name):
                    continue
                raised = getattr(module, target.id, None) or getattr(builtins, target.id, None)
                assert raised is not None, f"{module.__name__}:{node.lineno}: cannot resolve raise {target.id}"
                code = _exit_code_of(raised)
                if code is not None:
                    codes.add(code)
    return codes


def metric_families() -> dict[str, str]:
    """``ghe_backup_<name>`` -> its type, from the ``_family(...)`` calls in metrics.py."""
    tree = ast.parse((PACKAGE / "metrics.py").read_text())
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_family":
            name, kind = (arg.value for arg in node.args[:2])
            found[f"ghe_backup_{name}"] = kind
    return found


def subcommands() -> dict[str, set[str]]:
    """Each subcommand of the CLI -> its options."""
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {
        name: {opt for a in sub._actions for opt in a.option_strings if opt not in ("-h", "--help")}
        for name, sub in action.choices.items()
    }


def state_table_attributes() -> set[str]:
    """Every attribute an update of the state table sets or removes."""
    good = state_table.LastGood(1_795_766_400.0, "v3.21.0")
    updates = [
        state_table.start_update(1.0, "host", good),
        state_table.interrupted_update(1.0, "host", good),
        state_table.refresh_update(1.0, "host", good),
        *(state_table.end_update(result, 1.0, 2.0, "host", good) for result in state_table.RESULTS),
    ]
    return {name for update in updates for name in (*update.set, *update.remove)}


def _same(documented: str | None, value: object) -> bool:
    if value is None:
        return documented is None
    if documented is None:
        return False
    if isinstance(value, bool):
        return documented == ("1" if value else "0")
    if isinstance(value, int | float):
        try:
            return float(documented) == value
        except ValueError:
            return False
    return documented == str(value)


# -- the variables ------------------------------------------------------------------------------


def test_environment_names_every_variable_load_settings_reads():
    assert set(ENVIRONMENT) == variables_read()


#: Values load_settings accepts that differ from the default, where "default plus one" will not do.
SAMPLES = {"RSYNC_BWLIMIT": "20M", "SSH_HOST_KEY_POLICY": "accept-new"}


@pytest.mark.parametrize("name", [n for n, field in ENVIRONMENT.items() if field])
def test_each_variable_sets_the_field_environment_says(name):
    field = ENVIRONMENT[name]
    default = getattr(load_settings({}), field)
    if name in SAMPLES:
        sample = SAMPLES[name]
    elif isinstance(default, bool):
        sample = "0" if default else "1"
    elif isinstance(default, int | float):
        sample = str(default + 1)
    else:
        sample = "/sample/value"
    assert getattr(load_settings({name: sample}), field) != default


def test_the_doc_lists_every_variable_and_no_other():
    documented = documented_variables()
    assert not set(ENVIRONMENT) - set(documented), "variables missing from the doc's Environment table"
    assert not set(documented) - set(ENVIRONMENT), "the doc's Environment table has variables the program does not read"


def test_the_doc_gives_each_variable_the_default_the_code_uses():
    # HOME is given as a placeholder, so SSH_KEY_PATH's default reads as the doc writes it.
    defaults = load_settings({"HOME": "$HOME"})
    documented = documented_variables()
    wrong = {}
    for name, field in ENVIRONMENT.items():
        value = getattr(defaults, field) if field else None
        if not _same(leading_span(documented[name]), value):
            wrong[name] = (documented[name], value)
    assert not wrong, "documented default vs. the code's (a cell starts with `value`, or with prose for none)"


def test_the_check_fails_when_a_variable_is_removed_from_the_doc():
    text = DOC.read_text()
    without = re.sub(r"^\| `SHUTDOWN_GRACE` \|.*\n", "", text, flags=re.M)
    assert without != text
    assert "SHUTDOWN_GRACE" not in documented_variables(without)
    assert set(ENVIRONMENT) - set(documented_variables(without)) == {"SHUTDOWN_GRACE"}


def test_the_check_fails_when_a_default_is_wrong_in_the_doc():
    text = DOC.read_text().replace("| `SHUTDOWN_GRACE` | `60` |", "| `SHUTDOWN_GRACE` | `8` |")
    assert text != DOC.read_text()
    assert not _same(leading_span(documented_variables(text)["SHUTDOWN_GRACE"]), settings.DEFAULT_SHUTDOWN_GRACE)


# -- commands and exit codes --------------------------------------------------------------------


def test_the_doc_lists_every_command_with_its_options():
    rows = {}
    for row in table(section("Commands")):
        command = spans(row[0])[0]
        assert command.startswith(f"{PROG} "), command
        rows[command.split()[1]] = row[0]
    assert set(rows) == set(subcommands())
    for name, options in subcommands().items():
        assert all(option in rows[name] for option in options), (name, options, rows[name])
    commands = section("Commands")
    assert "`--version`" in commands and "`--debug`" in commands


def test_the_doc_lists_every_exit_code_and_no_other():
    documented = {int(row[0].strip("`")) for row in table(section("Exit codes"))}
    assert documented == exit_codes_in_code()


# -- logs, metrics, alerts ----------------------------------------------------------------------


def documented_events() -> dict[str, str]:
    rows = table(section("Logs"))
    return {name: row[2] for row in rows for name in spans(row[0])}


def test_the_doc_lists_every_log_event_and_no_other():
    in_code, documented = events_in_code(), documented_events()
    assert len(in_code) > 20, "the scan of log_event calls found too few events"
    assert not set(in_code) - set(documented), "log events missing from the doc's Logs table"
    assert not set(documented) - set(in_code), "the doc's Logs table has events the program never logs"


def test_the_doc_names_each_log_events_fields():
    documented = documented_events()  # an event missing altogether fails the test above
    unnamed = {event: fields - set(spans(documented.get(event, ""))) for event, fields in events_in_code().items()}
    assert not {event: fields for event, fields in unnamed.items() if fields}, "fields missing from the Logs table"


def test_the_doc_lists_every_metric_with_its_type():
    documented = {spans(row[0])[0]: row[1] for row in table(section("Metrics: `GET /metrics`"))}
    assert documented == metric_families()


def test_the_doc_lists_every_alert():
    documented = {spans(row[0])[0] for row in table(section("Health: `GET /health`"))}
    assert documented == set(ALERT_KINDS)


# -- files, state table, backup-utils -----------------------------------------------------------


def test_the_doc_names_every_file_on_the_data_volume():
    pinned = load_settings({"HOME": "/h"})
    accepting = load_settings({"HOME": "/h", "SSH_HOST_KEY_POLICY": "accept-new"})
    ours = {Path(p).name for p in (pinned.lock_path, pinned.state_path, accepting.known_hosts_path)}
    theirs = {*markers.MARKERS, snapshots.INCOMPLETE, snapshots.CURRENT, snapshots.VERSION_FILE}
    documented = {name.split("/")[-1] for row in table(section("The data volume")) for name in spans(row[0])}
    assert ours | theirs <= documented


def test_the_doc_lists_every_state_table_attribute():
    documented = {spans(row[0])[0] for row in table(section("The account's state table"))}
    assert documented == state_table_attributes()
    text = section("The account's state table")
    assert f"`pk = {state_table.KEY['pk']['S']}`" in text and f"`sk = {state_table.KEY['sk']['S']}`" in text
    assert all(f"`{result}`" in text for result in state_table.RESULTS.values())


def test_the_doc_names_the_pinned_backup_utils():
    text = section("backup-utils in the image")
    assert f"`{backup_utils.VERSION}`" in text
    assert f"`{backup_utils.supported_range()}`" in text
