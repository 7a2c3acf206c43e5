"""The one place that talks to the Docker engine: connect, and turn SDK failures into typed errors.

The SDK reports some failures as exceptions (engine unreachable, 404s) and others inside the
JSON streams of build and push (``error``/``errorDetail`` records). Both end up here as
``Unreachable`` (exit 3: engine or registry cannot be reached) or ``StageFailed`` (exit 1).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from typing import Any

import docker
import docker.errors
import requests.exceptions

from ghe_backup.errors import StageFailed, Unreachable
from ghe_backup.plumbing.redact import redact_text

#: Messages from the engine that mean "the registry could not be reached", not "it refused".
_UNREACHABLE = re.compile(
    r"connection refused|no such host|i/o timeout|network is unreachable|no route to host"
    r"|TLS handshake timeout|server gave HTTP response to HTTPS client|connection reset by peer",
    re.I,
)
_UNAUTHORIZED = re.compile(
    r"unauthorized|authentication required|no basic auth credentials|denied|\b401\b|\b403\b", re.I
)
_DISK_FULL = re.compile(r"no space left on device|disk quota exceeded", re.I)


def connect(base_url: str | None = None, timeout: int = 600) -> docker.APIClient:
    """A low-level client for ``base_url`` (default: DOCKER_HOST or the default socket), pinged."""
    try:
        if base_url:
            client = docker.APIClient(base_url=base_url, version="auto", timeout=timeout)
        else:
            client = docker.from_env(timeout=timeout).api
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as err:
        where = base_url or os.environ.get("DOCKER_HOST") or "the default socket (unix:///var/run/docker.sock)"
        raise Unreachable(
            f"Docker engine at {where} is not reachable: {first_line(err)}",
            hint="start it (inv sandbox.up starts one) or set DOCKER_HOST",
        ) from None
    return client


def inspect_image(client: Any, name: str) -> dict[str, Any] | None:
    """The engine's view of an image, or None when it has no such image."""
    try:
        return client.inspect_image(name)
    except docker.errors.NotFound:
        return None
    except (requests.exceptions.ConnectionError, docker.errors.DockerException) as err:
        if isinstance(err, docker.errors.APIError):
            raise StageFailed(f"image inspect {name} failed: {first_line(err)}") from None
        raise Unreachable(f"Docker engine went away during image inspect {name}: {first_line(err)}") from None


def first_line(err: Any) -> str:
    text = getattr(err, "explanation", None) or str(err)
    text = str(text).strip()
    return text.splitlines()[0] if text else type(err).__name__


def stream_error(record: dict[str, Any]) -> str | None:
    """The error message carried by one build/push stream record, if any."""
    if "errorDetail" in record or "error" in record:
        detail = record.get("errorDetail") or {}
        return str(detail.get("message") or record.get("error") or "unknown error").strip()
    return None


def push_failure(message: str, registry: str, secrets: Iterable[str | None] = ()) -> Exception:
    """The typed error for a failed push or registry query: unreachable, refused or failed."""
    message = redact_text(message, secrets)
    if _UNREACHABLE.search(message):
        return Unreachable(f"registry {registry} is not reachable: {message}")
    if _UNAUTHORIZED.search(message):
        return StageFailed(
            f"registry {registry} refused the credentials: {message}",
            hint=f"check the login for {registry} (ECR: the account's AWS credentials; else docker login {registry})",
        )
    if _DISK_FULL.search(message):
        return StageFailed(f"push to {registry} failed, out of disk space: {message}", hint="free disk space and retry")
    return StageFailed(f"push to {registry} failed: {message}")


def engine_call(what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
    """Run one SDK call; an engine that went away is Unreachable, an API error StageFailed."""
    try:
        return call(*args, **kwargs)
    except (requests.exceptions.ConnectionError, docker.errors.DockerException) as err:
        if isinstance(err, docker.errors.APIError):
            raise StageFailed(f"{what} failed: {first_line(err)}") from None
        raise Unreachable(f"Docker engine went away during {what}: {first_line(err)}") from None


def records(stream: Iterable[Any], what: str) -> Iterator[dict[str, Any]]:
    """The decoded records of a build/push stream; a dropped connection is Unreachable."""
    try:
        for record in stream:
            if isinstance(record, dict):
                yield record
    except docker.errors.APIError:
        raise  # the engine answered with an error (a bad Dockerfile, a refused push): the caller names it
    except requests.exceptions.RequestException as err:
        raise Unreachable(f"Docker engine connection lost during {what}: {first_line(err)}") from None
