#!/usr/bin/env python3
"""Benchmark issue 9's incremental pipeline: the test gate and reproducible layers, before and after.

1. Gate: ``inv test`` wall time, alternating the checkout as it is ("after") with the tree of
   ``--before`` (default: the commit this work started from) exported to a temporary directory
   and run with the same venv ("before"), ``--runs`` pairs.
2. Gate remembered: the test stage as a prerequisite when nothing changed (``run_unit_tests(...,
   reuse=True)`` after a recorded pass: the stage's own seconds), ``inv test --reuse`` wall, and
   ``inv push --account=prod --sandbox`` with nothing to build or upload, with and without a
   recorded pass (the pass record moved away for the "without" run).
3. Layers after the build cache is lost: for the ``--before`` Dockerfile and this one, each in a
   temporary git copy of the build context with a fresh registry: a no-cache build and its push;
   a second no-cache build of the same files pushed under a second tag (bytes uploaded); a
   one-line change built without cache and pushed (bytes uploaded); then another one-line change
   built with the cache (seconds and steps: what the staging stages cost a routine rebuild).
   ``docker builder prune -af`` is not allowed on the shared engine; for the classic builder a
   ``nocache`` build is the same as a build after the cache was pruned (no step is looked up).

Needs ``inv sandbox.up`` (engine, base image, registries, accounts). Prints JSON and Markdown.

    GHE_SANDBOX_PORT_BASE=... .venv/bin/python scripts/benchmark_incremental.py [--runs 3] [--only gate|layers]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import docker.errors  # noqa: E402

from ghe_backup.delivery.gate import passes, run_unit_tests  # noqa: E402
from ghe_backup.delivery.image.build import build_image  # noqa: E402
from ghe_backup.delivery.image.context import context_files  # noqa: E402
from ghe_backup.delivery.push.push import push_to_account  # noqa: E402
from ghe_backup.plumbing import engine as docker_engine  # noqa: E402
from ghe_backup.sandbox import SandboxState  # noqa: E402
from ghe_backup.sandbox import registry as registry_component  # noqa: E402
from ghe_backup.sandbox.processes import stop_process  # noqa: E402
from support.context_repo import registry_targets, sandbox_site  # noqa: E402

BEFORE = "3749798"  # the commit issue 9's work started from
INV = str(Path(sys.executable).parent / "inv")
GIT = ["git", "-c", "user.name=b", "-c", "user.email=b@b"]


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def timed(call):
    started = time.monotonic()
    value = call()
    return value, round(time.monotonic() - started, 3)


def export(commit: str, into: Path) -> Path:
    """The tree of ``commit`` as a fresh git checkout (the repo's own git metadata is not touched)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", commit], cwd=REPO, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", f"export of {commit}"]):
        subprocess.run([*GIT, *args], cwd=into, check=True)
    return into


def inv(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[int, float]:
    started = time.monotonic()
    done = subprocess.run([INV, *args], cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    return done.returncode, round(time.monotonic() - started, 3)


# --- 1 and 2: the gate ------------------------------------------------------------------------


def gate(runs: int, before: str) -> dict:
    work = Path(tempfile.mkdtemp(prefix="ghe-bench-gate-"))
    old = export(before, work / "before")
    old_env = {"PYTHONPATH": str(old), "GHE_BACKUP_ROOT": str(old)}  # the old code, the same venv
    pairs = []
    try:
        for _ in range(runs):
            before_rc, before_s = inv(["test"], old, old_env)
            after_rc, after_s = inv(["test"], REPO)
            pairs.append(
                {"before_s": before_s, "before_ok": before_rc == 0, "after_s": after_s, "after_ok": after_rc == 0}
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "load_average": load(),
        "pairs": pairs,
        "before_median_s": statistics.median(p["before_s"] for p in pairs),
        "after_median_s": statistics.median(p["after_s"] for p in pairs),
    }


STAGE = """
import sys, time
started = time.monotonic()
from pathlib import Path
from ghe_backup.delivery.gate import run_unit_tests
result = run_unit_tests(Path(sys.argv[1]), reuse=True, report=lambda line: None)
print(result.ran, round(time.monotonic() - started, 3))
"""


def fresh_stage() -> float:
    """The test stage as a prerequisite, timed inside a new Python process (import included)."""
    done = subprocess.run([sys.executable, "-c", STAGE, str(REPO)], check=True, capture_output=True, text=True)
    ran, seconds = done.stdout.split("\n")[-2].split()
    if ran != "False":
        sys.exit("the tests ran again although nothing changed")
    return float(seconds)


def remembered(samples: int) -> dict:
    record = REPO / ".state" / passes.STATE_FILE
    if not run_unit_tests(REPO, reuse=True, report=lambda line: None).key:
        sys.exit("not a git checkout")
    stage = [fresh_stage() for _ in range(samples)]  # each in a new process, imports and all
    reuse_wall = [inv(["test", "--reuse"], REPO)[1] for _ in range(samples)]
    push = ["push", "--account=prod", "--sandbox"]
    inv(push, REPO)  # build and push whatever the tree is now, so the pairs below have nothing to do
    pairs = []
    for _ in range(samples):
        rc_with, with_pass = inv(push, REPO)
        moved = record.rename(record.with_suffix(".bench"))
        try:
            rc_without, without_pass = inv(push, REPO)  # the gate runs (and records the pass again)
        finally:
            moved.replace(record)
        pairs.append({"with_pass_s": with_pass, "without_pass_s": without_pass, "ok": rc_with == rc_without == 0})
    return {
        "load_average": load(),
        "stage_s": stage,
        "inv_test_reuse_wall_s": reuse_wall,
        "push_no_change": pairs,
    }


# --- 3: layers after the cache is lost ----------------------------------------------------------


def layers(before: str) -> dict:
    state = SandboxState.load(REPO)
    work = Path(tempfile.mkdtemp(prefix="ghe-bench-layers-"))
    found = {}
    try:
        old_dockerfile = subprocess.run(
            ["git", "show", f"{before}:Dockerfile"], cwd=REPO, check=True, capture_output=True, text=True
        ).stdout
        for variant, dockerfile in (("before", old_dockerfile), ("after", (REPO / "Dockerfile").read_text())):
            found[variant] = layers_of(work / variant, dockerfile, state)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"load_average": load(), **found}


def layers_of(root: Path, dockerfile: str, state: SandboxState) -> dict:
    for name in context_files(REPO):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, root / name)
    (root / "Dockerfile").write_text(dockerfile)
    (root / ".gitignore").write_text(".state/\n")
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "bench"]):
        subprocess.run([*GIT, *args], cwd=root, check=True)
    site = sandbox_site(root, state)
    client = docker_engine.connect(site.docker_host)
    registry = registry_component.serve(root.parent, f"reg-{root.name}", registry_component.free_port(5950))
    [target] = registry_targets(site, registry, "prod")
    made = []
    try:
        cold, cold_build_s = timed(lambda: build_image(site, nocache=True))
        made.append(cold.id)
        cold_push = push_to_account(client, cold, target)
        again, again_build_s = timed(lambda: build_image(site, nocache=True))
        made.append(again.id)
        same = push_to_account(client, dataclasses.replace(again, tag=f"{again.tag}-rebuild"), target)
        module = root / "ghe_backup" / "backup" / "__init__.py"
        module.write_text(module.read_text() + f"# benchmark change {uuid.uuid4()}\n")
        changed, changed_build_s = timed(lambda: build_image(site, nocache=True))
        made.append(changed.id)
        changed_push = push_to_account(client, changed, target)
        module.write_text(module.read_text() + f"# benchmark change {uuid.uuid4()}\n")
        cached, cached_build_s = timed(lambda: build_image(site))
        made.append(cached.id)
        diff_ids = [client.inspect_image(i)["RootFS"]["Layers"] for i in (cold.id, again.id)]
    finally:
        stop_process(root.parent, f"reg-{root.name}")
        for image in made:  # ours only: the images this benchmark built (each id is new: a build time is in it)
            with contextlib.suppress(docker.errors.APIError):
                client.remove_image(image, force=True)
    return {
        "cold_build_s": cold_build_s,
        "cold_uploaded_bytes": cold_push.uploaded_bytes,
        "same_files_no_cache_build_s": again_build_s,
        "same_files_same_layers": diff_ids[0] == diff_ids[1],
        "same_files_layers_differing": sum(a != b for a, b in zip(*diff_ids, strict=False)),
        "same_files_uploaded_bytes": same.uploaded_bytes,
        "one_line_no_cache_build_s": changed_build_s,
        "one_line_no_cache_uploaded_bytes": changed_push.uploaded_bytes,
        "one_line_cached_rebuild_s": cached_build_s,
        "one_line_cached_rebuilt_steps": cached.rebuilt_steps,
        "steps": cached.steps,
        "layers": len(diff_ids[1]),
        "image_bytes": cold.size,
    }


def markdown(result: dict) -> str:
    lines = []
    if "gate" in result:
        g = result["gate"]
        lines += ["| `inv test` | before | after |", "|---|---|---|"]
        for n, p in enumerate(g["pairs"], 1):
            mark = lambda ok: "" if ok else " (a test failed)"  # noqa: E731
            lines.append(
                f"| run {n} | {p['before_s']:.2f} s{mark(p['before_ok'])} | {p['after_s']:.2f} s{mark(p['after_ok'])} |"
            )
        lines.append(f"| median | {g['before_median_s']:.2f} s | {g['after_median_s']:.2f} s |")
        lines.append(f"\nload average: {g['load_average']}\n")
    if "remembered" in result:
        r = result["remembered"]
        lines += [
            f"- test stage as a prerequisite, nothing changed (a new process: import, hash, skip): "
            f"{', '.join(f'{s:.3f}' for s in r['stage_s'])} s",
            f"- `inv test --reuse` wall: {', '.join(f'{s:.2f}' for s in r['inv_test_reuse_wall_s'])} s",
        ]
        for p in r["push_no_change"]:
            lines.append(
                f"- `inv push --account=prod --sandbox`, nothing to build or upload: {p['with_pass_s']:.2f} s with the "
                f"recorded pass, {p['without_pass_s']:.2f} s without"
            )
        lines.append(f"\nload average: {r['load_average']}\n")
    if "layers" in result:
        b, a = result["layers"]["before"], result["layers"]["after"]
        mb = lambda n: f"{n / 1e6:.2f} MB"  # noqa: E731
        rows = [
            (
                "no-cache build + push to an empty registry",
                f"{b['cold_build_s']:.1f} s, {mb(b['cold_uploaded_bytes'])}",
                f"{a['cold_build_s']:.1f} s, {mb(a['cold_uploaded_bytes'])}",
            ),
            (
                "the same files, no cache: same layers?",
                f"{'yes' if b['same_files_same_layers'] else 'no'} ({b['same_files_layers_differing']} of {b['layers']} differ)",
                f"{'yes' if a['same_files_same_layers'] else 'no'} ({a['same_files_layers_differing']} of {a['layers']} differ)",
            ),
            ("... its push uploads", mb(b["same_files_uploaded_bytes"]), mb(a["same_files_uploaded_bytes"])),
            (
                "one-line change, no cache: push uploads",
                mb(b["one_line_no_cache_uploaded_bytes"]),
                mb(a["one_line_no_cache_uploaded_bytes"]),
            ),
            (
                "one-line change with the cache: rebuild",
                f"{b['one_line_cached_rebuild_s']:.2f} s ({b['one_line_cached_rebuilt_steps']} of {b['steps']} steps)",
                f"{a['one_line_cached_rebuild_s']:.2f} s ({a['one_line_cached_rebuilt_steps']} of {a['steps']} steps)",
            ),
        ]
        lines += ["| after the build cache is lost | before | after |", "|---|---|---|"]
        lines += [f"| {x} | {y} | {z} |" for x, y, z in rows]
        lines.append(f"\nload average: {result['layers']['load_average']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="inv test pairs (before/after)")
    parser.add_argument("--before", default=BEFORE, help="the commit to compare with")
    parser.add_argument("--only", choices=["gate", "remembered", "layers"], action="append")
    args = parser.parse_args()
    wanted = set(args.only or ["gate", "remembered", "layers"])
    result = {}
    if "gate" in wanted:
        result["gate"] = gate(args.runs, args.before)
    if "remembered" in wanted:
        result["remembered"] = remembered(args.runs)
    if "layers" in wanted:
        result["layers"] = layers(args.before)
    print(json.dumps(result, indent=2))
    print()
    print(markdown(result))


if __name__ == "__main__":
    main()
