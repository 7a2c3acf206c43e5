#!/usr/bin/env python3
"""Benchmark the image and push stages: cold, no-change, and one-line-change runs.

Runs in a temporary git copy of the build context (the checkout is never touched) against the
sandbox's engine and base image and a fresh, empty registry (so the cold push is cold).
Needs ``inv sandbox.up`` (engine, registry, base image). Prints JSON and a Markdown table for
docs/benchmarks.md.

    .venv/bin/python scripts/benchmark_image_push.py [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ghe_backup.delivery.image.build import build_image  # noqa: E402
from ghe_backup.delivery.image.context import context_files  # noqa: E402
from ghe_backup.delivery.image.smoke import smoke_test  # noqa: E402
from ghe_backup.delivery.push.push import push_image  # noqa: E402
from ghe_backup.plumbing import engine as docker_engine  # noqa: E402
from ghe_backup.sandbox import SandboxState, baseimage, engine  # noqa: E402
from ghe_backup.sandbox import registry as registry_component  # noqa: E402
from ghe_backup.sandbox.processes import stop_process  # noqa: E402

sys.path.insert(0, str(REPO / "tests"))
from support.context_repo import registry_targets, sandbox_site  # noqa: E402


def copy_context(root: Path) -> Path:
    for name in context_files(REPO):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, root / name)
    (root / ".gitignore").write_text(".state/\n")
    for args in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "bench"],
    ):
        subprocess.run(["git", *args], cwd=root, check=True)
    return root


def timed(call):
    started = time.monotonic()
    value = call()
    return value, round(time.monotonic() - started, 3)


def run() -> dict:
    state = SandboxState.load(REPO)
    if not (engine.is_up(state) and baseimage.is_up(state)):
        sys.exit("the sandbox's engine and base image are needed: inv sandbox.up")
    work = Path(tempfile.mkdtemp(prefix="ghe-bench-"))
    root = copy_context(work / "repo")
    site = sandbox_site(root, state)
    registry = registry_component.serve(work, "bench-registry", registry_component.free_port(5900))
    accounts = registry_targets(site, registry, "prod")
    try:
        cold_image, cold_build = timed(lambda: build_image(site, nocache=True))
        [cold_push], cold_push_s = timed(lambda: push_image(accounts))
        same_image, same_build = timed(lambda: build_image(site))
        [same_push], same_push_s = timed(lambda: push_image(accounts))
        module = root / "ghe_backup" / "backup" / "__init__.py"
        module.write_text(module.read_text() + f"# benchmark change {uuid.uuid4()}\n")
        changed_image, changed_build = timed(lambda: build_image(site))
        [changed_push], changed_push_s = timed(lambda: push_image(accounts))
        subprocess.run(
            ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qam", "change"], cwd=root, check=True
        )
        commit_image, commit_build = timed(lambda: build_image(site))  # new REVISION only
        client = docker_engine.connect(site.docker_host)
        _, smoke_s = timed(lambda: smoke_test(client, changed_image.image))  # part of every build's time above
    finally:
        stop_process(work, "bench-registry")
        shutil.rmtree(work, ignore_errors=True)
    cold_total = cold_build + cold_push_s
    return {
        "cold": {
            "build_s": cold_build,
            "push_s": cold_push_s,
            "total_s": round(cold_total, 3),
            "uploaded_bytes": cold_push.uploaded_bytes,
        },
        "no_change": {
            "image_stage_s": same_build,
            "push_stage_s": same_push_s,
            "total_s": round(same_build + same_push_s, 3),
            "share_of_cold": round((same_build + same_push_s) / cold_total, 4),
            "uploaded_bytes": same_push.uploaded_bytes,
            "skipped": same_push.skipped,
            "rebuilt": same_image.built,
        },
        "one_line_change": {
            "rebuild_s": changed_build,
            "rebuild_share_of_cold_build": round(changed_build / cold_build, 4),
            "rebuilt_steps": changed_image.rebuilt_steps,
            "steps": changed_image.steps,
            "smoke_test_s": smoke_s,
            "rebuild_share_without_smoke": round((changed_build - smoke_s) / (cold_build - smoke_s), 4),
            "push_s": changed_push_s,
            "uploaded_bytes": changed_push.uploaded_bytes,
            "uploaded_share_of_image": round(changed_push.uploaded_bytes / changed_image.size, 5),
        },
        "new_commit_same_files": {
            "rebuild_s": commit_build,
            "rebuilt_steps": commit_image.rebuilt_steps,
            "rebuild_share_of_cold_build": round(commit_build / cold_build, 4),
        },
        "size": {
            "image_bytes": cold_image.size,
            "base_bytes": cold_image.base_size,
            "app_adds_bytes": cold_image.app_size,
            "base_image": cold_image.base_image,
        },
        "same_digest_on_repush": same_push.digest == cold_push.digest,
    }


def markdown(r: dict) -> str:
    c, n, o, s, k = r["cold"], r["no_change"], r["one_line_change"], r["size"], r["new_commit_same_files"]
    mb = lambda b: f"{b / 1e6:.2f} MB"  # noqa: E731
    rows = [
        (
            "cold build (no cache) + push to an empty registry",
            f"{c['build_s']:.2f} s + {c['push_s']:.2f} s = {c['total_s']:.2f} s",
            mb(c["uploaded_bytes"]) + " uploaded",
            "",
        ),
        (
            "no change: image stage + push stage",
            f"{n['image_stage_s']:.3f} s + {n['push_stage_s']:.3f} s = {n['total_s']:.3f} s",
            f"{n['share_of_cold']:.1%} of cold; {n['uploaded_bytes']} B uploaded",
            "< 2 s, < 5 %, nothing uploaded",
        ),
        (
            "one-line change in ghe_backup/: rebuild",
            f"{o['rebuild_s']:.3f} s ({o['rebuilt_steps']} of {o['steps']} steps; smoke test {o['smoke_test_s']:.3f} s)",
            f"{o['rebuild_share_of_cold_build']:.1%} of cold build ({o['rebuild_share_without_smoke']:.1%} without the smoke test)",
            "<= 10 %",
        ),
        (
            "then committing it (new revision label, same files): rebuild",
            f"{k['rebuild_s']:.3f} s ({k['rebuilt_steps']} steps)",
            f"{k['rebuild_share_of_cold_build']:.1%} of cold build",
            "",
        ),
        (
            "one-line change: push",
            f"{o['push_s']:.3f} s",
            f"{mb(o['uploaded_bytes'])} = {o['uploaded_share_of_image']:.3%} of image",
            "<= 5 %",
        ),
        (
            "image size vs base",
            f"{mb(s['image_bytes'])} vs {mb(s['base_bytes'])}",
            f"app adds {mb(s['app_adds_bytes'])}",
            "<= 40 MB",
        ),
    ]
    lines = ["| measurement | time / size | ratio | target |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c_} | {d} |" for a, b, c_, d in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print only the JSON")
    args = parser.parse_args()
    result = run()
    print(json.dumps(result, indent=2))
    if not args.json:
        print()
        print(markdown(result))


if __name__ == "__main__":
    main()
