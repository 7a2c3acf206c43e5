"""Keep secrets out of output: redact secret-looking keys and values in data, known values in text.

Three tools: ``redact_data`` (a value under a secret key, or a value that looks like a secret
wherever it is, becomes ``<redacted>``), ``redact_text`` (known secret values out of a text) and
``shown`` (how an error message may show a value it complains about: never a secret, never a
wall of text). Log records are redacted by ``ghe_backup.plumbing.logredact``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

REDACTED = "<redacted>"
_SECRET_KEY = re.compile(r"(token|password|secret|private_key|ssh_key|credential|authorization)", re.I)

#: What a value that is a secret looks like, most specific first; the name says it without showing it.
SECRET_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a private key", re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY|PuTTY-User-Key-File|\bPRIVATE KEY-----")),
    ("a token (JWT)", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")),
    ("a GitHub token", re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})")),
    ("an AWS access key id", re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a bearer token", re.compile(r"\bBearer\s+\S{8,}", re.I)),
    ("a URL with credentials", re.compile(r"[a-z][a-z0-9+.-]*://[^/@\s:]+:[^/@\s]+@", re.I)),
)
#: A long unbroken run of letters and digits of mixed case with digits: keys, tokens, passwords.
_RANDOM = re.compile(r"[A-Za-z0-9+/=_~.-]{32,}")
_KMS = "aws:kms:"


def is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(str(key)))


def secret_kind(value: Any) -> str | None:
    """What kind of secret ``value`` looks like (``"a private key"``), or None.

    KMS ciphertext (``aws:kms:...``) is not a secret: only the account's KMS key opens it.
    """
    if not isinstance(value, str) or len(value) < 16:
        return None
    for kind, shape in SECRET_SHAPES:
        if shape.search(value):
            return kind
    text = value.strip()
    if text.startswith(_KMS) or any(c.isspace() for c in text):
        return None
    if _RANDOM.fullmatch(text) and _looks_random(text):
        return "a token or key"
    return None


def _looks_random(text: str) -> bool:
    classes = sum(bool(re.search(p, text)) for p in ("[a-z]", "[A-Z]", "[0-9]"))
    return classes == 3 and "." not in text.strip(".")  # host names and dotted versions have dots


def shown(value: Any, limit: int = 60) -> str:
    """``value`` as an error message may show it: quoted, escaped, cut short, and never a secret."""
    kind = secret_kind(value)
    if kind:
        return f"a value that looks like {kind} (not shown)"
    if isinstance(value, str) and len(value) > limit:
        return f"{ascii(value[:limit])[:-1]}...' ({len(value)} characters)"
    return ascii(value) if isinstance(value, str) else repr(value)


def redact_data(value: Any) -> Any:
    """A copy of ``value`` with the values of secret-looking keys, and secret-looking values, replaced."""
    if isinstance(value, dict):
        return {k: (_redact_value(v) if is_secret_key(k) else redact_data(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_data(v) for v in value]
    kind = secret_kind(value)
    return f"{REDACTED} ({kind})" if kind else value


def _redact_value(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_KMS):
        return _KMS + REDACTED
    return REDACTED if value not in (None, "") else value


def redact_text(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every occurrence of each known secret value replaced."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def redact_leaf(path: tuple[str, ...], value: Any) -> Any:
    """One leaf of a definition (its key path and value), redacted if its key is a secret's."""
    return redact_data({path[-1]: value})[path[-1]] if path else value
