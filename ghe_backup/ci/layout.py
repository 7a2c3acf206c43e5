"""The accounts in the order CI delivers to them, with the names CI files give them.

Order (decided here, documented in docs/ci.md): accounts that deploy without a person's
approval (``pipeline.approval: false``, e.g. staging) form the first wave, accounts that need
approval (e.g. prod) the second; each account of a wave starts only after every account of
the wave before has deployed. Within a wave: by name. So a build proves itself where nobody
has to approve it before anyone is asked to approve it where it matters, and a new account
takes its place from its own ``approval`` setting, with no list to keep in step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ghe_backup.delivery.config import AccountConfig
from ghe_backup.delivery.config.yamlfile import display_path
from ghe_backup.errors import ConfigError

#: What an account name may be to name CI jobs, environments, variables and lock resources.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class CiAccount:
    """One account as CI files see it."""

    name: str
    account_id: str
    region: str
    approval: bool
    deployer: str
    lizzy_token_env: str | None  # the variable the Lizzy token is read from; None for senza
    deploy_timeout: int

    @property
    def upper(self) -> str:
        return re.sub(r"[^A-Z0-9]", "_", self.name.upper())

    @property
    def role_variable(self) -> str:
        """The GitHub variable holding the ARN of the role CI assumes in this account (OIDC)."""
        return f"GHE_BACKUP_ROLE_{self.upper}"

    @property
    def lock_resource(self) -> str:
        """Jenkins' lockable resource (and GitHub's concurrency group) of this account."""
        return f"ghe-backup-{self.name}"

    @property
    def aws_credentials_id(self) -> str:
        """The Jenkins credentials id for this account's AWS access (``withAWS``)."""
        return f"ghe-backup-aws-{self.name}"

    @property
    def lizzy_credentials_id(self) -> str:
        """The Jenkins credentials id (secret text) of this account's Lizzy token."""
        return f"ghe-backup-lizzy-token-{self.name}"

    @property
    def plan_file(self) -> str:
        return f"plan-{self.name}.json"

    @property
    def job_minutes(self) -> int:
        """A CI timeout for one deploy that never cuts the deploy's own limits short: waiting for
        the lock (10 min), deleting and creating (deploy_timeout each), restoring after a failure
        (deploy_timeout), the grace after an interruption (5 min), and 15 min for setting up."""
        return -(-(3 * self.deploy_timeout + 600 + 300) // 60) + 15


@dataclass(frozen=True)
class Layout:
    waves: tuple[tuple[CiAccount, ...], ...]

    @property
    def accounts(self) -> tuple[CiAccount, ...]:
        return tuple(a for wave in self.waves for a in wave)

    def before(self, account: CiAccount) -> tuple[CiAccount, ...]:
        """The accounts of the wave before ``account``'s (empty for the first wave)."""
        for index, wave in enumerate(self.waves):
            if account in wave:
                return self.waves[index - 1] if index else ()
        raise KeyError(account.name)


def ci_account(config: AccountConfig) -> CiAccount:
    s = config.settings
    if not NAME.match(s.name):
        raise ConfigError(
            f"{display_path(s.source)}: the account name {s.name!r} cannot name CI jobs and environments",
            hint="rename the file with letters, digits, '-' and '_' only",
        )
    return CiAccount(
        name=s.name,
        account_id=s.account_id,
        region=s.region,
        approval=s.approval,
        deployer=s.deployer,
        lizzy_token_env=s.lizzy_token_env if s.deployer == "lizzy" else None,
        deploy_timeout=s.deploy_timeout,
    )


def layout(accounts: dict[str, AccountConfig]) -> Layout:
    """The delivery order of ``accounts`` (from ``load_accounts``): unattended first, then approved."""
    if not accounts:
        raise ConfigError("config/accounts/ has no account overlay", hint="add config/accounts/<name>.yaml")
    found = [ci_account(a) for a in accounts.values()]
    upper: dict[str, str] = {}
    for account in found:
        other = upper.setdefault(account.upper, account.name)
        if other != account.name:
            raise ConfigError(
                f"accounts {other!r} and {account.name!r} would share CI variable names ({account.role_variable})",
                hint="rename one of the account files",
            )
    waves = [tuple(sorted((a for a in found if a.approval == needs), key=lambda a: a.name)) for needs in (False, True)]
    return Layout(waves=tuple(w for w in waves if w))
