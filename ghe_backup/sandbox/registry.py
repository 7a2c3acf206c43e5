"""Sandbox component: one Distribution registry (Debian ``docker-registry``) per account, on 127.0.0.1.

Real accounts each have their own ECR, so the sandbox gives each configured account its own
registry: promotion (``deploy --image``) copies between them and a push to one never shows in
another. Each listens on the port it used before (from GHE_SANDBOX_PORT_BASE - 500 up, one per
account in name order, or a free one if taken), stores blobs under ``.sandbox/registry-<account>/``
and is published as ``state.endpoints["registries"] = {account: "127.0.0.1:<port>"}``. Loopback
registries are trusted over plain HTTP by the engine, so no TLS is needed.
"""

from __future__ import annotations

import contextlib
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from ghe_backup.errors import GheBackupError
from ghe_backup.sandbox import debian
from ghe_backup.sandbox.processes import log_file, port_open, recorded_pid, start_process, stop_process, wait_until
from ghe_backup.sandbox.state import port_base

HOST = "127.0.0.1"
#: The one shared registry of sandboxes started before registries were per account; stopped by up/down.
LEGACY_NAME = "registry"


def process_name(account: str) -> str:
    return f"registry-{account}"


def registry_config(storage: Path, port: int, htpasswd: Path | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text"},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
        "http": {"addr": f"{HOST}:{port}", "headers": {"X-Content-Type-Options": ["nosniff"]}},
    }
    if htpasswd is not None:
        config["auth"] = {"htpasswd": {"realm": "ghe-backup-sandbox", "path": str(htpasswd)}}
    return config


def answers(address: str) -> bool:
    """True when a registry API (any answer from /v2/, including 401) is served at host:port."""
    try:
        with urllib.request.urlopen(f"http://{address}/v2/", timeout=2) as response:
            return response.status == 200
    except urllib.error.HTTPError as err:
        return err.code == 401
    except OSError:
        return False


def free_port(preferred: int) -> int:
    if not port_open(HOST, preferred):
        return preferred
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def serve(state_dir: Path, name: str, port: int, *, htpasswd: Path | None = None) -> str:
    """Start ``docker-registry serve`` under ``name`` (pid/log in state_dir); its host:port."""
    folder = state_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "config.yml"
    config_path.write_text(yaml.safe_dump(registry_config(folder / "data", port, htpasswd), sort_keys=False))
    log = log_file(state_dir, name)
    program = debian.ensure_command("docker-registry", "docker-registry", log)
    start_process(state_dir, name, [program, "serve", str(config_path)])
    address = f"{HOST}:{port}"
    wait_until(lambda: answers(address), f"registry {address}", 30.0, log)
    return address


def accounts(state: Any) -> list[str]:
    """The configured accounts, in name order (each gets a registry)."""
    from ghe_backup.sandbox.aws import _accounts

    return sorted(_accounts(state.root))


def preferred_ports(names: list[str]) -> dict[str, int]:
    return {name: port_base() - 500 + i for i, name in enumerate(names)}


def start(state: Any) -> None:
    stop_process(state.dir, LEGACY_NAME)
    state.endpoints.pop("registry", None)
    recorded: dict[str, str] = dict(state.endpoints.get("registries") or {})
    running: dict[str, str] = {}
    for name, preferred in preferred_ports(accounts(state)).items():
        address = recorded.get(name)
        if address and recorded_pid(state.dir, process_name(name)) and answers(address):
            running[name] = address
            continue
        stop_process(state.dir, process_name(name))
        taken = set(running.values())
        port = int(address.rsplit(":", 1)[1]) if address else preferred
        while f"{HOST}:{port}" in taken:  # a port another account's registry just took
            port += 1
        running[name] = serve(state.dir, process_name(name), free_port(port))
    for gone in set(recorded) - set(running):  # an account no longer configured
        stop_process(state.dir, process_name(gone))
    state.endpoints["registries"] = running


def stop(state: Any) -> None:
    names = set(state.endpoints.get("registries") or {})
    with contextlib.suppress(GheBackupError):  # an unreadable config: stop what was recorded
        names |= set(accounts(state))
    for name in sorted(names):
        stop_process(state.dir, process_name(name))
    stop_process(state.dir, LEGACY_NAME)
    state.endpoints.pop("registries", None)


def is_up(state: Any) -> bool:
    recorded = state.endpoints.get("registries") or {}
    try:
        wanted = accounts(state)
    except GheBackupError:  # an unreadable config means no registries either
        return False
    return bool(wanted) and all(
        recorded.get(name) and recorded_pid(state.dir, process_name(name)) and answers(recorded[name])
        for name in wanted
    )
