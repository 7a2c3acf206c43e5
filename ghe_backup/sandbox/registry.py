"""Sandbox component: a Distribution registry (Debian ``docker-registry``) on 127.0.0.1.

It listens on the port it used before (5000 on a first start, or a free one if 5000 is
taken), stores blobs under ``.sandbox/registry/data`` and publishes
``state.endpoints["registry"] = "127.0.0.1:<port>"``. Loopback registries are trusted over
plain HTTP by the engine, so no TLS is needed.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from ghe_backup.sandbox import debian
from ghe_backup.sandbox.processes import log_file, port_open, recorded_pid, start_process, stop_process, wait_until
from ghe_backup.sandbox.state import port_base

NAME = "registry"
HOST = "127.0.0.1"


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


def start(state: Any) -> None:
    recorded = state.endpoints.get("registry")
    if recorded and recorded_pid(state.dir, NAME) and answers(recorded):
        return
    port = int(recorded.rsplit(":", 1)[1]) if recorded else port_base() - 500
    state.endpoints["registry"] = serve(state.dir, NAME, free_port(port))


def stop(state: Any) -> None:
    stop_process(state.dir, NAME)


def is_up(state: Any) -> bool:
    address = state.endpoints.get("registry")
    return bool(address and recorded_pid(state.dir, NAME) and answers(address))
