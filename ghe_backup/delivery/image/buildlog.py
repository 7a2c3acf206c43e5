"""Read the engine's build stream: progress for people, facts and errors for the image stage.

The stream is a sequence of JSON records. The SDK raises nothing for failures reported inside
it (``error``/``errorDetail``), so this reader does, naming the failing Dockerfile step.
A pure function of the records, tested alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ghe_backup.errors import StageFailed
from ghe_backup.plumbing.engine import stream_error

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
            return StageFailed(
                f"image build failed{where}: out of disk space: {message}",
                hint="free disk space (docker system prune) and retry",
            )
        last = self.tail[-1] if self.tail else None
        return StageFailed(f"image build failed{where}: {message}", hint=f"last output: {last}" if last else None)
