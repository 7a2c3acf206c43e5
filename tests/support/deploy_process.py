"""Test helper: a real ``inv`` process running the real task graph and the real deploy stage.

The stages before deploy (test, image, push) are replaced by no-ops, so a test can start several
deploys at once or signal one at a chosen moment without building an image each time; the image
to deploy is the one recorded in ``.state/pushes.json``. Run as
``python tests/support/deploy_process.py ARGS...`` (ARGS as for ``inv``), from the repository.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def main(argv: list[str]) -> None:
    from invoke import Program

    import tasks
    from ghe_backup.delivery import gate
    from ghe_backup.delivery.image import build as image_build
    from ghe_backup.delivery.push import push as push_stage
    from ghe_backup.edge.executor import PipelineExecutor

    gate.run_unit_tests = lambda root, **options: None
    image_build.build_image = lambda site, **options: None
    push_stage.push_image = lambda targets, **options: []
    program = Program(namespace=tasks.ns, executor_class=PipelineExecutor, name="inv", binary="inv")
    program.run(["inv", *argv])


if __name__ == "__main__":
    main(sys.argv[1:])
