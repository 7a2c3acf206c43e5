"""Test helper: a real ``inv`` process running the real pipeline, with stages stubbed and pauses on request.

Run as ``python tests/support/pipeline_process.py ARGS...`` (ARGS as for ``inv``) with
``GHE_BACKUP_ROOT`` naming the checkout (a private sandbox's: tests/support/private_sandbox.py).
Two test-only variables shape it; nothing in ``ghe_backup`` reads them:

- ``PIPELINE_STUBS``: stages replaced by no-ops, comma-separated (default ``test``: a private
  checkout holds no tests). ``test,image,push`` deploys what ``.state/pushes.json`` records.
- ``PIPELINE_PAUSE``: a point where the process stops itself (SIGSTOP) the first time it gets
  there, after printing ``PAUSED <point>`` on stderr, so a test can kill or stop a component at
  exactly that phase and then let it go on (SIGCONT). Points: ``before:delete``, ``after:delete``,
  ``before:create``, ``after:create`` (around the deployer's calls that change stacks).

Everything else (the task graph, preflight, the image build, the push, the deploy, the exits) is
the project's own code, run as ``inv`` runs it.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def pause_here(point: str, wanted: set[str]) -> None:
    if point in wanted:
        wanted.discard(point)  # once: a restore may call the same method again
        print(f"PAUSED {point}", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGSTOP)


def with_pauses(cls: Any, wanted: set[str]) -> None:
    for name in ("create", "delete"):
        original = getattr(cls, name)

        @functools.wraps(original)
        def call(self: Any, *args: Any, _original: Any = original, _name: str = name, **kwargs: Any) -> Any:
            pause_here(f"before:{_name}", wanted)
            result = _original(self, *args, **kwargs)
            pause_here(f"after:{_name}", wanted)
            return result

        setattr(cls, name, call)


def main(argv: list[str]) -> None:
    import tasks
    from ghe_backup.delivery import gate
    from ghe_backup.delivery.deploy.deployers.lizzy import LizzyDeployer
    from ghe_backup.delivery.deploy.deployers.senza import SenzaDeployer
    from ghe_backup.delivery.image import build as image_build
    from ghe_backup.delivery.push import push as push_stage
    from ghe_backup.edge.program import PipelineProgram

    stubs = set(filter(None, os.environ.get("PIPELINE_STUBS", "test").split(",")))
    if "test" in stubs:
        gate.run_unit_tests = lambda root, **options: None
    if "image" in stubs:
        image_build.build_image = lambda site, **options: None
    if "push" in stubs:
        push_stage.push_image = lambda targets, **options: []
    wanted = set(filter(None, os.environ.get("PIPELINE_PAUSE", "").split(",")))
    for cls in (LizzyDeployer, SenzaDeployer):
        with_pauses(cls, wanted)
    PipelineProgram(namespace=tasks.ns, name="inv", binary="inv").run(["inv", *argv])


if __name__ == "__main__":
    main(sys.argv[1:])
