"""Resolve the command line, the Invoke config and the sandbox's endpoints into targets, once per run.

A ``Resolution`` lives for one ``inv`` call (the executor starts it): the account config is
loaded once, and with ``--sandbox`` the sandbox's state is read and its components probed once,
however many tasks and preflight checks ask. Stages receive the ``Target``s and ``BuildSite``
made here and never look for endpoints themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ghe_backup.delivery.config import AccountConfig, load_accounts, select_accounts
from ghe_backup.delivery.image.args import build_args
from ghe_backup.delivery.target import AwsEndpoint, BuildSite, Target, TokenSource
from ghe_backup.edge import settings
from ghe_backup.errors import Unreachable, UsageError


class Resolution:
    def __init__(self, root: Path, config: Any = None):
        self.root, self.config = root, config
        self._accounts: dict[str, AccountConfig] | None = None
        self._sandbox: dict[str, Any] | None = None

    # -- inputs, each read once ---------------------------------------------------------------

    @property
    def accounts(self) -> dict[str, AccountConfig]:
        if self._accounts is None:
            self._accounts = load_accounts(self.root)
        return self._accounts

    def sandbox_wanted(self, flag: bool | None) -> bool:
        return settings.sandbox_wanted(flag, self.config)

    def sandbox_endpoints(self) -> dict[str, Any]:
        """The running sandbox's endpoints (read and probed once), or Unreachable telling how to start it."""
        if self._sandbox is None:
            from ghe_backup import sandbox

            self._sandbox = sandbox.endpoints(self.root, sandbox.SandboxState.load(self.root))
        return self._sandbox

    # -- what stages receive ------------------------------------------------------------------

    @property
    def state_dir(self) -> Path:
        return self.root / ".state"

    def build_site(self, sandbox: bool | None) -> BuildSite:
        wanted = self.sandbox_wanted(sandbox)
        configured = settings.image_settings(self.config)
        if not wanted:
            return BuildSite(
                root=self.root,
                docker_host=None,
                build_args=build_args(configured),
                pip_cert=settings.pip_cert(self.config),
            )
        found = self.sandbox_endpoints()
        return BuildSite(
            root=self.root,
            docker_host=found.get("docker_host"),
            build_args=build_args(configured, sandbox_base_image=found.get("base_image")),
            pip_cert=settings.pip_cert(self.config),
            sandbox=True,
        )

    def targets(self, names: list[str] | str | None, sandbox: bool | None) -> list[Target]:
        """The named accounts, each as a ``Target`` (real, or the sandbox's endpoints)."""
        accounts = select_accounts(names, self.accounts, self.root)
        site = self.build_site(sandbox)
        return [self._target(account, site) for account in accounts]

    def all_targets(self, sandbox: bool | None) -> list[Target]:
        """Every configured account (where a promoted image may be found)."""
        return self.targets(sorted(self.accounts), sandbox)

    def _target(self, account: AccountConfig, site: BuildSite) -> Target:
        s = account.settings
        if not site.sandbox:
            return Target(
                account=account,
                build=site,
                registry=s.registry,
                aws=AwsEndpoint(),
                lizzy_url=s.lizzy_url,
                token=TokenSource(env=s.lizzy_token_env, command=s.lizzy_token_command, account=s.name),
            )
        from ghe_backup.sandbox.state import SANDBOX_CREDENTIALS

        found = self.sandbox_endpoints()
        seeded = found.get("aws_accounts", {}).get(s.name, {})
        token_file = found.get("token_file")
        registry = (found.get("registries") or {}).get(s.name)
        if not registry:  # the sandbox was started before this account was configured
            raise Unreachable(f"the sandbox has no registry for account {s.name}", hint="restart it: inv sandbox.up")
        return Target(
            account=account,
            build=site,
            registry=registry,
            aws=AwsEndpoint(url=found.get("aws_endpoint"), credentials=SANDBOX_CREDENTIALS),
            lizzy_url=found.get("lizzy", {}).get(s.name, s.lizzy_url),
            token=TokenSource(
                env=found.get("token_env"), file=Path(token_file) if token_file else None, account=s.name
            ),
            kms_private_ssh_key=seeded.get("kms_private_ssh_key"),
            sandbox=True,
        )


_current: Resolution | None = None


def begin(config: Any = None, root: Path | None = None) -> Resolution:
    """Start the resolution of one run (the executor calls it before any check or task)."""
    global _current
    _current = Resolution(root or settings.repo_root(), config)
    return _current


def resolve(config: Any = None) -> Resolution:
    """The current run's resolution (one is started if a task runs outside the executor)."""
    if _current is None:
        return begin(config)
    if config is not None and _current.config is None:
        _current.config = config
    return _current


def positive_int(value: str | int | None, flag: str) -> int | None:
    """A flag's value as a positive whole number (None when not given)."""
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1:
        raise UsageError(f"--{flag}: {value!r} is not a positive whole number", hint=f"e.g. --{flag}=10")
    return number
