"""Every `inv` command line in the committed CI files parses against the real task list.

Each line is read out of .github/workflows/*.yml and ci/Jenkinsfile as committed, split as the
shell splits it (up to the first redirection), and parsed by Invoke's own parser with the core
flags and `tasks.ns`: an unknown task, an unknown flag or a flag without its value fails here,
not in a deploy.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from invoke import Parser, Program
from invoke.parser import ParseError

import tasks
from ghe_backup.ci import commands, jenkins
from ghe_backup.ci.layout import layout
from ghe_backup.delivery.config import load_accounts
from support.accounts import add_account

REPO = Path(__file__).resolve().parents[2]
CI_FILES = sorted((REPO / ".github" / "workflows").glob("*.yml")) + [REPO / "ci" / "Jenkinsfile"]
SHELL_OPERATORS = {">", ">>", "<", "|", "||", "&&", ";", "&", "2>&1"}

#: Tasks and flags of the CLI contract (docs/ci.md) that land with other work of this batch
#: (issue 10: `plan`, `deploy --plan`, `refresh`, `status --check`). A line using one may fail to
#: parse on exactly that name until it lands (reported as xfail); once it parses, the test fails
#: until the entry is removed here. Any other parse error fails at once.
LANDING_IN_PARALLEL = {}


def inv_lines(text: str) -> list[str]:
    """The `inv` command lines in a CI file, each up to where the shell command (or string) ends."""
    found = []
    for line in text.splitlines():
        at = line.find(commands.INV + " ")
        if at < 0:
            continue
        command = line[at:]
        if "'" in command:  # Jenkins: the command is a single-quoted Groovy string
            command = command[: command.index("'")]
        found.append(command.strip())
    return found


def argv_of(line: str) -> list[str]:
    words = shlex.split(line)
    assert words[0] == commands.INV
    words = words[1:]
    cut = next((i for i, w in enumerate(words) if w in SHELL_OPERATORS), len(words))
    return words[:cut]


def parse(argv: list[str]):
    program = Program(namespace=tasks.ns)
    return Parser(initial=program.initial_context, contexts=tasks.ns.to_contexts()).parse_argv(argv)


def pending(argv: list[str]) -> tuple[str, str] | None:
    """(the name that may be unknown yet, why) for a line using something that lands in parallel."""
    flags = {w.split("=", 1)[0] for w in argv[1:] if w.startswith("--")}
    for (task, flag), reason in LANDING_IN_PARALLEL.items():
        if argv[0] == task and (flag is None or flag in flags):
            return (flag or task, reason)
    return None


def committed_lines() -> list[tuple[str, str]]:
    return [(path.relative_to(REPO).as_posix(), line) for path in CI_FILES for line in inv_lines(path.read_text())]


@pytest.mark.parametrize("line", [pytest.param(line, id=f"{path}: {line}") for path, line in committed_lines()])
def test_every_inv_line_in_the_ci_files_parses(line):
    argv = argv_of(line)
    waiting = pending(argv)
    try:
        contexts = parse(argv)
    except ParseError as err:
        if waiting and f"'{waiting[0]}'" in str(err):
            pytest.xfail(f"{waiting[1]} ({err})")
        raise
    assert waiting is None, f"{waiting[1]}, and it parses now: remove it from LANDING_IN_PARALLEL"
    named = [c for c in contexts if c.name]
    assert [c.name for c in named] == [argv[0]]  # one task per line, the one written
    given = {w.split("=", 1)[0][2:] for w in argv[1:] if w.startswith("--")}
    assert given <= set(named[0].args)  # every flag written is a flag of that task


def test_the_ci_files_run_every_command_the_generators_know():
    tasks_run = {argv_of(line)[0] for _, line in committed_lines()}
    assert tasks_run == {"test", "image", "push", "plan", "deploy", "status", "refresh"}


def test_every_inv_occurrence_is_read_as_a_line():
    for path in CI_FILES:
        text = path.read_text()
        assert len(inv_lines(text)) == text.count(commands.INV + " ") > 0


def test_the_parser_refuses_unknown_tasks_and_flags():
    parse(["deploy", "--account=prod", "--yes"])
    with pytest.raises(ParseError):
        parse(["deploy", "--account=prod", "--approve"])
    with pytest.raises(ParseError):
        parse(["deplo", "--account=prod"])


def test_lines_for_a_new_senza_account_are_the_same_commands(config_tree):
    add_account(config_tree, "dr", approval=True, deployer="senza")
    text = jenkins.jenkinsfile(layout(load_accounts(config_tree)))
    lines = [argv_of(line) for line in inv_lines(text)]
    assert ["deploy", "--account=dr", "--plan=plan-dr.json", "--yes", "--lock-wait=600", "--json"] in lines
    assert ["plan", "--account=dr", "--image=$IMAGE_TAG", "--markdown", "--out=plan-dr.json", "--exit-code"] in lines


def test_values_are_quoted_for_the_shell_and_variables_left_to_it():
    assert commands._flag("out", "a b.json") == "--out='a b.json'"
    assert commands._flag("image", commands.Var("IMAGE_TAG")) == '--image="$IMAGE_TAG"'
    assert re.fullmatch(r"--yes", commands._flag("yes"))
