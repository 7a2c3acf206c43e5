"""Stack versions: ``<tag, letters and digits only, 12 max>d<UTC yymmddHHMMSS><salt>``.

Valid for senza (letters and digits), traceable to the image tag (the full tag is the stack's
``ImageVersion`` parameter and in the history), and unique: a random salt keeps two deploys in
the same second apart even on two machines, and a taken version is never reused.
"""

from __future__ import annotations

import datetime as dt
import re

from ghe_backup.plumbing.cloudformation import VERSION_PATTERN


def stack_version(image_tag: str, now: dt.datetime | None = None, taken: set[str] = frozenset(), salt: str = "") -> str:
    """A new version for ``image_tag``, not one of ``taken``; ``salt`` (letters and digits) is appended."""
    now = now or dt.datetime.now(dt.UTC)
    tag = re.sub(r"[^a-zA-Z0-9]", "", image_tag)[:12] or "untagged"
    salt = re.sub(r"[^a-zA-Z0-9]", "", salt)
    version = f"{tag}d{now:%y%m%d%H%M%S}{salt}"
    suffix = 0
    while version in taken:  # two deployments in the same second
        suffix += 1
        version = f"{tag}d{now:%y%m%d%H%M%S}{salt}n{suffix}"
    assert VERSION_PATTERN.match(version), version
    return version


def stack_name(base: str, version: str) -> str:
    return f"{base}-{version}"
