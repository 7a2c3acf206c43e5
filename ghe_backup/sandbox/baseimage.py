"""Sandbox component: the offline base image, made locally with mmdebstrap and ``docker import``.

Nothing can be pulled here, so the image's base is a Debian bookworm root filesystem with
what backup-utils needs and python3 with the venv module. Our program's Python dependencies
are not Debian's: the Dockerfile installs the versions ``requirements.lock`` pins from PyPI
into a venv (so the image runs what the tests run). The tag carries a hash of the package
list: changing the list makes a new image; an existing one is reused (about a minute saved on
every ``up``).
"""

from __future__ import annotations

import hashlib
import subprocess
from typing import Any

from ghe_backup.errors import StageFailed
from ghe_backup.plumbing import engine as docker_engine
from ghe_backup.plumbing.command import run
from ghe_backup.sandbox import debian, engine
from ghe_backup.sandbox.processes import log_file

NAME = "baseimage"
MMDEBSTRAP_TIMEOUT = 1200.0
SUITE = "bookworm"
REPOSITORY = "ghe-backup-base"
#: backup-utils needs bash, rsync, ssh, git, jq, bc, ps; our program python3 (deps go in a venv) under tini.
PACKAGES = (
    "python3",
    "python3-venv",
    "rsync",
    "openssh-client",
    "git",
    "jq",
    "bc",
    "ca-certificates",
    "procps",  # ps: backup-utils tells a live in-progress marker from a stale one
    "tini",  # PID 1 in the container: reaps orphans, forwards signals
)
#: Docs, man pages and translations are not needed in a container: about 40 MB less.
DPKG_OPTIONS = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/locale/*",
)


def image_name() -> str:
    digest = hashlib.sha256("\n".join((SUITE, *PACKAGES, *DPKG_OPTIONS)).encode()).hexdigest()[:8]
    return f"{REPOSITORY}:{SUITE}-{digest}"


def mmdebstrap_argv(program: str, target: str) -> list[str]:
    return [
        program,
        "--variant=apt",
        f"--include={','.join(PACKAGES)}",
        *(f"--dpkgopt={option}" for option in DPKG_OPTIONS),
        SUITE,
        target,
    ]


def exists(client: Any, name: str) -> bool:
    return docker_engine.inspect_image(client, name) is not None


def start(state: Any) -> None:
    name = image_name()
    client = docker_engine.connect(engine.docker_host(state))
    try:
        if not exists(client, name):
            build(state, client, name)
    finally:
        client.close()
    state.endpoints["base_image"] = name


def build(state: Any, client: Any, name: str) -> None:
    log = log_file(state.dir, NAME)
    program = debian.ensure_command("mmdebstrap", "mmdebstrap", log)
    work = state.dir / NAME
    work.mkdir(parents=True, exist_ok=True)
    tarball = work / f"{SUITE}.tar"
    with open(log, "ab") as out:
        result = run(
            mmdebstrap_argv(program, str(tarball)),
            what="mmdebstrap",
            timeout=MMDEBSTRAP_TIMEOUT,
            capture=False,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0:
        tarball.unlink(missing_ok=True)
        raise StageFailed(f"mmdebstrap failed (exit {result.returncode}) building {name}", hint=f"see {log}")
    repository, tag = name.split(":")
    try:
        docker_engine.engine_call(
            f"docker import {name}",
            client.import_image_from_file,
            str(tarball),
            repository=repository,
            tag=tag,
            changes=["ENV LANG=C.UTF-8", 'CMD ["/bin/bash"]'],
        )
    finally:
        tarball.unlink(missing_ok=True)


def stop(state: Any) -> None:
    """Images are kept (building one takes about a minute)."""


def is_up(state: Any) -> bool:
    name = state.endpoints.get("base_image")
    if not name or not engine.answers(engine.docker_host(state)):
        return False
    client = docker_engine.connect(engine.docker_host(state), timeout=10)
    try:
        return exists(client, name)
    finally:
        client.close()
