"""The senza definition as deployed: sandbox substitutions, a pinned AMI, and what was deployed.

In the sandbox, ``kms_private_ssh_key`` is replaced by the key the sandbox encrypted with the
emulated account's KMS key (the overlay's value belongs to the real account's key and means
nothing to moto). Outside the sandbox the overlay's value is used as it is.

Each successful deployment's definition is kept in ``.state/definitions/<account>/<stack>.yaml``
so a failed deployment can recreate the previous version exactly; its AMI is pinned through a
``Configuration`` image mapping instead of senza's "newest Taupage".
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from ghe_backup.delivery.config import AccountConfig

DEFINITIONS = Path(".state/definitions")
PINNED_IMAGE = "GheBackupPinnedImage"


def _components(definition: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [body for item in definition.get("SenzaComponents", []) for body in item.values()
            if isinstance(body, dict) and body.get("Type") == kind]


def deploy_definition(account: AccountConfig, sandbox_endpoints: dict[str, Any] | None) -> dict[str, Any]:
    definition = account.definition
    if account.settings.sandbox and sandbox_endpoints:
        seeded = sandbox_endpoints.get("aws_accounts", {}).get(account.name, {})
        key = seeded.get("kms_private_ssh_key")
        for component in _components(definition, "Senza::TaupageAutoScalingGroup"):
            if key and "kms_private_ssh_key" in component.get("TaupageConfig", {}):
                component["TaupageConfig"]["kms_private_ssh_key"] = key
    return definition


def pin_ami(definition: dict[str, Any], region: str, ami: str | None) -> dict[str, Any]:
    """The definition with every Taupage group on ``ami`` rather than the newest Taupage."""
    if not ami:
        return definition
    pinned = copy.deepcopy(definition)
    for config in _components(pinned, "Senza::StupsAutoConfiguration"):
        config.setdefault("Images", {})[PINNED_IMAGE] = {region: ami}
    for group in _components(pinned, "Senza::TaupageAutoScalingGroup"):
        group["Image"] = PINNED_IMAGE
    return pinned


def remember_definition(root: Path, account: str, stack: str, definition: dict[str, Any]) -> None:
    path = root / DEFINITIONS / account / f"{stack}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(definition, sort_keys=False))


def recall_definition(root: Path, account: str, stack: str) -> dict[str, Any] | None:
    path = root / DEFINITIONS / account / f"{stack}.yaml"
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None
