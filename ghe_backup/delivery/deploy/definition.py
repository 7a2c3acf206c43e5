"""The senza definition as deployed: a pinned AMI, and what each stack was deployed with.

Each successful deployment's definition is kept in ``.state/definitions/<account>/<stack>.yaml``
so a failed deployment can recreate the previous version exactly; its AMI is pinned through a
``Configuration`` image mapping instead of senza's "newest Taupage".
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

DEFINITIONS = "definitions"
PINNED_IMAGE = "GheBackupPinnedImage"


def dump(definition: dict[str, Any]) -> str:
    return yaml.safe_dump(definition, sort_keys=False, default_flow_style=False)


def _components(definition: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [
        body
        for item in definition.get("SenzaComponents", [])
        for body in item.values()
        if isinstance(body, dict) and body.get("Type") == kind
    ]


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


def _path(state_dir: Path, account: str, stack: str) -> Path:
    return state_dir / DEFINITIONS / account / f"{stack}.yaml"


def remember_definition(state_dir: Path, account: str, stack: str, definition: dict[str, Any]) -> None:
    path = _path(state_dir, account, stack)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump(definition))


def recall_definition(state_dir: Path, account: str, stack: str) -> dict[str, Any] | None:
    try:
        found = yaml.safe_load(_path(state_dir, account, stack).read_text())
    except (OSError, yaml.YAMLError):
        return None
    return found if isinstance(found, dict) else None
