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
import urllib3.exceptions

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
#: A live engine answers a ping at once; a hung one must not hold the caller for the long timeout.
PING_TIMEOUT = 10.0
#: What breaks a stream from the engine: the SDK reads it from urllib3 directly, whose errors
#: (a cut connection, no data within the timeout) are not wrapped by requests.
CONNECTION_LOST = (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError)


class EngineClient(docker.APIClient):
    """The SDK's low-level client, knowing the address it talks to (for messages that name the engine)."""

    address: str = "the default socket (unix:///var/run/docker.sock)"


def connect(base_url: str | None = None, timeout: float = 300.0) -> EngineClient:
    """A low-level client for ``base_url`` (default: DOCKER_HOST or the default socket), pinged.

    ``timeout``: seconds every later call, and every silence in a build or push stream, may last
    before the engine is taken as hung (``Unreachable``).
    """
    where = base_url or os.environ.get("DOCKER_HOST") or EngineClient.address
    try:
        options = {"base_url": base_url} if base_url else docker.utils.kwargs_from_env()
        client = EngineClient(**options, version="auto", timeout=min(PING_TIMEOUT, timeout))
        client.ping()
    except (docker.errors.DockerException, *CONNECTION_LOST) as err:
        raise Unreachable(
            f"Docker engine at {where} is not reachable: {first_line(err)}",
            hint="start it (inv sandbox.up starts one) or set DOCKER_HOST",
            what=f"the Docker engine at {where}",
        ) from None
    client.address, client.timeout = where, timeout
    return client


def lost(err: BaseException, what: str, client: Any = None) -> Unreachable:
    """The engine stopped answering during ``what``: it hung (silent for the client's timeout) or went away."""
    engine = f"the Docker engine at {getattr(client, 'address', None) or EngineClient.address}"
    if isinstance(err, (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)):
        silence = f" for {client.timeout:.0f}s" if isinstance(getattr(client, "timeout", None), (int, float)) else ""
        return Unreachable(
            f"{engine} sent nothing{silence} during {what} (hung?)",
            hint="ghe.engine_timeout is how long it may stay silent",
            what=engine,
        )
    return Unreachable(f"{engine} went away during {what} ({_reason(err)})", what=engine)


def _reason(err: BaseException) -> str:
    """urllib3's and requests' errors carry a readable first argument and a repr of the cause."""
    while isinstance(err, (requests.exceptions.RequestException, urllib3.exceptions.HTTPError)) and err.args:
        first = err.args[0]
        if isinstance(first, str):
            return first
        if not isinstance(first, BaseException):
            break
        err = first
    return first_line(err)


def inspect_image(client: Any, name: str) -> dict[str, Any] | None:
    """The engine's view of an image, or None when it has no such image."""
    try:
        return client.inspect_image(name)
    except docker.errors.NotFound:
        return None
    except docker.errors.APIError as err:
        raise StageFailed(f"image inspect {name} failed: {first_line(err)}") from None
    except (docker.errors.DockerException, *CONNECTION_LOST) as err:
        raise lost(err, f"image inspect {name}", client) from None


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


def push_failure(message: str, registry: str, secrets: Iterable[str | None] = (), *, after: str = "") -> Exception:
    """The typed error for a failed push or registry query: unreachable, refused or failed.

    ``after``: how long it was tried, when the engine tried again (" (the engine retried ...)").
    """
    message = redact_text(message, secrets)
    if _UNREACHABLE.search(message):
        return Unreachable(f"registry {registry} is not reachable: {message}{after}", what=f"the registry {registry}")
    if _UNAUTHORIZED.search(message):
        return StageFailed(
            f"registry {registry} refused the credentials: {message}",
            hint=f"check the login for {registry} (ECR: the account's AWS credentials; else docker login {registry})",
        )
    if _DISK_FULL.search(message):
        return StageFailed(f"push to {registry} failed, out of disk space: {message}", hint="free disk space and retry")
    return StageFailed(f"push to {registry} failed: {message}{after}")


def engine_call(what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
    """Run one SDK call; an engine that went away or hung is Unreachable, an API error StageFailed."""
    try:
        return call(*args, **kwargs)
    except docker.errors.APIError as err:
        raise StageFailed(f"{what} failed: {first_line(err)}") from None
    except (docker.errors.DockerException, *CONNECTION_LOST) as err:
        raise lost(err, what, getattr(call, "__self__", None)) from None


def records(stream: Iterable[Any], what: str, client: Any = None) -> Iterator[dict[str, Any]]:
    """The decoded records of a build/push stream; a dropped connection or a silent engine is Unreachable."""
    try:
        for record in stream:
            if isinstance(record, dict):
                yield record
    except docker.errors.APIError:
        raise  # the engine answered with an error (a bad Dockerfile, a refused push): the caller names it
    except (docker.errors.DockerException, *CONNECTION_LOST) as err:
        raise lost(err, what, client) from None
