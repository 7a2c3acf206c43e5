"""The backup-utils release the image installs, and the GHES releases it supports: one place.

Upgrading backup-utils means changing ``VERSION``, ``SUPPORTED_GHES`` (backup-utils X.Y supports
GitHub Enterprise Server X.(Y-2) to X.Y: its docs/requirements.md and ghe-host-check's
``supported_minimum_version``) and, once known, ``SHA256`` of the release archive. The
Dockerfile reads them from this file (``python3 backup_utils.py VERSION``) and downloads with
``fetch``; the service compares each snapshot's GHES version with the range.

Standard library only: the Dockerfile runs this file with the base image's bare python3.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import urllib.request

#: The release tag of github/backup-utils. Since 2024 the repository's tags hold only docs; the
#: code comes from the release archive (``archive_url``).
VERSION = "v3.21.1"
#: sha256 of ``archive_url()``; None: not yet recorded (the build then says it did not verify).
SHA256: str | None = None
#: Oldest and newest GHES feature release (major.minor) this VERSION backs up and restores.
SUPPORTED_GHES = ("3.19", "3.21")

_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")


def archive_url(version: str = VERSION) -> str:
    """Where GitHub publishes the release archive of ``version``."""
    return f"https://github.com/github/backup-utils/releases/download/{version}/github-backup-utils-{version}.tar.gz"


def feature_release(version: str) -> tuple[int, int] | None:
    """(major, minor) of a GHES version as backup-utils writes it (``v3.21.0``, ``3.21.0.rc1``)."""
    match = _VERSION.match(version.strip())
    return (int(match[1]), int(match[2])) if match else None


def supported_range() -> str:
    return f"{SUPPORTED_GHES[0]}-{SUPPORTED_GHES[1]}"


def ghes_supported(version: str) -> bool | None:
    """Whether the pinned backup-utils supports GHES ``version``; None if it cannot be parsed."""
    release = feature_release(version)
    if release is None:
        return None
    low, high = (feature_release(bound) for bound in SUPPORTED_GHES)
    return low <= release <= high


def fetch(url: str, sha256: str, dest: str, *, cafile: str | None = None) -> str:
    """Download ``url`` to ``dest``; verify ``sha256`` if given. Returns what was verified."""
    import ssl

    context = ssl.create_default_context(cafile=cafile) if url.startswith("https:") else None
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=60, context=context) as response, open(dest, "wb") as out:
        while chunk := response.read(1 << 16):
            digest.update(chunk)
            out.write(chunk)
    if sha256 and digest.hexdigest() != sha256.lower():
        os.unlink(dest)  # nothing unverified is left to unpack
        raise SystemExit(f"{url}: sha256 {digest.hexdigest()} is not the pinned {sha256}")
    return f"sha256 {digest.hexdigest()} " + ("verified" if sha256 else "NOT verified (no SHA256 pinned)")


def _main(argv: list[str]) -> str:
    """For the Dockerfile: ``VERSION``, ``SHA256 <version>`` (empty unless pinned), ``URL <version>``,
    ``fetch <url> <sha256> <dest> [cafile]``."""
    what, version = argv[0], argv[1] if len(argv) > 1 else VERSION
    if what == "VERSION":
        return VERSION
    if what == "SHA256":
        return (SHA256 or "") if version == VERSION else ""
    if what == "URL":
        return archive_url(version)
    if what == "fetch":
        return fetch(argv[1], argv[2], argv[3], cafile=argv[4] if len(argv) > 4 and argv[4] else None)
    raise SystemExit(
        f"usage: backup_utils.py VERSION | SHA256 [version] | URL [version] | fetch URL SHA256 DEST, not {what!r}"
    )


if __name__ == "__main__":
    print(_main(sys.argv[1:]))
