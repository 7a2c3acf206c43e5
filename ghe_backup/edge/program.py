"""The ``inv`` command: Invoke's ``Program`` with the pipeline's exit codes for what it parses.

Invoke exits 1 for its own parse errors (a misspelled task or flag, a flag without its value),
and our exit-code table keeps 1 for a failed stage or deployment. This program runs each of
Invoke's steps as Invoke does and turns what goes wrong before any task runs into one line on
stderr and exit 2: a parse error (with the closest task or flag), a broken Invoke config file
(read safely by ``invokeconfig.PipelineConfig``), an executor class that cannot be imported or
would skip the pipeline's checks, tasks.py not found. Ctrl-C exits 130 wherever it happens.
Debug logging is redacted (``plumbing.logredact``) before anything can log.

It is installed as the project's ``inv`` and ``invoke`` console scripts (pyproject.toml); the
Makefile checks that they are these, since Invoke's own package ships scripts of the same names.
"""

from __future__ import annotations

import contextlib
import difflib
import re
from collections.abc import Iterator
from importlib import import_module
from pathlib import Path
from typing import Any

import invoke
from invoke import Program
from invoke.config import AmbiguousMergeError
from invoke.exceptions import AmbiguousEnvVar, Exit, ParseError, UncastableEnvVar, UnknownFileType
from invoke.parser import Parser, ParserContext
from invoke.util import Lexicon

from ghe_backup.edge.executor import PipelineExecutor
from ghe_backup.edge.invokeconfig import PipelineConfig
from ghe_backup.errors import ExitCode, GheBackupError, UsageError
from ghe_backup.plumbing import logredact
from ghe_backup.plumbing.memo import Kept
from ghe_backup.plumbing.redact import secret_kind, shown
from ghe_backup.plumbing.textfile import display_path

INTERRUPTED = 130
_UNKNOWN = re.compile(r"No idea what '(?P<word>.*)' is!")
_NO_VALUE = re.compile(r"Flag <Argument: (?P<name>[\w-]+)[^>]*> needed value and was not given one!")


class _TaskContexts(Lexicon):
    """The task contexts of a collection, made once and read by every parse.

    Invoke builds every task's context for each parser (``Collection.to_contexts``: a signature
    read per task) and each parse deep-copies them all before it reads them, and again the one it
    switches to. A parse only reads these (the copy of the context it switches to is what it fills
    in), so they are made once per collection and never copied whole: a parse of ``inv deploy
    --account=prod --sandbox --yes`` took 4.7 ms, now 1.5 ms (scripts/benchmark_gate_parts.py).
    """

    def __init__(self, contexts: list[ParserContext]):
        super().__init__()
        for context in contexts:  # as Invoke's Parser files them: by name, aliases pointing at it
            self[context.name] = context
            for alias in context.aliases:
                self.alias(alias, to=context.name)

    def __deepcopy__(self, memo: dict[int, Any]) -> _TaskContexts:
        return self

    def __repr__(self) -> str:
        # Invoke's debug log formats this on every parse, logged or not: the names say enough
        return f"<task contexts: {', '.join(self)}>"


class _OneParseContext(ParserContext):
    """The core flags' context (``--debug``, ``--dry``, ...), made anew for each parser and parsed
    once: Invoke's deep copy of it per parse (two per ``inv`` call, about 1 ms) is skipped."""

    def __deepcopy__(self, memo: dict[int, Any]) -> _OneParseContext:
        return self


#: collection id -> (the collection, what its contexts were made from, the contexts)
_MADE: Kept[int, tuple[Any, tuple[Any, ...], _TaskContexts]] = Kept(8)


def _task_contexts(collection: Any, ignore_unknown_help: bool | None) -> _TaskContexts:
    made_from = (
        ignore_unknown_help,
        *((name, tuple(aliases), id(collection[name])) for name, aliases in collection.task_names.items()),
    )
    found = _MADE.get(id(collection))
    if found is None or found[0] is not collection or found[1] != made_from:
        contexts = _TaskContexts(collection.to_contexts(ignore_unknown_help=ignore_unknown_help))
        found = _MADE.keep(id(collection), (collection, made_from, contexts))
    return found[2]


class PipelineProgram(Program):
    def __init__(self, namespace: Any = None, **kwargs: Any):
        kwargs.setdefault("name", "Invoke")
        kwargs.setdefault("binary", "inv[oke]")
        kwargs.setdefault("binary_names", ["invoke", "inv"])
        kwargs.setdefault("version", invoke.__version__)
        kwargs.setdefault("executor_class", PipelineExecutor)
        kwargs.setdefault("config_class", PipelineConfig)
        super().__init__(namespace=namespace, **kwargs)

    def run(self, argv: Any = None, exit: bool = True) -> None:
        logredact.install()
        super().run(argv, exit)

    # Invoke's steps, each with its errors as one line and exit 2 ------------------------------

    def create_config(self) -> None:
        with self._before_tasks():
            super().create_config()

    def parse_core(self, argv: Any) -> None:
        with self._before_tasks():
            super().parse_core(argv)

    def parse_collection(self) -> None:
        with self._before_tasks():
            super().parse_collection()

    def parse_tasks(self) -> None:
        with self._before_tasks():
            super().parse_tasks()

    def parse_cleanup(self) -> None:
        with self._before_tasks():
            super().parse_cleanup()

    def update_config(self, merge: bool = True) -> None:
        with self._before_tasks():
            super().update_config(merge)

    @property
    def initial_context(self) -> ParserContext:
        # Invoke's own, as a new object on every access (each parser gets its own and fills it in)
        args = self.core_args()
        if self.namespace is None:
            args += self.task_args()
        return _OneParseContext(args=args)

    def _make_parser(self) -> Parser:
        parser = Parser(initial=self.initial_context)
        parser.contexts = _task_contexts(self.collection, self.config.tasks.ignore_unknown_help)
        return parser

    def execute(self) -> None:
        with self._before_tasks():
            klass = self._executor_class()
        try:
            klass(self.collection, self.config, self.core).execute(*self.tasks)
        except KeyboardInterrupt:  # the executor handles its own; this is between its steps
            raise Exit("error: interrupted", code=INTERRUPTED) from None

    def _executor_class(self) -> type:
        """``tasks.executor_class`` from the config, or ours; it must be importable and run our checks."""
        name = self.config.tasks.executor_class
        if name is None:
            return self.executor_class
        where = f"tasks.executor_class ({self._origin_of_executor()})"
        module_name, _, class_name = str(name).rpartition(".")
        try:
            klass = getattr(import_module(module_name), class_name) if module_name else None
        except ImportError as err:
            raise _usage(f"{where}: cannot import {name!r}: {err}") from None
        except (AttributeError, ValueError, TypeError):
            klass = None
        if klass is None:
            raise _usage(f"{where}: {name!r} is not a class that can be imported")
        if not (isinstance(klass, type) and issubclass(klass, PipelineExecutor)):
            raise _usage(f"{where}: {name!r} would skip the pipeline's input checks and exit codes")
        return klass

    def _origin_of_executor(self) -> str:
        for layer, label in (
            ("_runtime", "-f file"),
            ("_project", "project"),
            ("_user", "user"),
            ("_system", "system"),
        ):
            section = (getattr(self.config, layer, None) or {}).get("tasks") or {}
            if section.get("executor_class") is not None:
                path = getattr(self.config, f"{layer}_path", None)
                return display_path(Path(path)) if path else f"{label} config"
        return "Invoke config"

    @contextlib.contextmanager
    def _before_tasks(self) -> Iterator[None]:
        """Errors before any task runs: one line on stderr (Invoke prints ``Exit.message``), exit 2."""
        try:
            yield
        except ParseError as err:
            raise Exit(
                f"error: {_said(err)}{self._suggestion(err)} (see: inv --list, inv --help TASK)", code=2
            ) from None
        except GheBackupError as err:
            raise Exit(f"error: {err}", code=int(err.exit_code)) from None
        except (AmbiguousMergeError, AmbiguousEnvVar, UncastableEnvVar, UnknownFileType) as err:
            raise Exit(f"error: Invoke config: {err}", code=int(ExitCode.BAD_INPUT)) from None
        except Exit as err:
            if err.code == 1:  # Invoke's "Can't find any collection named 'tasks'!"
                raise Exit(f"error: {err.message} (run inv in the ghe-backup checkout)", code=2) from None
            raise
        except KeyboardInterrupt:
            raise Exit("error: interrupted", code=INTERRUPTED) from None

    def _suggestion(self, err: ParseError) -> str:
        """``; did you mean 'deploy'?`` for a misspelled task or flag."""
        unknown = _UNKNOWN.fullmatch(str(err))
        if not unknown:
            return ""
        word = unknown["word"].split("=", 1)[0]
        if word.startswith("-"):
            contexts = [getattr(err, "context", None), getattr(self, "initial_context", None)]
            choices = [f for c in contexts if c is not None for f in c.flag_names() if f.startswith("--")]
        else:
            collection = getattr(self, "collection", None)
            choices = list(collection.task_names) if collection is not None else []
        close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
        return f"; did you mean '{close[0]}'?" if close else ""


def _said(err: ParseError) -> str:
    """Invoke's parse error in our words where Invoke's are obscure; a pasted secret is not echoed."""
    no_value = _NO_VALUE.fullmatch(str(err))
    if no_value:
        name = no_value["name"].replace("_", "-")
        return f"--{name} needs a value, e.g. --{name}=VALUE"
    unknown = _UNKNOWN.fullmatch(str(err))
    if unknown and secret_kind(unknown["word"]):
        return f"No idea what {shown(unknown['word'])} is!"
    return str(err)


def _usage(message: str) -> UsageError:
    return UsageError(message, hint="set tasks.executor_class: ghe_backup.edge.executor.PipelineExecutor")


def main() -> None:
    """The ``inv``/``invoke`` console script."""
    PipelineProgram().run()
