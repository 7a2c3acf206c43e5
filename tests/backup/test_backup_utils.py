"""The backup-utils pin: one place for its version and the GHES releases it supports, read by
the Dockerfile, the download it verifies, and the version check of snapshots."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

from ghe_backup.backup import backup_utils
from ghe_backup.backup.backup_utils import SUPPORTED_GHES, VERSION, feature_release, fetch, ghes_supported

PIN = REPO_ROOT / "ghe_backup" / "backup" / "backup_utils.py"


@pytest.mark.parametrize(
    ("version", "supported"),
    [
        ("v3.19.0", True),
        ("3.21.4", True),
        ("v3.20.1.rc1", True),
        ("v3.18.9", False),
        ("v3.22.0", False),
        ("v2.21.3", False),
        ("not a version", None),
        ("", None),
    ],
)
def test_ghes_versions_against_the_pinned_range(version, supported):
    assert ghes_supported(version) is supported


def test_the_range_is_the_pinned_release_and_the_two_before_it():
    # backup-utils X.Y supports GHES X.(Y-2) to X.Y (its docs/requirements.md, ghe-host-check).
    major, minor = feature_release(VERSION)
    assert [feature_release(v) for v in SUPPORTED_GHES] == [(major, minor - 2), (major, minor)]


def test_the_dockerfile_reads_the_pin_instead_of_repeating_it():
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG BACKUP_UTILS_VERSION= \\$", dockerfile, re.M), "no version of its own"
    assert "python3 /tmp/backup-utils/backup_utils.py" in dockerfile
    assert VERSION not in dockerfile

    # the Dockerfile runs the file as a script: once for real, the other answers from its main
    ran = subprocess.run([sys.executable, str(PIN), "VERSION"], capture_output=True, text=True, check=True)
    assert ran.stdout == VERSION + "\n"
    assert backup_utils._main(["URL", "v3.20.1"]) == (
        "https://github.com/github/backup-utils/releases/download/v3.20.1/github-backup-utils-v3.20.1.tar.gz"
    )
    assert backup_utils._main(["SHA256", "v3.20.1"]) == ""  # a checksum belongs to the pinned version only


def test_fetch_verifies_the_archive(tmp_path, monkeypatch):
    archive = tmp_path / "github-backup-utils.tar.gz"
    archive.write_bytes(b"not really a tarball")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    dest = tmp_path / "out"
    assert fetch(archive.as_uri(), digest, str(dest)) == f"sha256 {digest} verified"
    assert dest.read_bytes() == archive.read_bytes()
    assert "NOT verified" in fetch(archive.as_uri(), "", str(dest))
    with pytest.raises(SystemExit, match="is not the pinned"):
        fetch(archive.as_uri(), "0" * 64, str(dest))
    assert not dest.exists()
    monkeypatch.setattr(backup_utils, "SHA256", digest)
    assert backup_utils._main(["SHA256"]) == digest
