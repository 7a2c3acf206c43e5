"""Logging in to a registry the way it asks: nothing, ``Basic``, or the ``Bearer`` token dance.

A ``Login`` answers a 401's ``WWW-Authenticate`` challenge once per scope: ``Basic`` with the
account's credentials (ECR's token, or what ``docker login`` stored), ``Bearer`` with a token
the named realm grants for ``repository:NAME:pull`` (or ``pull,push``), asked with the Basic
login if there is one, or with an identity token exchanged as an OAuth2 refresh token.
Credentials are asked for only when a registry wants them; they and the tokens stay out of
every message (``redact``).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from ghe_backup.errors import StageFailed, Unreachable
from ghe_backup.plumbing.redact import redact_text

_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
#: connect, read (a layer of a few hundred MB streams through one request)
TIMEOUT = (10.0, 300.0)


@dataclass(frozen=True)
class Credentials:
    """A login for one registry: a user and password (an ECR token is one), or an identity token."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    identity_token: str | None = field(default=None, repr=False)

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.password, self.identity_token) if s)


def parse_challenge(header: str) -> tuple[str, dict[str, str]] | None:
    """``Bearer realm="...",service="...",scope="..."`` -> ("bearer", {...}); None if there is none."""
    scheme, _, rest = header.strip().partition(" ")
    if not scheme:
        return None
    return scheme.lower(), dict(_CHALLENGE_PARAM.findall(rest))


def refused(host: str, detail: str) -> StageFailed:
    return StageFailed(
        f"registry {host} refused the credentials: {detail}",
        hint=f"check the login for {host} (ECR: the account's AWS credentials; else docker login {host})",
    )


class Login:
    """One registry's login state: the Basic header once asked, a Bearer token per scope."""

    def __init__(self, host: str, credentials: Callable[[], Credentials | None], session: requests.Session):
        self.host, self.session = host, session
        self._source = credentials
        self._credentials: Credentials | None = None
        self._asked = False
        self._basic: str | None = None
        self._bearer: dict[str, str] = {}  # scope -> token

    def authorization(self, scope: str) -> dict[str, str]:
        """The Authorization header for a request in ``scope``, once the registry asked for one."""
        if scope in self._bearer:
            return {"Authorization": f"Bearer {self._bearer[scope]}"}
        return {"Authorization": self._basic} if self._basic else {}

    def credentials(self) -> Credentials | None:
        if not self._asked:
            self._credentials, self._asked = self._source(), True
        return self._credentials

    def answer(self, challenge_header: str, scope: str) -> bool:
        """Take what a 401 asks for (a Basic login or a Bearer token); False if nothing more can be given."""
        challenge = parse_challenge(challenge_header)
        if challenge is None:
            return False
        scheme, params = challenge
        login = self.credentials()
        if scheme == "basic":
            if login is None or not login.username or self._basic:
                return False
            pair = f"{login.username}:{login.password or ''}".encode()
            self._basic = "Basic " + base64.b64encode(pair).decode()
            return True
        if scheme == "bearer" and params.get("realm"):
            # ask for what this client will do in the repository (pull, or pull and push), and for
            # what the registry named if that differs, so one token serves the whole session
            scopes = [scope, *([params["scope"]] if params.get("scope") not in (None, "", scope) else [])]
            self._bearer[scope] = self._token(params, scopes, login)
            return True
        return False

    def _token(self, params: dict[str, str], scopes: list[str], login: Credentials | None) -> str:
        """The Bearer token dance: the realm grants a token for the scopes (anonymously or for the login)."""
        asked = " ".join(scopes)
        try:
            if login is not None and login.identity_token:  # docker login's refresh token (OAuth2)
                form = {
                    "service": params.get("service", ""),
                    "scope": asked,  # OAuth2: one space-separated field
                    "grant_type": "refresh_token",
                    "refresh_token": login.identity_token,
                    "client_id": "ghe-backup",
                }
                answer = self.session.post(params["realm"], data=form, timeout=TIMEOUT)
            else:
                basic = (login.username, login.password or "") if login is not None and login.username else None
                query: dict[str, Any] = {"service": params.get("service", ""), "scope": scopes}
                answer = self.session.get(params["realm"], params=query, auth=basic, timeout=TIMEOUT)
        except requests.exceptions.RequestException as err:
            raise Unreachable(f"the token service of {self.host} is not reachable: {self.redact(str(err))}") from None
        if answer.status_code in (401, 403):
            raise refused(self.host, f"its token service refused a token for {asked}")
        if answer.status_code != 200:
            raise StageFailed(f"the token service of {self.host} answered HTTP {answer.status_code} for {asked}")
        try:
            found = answer.json()
            return str(found.get("token") or found["access_token"])
        except (ValueError, KeyError, AttributeError):
            raise StageFailed(f"the token service of {self.host} answered without a token") from None

    def redact(self, text: str) -> str:
        login = self._credentials
        return redact_text(text, [*(login.secrets if login else ()), *self._bearer.values()])
