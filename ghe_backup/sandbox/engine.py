"""Sandbox component: a reachable Docker engine.

An engine that already answers (DOCKER_HOST or the default socket) is reused and never
stopped. Otherwise, as root on Debian, ``docker.io`` is installed if missing and ``dockerd``
is started without iptables and without the default bridge (nothing here needs container
networking; see docs/image-and-push.md). Its pid and log live under ``.sandbox/``.
"""

from __future__ import annotations

import os
from typing import Any

from ghe_backup.errors import Unreachable
from ghe_backup.plumbing import engine as docker_engine
from ghe_backup.sandbox import debian
from ghe_backup.sandbox.processes import log_file, recorded_pid, start_process, stop_process, wait_until

NAME = "engine"
DEFAULT_HOST = "unix:///var/run/docker.sock"
DOCKERD_FLAGS = ["--iptables=false", "--ip6tables=false", "--bridge=none"]
READY_TIMEOUT = 90.0


def docker_host(state: Any) -> str:
    return state.endpoints.get("docker_host") or os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def answers(host: str) -> bool:
    try:
        docker_engine.connect(host, timeout=5).close()
    except Unreachable:
        return False
    return True


def start(state: Any) -> None:
    host = docker_host(state)
    if answers(host):
        state.endpoints["docker_host"] = host
        return
    if not host.startswith("unix://"):
        raise Unreachable(
            f"Docker engine at {host} is not reachable",
            hint="start it, or unset DOCKER_HOST to let the sandbox start one",
        )
    if os.geteuid() != 0:
        raise Unreachable(
            f"no Docker engine answers at {host} and starting one needs root",
            hint="start your Docker engine (e.g. systemctl start docker) or set DOCKER_HOST",
        )
    log = log_file(state.dir, NAME)
    dockerd = debian.ensure_command("dockerd", "docker.io", log)
    socket_path = host[len("unix://") :]
    argv = [dockerd, *DOCKERD_FLAGS, f"--host={host}", f"--pidfile={state.dir / 'run' / 'dockerd.pid'}"]
    (state.dir / "run").mkdir(parents=True, exist_ok=True)
    if recorded_pid(state.dir, NAME) is None:
        start_process(state.dir, NAME, argv)
    wait_until(lambda: os.path.exists(socket_path) and answers(host), f"dockerd ({host})", READY_TIMEOUT, log)
    state.endpoints["docker_host"] = host


def stop(state: Any) -> None:
    """Stop dockerd only if ``start`` started it (a reused engine is never touched)."""
    stop_process(state.dir, NAME, timeout=30.0)


def is_up(state: Any) -> bool:
    return answers(docker_host(state))
