"""The Invoke executor of the pipeline: hands parameters down to pre-tasks, maps errors to exits.

Invoke runs pre-tasks without arguments. ``inv deploy --account=prod`` must reach ``push``
(each account may have its own registry), so a pre-task receives every parameter of the task
that required it which it also declares. Calls are then de-duplicated as Invoke does, so
``test`` and ``image`` run once however many accounts a call names. A prerequisite also gets
``AS_PREREQUISITE`` (``test`` then skips inputs that passed before), and a task marked with
``replaces_prerequisites`` runs without its pre-tasks when one of the named parameters is given
(``deploy --image=TAG`` deploys what was pushed: nothing is tested, built or pushed).

It runs Invoke's loop itself for two reasons. Before any task runs, every planned call's
``preflight`` check runs (see ``preflight``), so bad input (an unknown account, a missing
approval) fails before anything is tested, built, pushed or deployed. And only the tasks the user named write to stdout; prerequisites' output
goes to stderr, so a result on stdout (``--json``) is one document.

This is also the one place where ``GheBackupError`` becomes a one-line message and a named
exit code (a traceback only with ``inv --debug`` or ``GHE_BACKUP_DEBUG=1``). With ``--json`` a
failure also prints one JSON document on stdout (``error``, ``exit_code``, ``account``,
``stage``; see ``jsonout``), and what the named tasks printed is held back until the run ends,
so stdout holds exactly one document either way.
"""

from __future__ import annotations

import contextlib
import inspect
import sys
import traceback
from collections.abc import Callable
from typing import Any

from invoke import Call, Executor, Task
from invoke.exceptions import AmbiguousEnvVar, Exit, UncastableEnvVar

from ghe_backup.edge import render, settings, targets
from ghe_backup.edge.jsonout import HeldOutput, Where, error_document, json_wanted
from ghe_backup.errors import Attention, ExitCode, GheBackupError
from ghe_backup.plumbing import logredact


def preflight(check: Callable[..., None]) -> Callable[[Task], Task]:
    """Attach an input check to a task; it gets ``(config, **call_kwargs)`` before anything runs."""

    def attach(t: Task) -> Task:
        t.preflight = check  # type: ignore[attr-defined]
        return t

    return attach


def dry_run(form: Callable[..., Any]) -> Callable[[Task], Task]:
    """What ``inv --dry TASK`` runs instead of a task that changes something: ``form(context, **kwargs)``
    shows what it would do and changes nothing (its prerequisites do not run either)."""

    def attach(t: Task) -> Task:
        t.dry_form = form  # type: ignore[attr-defined]
        return t

    return attach


def replaces_prerequisites(*parameters: str) -> Callable[[Task], Task]:
    """Given any of ``parameters``, the task runs without its pre-tasks (what they make exists already:
    ``deploy --image=TAG`` and ``deploy --plan=FILE`` deploy what was pushed)."""

    def attach(t: Task) -> Task:
        t.replaces_prerequisites = frozenset(parameters)  # type: ignore[attr-defined]
        return t

    return attach


def read_only(t: Task) -> Task:
    """A task that changes nothing: ``inv --dry`` runs it as it is."""
    t.read_only = True  # type: ignore[attr-defined]
    return t


def task_parameters(task: Task) -> set[str]:
    """The keyword parameters a task declares (its context argument excluded)."""
    names = list(inspect.signature(task.body).parameters)
    return set(names[1:])


#: Parameters about how a task shows its own result, not about what the pipeline does:
#: ``inv deploy --json`` prints deploy's result as JSON, not push's as well.
NOT_HANDED_DOWN = frozenset({"json"})
#: What a task gets as a prerequisite, if it declares the parameter: ``test`` reuses a recorded
#: pass of the same inputs (``inv test`` named directly runs the tests).
AS_PREREQUISITE: dict[str, Any] = {"reuse": True}


def hand_down(pre: Call, kwargs: dict[str, Any]) -> Call:
    """A copy of the pre-task call with the parameters it shares with its requirer."""
    accepted = task_parameters(pre.task) - NOT_HANDED_DOWN
    shared = {k: v for k, v in kwargs.items() if k in accepted and k not in pre.kwargs}
    defaults = {k: v for k, v in AS_PREREQUISITE.items() if k in accepted}
    return Call(pre.task, args=pre.args, kwargs={**defaults, **pre.kwargs, **shared}, called_as=pre.called_as)


def prerequisites_replaced(call: Call) -> bool:
    """True when the call gives a parameter that makes its pre-tasks unnecessary (``deploy --image``)."""
    return any(call.kwargs.get(p) for p in getattr(call.task, "replaces_prerequisites", ()))


class PipelineExecutor(Executor):
    def expand_calls(self, calls: list[Call]) -> list[Call]:
        expanded: list[Call] = []
        for call in calls:
            wanted = [] if prerequisites_replaced(call) else call.pre
            pre = [hand_down(Call(p) if isinstance(p, Task) else p, call.kwargs) for p in wanted]
            post = [Call(p) if isinstance(p, Task) else p for p in call.post]
            expanded.extend(self.expand_calls(pre))
            expanded.append(call)
            expanded.extend(self.expand_calls(post))
        return expanded

    def execute(self, *tasks: Any) -> dict[Task, Any]:
        logredact.install()  # also when run by Invoke's own inv: no secret in debug logs
        direct = self.normalize(tasks)
        held = HeldOutput() if json_wanted(direct) else None
        self.where = Where()
        try:
            settings.check_environment()
            targets.begin(self.config)  # resolved once for this run: every check and task shares it
            results = self.run_calls(direct, held)
        except (AmbiguousEnvVar, UncastableEnvVar) as err:  # an INVOKE_* variable Invoke cannot place
            print(f"error: Invoke config from the environment: {err}", file=sys.stderr, flush=True)
            self._fail(held, f"Invoke config from the environment: {err}", ExitCode.BAD_INPUT)
            raise Exit(code=int(ExitCode.BAD_INPUT)) from None
        except Attention as err:  # not a failure (plan --exit-code, status --check): the result stands
            print(f"attention: {err}", file=sys.stderr, flush=True)
            if held is not None:
                held.release()
            raise Exit(code=int(err.exit_code)) from None
        except GheBackupError as err:
            if self._debug():
                traceback.print_exc()
            print(f"error: {err}", file=sys.stderr, flush=True)
            self._fail(held, str(err), err.exit_code, err)
            raise Exit(code=int(err.exit_code)) from None
        except KeyboardInterrupt:
            print("error: interrupted", file=sys.stderr, flush=True)
            self._fail(held, "interrupted", ExitCode.INTERRUPTED)
            raise Exit(code=int(ExitCode.INTERRUPTED)) from None
        except Exit:  # a task chose its exit code (not an error): its document stands
            if held is not None:
                held.release()
            raise
        except Exception as err:  # a bug: Invoke prints the traceback on stderr; stdout still gets its document
            self._fail(held, f"unexpected {type(err).__name__} (the traceback is on stderr)", ExitCode.FAILED)
            raise
        if held is not None:
            held.release()
        return results

    def _fail(self, held: HeldOutput | None, message: str, code: int, error: Any = None) -> None:
        """With --json: the one document on stdout is the error (what was printed goes under ``result``)."""
        if held is not None:
            render.print_json(error_document(message, int(code), where=self.where, error=error, held=held))

    def run_calls(self, direct: list[Call], held: HeldOutput | None = None) -> dict[Task, Any]:
        """Invoke's loop, plus: preflight first; stdout belongs to the tasks the user named.

        A prerequisite's output goes to stderr, so ``inv deploy --json`` prints one document.
        """
        dedupe = getattr(getattr(self.config, "tasks", None), "dedupe", True)
        dry = self._dry()
        expanded = self.expand_calls([c for c in direct if not (dry and hasattr(c.task, "dry_form"))])
        expanded += [c for c in direct if dry and hasattr(c.task, "dry_form")]  # a dry run's prerequisites never run
        calls = self.dedupe(expanded) if dedupe else expanded
        self.run_preflight(calls, dry=dry)
        results: dict[Task, Any] = {}
        for call in calls:
            self.where = Where(stage=call.called_as or call.task.name, call=call)
            self.config.load_collection(self.collection.configuration(call.called_as))
            self.config.load_shell_env()
            context = call.make_context(self.config, core_parse_result=self.core)
            with self._output(call, direct, held):
                if dry and hasattr(call.task, "dry_form"):
                    results[call.task] = call.task.dry_form(context, *call.args, **call.kwargs)
                elif dry and not getattr(call.task, "read_only", False):
                    print(f"dry run: {call.task.name} skipped (it would change something)", file=sys.stderr)
                else:
                    results[call.task] = call.task(context, *call.args, **call.kwargs)
        return results

    def _dry(self) -> bool:
        try:
            return bool(self.config.run.dry)
        except AttributeError:
            return False

    @staticmethod
    def _output(call: Call, direct: list[Call], held: HeldOutput | None) -> Any:
        """Where a task's stdout goes: a named task's to stdout (held back with --json), others' to stderr."""
        if call not in direct:
            return contextlib.redirect_stdout(sys.stderr)
        if held is None:
            return contextlib.nullcontext()
        # With --json only documents reach stdout; a named task without --json reports on stderr.
        return contextlib.redirect_stdout(held.buffer if call.kwargs.get("json") else sys.stderr)

    def run_preflight(self, calls: list[Call], *, dry: bool = False) -> None:
        # Checks must see the config the tasks will see (collection defaults, INVOKE_* env).
        self.config.load_collection(self.collection.configuration())
        self.config.load_shell_env()
        settings.check_config(self.config)
        for call in calls:
            check = getattr(call.task, "preflight", None)
            if check is not None:
                self.where = Where(stage="preflight", call=call)
                # a dry run changes nothing, so there is nothing to approve: never ask
                check(self.config, **({**call.kwargs, "yes": True} if dry else call.kwargs))

    def _debug(self) -> bool:
        if settings.debug_wanted():
            return True
        try:
            return bool(self.core[0].args.debug.value)
        except (IndexError, AttributeError, KeyError):
            return False
