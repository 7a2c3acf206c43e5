"""The senza definition as deployed: its hash, the stack's tags, a pinned AMI, and what each stack was
deployed with (kept in the account's state table, and locally as a cache).

The definition hash is taken of the rendered definition before tags and the pinned AMI, so it
changes exactly when the config (or the senza base) changes. Tags on the stack carry the image
digest, the git commit, the definition hash and who deployed it: a console user sees them, and a
deploy compares them to decide whether anything would change. A restore or rollback recreates a
version exactly: the definition recorded for it, its AMI pinned through a ``Configuration`` image
mapping instead of senza's "newest Taupage", its tags as they were.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from ghe_backup.errors import GheBackupError
from ghe_backup.plumbing.memo import Kept

DEFINITIONS = "definitions"
PK = "definition"
PINNED_IMAGE = "GheBackupPinnedImage"
TAG_PREFIX = "ghe-backup:"
DIGEST_TAG, REVISION_TAG, HASH_TAG, DEPLOYER_TAG = (
    f"{TAG_PREFIX}image-digest",
    f"{TAG_PREFIX}git-sha",
    f"{TAG_PREFIX}definition-hash",
    f"{TAG_PREFIX}deployed-by",
)


def dump(definition: dict[str, Any]) -> str:
    """The definition as senza reads it. PyYAML's emitter is pure Python (about 2 ms a definition)
    and a deploy writes the same one several times (plan, create, record), so texts are kept by the
    value's repr (which tells 1, "1", 1.0 and True apart, and keeps the order of keys)."""
    return _DUMPED.made(repr(definition), lambda: yaml.safe_dump(definition, sort_keys=False, default_flow_style=False))


_DUMPED: Kept[str, str] = Kept(64)


def definition_hash(definition: dict[str, Any]) -> str:
    """A short hash of the rendered definition (key order does not matter)."""
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


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


def with_tags(definition: dict[str, Any], tags: dict[str, str | None]) -> dict[str, Any]:
    """The definition with ``tags`` on the stack (``SenzaInfo.Tags``; senza and Lizzy pass them on)."""
    tagged = copy.deepcopy(definition)
    info = tagged.setdefault("SenzaInfo", {})
    kept = [t for t in info.get("Tags") or [] if isinstance(t, dict) and not any(k in tags for k in t)]
    info["Tags"] = kept + [{key: str(value)} for key, value in tags.items() if value]
    return tagged


def _path(state_dir: Path, account: str, stack: str) -> Path:
    return state_dir / DEFINITIONS / account / f"{stack}.yaml"


def remember_definition(store: Any, state_dir: Path, account: str, stack: str, definition: dict[str, Any]) -> None:
    """Record what ``stack`` was deployed with: in the account (every machine), and locally."""
    path = _path(state_dir, account, stack)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump(definition))
    if store is not None:
        store.put({"pk": PK, "sk": stack, "definition": dump(definition), "hash": definition_hash(definition)})


def recall_definition(store: Any, state_dir: Path, account: str, stack: str) -> dict[str, Any] | None:
    """What ``stack`` was deployed with: from the account, else the local cache, else None."""
    text = None
    if store is not None:
        try:
            item = store.get(PK, stack)
            text = item.get("definition") if item else None
        except GheBackupError:
            text = None
    if text is None:
        try:
            text = _path(state_dir, account, stack).read_text()
        except OSError:
            return None
    try:
        found = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return found if isinstance(found, dict) else None
