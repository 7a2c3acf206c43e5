#!/usr/bin/env python3
"""Benchmark the pieces of an ``inv`` call the gate's tests repeat: reading the config, parsing the
command line, reading YAML (as the code reads it, and with the pure-Python loader).

Each figure is the mean of ``--loops`` calls after one warm-up call, in one process (imports
excluded). With ``--before COMMIT`` the same is measured first in that commit's tree (exported to
a temporary directory, run with this venv), then in this checkout: pairs from one run. No sandbox
needed. Prints JSON and Markdown.

    .venv/bin/python scripts/benchmark_gate_parts.py [--loops 200] [--before 69b70fe]
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import tasks  # noqa: E402
from ghe_backup.delivery.config import yamlfile  # noqa: E402
from ghe_backup.delivery.config.accounts import load_accounts  # noqa: E402
from ghe_backup.edge.program import PipelineProgram  # noqa: E402

ARGV = ["inv", "deploy", "--account=prod", "--sandbox", "--yes"]


def mean_ms(call, loops: int) -> float:
    call()  # warm: imports, caches
    started = time.perf_counter()
    for _ in range(loops):
        call()
    return round((time.perf_counter() - started) / loops * 1000, 3)


def parse_command_line() -> None:
    program = PipelineProgram(namespace=tasks.ns)  # one collection, as in one inv call
    program.create_config()
    program.parse_core(ARGV)
    program.parse_collection()
    program.parse_tasks()


def measure(loops: int) -> dict:
    text = (REPO / "senza" / "ghe-backup.yaml").read_text(encoding="utf-8")
    where = REPO / "senza" / "ghe-backup.yaml"
    fast = getattr(yamlfile, "_FastLoader", None)  # older trees read with PyYAML's pure-Python loader

    def read_yaml() -> None:  # the parse itself: the per-text memory is bypassed
        yamlfile._parse_yaml(text, where, frozenset({"ports"}))

    def read_yaml_pure() -> None:
        yamlfile._FastLoader = None
        try:
            read_yaml()
        finally:
            yamlfile._FastLoader = fast

    return {
        "load_accounts_ms": mean_ms(lambda: load_accounts(REPO), loops),
        "parse_deploy_command_line_ms": mean_ms(parse_command_line, loops),
        "yaml_senza_definition_ms": mean_ms(read_yaml, loops),
        "yaml_senza_definition_pure_python_ms": mean_ms(read_yaml_pure, loops),
    }


def measure_before(commit: str, loops: int) -> dict:
    """This script run in ``commit``'s tree (its own modules, this venv)."""
    work = Path(tempfile.mkdtemp(prefix="ghe-bench-parts-"))
    try:
        archive = subprocess.run(["git", "archive", commit], cwd=REPO, check=True, capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(work, filter="data")
        (work / "scripts").mkdir(exist_ok=True)
        shutil.copy(__file__, work / "scripts" / "benchmark_gate_parts.py")
        done = subprocess.run(
            [sys.executable, str(work / "scripts" / "benchmark_gate_parts.py"), "--loops", str(loops), "--json"],
            check=True,
            capture_output=True,
            text=True,
            env={"PYTHONPATH": str(work), "PATH": "/usr/bin:/bin"},
        )
        return json.loads(done.stdout)
    finally:
        shutil.rmtree(work, ignore_errors=True)


ROWS = [
    ("load_accounts_ms", "`load_accounts` of the shipped config, warm"),
    ("parse_deploy_command_line_ms", f"parsing `{' '.join(ARGV)}`"),
    ("yaml_senza_definition_ms", "reading senza/ghe-backup.yaml as the code reads it"),
    ("yaml_senza_definition_pure_python_ms", "reading senza/ghe-backup.yaml with the pure-Python loader"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=200)
    parser.add_argument("--before", help="a commit to measure first, in its own tree")
    parser.add_argument("--json", action="store_true", help="print only this tree's JSON")
    args = parser.parse_args()
    if args.json:
        print(json.dumps(measure(args.loops)))
        return
    result = {"loops": args.loops}
    if args.before:
        result["before"] = {"commit": args.before, **measure_before(args.before, args.loops)}
    result["after"] = measure(args.loops)
    print(json.dumps(result, indent=2))
    print()
    if args.before:
        print(f"| piece (mean of {args.loops}) | before (`{args.before}`) | after |")
        print("|---|---|---|")
        for key, name in ROWS:
            print(f"| {name} | {result['before'][key]} ms | {result['after'][key]} ms |")
    else:
        print(f"| piece (mean of {args.loops}) | ms |")
        print("|---|---|")
        for key, name in ROWS:
            print(f"| {name} | {result['after'][key]} |")


if __name__ == "__main__":
    main()
