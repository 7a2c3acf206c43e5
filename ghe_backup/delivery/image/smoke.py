"""The image's smoke test: its entrypoint answers ``--version`` with no network."""

from __future__ import annotations

import contextlib
from typing import Any

import docker.errors
import requests.exceptions

from ghe_backup import __version__
from ghe_backup.errors import StageFailed
from ghe_backup.plumbing.engine import engine_call

TIMEOUT = 60


def smoke_test(client: Any, name: str) -> str:
    """Run ``<entrypoint> --version`` in the image with no network; its output, or StageFailed."""
    container = engine_call(
        "smoke test",
        client.create_container,
        name,
        command=["--version"],
        network_disabled=True,
        host_config=client.create_host_config(network_mode="none"),
    )
    try:
        engine_call("smoke test", client.start, container)
        status = engine_call("smoke test", client.wait, container, timeout=TIMEOUT)
        output = (
            engine_call("smoke test", client.logs, container, stdout=True, stderr=True).decode(errors="replace").strip()
        )
    finally:
        with contextlib.suppress(docker.errors.DockerException, requests.exceptions.RequestException):
            client.remove_container(container, force=True)  # the engine may be gone; the error above says so
    code = status.get("StatusCode")
    if code != 0 or __version__ not in output:
        last = output.splitlines()[-1] if output else "no output"
        raise StageFailed(f"smoke test of {name} failed: '--version' exited {code}: {last}")
    return output.splitlines()[-1]
