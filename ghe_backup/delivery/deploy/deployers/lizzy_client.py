"""HTTP client for a Lizzy agent: create, list and delete stacks with a bearer token.

The token (from the target's ``TokenSource``) is sent only over https, or plain http to a
loopback host. It is never
logged: every message passes through ``redact_text`` with the token. Reads and deletes are
retried on connection faults, 429 and 5xx; a create only when the agent surely did not act
(connection refused, 429, 502-504) because a 500 from a create is senza's verdict, and a create
whose connection broke may have been acted on (the deploy looks before it asks again).

Every request waits at most ``timeout`` seconds for its answer and a call at most ``within``
seconds over all its tries (the deploy passes what is left of its budget). An agent that takes
the connection and never answers (a hung one) is not asked again here: one timeout is the answer.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from ghe_backup.delivery.config.values import LOOPBACK_HOSTS
from ghe_backup.delivery.deploy.deployers.base import DeployerError
from ghe_backup.delivery.deploy.deployers.senza_cli import aws_unreachable, first_error_line
from ghe_backup.errors import ConfigError, Unreachable
from ghe_backup.plumbing.redact import redact_text

RETRY_STATUSES = {429, 500, 502, 503, 504}
#: Seconds to wait for one answer. The agent runs senza for each request: about 1 s for a list, a
#: few seconds for a create or delete (senza only starts CloudFormation's work).
REQUEST_TIMEOUT = 120.0
#: The shortest wait for an answer, even when the caller's time is (nearly) up.
MIN_TIMEOUT = 2.0
CREATE_RETRY_STATUSES = {429, 502, 503, 504}
#: The title of Lizzy's 500 when senza ran and failed: an answer, not a transient fault.
SENZA_FAILED = "Execution Error"


class LizzyRefused(ConfigError):
    """401/403: the token or its user is not accepted; nothing was changed."""


class LizzyProblem(DeployerError):
    """Lizzy answered with an error that is a verdict (senza's output in a 500), not a fault."""

    def __init__(self, status: int, detail: str):
        self.status = status
        line = first_error_line(detail) if status >= 500 else detail
        super().__init__(f"Lizzy answered {status}: {line}", line)


class _Retry(Exception):
    def __init__(self, cause: str):
        super().__init__(cause)


@dataclass(frozen=True)
class Stack:
    name: str
    version: str
    status: str

    @property
    def id(self) -> str:
        return f"{self.name}-{self.version}"


def check_url(url: str) -> None:
    parsed = urlparse(url)
    if parsed.scheme == "https" or (parsed.scheme == "http" and parsed.hostname in LOOPBACK_HOSTS):
        return
    raise ConfigError(f"refusing to send the Lizzy token to {url}", hint="use https (plain http only for loopback)")


class LizzyClient:
    def __init__(
        self, url: str, token: str, *, attempts: int = 5, max_wait: float = 4.0, timeout: float = REQUEST_TIMEOUT
    ):
        check_url(url)
        self.url = url.rstrip("/")
        self._token = token
        self.attempts, self.max_wait, self.timeout = attempts, max_wait, timeout
        self.requests = 0

    # -- the API ----------------------------------------------------------------------------

    def list_stacks(self) -> list[Stack]:
        return [self._stack(s) for s in self._request("GET", "/api/stacks")]

    @property
    def what(self) -> str:
        return f"Lizzy at {self.url}"

    def create_stack(
        self, senza_yaml: str, version: str, parameters: list[str], *, within: float | None = None
    ) -> Stack:
        body = {
            "senza_yaml": senza_yaml,
            "stack_version": version,
            "parameters": parameters,
            "keep_stacks": 0,
            "new_traffic": 100,
        }
        return self._stack(
            self._request("POST", "/api/stacks", body, retry_statuses=CREATE_RETRY_STATUSES, within=within)
        )

    def delete_stack(self, name: str, version: str, *, within: float | None = None) -> None:
        self._request("DELETE", f"/api/stacks/{name}-{version}", {}, missing_ok=True, within=within)

    # -- plumbing ---------------------------------------------------------------------------

    @staticmethod
    def _stack(data: dict[str, Any]) -> Stack:
        return Stack(
            name=data.get("stack_name", ""), version=str(data.get("version", "")), status=data.get("status", "")
        )

    def _request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        missing_ok: bool = False,
        retry_statuses: set[int] = RETRY_STATUSES,
        within: float | None = None,
    ) -> Any:
        started = time.monotonic()
        limit = self.timeout if within is None else min(self.timeout, within)

        def left() -> float:
            return max(min(MIN_TIMEOUT, self.timeout), limit - (time.monotonic() - started))

        tries = [0]

        def out_of_time(state: Any) -> bool:
            return time.monotonic() - started >= limit

        retrying = Retrying(
            wait=wait_exponential(multiplier=0.5, max=self.max_wait),
            stop=stop_after_attempt(self.attempts) | out_of_time,
            retry=retry_if_exception(lambda e: isinstance(e, _Retry)),
        )

        def once() -> Any:
            tries[0] += 1
            return self._once(method, path, body, missing_ok, retry_statuses, left())

        try:
            return retrying(once)
        except RetryError as err:
            cause = redact_text(str(err.last_attempt.exception()), [self._token])
            spent = time.monotonic() - started
            raise Unreachable(
                f"{self.what} unreachable: {cause}",
                hint=f"tried {tries[0]} times in {spent:.0f}s",
                what=self.what,
            ) from None

    def _once(
        self, method: str, path: str, body: Any, missing_ok: bool, retry_statuses: set[int], timeout: float
    ) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        self.requests += 1
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                text = answer.read().decode() or "null"
                return json.loads(text)
        except urllib.error.HTTPError as err:
            title, detail = self._detail(err)
            if err.code == 404 and missing_ok:
                return None
            if err.code in (401, 403):
                raise LizzyRefused(
                    f"Lizzy at {self.url} refused the token ({err.code}): {detail}",
                    hint="check the token and that its user may deploy here",
                ) from None
            if err.code in retry_statuses and title != SENZA_FAILED:
                raise _Retry(f"{err.code} {detail[:200]}") from None
            unreachable = aws_unreachable(detail) if err.code >= 500 else None
            if unreachable:  # senza in the agent could not reach AWS: a fault, not a verdict
                raise Unreachable(
                    f"AWS unreachable from the Lizzy agent at {self.url}: {unreachable}",
                    what=f"AWS (as the Lizzy agent at {self.url} sees it)",
                ) from None
            raise LizzyProblem(err.code, detail) from None
        except (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException) as err:
            reason = getattr(err, "reason", err)
            if isinstance(reason, TimeoutError):  # it took the request and did not answer: hung, or very slow
                raise Unreachable(
                    f"{self.what} did not answer {method} {path} within {timeout:.0f}s",
                    what=self.what,
                    maybe_done=method != "GET",
                ) from None
            if method == "POST" and not isinstance(reason, ConnectionRefusedError):
                raise Unreachable(  # it may have acted: never ask twice blindly (the deploy looks first)
                    f"{self.what} broke off {method} {path}: {reason or type(reason).__name__}",
                    what=self.what,
                    maybe_done=True,
                ) from None
            raise _Retry(str(reason) or type(reason).__name__) from None
        except ValueError:
            raise LizzyProblem(200, "the answer was not JSON") from None

    def _detail(self, err: urllib.error.HTTPError) -> tuple[str, str]:
        """The problem's title and detail (senza's output for a failed senza run)."""
        try:
            problem = json.loads(err.read().decode() or "{}")
        except (ValueError, OSError):
            problem = {}
        if not isinstance(problem, dict):
            problem = {}
        text = problem.get("detail") or problem.get("title") or err.reason or ""
        return str(problem.get("title", "")), redact_text(str(text), [self._token])
