"""Where a stage acts: one ``Target`` per account, and the ``BuildSite`` images are built on.

Both are resolved once, at the edge (``ghe_backup.edge.targets``), from the flags, the Invoke
config, the environment and, with ``--sandbox``, the sandbox's published endpoints. Stages take
them as they are: they never read sandbox state or environment variables to find out where to
act. Sandbox or real, an account's overlay and the senza base are the same; only endpoints differ.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ghe_backup.delivery.config import AccountConfig, AccountSettings
from ghe_backup.errors import ConfigError
from ghe_backup.plumbing import logredact
from ghe_backup.plumbing.command import CommandFailed, run

TAUPAGE_GROUP = "Senza::TaupageAutoScalingGroup"


@dataclass(frozen=True)
class BuildSite:
    """Where and how the image is built: the context, the engine, the build arguments."""

    root: Path  # the build context (a git checkout); its .state/ keeps the pipeline's records
    docker_host: str | None  # None: DOCKER_HOST or the default socket, as docker itself does
    build_args: Mapping[str, str]  # BASE_IMAGE, BACKUP_UTILS_SOURCE, BACKUP_UTILS_VERSION
    pip_cert: Path | None = None  # extra CAs for the build's pip (not part of the image or tag)
    sandbox: bool = False
    engine_timeout: float = 300.0  # seconds of silence from the engine taken as hung (ghe.engine_timeout)

    @property
    def state_dir(self) -> Path:
        return self.root / ".state"


@dataclass(frozen=True)
class AwsEndpoint:
    """Where AWS calls go (None: AWS itself) and the base credentials (None: boto3's own chain)."""

    url: str | None = None
    credentials: Mapping[str, str] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class TokenSource:
    """Where the Lizzy bearer token comes from; it is read only when a deployer needs it."""

    env: str | None = None  # an environment variable holding it
    command: str | None = None  # else a command printing it
    file: Path | None = None  # else a file holding it (the sandbox's)
    account: str = ""

    def describe(self) -> str:
        parts = [f"${self.env}" if self.env else "", f"`{self.command}`" if self.command else "", str(self.file or "")]
        return " or ".join(p for p in parts if p) or "nowhere"

    def read(self) -> str:
        token = os.environ.get(self.env, "").strip() if self.env else ""
        if not token and self.command:
            try:
                token = run(shlex.split(self.command), what="lizzy_token_command", timeout=60).stdout.strip()
            except CommandFailed as err:
                raise ConfigError(f"{self.account}: lizzy_token_command failed (exit {err.returncode})") from None
        if not token and self.file:
            try:
                token = self.file.read_text().strip()
            except OSError:
                token = ""
        if not token:
            raise ConfigError(
                f"{self.account}: no Lizzy token: {self.describe()} is empty",
                hint="export it, or set lizzy_token_command in the account overlay",
            )
        if not (token.isascii() and token.isprintable()) or any(c.isspace() for c in token):
            raise ConfigError(  # a header cannot carry it; never shown: it may be a real token plus junk
                f"{self.account}: the Lizzy token from {self.describe()} has spaces, line breaks or "
                "non-ASCII characters (not shown)",
                hint="give the bearer token alone, on one line",
            )
        logredact.remember(token)
        return token


@dataclass(frozen=True)
class ImageRef:
    """An image in a registry: what a deploy runs."""

    tag: str
    digest: str | None = None  # the manifest digest; None: not (yet) in the registry
    repository: str | None = None
    revision: str | None = None  # the git commit it was built from, when known


@dataclass(frozen=True)
class Actor:
    """Who runs this: recorded with the deploy lock, the history and the stack's tags."""

    user: str
    host: str
    pid: int
    ci_url: str | None = None  # the CI job, when a CI says it

    def describe(self) -> str:
        where = f"{self.user} on {self.host} (pid {self.pid}"
        return where + (f", {self.ci_url})" if self.ci_url else ")")


#: How long a target hands out the same account access (see ``Target.access``).
ACCESS_REUSE_SECONDS = 300.0


@dataclass(frozen=True)
class Target:
    """One account and every endpoint a stage needs to act on it."""

    account: AccountConfig
    build: BuildSite
    registry: str
    aws: AwsEndpoint
    lizzy_url: str | None
    token: TokenSource = field(default_factory=TokenSource)
    #: The KMS ciphertext of the SSH key to deploy; None keeps the overlay's (the sandbox has its own key).
    kms_private_ssh_key: str | None = field(default=None, repr=False)
    sandbox: bool = False
    #: The access ``access()`` made, and when: the preflight's probe and the deploy that follows act
    #: with the same role session instead of assuming the role again (its credentials refresh).
    _access: dict[str, Any] = field(default_factory=dict, init=False, compare=False, repr=False)

    @classmethod
    def real(cls, account: AccountConfig, build: BuildSite) -> Target:
        """The account itself, as its settings name it: its registry, AWS, its Lizzy and token."""
        s = account.settings
        return cls(
            account=account,
            build=build,
            registry=s.registry,
            aws=AwsEndpoint(),
            lizzy_url=s.lizzy_url,
            token=TokenSource(env=s.lizzy_token_env, command=s.lizzy_token_command, account=s.name),
        )

    @property
    def name(self) -> str:
        return self.account.name

    @property
    def settings(self) -> AccountSettings:
        return self.account.settings

    @property
    def state_dir(self) -> Path:
        return self.build.state_dir

    @property
    def repository(self) -> str:
        return f"{self.registry}/{self.settings.image}"

    @property
    def stack_base(self) -> str:
        return self.account.merged.data["SenzaInfo"]["StackName"]

    @property
    def definition(self) -> dict[str, Any]:
        """The senza definition deployed to this target (its registry, its KMS ciphertext); a fresh copy."""
        definition = self.account.render({**self.settings.placeholders(), "registry": self.registry})
        if self.kms_private_ssh_key:
            for item in definition.get("SenzaComponents", []):
                for body in item.values():
                    taupage = (
                        body.get("TaupageConfig")
                        if isinstance(body, dict) and body.get("Type") == TAUPAGE_GROUP
                        else None
                    )
                    if isinstance(taupage, dict) and "kms_private_ssh_key" in taupage:
                        taupage["kms_private_ssh_key"] = self.kms_private_ssh_key
        return definition

    def access(self, base: Any = None, config: Any = None) -> Any:
        """An ``AccountAccess`` acting in this account (the deploy role assumed when set); the one made
        for this target in the last few minutes, unless ``base`` (a session of the caller's) is given.
        ``config``: the first STS call's timeouts and retries (a probe asks once, quickly)."""
        import time

        from ghe_backup.plumbing.aws import CLIENT_CONFIG, account_access

        made, found = self._access.get("made", 0.0), self._access.get("access")
        if base is None and found is not None and time.monotonic() - made < ACCESS_REUSE_SECONDS:
            return found
        access = account_access(
            name=self.name,
            account_id=self.settings.account_id,
            region=self.settings.region,
            deploy_role=self.settings.deploy_role,
            endpoint_url=self.aws.url,
            credentials=self.aws.credentials,
            base=base,
            config=config or CLIENT_CONFIG,
        )
        if base is None:
            self._access.update(made=time.monotonic(), access=access)
        return access

    def retarget(self, **changes: Any) -> Target:
        """The same account with other endpoints (tests and tools; settings never change here)."""
        import dataclasses

        return dataclasses.replace(self, **changes)
