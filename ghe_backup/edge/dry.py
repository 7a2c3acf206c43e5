"""What ``inv --dry TASK`` runs instead of a task that changes something: it reads, and says what the
task would do. Nothing is built, pushed, deployed, deleted, locked or recorded in the history.
"""

from __future__ import annotations

import sys
from typing import Any

from ghe_backup.edge import render, views
from ghe_backup.edge.targets import resolve

NOTE = "dry run: nothing was tested, built, pushed, deployed or recorded"


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def deploy(
    c: Any, account: Any = None, sandbox: bool = False, json: bool = False, image: str | None = None, **_: Any
) -> Any:
    """deploy: the plan of what it would change."""
    from ghe_backup.delivery.deploy.planning import plan_accounts
    from ghe_backup.delivery.push.push import images_for

    targets = resolve(c.config).targets(account, sandbox)
    images = images_for(targets, tag=image)
    found = plan_accounts(targets, lambda target: images[target.name])
    _say(NOTE)
    return render.show(found, views.plans, json=json)


def intents(c: Any, account: Any = None, sandbox: bool = False, json: bool = False, **_: Any) -> Any:
    """rollback, refresh: the plan of each account the preflight chose (and refresh's skipped ones)."""
    from ghe_backup.delivery.deploy.planning import plan_account

    resolution = resolve(c.config)
    found = [plan_account(target, intent) for target, intent in resolution.intents_of(account, sandbox)]
    for skipped in resolution.skipped:
        _say(f"{skipped.account}: left alone ({skipped.status})")
    _say(NOTE)
    return render.show(found, views.plans, json=json)


def image(c: Any, sandbox: bool = False, **_: Any) -> Any:
    """image: the tag it would build."""
    from ghe_backup.delivery.image.build import image_name
    from ghe_backup.plumbing import engine

    site = resolve(c.config).build_site(sandbox)
    name, content = image_name(engine.connect(site.docker_host), site)
    _say(f"dry run: would build {name} (commit {content.revision}{', changed files' if content.dirty else ''})")
    return name


def push(c: Any, account: Any = None, sandbox: bool = False, json: bool = False, **_: Any) -> Any:
    """push: which registries have the tree's image already, and which would get it."""
    from ghe_backup.delivery.push.push import images_for

    targets = resolve(c.config).targets(account, sandbox)
    images = images_for(targets)
    rows = [(t.name, f"{t.repository}:{images[t.name].tag}", images[t.name].digest or "would push") for t in targets]
    _say(NOTE)
    if json:
        return render.print_json([{"account": a, "image": i, "digest": d} for a, i, d in rows])
    return render.show(rows, lambda found: [render.Table(("account", "image", "in the registry"), found)])


def lock(c: Any, account: Any = None, sandbox: bool = False, json: bool = False, **_: Any) -> Any:
    """lock.acquire, lock.release: the lock as it is."""
    from ghe_backup.delivery.deploy.account_state import lock_statuses

    found = lock_statuses(resolve(c.config).some_targets(account, sandbox))
    _say("dry run: the lock was not changed")
    return render.show(found, views.locks, json=json)


def sandbox(c: Any, **_: Any) -> Any:
    """sandbox.up, sandbox.down, sandbox.publish-taupage: the sandbox as it is."""
    from ghe_backup import sandbox as sandbox_module

    _say("dry run: nothing was started, stopped or published")
    return render.show(sandbox_module.status(resolve(c.config).root), views.sandbox)
