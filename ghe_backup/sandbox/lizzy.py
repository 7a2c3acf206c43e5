"""Sandbox component: one real Lizzy 2.5.4 agent per account, on 127.0.0.1:5510 and up.

Lizzy needs old pins, so it runs from its own virtualenv (``.sandbox/lizzy-venv``), made from
``lizzy-requirements.txt`` when missing or when the pins change. Each agent runs the real senza
from that virtualenv with its account's credentials (a role assumed into the account in moto),
validates bearer tokens against the sandbox token-info endpoint and allows only the sandbox
deployer (other users get 403), as an agent in a real account would.
"""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.request
from pathlib import Path
from typing import Any

from ghe_backup.errors import GheBackupError, StageFailed
from ghe_backup.plumbing.command import run
from ghe_backup.sandbox import aws, tokeninfo
from ghe_backup.sandbox.processes import log_file, port_open, recorded_pid, start_process, stop_process, wait_until
from ghe_backup.sandbox.state import port_base

HOST = "127.0.0.1"
AGENT_ROLE = "lizzy-agent"
VENV_TIMEOUT = 900.0
REQUIREMENTS = Path(__file__).with_name("lizzy-requirements.txt")
# Flask's development server is what `python -m lizzy` runs too; threaded so polls are not
# queued behind a long `senza create`.
SERVE = (
    "import os; from lizzy.service import setup_webapp; from lizzy.configuration import Configuration; "
    "setup_webapp(Configuration()).run(host=os.environ['LIZZY_HOST'], port=int(os.environ['LIZZY_PORT']), threaded=True)"
)


def venv_dir(state: Any) -> Path:
    return state.dir / "lizzy-venv"


def ports(state: Any) -> dict[str, int]:
    return {name: port_base() + 10 + i for i, name in enumerate(sorted(aws._accounts(state.root)))}


def start(state: Any) -> None:
    python = ensure_venv(venv_dir(state))
    accounts = aws._accounts(state.root)
    urls: dict[str, str] = {}
    for name, port in ports(state).items():
        process = f"lizzy-{name}"
        if recorded_pid(state.dir, process) is None or not port_open(HOST, port):
            stop_process(state.dir, process)
            start_process(
                state.dir,
                process,
                [str(python), "-c", SERVE],
                env=agent_env(state, accounts[name], port),
                cwd=state.dir,
            )
        urls[name] = f"http://{HOST}:{port}"
    for name, url in urls.items():
        wait_until(lambda url=url: _healthy(url), f"Lizzy agent for {name}", 90, log_file(state.dir, f"lizzy-{name}"))
    state.endpoints["lizzy"] = urls


def stop(state: Any) -> None:
    for name in ports(state):
        stop_process(state.dir, f"lizzy-{name}")
    state.endpoints.pop("lizzy", None)


def is_up(state: Any) -> bool:
    try:
        return all(
            recorded_pid(state.dir, f"lizzy-{n}") is not None and port_open(HOST, p) for n, p in ports(state).items()
        )
    except GheBackupError:  # an unreadable config means no agents either
        return False


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=10) as answer:
            return answer.status == 200
    except OSError:
        return False


def ensure_venv(folder: Path) -> Path:
    """Create or update Lizzy's virtualenv from the pins; returns its python."""
    pins = REQUIREMENTS.read_bytes()
    marker = folder / ".pins-sha256"
    python = folder.absolute() / "bin" / "python"
    digest = hashlib.sha256(pins).hexdigest()
    if python.exists() and marker.exists() and marker.read_text().strip() == digest:
        return python
    base = getattr(sys, "_base_executable", sys.executable)
    for argv in (
        [base, "-m", "venv", "--clear", str(folder)],
        [str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)],
    ):
        result = run(argv, what=argv[2], timeout=VENV_TIMEOUT, check=False)
        if result.returncode != 0:
            last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise StageFailed(
                f"could not prepare Lizzy's virtualenv ({argv[2]} failed): {last[0]}", hint=f"see {folder}"
            )
    marker.write_text(digest + "\n")
    return python


def agent_env(state: Any, settings: Any, port: int) -> dict[str, str]:
    """The agent's environment: its account's credentials only, never the caller's."""
    creds = aws.account_session(settings, role=AGENT_ROLE).get_credentials().get_frozen_credentials()
    home = state.dir / "lizzy" / settings.name
    home.mkdir(parents=True, exist_ok=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LIZZY", "SENZA"))}
    return {
        **base,
        "HOME": str(home),
        "PATH": f"{venv_dir(state).absolute() / 'bin'}{os.pathsep}{base.get('PATH', '')}",
        "LIZZY_HOST": HOST,
        "LIZZY_PORT": str(port),
        "LOG_LEVEL": "INFO",
        "DEPLOYER_SCOPE": tokeninfo.DEPLOYER_SCOPE,
        "TOKEN_URL": f"http://{tokeninfo.HOST}:{tokeninfo.port()}/oauth2/access_token",
        "TOKENINFO_URL": f"http://{tokeninfo.HOST}:{tokeninfo.port()}{tokeninfo.PATH}",
        # environmental parses lists as Python literals
        "ALLOWED_USERS": repr([tokeninfo.DEPLOYER_UID]),
        "REGION": settings.region,
        "AWS_DEFAULT_REGION": settings.region,
        "AWS_ENDPOINT_URL": aws.endpoint(),
        "AWS_ACCESS_KEY_ID": creds.access_key,
        "AWS_SECRET_ACCESS_KEY": creds.secret_key,
        "AWS_SESSION_TOKEN": creds.token,
    }
