"""Sandbox component: the OAuth2 token-info endpoint the Lizzy agents validate bearer tokens against.

It stands for the company's identity provider, so it is the one server the sandbox writes itself.
Tokens are made at start and kept in 0600 files under ``.sandbox/tokeninfo/``:

- ``token``: the sandbox deployer's token (uid ``ghe-backup-deployer``, scope ``deployer``);
  commands read it from the environment variable named by ``state.endpoints["token_env"]``
  or, if that is unset, from this file;
- ``tokens.json``: every token it knows, including one of another user with the deployer scope
  (uid ``someone-else``), which the agents refuse with 403 (they allow only the deployer).

Lizzy calls ``GET /oauth2/tokeninfo?access_token=...``; the answer is 200 with ``uid`` and
``scope`` or 401. Tokens never appear in its log (the query string is dropped).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from ghe_backup.sandbox.processes import log_file, port_open, recorded_pid, start_process, stop_process, wait_until
from ghe_backup.sandbox.state import port_base

NAME = "tokeninfo"
HOST = "127.0.0.1"
TOKEN_ENV = "GHE_SANDBOX_LIZZY_TOKEN"
DEPLOYER_SCOPE = "deployer"
DEPLOYER_UID = "ghe-backup-deployer"
OTHER_UID = "someone-else"
PATH = "/oauth2/tokeninfo"


def port() -> int:
    return port_base() + 2


def token_dir(state: Any) -> Path:
    return state.dir / NAME


def start(state: Any) -> None:
    tokens = _ensure_tokens(token_dir(state))
    if not is_up(state):
        argv = [sys.executable, "-m", "ghe_backup.sandbox.tokeninfo", "--port", str(port()), "--tokens", str(tokens)]
        start_process(state.dir, NAME, argv, cwd=state.root)
        wait_until(lambda: port_open(HOST, port()), "token-info endpoint", 15, log_file(state.dir, NAME))
    state.endpoints["tokeninfo"] = f"http://{HOST}:{port()}{PATH}"
    state.endpoints["token_env"] = TOKEN_ENV
    state.endpoints["token_file"] = str(token_dir(state) / "token")


def stop(state: Any) -> None:
    stop_process(state.dir, NAME)
    for key in ("tokeninfo", "token_env", "token_file"):
        state.endpoints.pop(key, None)


def is_up(state: Any) -> bool:
    return recorded_pid(state.dir, NAME) is not None and port_open(HOST, port())


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(path, 0o600)


def _ensure_tokens(folder: Path) -> Path:
    """Make the tokens once; restarts keep them so an exported token stays valid."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    tokens = folder / "tokens.json"
    if not tokens.exists():
        deployer, other = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        grants = {
            deployer: {"uid": DEPLOYER_UID, "scope": ["uid", DEPLOYER_SCOPE]},
            other: {"uid": OTHER_UID, "scope": ["uid", DEPLOYER_SCOPE]},
        }
        _write_private(tokens, json.dumps(grants, indent=1) + "\n")
        _write_private(folder / "token", deployer + "\n")
    return tokens


def read_tokens(state: Any) -> dict[str, dict[str, Any]]:
    """Token -> grant, for tests and tools (never print them)."""
    return json.loads((token_dir(state) / "tokens.json").read_text())


# -- the server (run as ``python -m ghe_backup.sandbox.tokeninfo``) ---------------------------


def make_handler(grants: dict[str, dict[str, Any]]) -> type[BaseHTTPRequestHandler]:
    class TokenInfo(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path != PATH:
                return self._answer(404, {"error": "not_found"})
            token = (parse_qs(url.query).get("access_token") or [""])[0]
            header = self.headers.get("Authorization", "")
            if not token and header.lower().startswith("bearer "):
                token = header[7:].strip()
            grant = grants.get(token)
            if grant is None:
                return self._answer(401, {"error": "invalid_token", "error_description": "unknown or expired token"})
            return self._answer(200, {**grant, "realm": "/employees", "token_type": "Bearer", "expires_in": 3600})

        def _answer(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt: str, *args: Any) -> None:
            # The request line carries the token in its query string: log the path only.
            sys.stderr.write(f"{self.address_string()} {self.command} {urlparse(self.path).path}\n")

        def log_request(self, code: Any = "-", size: Any = "-") -> None:
            self.log_message("%s", code)

    return TokenInfo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="sandbox OAuth2 token-info endpoint")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tokens", type=Path, required=True)
    args = parser.parse_args(argv)
    grants = json.loads(args.tokens.read_text())
    ThreadingHTTPServer((HOST, args.port), make_handler(grants)).serve_forever()


if __name__ == "__main__":
    main()
