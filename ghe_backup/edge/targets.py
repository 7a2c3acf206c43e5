"""Resolve the command line, the Invoke config and the sandbox's endpoints into targets, once per run.

A ``Resolution`` lives for one ``inv`` call (the executor starts it): the account config is
loaded once, and with ``--sandbox`` the sandbox's state is read and its components probed once,
however many tasks and preflight checks ask. Stages receive the ``Target``s and ``BuildSite``
made here and never look for endpoints themselves.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

from ghe_backup.delivery.config import AccountConfig, load_accounts, select_accounts
from ghe_backup.delivery.image.args import build_args
from ghe_backup.delivery.target import Actor, AwsEndpoint, BuildSite, Target, TokenSource
from ghe_backup.edge import settings
from ghe_backup.errors import GheBackupError, Unreachable, UsageError
from ghe_backup.plumbing import deferred


class Resolution:
    def __init__(self, root: Path, config: Any = None):
        self.root, self.config = root, config
        self._accounts: dict[str, AccountConfig] | None = None
        self._sandbox: dict[str, Any] | None = None
        #: Plans approved on the terminal before the run started (account -> ``planning.AccountPlan``).
        self.approved: dict[str, Any] = {}
        #: What rollback and refresh decided in their preflight (account -> ``steps.Intent``), in order.
        self.intents: dict[str, Any] = {}
        #: refresh: accounts left alone, as results (``run.DeployResult`` with changed False), and why.
        self.skipped: list[Any] = []
        self.cannot_refresh: list[str] = []
        self._probed: set[tuple[str, bool, str]] = set()
        #: Each account's target, made once per place (real or sandbox): the stages of one run share
        #: it, and with it the role session its preflight probe assumed.
        self._made: dict[tuple[str, bool], Target] = {}

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
            from ghe_backup.sandbox import aws as sandbox_aws

            with contextlib.suppress(GheBackupError):  # the config, read and checked once for the run
                sandbox_aws.remember_accounts(self.root, {n: a.settings for n, a in self.accounts.items()})
            self._sandbox = sandbox.endpoints(self.root, sandbox.SandboxState.load(self.root))
        return self._sandbox

    def probe(self, targets: list[Target], kinds: tuple[str, ...]) -> None:
        """Fail fast on what the tasks will need (``delivery.deploy.reachability``), each probe once a run."""
        from ghe_backup.delivery.deploy.reachability import check_reachable

        groups: dict[tuple[str, ...], list[Target]] = {}
        for target in targets:
            wanted = tuple(k for k in kinds if (target.name, target.sandbox, k) not in self._probed)
            if wanted:
                groups.setdefault(wanted, []).append(target)
        for wanted, group in groups.items():  # in practice one group: all accounts probed at once
            check_reachable(group, wanted)
            self._probed.update((t.name, t.sandbox, k) for t in group for k in wanted)

    def probe_before_change(self, targets: list[Target], kinds: tuple[str, ...]) -> None:
        """Probe ``kinds`` only once the run is about to change something (``plumbing.deferred``):
        a deploy that finds everything up to date does not wait for them."""
        deferred.defer(lambda: self.probe(targets, kinds))

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
                engine_timeout=settings.engine_timeout(self.config),
            )
        found = self.sandbox_endpoints()
        return BuildSite(
            root=self.root,
            docker_host=found.get("docker_host"),
            build_args=build_args(configured, sandbox_base_image=found.get("base_image")),
            pip_cert=settings.pip_cert(self.config),
            sandbox=True,
            engine_timeout=settings.engine_timeout(self.config),
        )

    @property
    def actor(self) -> Actor:
        """Who runs this (user, host, pid, CI job): recorded with locks, history and stack tags."""
        return settings.actor()

    def deploy_options(
        self, yes: bool, lock_wait: Any, sandbox: bool | None, backup_wait: Any = None, now: bool = False
    ) -> dict[str, Any]:
        """What every deploying task (deploy, rollback, refresh) hands its stage."""
        return {
            "assume_yes": yes,
            "approved": self.approved,
            "actor": self.actor,
            "lock_wait": seconds(lock_wait, "lock-wait"),
            "backup_wait": None if backup_wait in (None, "") else seconds(backup_wait, "backup-wait"),
            "now": now,
            "others": self.all_targets(sandbox),
            "parallel": settings.parallel(self.config),
        }

    def intents_of(self, names: list[str] | str | None, sandbox: bool | None) -> list[tuple[Target, Any]]:
        """The intents the preflight decided (rollback, refresh), with their targets."""
        return [(t, self.intents[t.name]) for t in self.some_targets(names, sandbox) if t.name in self.intents]

    def require_refreshable(self, results: list[Any]) -> list[Any]:
        """refresh: exit 5 when a stale account could not be refreshed (no newer Taupage)."""
        if self.cannot_refresh:
            from ghe_backup.errors import Attention

            raise Attention("; ".join(self.cannot_refresh), hint="publish or wait for a newer Taupage AMI")
        return results

    def all_targets(self, sandbox: bool | None) -> list[Target]:
        """Every configured account, as targets."""
        return self.targets(list(self.accounts), sandbox)

    def some_targets(self, names: list[str] | str | None, sandbox: bool | None) -> list[Target]:
        """The named accounts, or every account when none is named."""
        return self.targets(names, sandbox) if names else self.all_targets(sandbox)

    def targets(self, names: list[str] | str | None, sandbox: bool | None) -> list[Target]:
        """The named accounts, each as a ``Target`` (real, or the sandbox's endpoints)."""
        accounts = select_accounts(names, self.accounts, self.root)
        site = self.build_site(sandbox)
        found = []
        for account in accounts:
            key = (account.name, site.sandbox)
            if key not in self._made:
                self._made[key] = self._target(account, site)
            found.append(self._made[key])
        return found

    def _target(self, account: AccountConfig, site: BuildSite) -> Target:
        s = account.settings
        if not site.sandbox:
            return Target.real(account, site)
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
    deferred.reset()
    if "ghe_backup.plumbing.aws" in sys.modules:  # not imported (boto3 is slow to import) unless used
        sys.modules["ghe_backup.plumbing.aws"].forget_sessions()
    _current = Resolution(root or settings.repo_root(), config)
    return _current


def resolve(config: Any = None) -> Resolution:
    """The current run's resolution (one is started if a task runs outside the executor)."""
    if _current is None:
        return begin(config)
    if config is not None and _current.config is None:
        _current.config = config
    return _current


def seconds(value: str | float | None, flag: str) -> float:
    """A flag's value as a number of seconds, 0 or more (0 when not given)."""
    if value is None or value == "":
        return 0.0
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not 0 <= number <= 86400:  # NaN fails this too
        raise UsageError(f"--{flag}: {value!r} is not a number of seconds (0 to 86400)", hint=f"e.g. --{flag}=300")
    return number


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
