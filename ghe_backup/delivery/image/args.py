"""The image's build arguments: the Dockerfile's defaults, and which of them go into the tag.

``build_args`` is a pure function the edge calls while resolving the ``BuildSite``:
defaults < sandbox (its offline base image, the stand-in backup-utils) < Invoke config ``ghe.image.*``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The Dockerfile's defaults; only arguments that differ from these go into the tag's suffix. The
#: backup-utils release is pinned in ghe_backup/backup/backup_utils.py (part of the context, so of
#: the tag); an empty BACKUP_UTILS_VERSION means that pin.
DEFAULT_ARGS = {"BASE_IMAGE": "python:3.11-slim", "BACKUP_UTILS_SOURCE": "release", "BACKUP_UTILS_VERSION": ""}
#: Invoke config ``ghe.image.<key>`` -> build argument.
CONFIG_KEYS = {
    "base_image": "BASE_IMAGE",
    "backup_utils_source": "BACKUP_UTILS_SOURCE",
    "backup_utils_version": "BACKUP_UTILS_VERSION",
}


def build_args(configured: Mapping[str, Any], *, sandbox_base_image: str | None = None) -> dict[str, str]:
    """The content-relevant build arguments for this build."""
    args = dict(DEFAULT_ARGS)
    if sandbox_base_image is not None:
        args["BASE_IMAGE"] = sandbox_base_image
        args["BACKUP_UTILS_SOURCE"] = "context"  # offline: no release archive to download
    for key, arg in CONFIG_KEYS.items():
        if configured.get(key):
            args[arg] = str(configured[key])
    return args
