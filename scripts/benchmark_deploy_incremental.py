#!/usr/bin/env python3
"""Benchmark issue 9's deploy targets: the README's main command cold, as a no-op, and two accounts at once.

Everything runs in a fresh clone of this checkout's HEAD with a sandbox of its own (free ports,
its own moto, registries, token-info and Lizzy agents; the Docker engine, its build cache and the
base image are shared), through the real ``inv`` as users run it (the clone's code on PYTHONPATH):

1. cold: the clone's first ``inv deploy --account=prod --sandbox --yes`` (no test pass recorded,
   prod's registry empty, no stack; the engine's layer cache is warm, as on any machine that has
   built once), then ``--runs`` no-op runs of the same command.
2. staging is deployed once (not timed), then ``--runs`` pairs of no-ops: prod alone and
   staging + prod, alternating which goes first.
3. ``--runs`` pairs after a code change (a comment appended to a module and committed before each
   run, so each run tests, builds, pushes and deploys a new version): prod alone and staging + prod,
   alternating which goes first.

Prints JSON and a Markdown table (docs/benchmarks.md).

    .venv/bin/python scripts/benchmark_deploy_incremental.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.private_sandbox import free_port_base  # noqa: E402

INV = str(Path(sys.executable).parent / "inv")
GIT = ["git", "-c", "user.name=b", "-c", "user.email=b@b"]
PROD = ["deploy", "--account=prod", "--sandbox", "--yes"]
BOTH = ["deploy", "--account=staging", "--account=prod", "--sandbox", "--yes"]


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class Clone:
    def __init__(self, into: Path, logs: Path | None = None):
        self.logs, self.runs = logs, 0
        if logs:
            logs.mkdir(parents=True, exist_ok=True)
        self.root = into / "clone"
        subprocess.run(["git", "clone", "-q", str(REPO), str(self.root)], check=True)
        (self.root / ".sandbox").mkdir()
        venv = REPO / ".sandbox" / "lizzy-venv"
        if venv.is_dir():
            (self.root / ".sandbox" / "lizzy-venv").symlink_to(venv, target_is_directory=True)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("INVOKE_", "GHE_"))}
        self.env.update(
            PYTHONPATH=str(self.root), GHE_BACKUP_ROOT=str(self.root), GHE_SANDBOX_PORT_BASE=str(free_port_base())
        )
        self.changes = 0

    def inv(self, args: list[str]) -> float:
        started = time.monotonic()
        done = subprocess.run([INV, *args], cwd=self.root, env=self.env, capture_output=True, text=True)
        seconds = round(time.monotonic() - started, 2)
        if self.logs:
            self.runs += 1
            name = f"{self.runs:02d}-{'-'.join(a.lstrip('-').replace('=', '_') for a in args)}-{seconds}s.log"
            (self.logs / name).write_text(done.stderr)
        if done.returncode != 0:
            sys.exit(f"inv {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return seconds

    def change_code(self) -> None:
        self.changes += 1
        module = self.root / "ghe_backup" / "__init__.py"
        module.write_text(module.read_text() + f"# benchmark change {self.changes}\n")
        subprocess.run([*GIT, "commit", "-qam", f"benchmark change {self.changes}"], cwd=self.root, check=True)


def pairs(clone: Clone, runs: int, before_each=None) -> list[dict]:
    found = []
    for run in range(runs):
        order = [("prod", PROD), ("both", BOTH)] if run % 2 == 0 else [("both", BOTH), ("prod", PROD)]
        pair = {"first": order[0][0]}
        for name, args in order:
            if before_each:
                before_each()
            pair[name] = clone.inv(args)
        pair["ratio"] = round(pair["both"] / pair["prod"], 3)
        found.append(pair)
    return found


def summary(found: list[dict]) -> dict:
    prod = round(statistics.median(p["prod"] for p in found), 2)
    both = round(statistics.median(p["both"] for p in found), 2)
    return {"prod_median_s": prod, "both_median_s": both, "ratio_of_medians": round(both / prod, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--logs", type=Path, help="keep each run's progress lines (stderr) in this folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ghe-bench-deploy-"))
    clone = Clone(work, args.logs)
    result: dict = {
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
    }
    try:
        clone.inv(["sandbox.up"])
        result["load_before"] = load()
        cold = clone.inv(PROD)
        noop = [clone.inv(PROD) for _ in range(args.runs)]
        result["cold_s"], result["noop_s"] = cold, noop
        result["noop_share_of_cold"] = round(statistics.median(noop) / cold, 4)
        clone.inv(["deploy", "--account=staging", "--sandbox", "--yes"])
        result["noop_pairs"] = pairs(clone, args.runs)
        result["noop_pairs_summary"] = summary(result["noop_pairs"])
        result["change_pairs"] = pairs(clone, args.runs, before_each=clone.change_code)
        result["change_pairs_summary"] = summary(result["change_pairs"])
        result["load_after"] = load()
    finally:
        subprocess.run([INV, "sandbox.down"], cwd=clone.root, env=clone.env, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=2))
    print(markdown(result))


def markdown(r: dict) -> str:
    lines = [
        f"Commit `{r['commit']}`, load average {r['load_before']} before and {r['load_after']} after.",
        "",
        "| `inv deploy ... --sandbox --yes` | seconds |",
        "|---|---|",
        f"| prod, cold (first run of a fresh clone) | {r['cold_s']} |",
        f"| prod, no-op | {', '.join(str(s) for s in r['noop_s'])} |",
        f"| no-op median / cold | {r['noop_share_of_cold']:.1%} |",
        "",
        "| pair | first | prod alone | staging + prod | ratio |",
        "|---|---|---|---|---|",
    ]
    for kind, key in (("no-op", "noop_pairs"), ("code change", "change_pairs")):
        for pair in r[key]:
            lines.append(f"| {kind} | {pair['first']} | {pair['prod']} s | {pair['both']} s | {pair['ratio']} |")
        s = r[f"{key}_summary"]
        lines.append(
            f"| {kind}, medians | | {s['prod_median_s']} s | {s['both_median_s']} s | {s['ratio_of_medians']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
