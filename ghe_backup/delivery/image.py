"""The image stage: build the ghe-backup image with a content tag (issue #3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ghe_backup.errors import NotBuiltYet


def build_image(root: Path, *, sandbox: bool, config: Any) -> Any:
    raise NotBuiltYet("the image stage is not implemented yet (issue #3)")
