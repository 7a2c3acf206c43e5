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
exit code (a traceback only with ``inv --debug`` or ``GHE_BACKUP_DEBUG=1``).
"""

from __future__ import annotations

import contextlib
import inspect
import sys
import traceback
from collections.abc import Callable
from typing import Any

from invoke import Call, Executor, Task
from invoke.exceptions import Exit

from ghe_backup.edge import settings, targets
from ghe_backup.errors import GheBackupError


def preflight(check: Callable[..., None]) -> Callable[[Task], Task]:
    """Attach an input check to a task; it gets ``(config, **call_kwargs)`` before anything runs."""

    def attach(t: Task) -> Task:
        t.preflight = check  # type: ignore[attr-defined]
        return t

    return attach


def replaces_prerequisites(*parameters: str) -> Callable[[Task], Task]:
    """Given any of ``parameters``, the task runs without its pre-tasks (what they make exists already)."""

    def attach(t: Task) -> Task:
        t.replaces_prerequisites = frozenset(parameters)  # type: ignore[attr-defined]
        return t

    return attach


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
        try:
            targets.begin(self.config)  # resolved once for this run: every check and task shares it
            return self.run_calls(self.normalize(tasks))
        except GheBackupError as err:
            if self._debug():
                traceback.print_exc()
            print(f"error: {err}", file=sys.stderr, flush=True)
            raise Exit(code=int(err.exit_code)) from None
        except KeyboardInterrupt:
            print("error: interrupted", file=sys.stderr, flush=True)
            raise Exit(code=130) from None

    def run_calls(self, direct: list[Call]) -> dict[Task, Any]:
        """Invoke's loop, plus: preflight first; stdout belongs to the tasks the user named.

        A prerequisite's output goes to stderr, so ``inv deploy --json`` prints one document.
        """
        dedupe = getattr(getattr(self.config, "tasks", None), "dedupe", True)
        expanded = self.expand_calls(direct)
        calls = self.dedupe(expanded) if dedupe else expanded
        self.run_preflight(calls)
        results: dict[Task, Any] = {}
        for call in calls:
            self.config.load_collection(self.collection.configuration(call.called_as))
            self.config.load_shell_env()
            context = call.make_context(self.config, core_parse_result=self.core)
            output = contextlib.nullcontext() if call in direct else contextlib.redirect_stdout(sys.stderr)
            with output:
                results[call.task] = call.task(context, *call.args, **call.kwargs)
        return results

    def run_preflight(self, calls: list[Call]) -> None:
        # Checks must see the config the tasks will see (collection defaults, INVOKE_* env).
        self.config.load_collection(self.collection.configuration())
        self.config.load_shell_env()
        for call in calls:
            check = getattr(call.task, "preflight", None)
            if check is not None:
                check(self.config, **call.kwargs)

    def _debug(self) -> bool:
        if settings.debug_wanted():
            return True
        try:
            return bool(self.core[0].args.debug.value)
        except (IndexError, AttributeError, KeyError):
            return False
