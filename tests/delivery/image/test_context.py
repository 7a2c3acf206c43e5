"""Content tags and the build context, on real temporary git repositories."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

import pytest

from ghe_backup.delivery.image.context import (
    CONTEXT_EXCLUDES,
    CONTEXT_PATHS,
    FIXED_MTIME,
    SHORT_SHA,
    content_tag,
    context_archive,
    context_files,
)

REPO = Path(__file__).resolve().parents[3]


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "ghe_backup" / "delivery").mkdir(parents=True)
    (tmp_path / "ghe_backup" / "__init__.py").write_text('__version__ = "1"\n')
    (tmp_path / "ghe_backup" / "delivery" / "push.py").write_text("# pipeline code\n")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "README.md").write_text("not in the context\n")
    (tmp_path / ".gitignore").write_text("*.log\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    return tmp_path


def test_clean_tree_is_tagged_with_the_short_sha(repo):
    tag = content_tag(repo)
    assert tag.tag == git(repo, "rev-parse", "HEAD")[:SHORT_SHA]
    assert not tag.dirty


def test_a_change_adds_a_suffix_from_the_content_and_reverting_it_removes_it(repo):
    clean = content_tag(repo).tag
    (repo / "ghe_backup" / "__init__.py").write_text('__version__ = "2"\n')
    first = content_tag(repo)
    assert first.dirty and first.tag.startswith(clean + "-") and first.tag != clean
    (repo / "ghe_backup" / "__init__.py").write_text('__version__ = "3"\n')
    assert content_tag(repo).tag not in (clean, first.tag)  # one tag never names two contents
    (repo / "ghe_backup" / "__init__.py").write_text('__version__ = "2"\n')
    assert content_tag(repo).tag == first.tag  # same content, same tag
    (repo / "ghe_backup" / "__init__.py").write_text('__version__ = "1"\n')
    assert content_tag(repo).tag == clean


def test_untracked_files_count_but_ignored_and_out_of_context_files_do_not(repo):
    clean = content_tag(repo).tag
    (repo / "ghe_backup" / "debug.log").write_text("ignored\n")
    (repo / "README.md").write_text("edited, outside the context\n")
    (repo / "ghe_backup" / "delivery" / "push.py").write_text("# pipeline code changed\n")
    (repo / "ghe_backup" / "__pycache__").mkdir()
    (repo / "ghe_backup" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert content_tag(repo).tag == clean
    (repo / "ghe_backup" / "new.py").write_text("x = 1\n")
    assert content_tag(repo).tag != clean


def test_the_executable_bit_is_content(repo):
    script = repo / "ghe_backup" / "tool"
    script.write_text("#!/bin/sh\n")
    plain = content_tag(repo).tag
    script.chmod(0o755)
    assert content_tag(repo).tag != plain


def test_non_default_build_arguments_change_the_tag_even_on_a_clean_tree(repo):
    clean = content_tag(repo).tag
    variant = content_tag(repo, {"BASE_IMAGE": "sha256:abc"})
    assert variant.tag.startswith(clean + "-") and not variant.dirty
    assert content_tag(repo, {"BASE_IMAGE": "sha256:def"}).tag != variant.tag


def test_outside_git_the_tag_is_a_content_hash(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "ghe_backup").mkdir()
    (tmp_path / "ghe_backup" / "x.py").write_text("x = 1\n")
    tag = content_tag(tmp_path)
    assert tag.tag.startswith("nogit-") and tag.revision == "unknown"
    assert context_files(tmp_path) == ["Dockerfile", "ghe_backup/x.py"]


def test_the_archive_holds_exactly_the_context_with_fixed_metadata(repo):
    (repo / "ghe_backup" / "tool").write_text("#!/bin/sh\n")
    (repo / "ghe_backup" / "tool").chmod(0o755)
    with tarfile.open(fileobj=context_archive(repo)) as archive:
        members = {m.name: m for m in archive.getmembers()}
    assert sorted(members) == ["Dockerfile", "ghe_backup/__init__.py", "ghe_backup/tool"]
    assert members["ghe_backup/tool"].mode == 0o755 and members["Dockerfile"].mode == 0o644
    assert {m.mtime for m in members.values()} == {FIXED_MTIME} and {m.uid for m in members.values()} == {0}


def test_dockerignore_mirrors_the_context_list():
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    assert {line[1:].rstrip("/") for line in lines if line.startswith("!")} == set(CONTEXT_PATHS)
    assert {line.rstrip("/") for line in lines if line.startswith("ghe_backup/")} == set(CONTEXT_EXCLUDES)
