"""Keep secrets out of output: redact secret-looking keys in data and known values in text."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

REDACTED = "<redacted>"
_SECRET_KEY = re.compile(r"(token|password|secret|private_key|ssh_key|credential|authorization)", re.I)


def is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(str(key)))


def redact_data(value: Any) -> Any:
    """A copy of ``value`` with the values of secret-looking keys replaced."""
    if isinstance(value, dict):
        return {k: (_redact_value(v) if is_secret_key(k) else redact_data(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_data(v) for v in value]
    return value


def _redact_value(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("aws:kms:"):
        return "aws:kms:" + REDACTED
    return REDACTED if value not in (None, "") else value


def redact_text(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every occurrence of each known secret value replaced."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def redact_leaf(path: tuple[str, ...], value: Any) -> Any:
    """One leaf of a definition (its key path and value), redacted if its key is a secret's."""
    return redact_data({path[-1]: value})[path[-1]] if path else value
