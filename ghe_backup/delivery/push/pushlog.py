"""Read the engine's push stream: per-layer progress for people, the digest and errors for the push stage.

The SDK raises nothing for failures reported inside the stream (``error``/``errorDetail``), so
this reader does, naming the registry. When uploads fail the engine itself tries again (5 tries,
waiting 5, 10, 15, 20 s: about 50 s) and only counts down ("Retrying in N seconds"); each round
is said once, and the final error says how long the engine kept trying. A pure function of the
records (and a clock), tested alone.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ghe_backup.errors import StageFailed
from ghe_backup.plumbing.engine import push_failure, stream_error

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


_COUNTDOWN = re.compile(r"^Retrying in (\d+) seconds?")


@dataclass
class LayerProgress:
    status: str = "waiting"
    current: int = 0
    total: int = 0
    retries: int = 0  # countdowns the engine started for this layer
    countdown: int = 0  # seconds left in the current one


@dataclass
class PushLog:
    """Follows a push stream: per-layer status and bytes, the pushed digest, errors raised."""

    registry: str
    say: Say = _quiet
    secrets: tuple[str, ...] = ()
    layers: dict[str, LayerProgress] = field(default_factory=dict)
    digest: str | None = None
    size: int | None = None
    retries: int = 0  # rounds of retries the engine started (the most of any layer)
    retrying_since: float | None = None
    clock: Callable[[], float] = time.monotonic

    def feed(self, record: dict[str, Any]) -> None:
        error = stream_error(record)
        if error is not None:
            raise push_failure(error, self.registry, self.secrets, after=self.retried())
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
        elif _COUNTDOWN.match(status):
            self._retrying(progress, int(_COUNTDOWN.match(status)[1]))

    def _retrying(self, progress: LayerProgress, seconds: int) -> None:
        """A countdown record: a new round when the layer was not counting down, or the count went up."""
        if progress.status != "retrying" or seconds > progress.countdown:
            progress.retries += 1
            if progress.retries > self.retries:  # said once per round, whichever layer gets there first
                self.retries = progress.retries
                self.retrying_since = self.retrying_since or self.clock()
                self.say(
                    f"uploads to {self.registry} failed; the engine tries again in {seconds}s (retry {self.retries})"
                )
        progress.status, progress.countdown = "retrying", seconds

    def retried(self) -> str:
        """' (the engine retried 4 times in 47s)' once it did, else ''."""
        if not self.retries or self.retrying_since is None:
            return ""
        spent = self.clock() - self.retrying_since
        return f" (the engine retried {self.retries} {'time' if self.retries == 1 else 'times'} in {spent:.0f}s)"

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
