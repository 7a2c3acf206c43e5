"""Read the engine's build and push streams: progress for people, facts and errors for the stages.

Both streams are sequences of JSON records. The SDK raises nothing for failures reported
inside them (``error``/``errorDetail``), so these readers do: a failed build names its
Dockerfile step, a failed push its registry. Pure functions of the records, tested alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ghe_backup.delivery.docker_engine import push_failure, stream_error
from ghe_backup.errors import StageFailed

_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_DISK_FULL = re.compile(r"no space left on device|disk quota exceeded", re.I)

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass
class BuildLog:
    """Follows a classic-builder stream: current step, cache hits, the built image id."""

    say: Say = _quiet
    step: str | None = None
    steps: int = 0
    cached: int = 0
    image_id: str | None = None
    preamble: int = 0  # ARGs before the first FROM, and every FROM: they never say "Using cache"
    tail: list[str] = field(default_factory=list)  # output of the current step, last lines
    _from_seen: bool = False

    @property
    def rebuilt(self) -> int:
        """Steps that ran instead of coming from the cache."""
        return self.steps - self.cached - self.preamble

    def feed(self, record: dict[str, Any]) -> None:
        error = stream_error(record)
        if error is not None:
            raise self.failure(error)
        if isinstance(record.get("aux"), dict) and record["aux"].get("ID"):
            self.image_id = record["aux"]["ID"]
        text = record.get("stream")
        if not isinstance(text, str):
            return
        for line in text.splitlines():
            line = line.rstrip()
            if not line:
                continue
            self.say(line)
            match = _STEP.match(line)
            if match:
                self.step, self.steps, self.tail = line, self.steps + 1, []
                is_from = match[3].upper().startswith("FROM ")
                if is_from or not self._from_seen:
                    self.preamble += 1
                self._from_seen = self._from_seen or is_from
            elif line.strip() == "---> Using cache":
                self.cached += 1
            elif not line.lstrip().startswith(("--->", "Removing intermediate container")):
                self.tail = [*self.tail[-4:], line]

    def failure(self, message: str) -> StageFailed:
        where = f" at {self.step}" if self.step else ""
        if _DISK_FULL.search(message):
            return StageFailed(f"image build failed{where}: out of disk space: {message}", hint="free disk space (docker system prune) and retry")
        last = self.tail[-1] if self.tail else None
        return StageFailed(f"image build failed{where}: {message}", hint=f"last output: {last}" if last else None)


@dataclass
class LayerProgress:
    status: str = "waiting"
    current: int = 0
    total: int = 0


@dataclass
class PushLog:
    """Follows a push stream: per-layer status and bytes, the pushed digest, errors raised."""

    registry: str
    say: Say = _quiet
    secrets: tuple[str, ...] = ()
    layers: dict[str, LayerProgress] = field(default_factory=dict)
    digest: str | None = None
    size: int | None = None

    def feed(self, record: dict[str, Any]) -> None:
        error = stream_error(record)
        if error is not None:
            raise push_failure(error, self.registry, self.secrets)
        aux = record.get("aux")
        if isinstance(aux, dict) and aux.get("Digest"):
            self.digest, self.size = aux["Digest"], aux.get("Size")
            return
        layer, status = record.get("id"), record.get("status") or ""
        if not layer or len(str(layer)) != 12:  # "latest"/tag lines carry no layer id
            return
        progress = self.layers.setdefault(layer, LayerProgress())
        detail = record.get("progressDetail") or {}
        if status == "Pushing":
            if progress.status != "pushing":
                self.say(f"layer {layer}: pushing {_size(detail.get('total'))}")
            progress.status = "pushing"
            progress.current = max(progress.current, int(detail.get("current") or 0))
            progress.total = max(progress.total, int(detail.get("total") or 0))
        elif status == "Pushed":
            progress.status = "pushed"
            self.say(f"layer {layer}: pushed {_size(progress.current or progress.total)}")
        elif status == "Layer already exists" or status.startswith("Mounted from"):
            progress.status = "exists"
            self.say(f"layer {layer}: already in the registry")
        elif status in ("Preparing", "Waiting") and progress.status == "waiting":
            progress.status = status.lower()

    @property
    def uploaded_bytes(self) -> int:
        """Bytes the engine read for uploaded layers (uncompressed; the wire carries gzip of it)."""
        return sum(p.current or p.total for p in self.layers.values() if p.status == "pushed")

    def result_digest(self) -> str:
        if not self.digest:
            raise StageFailed(f"push to {self.registry} ended without a digest (no 'aux' record in the stream)")
        return self.digest


def _size(value: Any) -> str:
    if not value:
        return ""
    number = float(value)
    for unit in ("B", "kB", "MB", "GB"):
        if number < 1000 or unit == "GB":
            return f"{number:.0f} {unit}" if unit == "B" else f"{number:.1f} {unit}"
        number /= 1000
    return ""
