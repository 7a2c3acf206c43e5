#!/usr/bin/env python3
"""Write requirements-image.txt from requirements.lock: the image's runtime deps at the lock's pins.

The image runs ``ghe_backup/backup``, which needs boto3, pyyaml and croniter. This takes those
and everything they pull in, following the lock's ``# via`` annotations, with the exact versions
the venv and the tests use. The Dockerfile installs the file with ``--no-deps`` and runs
``pip check``, so a missing dependency fails the build instead of being resolved unpinned.

    .venv/bin/python scripts/image_requirements.py          # rewrite requirements-image.txt
    .venv/bin/python scripts/image_requirements.py --check  # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements.lock"
OUTPUT = REPO / "requirements-image.txt"
#: What ghe_backup/backup imports from outside the standard library.
ROOTS = ("boto3", "pyyaml", "croniter")

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")
_VIA = re.compile(r"^\s+#\s+(?:via\s+)?([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\(.*\))?$")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_lock(text: str) -> tuple[dict[str, str], dict[str, set[str]]]:
    """Pins (name -> version) and, per package, the packages it is required by (``# via``)."""
    pins: dict[str, str] = {}
    via: dict[str, set[str]] = {}
    current = None
    for line in text.splitlines():
        match = _PIN.match(line)
        if match:
            current = normalize(match[1])
            pins[current], via[current] = match[2], set()
            continue
        match = _VIA.match(line)
        if current and match:
            via[current].add(normalize(match[1]))
    return pins, via


def image_pins(text: str, roots: tuple[str, ...] = ROOTS) -> dict[str, str]:
    """The roots and every locked package required, directly or not, by one of them."""
    pins, via = parse_lock(text)
    missing = [r for r in roots if normalize(r) not in pins]
    if missing:
        raise SystemExit(f"not in requirements.lock: {', '.join(missing)}")
    wanted = {normalize(r) for r in roots}
    grew = True
    while grew:
        grew = False
        for name, parents in via.items():
            if name not in wanted and parents & wanted:
                wanted.add(name)
                grew = True
    return {name: pins[name] for name in sorted(wanted)}


def render(text: str) -> str:
    lines = [
        "# Generated from requirements.lock by scripts/image_requirements.py; do not edit.",
        f"# The image's runtime deps ({', '.join(ROOTS)}) and what they pull in, at the lock's pins.",
    ]
    lines += [f"{name}=={version}" for name, version in image_pins(text).items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if requirements-image.txt is out of date")
    args = parser.parse_args()
    wanted = render(LOCK.read_text())
    if args.check:
        if not OUTPUT.is_file() or OUTPUT.read_text() != wanted:
            sys.exit("requirements-image.txt is out of date: run scripts/image_requirements.py")
        return
    OUTPUT.write_text(wanted)
    print(wanted, end="")


if __name__ == "__main__":
    main()
