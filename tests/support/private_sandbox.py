"""Test helper: a sandbox of a test's own (its own moto, registries, token-info and Lizzy agents).

Tests that publish a Taupage AMI, kill a component or need a known AMI catalogue must not share
the repo's sandbox with other tests. A ``PrivateSandbox`` is a git checkout in a temp directory
(this checkout's build context, ``config/`` and ``senza/``) whose ``.sandbox`` runs on free ports
(``GHE_SANDBOX_PORT_BASE``); it shares only the Docker engine, its base image and Lizzy's
virtualenv (linked, so no second install). ``inv`` runs as users run it: a real process, with
``GHE_BACKUP_ROOT`` pointing at the checkout.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from support.context_repo import REPO, commit_all, make_repo

INV = Path(sys.executable).with_name("inv")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_base(first: int = 7100, accounts: int = 4) -> int:
    """A port base whose registry, moto, token-info and Lizzy ports are all free."""
    for base in range(first, 30000, 131):
        ports = [base - 500 + i for i in range(accounts)] + [base + 1, base + 2]
        ports += [base + 10 + i for i in range(accounts)]
        if all(_free(p) for p in ports):
            return base
    raise RuntimeError("no free port base for a private sandbox")


class PrivateSandbox:
    def __init__(self, root: Path, port_base: int | None = None):
        self.root = make_repo(root)
        for folder in ("config", "senza"):
            subprocess.run(["cp", "-a", str(REPO / folder), str(self.root / folder)], check=True)
        commit_all(self.root, "config")
        self.port_base = port_base or free_port_base()
        shared_venv = REPO / ".sandbox" / "lizzy-venv"
        if shared_venv.is_dir():
            (self.root / ".sandbox").mkdir()
            (self.root / ".sandbox" / "lizzy-venv").symlink_to(shared_venv, target_is_directory=True)

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("INVOKE_", "GHE_"))}
        env.update(GHE_BACKUP_ROOT=str(self.root), GHE_SANDBOX_PORT_BASE=str(self.port_base), COLUMNS="200")
        # The installed ``inv`` imports the package its editable install points at (the main
        # checkout's); a worktree's tests must run the worktree's code.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        return env

    def inv(self, *argv: str, timeout: float = 600) -> subprocess.CompletedProcess:
        """``inv ARGV`` in its own process (output captured as text), never raising on its exit code."""
        return subprocess.run(
            [str(INV), *argv], cwd=REPO, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def inv_json(self, *argv: str) -> tuple[int, Any, str]:
        """``inv ARGV --json``: its exit code, its parsed stdout, its stderr."""
        done = self.inv(*argv, "--json")
        try:
            parsed = json.loads(done.stdout) if done.stdout.strip() else None
        except ValueError as err:
            raise AssertionError(
                f"inv {' '.join(argv)} --json printed no JSON: {done.stdout!r}\n{done.stderr}"
            ) from err
        return done.returncode, parsed, done.stderr

    def up(self) -> None:
        done = self.inv("sandbox.up")
        assert done.returncode == 0, done.stdout + done.stderr

    def down(self) -> None:
        self.inv("sandbox.down")

    @property
    def state(self) -> dict[str, Any]:
        return json.loads((self.root / ".sandbox" / "state.json").read_text())

    def edit_overlay(self, account: str, change: dict[str, Any]) -> None:
        """Merge ``change`` into ``config/accounts/ACCOUNT.yaml`` (nested dicts merged)."""
        path = self.root / "config" / "accounts" / f"{account}.yaml"
        data = yaml.safe_load(path.read_text()) or {}

        def merge(into: dict[str, Any], new: dict[str, Any]) -> None:
            for key, value in new.items():
                if isinstance(value, dict) and isinstance(into.get(key), dict):
                    merge(into[key], value)
                else:
                    into[key] = value

        merge(data, change)
        path.write_text(yaml.safe_dump(data, sort_keys=False))

    def with_env(self) -> dict[str, str]:
        """The variables to set in this process to act on this sandbox in-process."""
        return {"GHE_BACKUP_ROOT": str(self.root), "GHE_SANDBOX_PORT_BASE": str(self.port_base)}
