"""What the push stage pushed: ``.state/pushes.json``, read by the deploy stage.

The latest push per account and registry, so a sandbox push never hides the real one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from ghe_backup.plumbing.state import read_json, write_json_atomic

STATE_FILE = "pushes.json"


@dataclass
class PushResult:
    account: str
    registry: str
    repository: str  # registry/image
    tag: str
    digest: str  # sha256:... of the manifest
    image_id: str
    uploaded_bytes: int  # pushed: the uploaded layers' uncompressed bytes; promoted: the blob bytes copied
    skipped: bool  # the registry already had this tag with this content
    sandbox: bool
    seconds: float
    #: Promoted (``deploy --image``): the repository it was copied from; None when this engine pushed it
    #: or the account's registry had it already.
    source: str | None = None

    @property
    def reference(self) -> str:
        """``repository:tag@digest``: what a deployment pins."""
        return f"{self.repository}:{self.tag}@{self.digest}"


def _load(state_dir: Path) -> dict:
    data = read_json(state_dir / STATE_FILE, {})
    return data if isinstance(data, dict) else {}


def record_push(state_dir: Path, result: PushResult) -> None:
    data = _load(state_dir)
    entry = data.setdefault(result.account, {"latest": None, "registries": {}})
    entry["registries"][result.registry] = asdict(result)
    entry["latest"] = result.registry
    write_json_atomic(state_dir / STATE_FILE, data)


def pushed_image(state_dir: Path, account_name: str, registry: str | None = None) -> PushResult | None:
    """What was last pushed for ``account_name`` (to ``registry`` if given), or None."""
    entry = _load(state_dir).get(account_name)
    if not isinstance(entry, dict):
        return None
    record = entry.get("registries", {}).get(registry or entry.get("latest"))
    if not isinstance(record, dict):
        return None
    fields = set(PushResult.__dataclass_fields__)
    try:
        return PushResult(**{k: v for k, v in record.items() if k in fields})
    except TypeError:
        return None
