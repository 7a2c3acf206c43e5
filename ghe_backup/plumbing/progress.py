"""Progress lines for people: one line each on stderr, whole lines even from several threads.

Results go to stdout through the edge's renderer; everything a stage says while it works comes
here. Lines are plain text (no markup, no colour), so CI logs read like a terminal.
"""

from __future__ import annotations

import sys
import threading

_lock = threading.Lock()


def say(line: str) -> None:
    with _lock:
        stream = sys.stderr
        stream.write(line.rstrip("\n") + "\n")
        stream.flush()
