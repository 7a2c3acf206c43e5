"""Fail fast: probe what a push or a deploy will need, before test, image and push start.

One request per probe, short timeouts, every probe of a call at once:

- ``lizzy``: the account's agent answers and accepts the token (``GET /api/stacks``, the read the
  deploy starts with): 401/403 exit 2 (the token, nothing changed), no answer exit 3;
- ``role``: the deploy role can be assumed (``sts:AssumeRole``), or without a role the credentials
  act in the account (``sts:GetCallerIdentity``): refused exit 2 with AWS's reason, no answer exit 3;
- ``registry``: the registry answers ``GET /v2/`` (any HTTP answer, 401 included: the push logs
  in itself); no answer exit 3.

Without these, a token the agent rejects was found only after the tests, the build and the push.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ghe_backup.delivery.config.values import LOOPBACK_HOSTS
from ghe_backup.delivery.target import Target
from ghe_backup.errors import GheBackupError, Unreachable
from ghe_backup.plumbing.progress import say

#: Seconds per probe. The agent's list runs senza (about 1 s); STS and a registry answer in ms.
LIZZY_TIMEOUT = 15.0
AWS_TIMEOUT = 8.0
REGISTRY_TIMEOUT = 8.0
KINDS = ("lizzy", "role", "registry")


@dataclass(frozen=True)
class Probe:
    """One probe that passed: which account, what, how long, what answered."""

    account: str
    kind: str
    seconds: float
    detail: str


def probe_lizzy(target: Target, timeout: float = LIZZY_TIMEOUT) -> str:
    """The agent answers an authenticated read with the account's token."""
    from ghe_backup.delivery.deploy.deployers.lizzy_client import LizzyClient

    client = LizzyClient(target.lizzy_url or "", target.token.read(), attempts=1, timeout=timeout)
    stacks = client.list_stacks()  # LizzyRefused (exit 2) on 401/403, Unreachable (exit 3) otherwise
    return f"Lizzy at {client.url} accepts the token ({len(stacks)} stacks)"


def probe_role(target: Target, timeout: float = AWS_TIMEOUT) -> str:
    """The deploy role can be assumed; without one, the credentials act in the account."""
    from botocore.config import Config

    from ghe_backup.delivery.deploy.guard import check_caller
    from ghe_backup.plumbing.aws import caller_account

    config = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=timeout, read_timeout=timeout)
    s = target.settings
    access = target.access(config=config)  # the deploy that follows acts with this role session
    if s.deploy_role:
        return f"assumed role {s.deploy_role} in {s.account_id}"
    check_caller(target, caller_account(access, s.name, config))
    return f"credentials act in {s.account_id}"


def probe_registry(target: Target, timeout: float = REGISTRY_TIMEOUT) -> str:
    """The registry answers its API root (any HTTP status is an answer)."""
    host = target.registry.split("/", 1)[0]
    loopback = host.rsplit(":", 1)[0].strip("[]") in LOOPBACK_HOSTS
    url = f"{'http' if loopback else 'https'}://{host}/v2/"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="GET"), timeout=timeout) as answer:
            status = answer.status
    except urllib.error.HTTPError as err:
        status = err.code
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", None) or err
        raise Unreachable(
            f"{target.name}: the registry {host} does not answer ({reason})",
            hint=f"tried once with a {timeout:g} s timeout; nothing was built or pushed",
        ) from None
    return f"registry {host} answers ({status})"


PROBES: dict[str, Callable[[Target], str]] = {"lizzy": probe_lizzy, "role": probe_role, "registry": probe_registry}


def applies(kind: str, target: Target) -> bool:
    return kind != "lizzy" or target.settings.deployer == "lizzy"


def check_reachable(
    targets: Iterable[Target], kinds: Iterable[str] = KINDS, *, report: Callable[[str], None] = say
) -> list[Probe]:
    """Run every probe of ``kinds`` for each target at once; raise the first failure, in order."""
    planned = [(t, k) for t in targets for k in kinds if applies(k, t)]
    if not planned:
        return []
    started = time.monotonic()

    def run(item: tuple[Target, str]) -> Probe | GheBackupError:
        target, kind = item
        begun = time.monotonic()
        try:
            detail = PROBES[kind](target)
        except GheBackupError as err:
            return err
        return Probe(target.name, kind, round(time.monotonic() - begun, 2), detail)

    with ThreadPoolExecutor(max_workers=len(planned)) as pool:
        outcomes = list(pool.map(run, planned))
    for outcome in outcomes:
        if isinstance(outcome, GheBackupError):
            raise outcome
    probes = [o for o in outcomes if isinstance(o, Probe)]
    for name in dict.fromkeys(p.account for p in probes):
        done = "; ".join(p.detail for p in probes if p.account == name)
        report(f"{name}: preflight: {done} ({time.monotonic() - started:.1f} s)")
    return probes
