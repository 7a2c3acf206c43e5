"""What the image stage built: ``.state/image.json``, read by push and the benchmarks."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from ghe_backup.plumbing.state import read_json, write_json_atomic

STATE_FILE = "image.json"
KEEP_RECORDS = 20


@dataclass
class ImageResult:
    image: str  # ghe-backup:<tag>
    tag: str
    id: str
    size: int  # bytes, base included
    base_image: str
    base_size: int | None
    revision: str
    dirty: bool
    built: bool  # False when an identical, smoke-tested image was already there
    seconds: float
    steps: int = 0
    rebuilt_steps: int = 0  # steps that ran (not from the cache)
    smoke: str = ""

    @property
    def app_size(self) -> int | None:
        return self.size - self.base_size if self.base_size is not None else None


def image_records(state_dir: Path) -> dict[str, ImageResult]:
    """Recorded builds by tag (newest last)."""
    data = read_json(state_dir / STATE_FILE, {})
    builds = data.get("builds", {}) if isinstance(data, dict) else {}
    fields = set(ImageResult.__dataclass_fields__)
    records = {}
    for tag, item in builds.items() if isinstance(builds, dict) else ():
        try:
            records[tag] = ImageResult(**{k: v for k, v in item.items() if k in fields})
        except (TypeError, AttributeError):
            continue  # a record from another version: rebuilt, not trusted
    return records


def record_image(state_dir: Path, result: ImageResult) -> None:
    records = image_records(state_dir)
    records.pop(result.tag, None)
    records[result.tag] = result
    kept = dict(list(records.items())[-KEEP_RECORDS:])
    write_json_atomic(state_dir / STATE_FILE, {"last": result.tag, "builds": {t: asdict(r) for t, r in kept.items()}})
