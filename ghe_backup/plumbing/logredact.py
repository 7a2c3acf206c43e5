"""Debug logs without secrets: every log record is redacted where it is made, before any handler.

``inv --debug`` (and ``INVOKE_DEBUG``) set the root logger to DEBUG, and botocore then logs
request headers (``Authorization`` signatures, ``X-Amz-Security-Token``), canonical requests
and response bodies (STS credentials, ECR authorization tokens, KMS plaintext). Handlers come
and go (Invoke's ``basicConfig``, pytest's capture), so the redaction is not a handler filter
but a log-record factory wrapped around the current one: whatever handler formats the record
sees only the redacted message. Records below the enabled level are never made, so without
debug logging this costs nothing.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from ghe_backup.plumbing.redact import REDACTED, SECRET_SHAPES

#: Names whose values are secrets wherever they appear: XML elements, JSON, dict reprs, headers, queries.
SECRET_NAMES = (
    "SecretAccessKey|SessionToken|aws_secret_access_key|aws_session_token|secret_key|X-Amz-Security-Token"
    "|Authorization|authorizationToken|Plaintext|password|passwd|identitytoken|registrytoken|X-Registry-Auth"
    "|access_token|refresh_token|id_token|client_secret|X-Amz-Signature|X-Amz-Credential|Signature|token"
)
_XML = re.compile(rf"(<((?:{SECRET_NAMES}))>)(.*?)(</\2>)", re.I | re.S)
_QUOTED = re.compile(rf"""((['"])(?:{SECRET_NAMES})\2\s*[:=]\s*b?)(['"])((?:\\.|(?!\3).)*)\3""", re.I | re.S)
_ASSIGNED = re.compile(
    rf"""(\b(?:{SECRET_NAMES})\s*[=:]\s*)(?!['"\s<])((?:(?:Bearer|Basic|Token|AWS4-HMAC-SHA256)\s+)?[^\s&,;'"<>]+)""",
    re.I,
)
_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.S)

_known: set[str] = set()
_lock = threading.Lock()


def remember(*secrets: str | None) -> None:
    """Values to redact from every later record, wherever they appear (tokens read at run time)."""
    with _lock:
        _known.update(s for s in secrets if s and len(s) >= 6)


def redact_log_text(text: str) -> str:
    """``text`` with secret values replaced: known values, named fields, and secret-shaped values."""
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for secret in known:
        text = text.replace(secret, REDACTED)
    text = _PEM.sub(REDACTED, text)
    text = _XML.sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(4)}", text)
    text = _QUOTED.sub(lambda m: f"{m.group(1)}{m.group(3)}{REDACTED}{m.group(3)}", text)
    text = _ASSIGNED.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    for _, shape in SECRET_SHAPES:
        text = shape.sub(REDACTED, text)
    return text


def install() -> None:
    """Redact every log record from now on (idempotent)."""
    current = logging.getLogRecordFactory()
    if getattr(current, "redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        try:
            message = record.getMessage()
        except (
            TypeError,
            ValueError,
            KeyError,
            IndexError,
        ):  # a malformed record: show its template, never its arguments
            message = str(record.msg)
        record.msg, record.args = redact_log_text(message), None
        return record

    factory.redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
