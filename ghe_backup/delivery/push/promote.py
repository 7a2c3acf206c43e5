"""Promotion: deploy an image that was already pushed (``inv deploy --image=TAG``), built once.

Nothing is tested, built or pushed. Each account takes the tag from its own registry; if that
lacks it, the image is copied by digest from the first other configured account's registry that
has it (``registry_copy``: no engine, no rebuild, the same manifest digest). The result is recorded
in ``.state/pushes.json`` as a push is, so the deploy stage deploys exactly that digest.
``locate_image`` runs first (the deploy's preflight): a tag found nowhere is refused before
anything runs, naming every registry looked at.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from ghe_backup.delivery.push.records import PushResult, record_push
from ghe_backup.delivery.push.registry_api import RegistryClient, split_repository
from ghe_backup.delivery.push.registry_auth import http_credentials
from ghe_backup.delivery.push.registry_copy import copy_image
from ghe_backup.delivery.target import Target
from ghe_backup.errors import ConfigError, UsageError
from ghe_backup.plumbing import deferred
from ghe_backup.plumbing.progress import say

#: A Docker tag: what ``docker tag`` accepts.
TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class Found:
    """Where a target gets the tag from: its own registry, or another account's."""

    target: Target  # the account deployed to
    source: Target  # whose registry has it (``target`` itself when its own has it)
    digest: str

    @property
    def own(self) -> bool:
        return self.source.repository == self.target.repository


class Registries:
    """One API client per registry host, each logging in as the account it belongs to, when asked."""

    def __init__(self) -> None:
        self._clients: dict[str, RegistryClient] = {}

    def client(self, target: Target) -> RegistryClient:
        host = split_repository(target.repository)[0]
        if host not in self._clients:
            self._clients[host] = RegistryClient(host, credentials=lambda: http_credentials(target))
        return self._clients[host]

    def digest(self, target: Target, tag: str) -> str | None:
        return self.client(target).manifest_digest(split_repository(target.repository)[1], tag)


def check_tag(tag: str) -> str:
    if not TAG.match(tag or ""):
        raise UsageError(f"--image: {tag!r} is not an image tag", hint="e.g. --image=3749798ab1c2 (see: inv push)")
    return tag


def locate_image(
    targets: list[Target], tag: str, sources: list[Target], registries: Registries | None = None
) -> list[Found]:
    """Where each target gets ``tag``: its own registry first, else the first source that has it.

    ConfigError (exit 2) when no registry looked at has it; nothing has run by then."""
    check_tag(tag)
    registries = registries or Registries()
    looked: dict[str, str | None] = {}

    def digest_in(target: Target) -> str | None:
        if target.repository not in looked:
            looked[target.repository] = registries.digest(target, tag)
        return looked[target.repository]

    found: list[Found] = []
    for target in targets:
        for source in [target, *(s for s in sources if s.repository != target.repository)]:
            digest = digest_in(source)
            if digest:
                found.append(Found(target=target, source=source, digest=digest))
                break
    if len(found) < len(targets):
        where = ", ".join(f"{repository}:{tag}" for repository in looked)
        raise ConfigError(
            f"image {tag} is in none of the registries looked at: {where}",
            hint="push it first (inv push --account=NAME), or check the tag (inv status shows what runs)",
        )
    return found


def promote_image(
    targets: list[Target], tag: str, sources: list[Target], *, report: Callable[[str], None] = say
) -> list[PushResult]:
    """Make ``tag`` available in every target's registry (copying by digest when needed); recorded."""
    registries = Registries()
    results = []
    for found in locate_image(targets, tag, sources, registries):
        started = time.monotonic()
        target, source = found.target, found.source
        dest_name = split_repository(target.repository)[1]
        if found.own:
            manifest = registries.client(target).manifest(dest_name, found.digest)
            config = manifest.config if manifest else None
            report(
                f"{target.name}: {target.repository}:{tag} is in the account's registry ({found.digest}); nothing to copy"
            )
            result = _result(target, tag, found.digest, config.digest if config else "", 0, None, started)
        else:
            deferred.before_change()
            report(f"{target.name}: copying {source.repository}:{tag} ({found.digest}) to {target.registry}")
            copied = copy_image(
                registries.client(source),
                split_repository(source.repository)[1],
                found.digest,
                registries.client(target),
                dest_name,
                tag,
                report=lambda line, name=target.name: report(f"{name}: {line}"),
            )
            report(
                f"{target.name}: {target.repository}:{tag} -> {copied.digest} ({copied.copied_blobs} blobs, "
                f"{copied.copied_bytes / 1e6:.1f} MB copied; {copied.present_blobs} already there)"
            )
            result = _result(
                target, tag, copied.digest, copied.config_digest or "", copied.copied_bytes, source.repository, started
            )
        record_push(target.state_dir, result)
        results.append(result)
    return results


def _result(
    target: Target, tag: str, digest: str, image_id: str, copied: int, source: str | None, started: float
) -> PushResult:
    return PushResult(
        account=target.name,
        registry=target.registry,
        repository=target.repository,
        tag=tag,
        digest=digest,
        image_id=image_id,
        uploaded_bytes=copied,
        skipped=source is None,
        sandbox=target.sandbox,
        seconds=round(time.monotonic() - started, 2),
        source=source,
    )
