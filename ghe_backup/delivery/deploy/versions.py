"""Stack versions: ``<tag, letters and digits only, 12 max>d<UTC yymmddHHMMSS>``.

Valid for senza (letters and digits), unique per second and account, traceable to the image tag
(the full tag is the stack's ``ImageVersion`` parameter and in the history).
"""

from __future__ import annotations

import datetime as dt
import re

from ghe_backup.plumbing.cloudformation import VERSION_PATTERN


def stack_version(image_tag: str, now: dt.datetime | None = None, taken: set[str] = frozenset()) -> str:
    """A new version for ``image_tag``, not one of ``taken``."""
    now = now or dt.datetime.now(dt.UTC)
    tag = re.sub(r"[^a-zA-Z0-9]", "", image_tag)[:12] or "untagged"
    version = f"{tag}d{now:%y%m%d%H%M%S}"
    suffix = 0
    while version in taken:  # two deployments in the same second
        suffix += 1
        version = f"{tag}d{now:%y%m%d%H%M%S}n{suffix}"
    assert VERSION_PATTERN.match(version), version
    return version


def stack_name(base: str, version: str) -> str:
    return f"{base}-{version}"
