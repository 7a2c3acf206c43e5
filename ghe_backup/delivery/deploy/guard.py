"""Prove a deployment acts in the account its overlay names, before anything changes.

senza: STS says whose the credentials are. Lizzy: the agent cannot say which account it runs
in, so the stacks it reports must be exactly the ghe-backup stacks that the verified
credentials see in the account (an agent of another account sees that account's stacks).
Either mismatch refuses with exit 2.
"""

from __future__ import annotations

from typing import Any

from ghe_backup.errors import ConfigError


class WrongAccount(ConfigError):
    """The credentials or the agent belong to another account; nothing was changed."""


def check_caller(target: Any, actual: str) -> str:
    """``actual`` is the account STS says the credentials act in."""
    settings = target.settings
    if actual != settings.account_id:
        raise WrongAccount(
            f"{settings.name}: the AWS credentials act in account {actual}, not {settings.account_id}",
            hint="refused before any change; check deploy_role and the credentials in your environment",
        )
    return actual


def check_agent(target: Any, agent_stacks: list[str], account_stacks: list[str]) -> None:
    settings = target.settings
    if sorted(agent_stacks) != sorted(account_stacks):
        only_agent = sorted(set(agent_stacks) - set(account_stacks))
        only_account = sorted(set(account_stacks) - set(agent_stacks))
        detail = "; ".join(
            filter(
                None,
                [
                    f"agent sees {', '.join(only_agent)}" if only_agent else "",
                    f"account {settings.account_id} has {', '.join(only_account)}" if only_account else "",
                ],
            )
        )
        raise WrongAccount(
            f"{settings.name}: the Lizzy agent at {target.lizzy_url} does not see account {settings.account_id}'s stacks ({detail})",
            hint="refused before any change; is lizzy_url the agent of this account?",
        )
