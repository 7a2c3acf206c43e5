"""The push stage: push the content-tagged image to each account's registry (build once, deploy many).

Per account: log in (ECR token or Docker config) -> ask the registry for the tag's manifest
digest -> if it is the digest this engine already pushed for this image, upload nothing -> if the
registry has the tag with another digest, compare contents (``content``): the same layers and
settings built at another time are kept as they are (nothing uploaded, the registry's digest is
deployed); other content is refused (``TagConflict``, exit 1: content tags are immutable) ->
otherwise tag and push, following the stream (per-layer progress, errors raised) -> record
``account -> {repository, tag, digest}`` in ``.state/pushes.json`` for the deploy stage.
Every account gets the same image, so the same digest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import docker.errors

from ghe_backup.delivery.image.build import current_image, image_name
from ghe_backup.delivery.image.records import ImageResult
from ghe_backup.delivery.push import content
from ghe_backup.delivery.push.pushlog import PushLog
from ghe_backup.delivery.push.records import PushResult, record_push
from ghe_backup.delivery.push.registry_api import RegistryClient, split_repository
from ghe_backup.delivery.push.registry_auth import RegistryAuth, http_credentials, registry_auth
from ghe_backup.delivery.target import ImageRef, Target
from ghe_backup.errors import StageFailed
from ghe_backup.plumbing import deferred, engine
from ghe_backup.plumbing.progress import say


def push_image(targets: list[Target], *, report: Callable[[str], None] = say) -> list[PushResult]:
    """Push the image built for the tree as it is to every target's registry."""
    if not targets:
        return []
    site = targets[0].build
    client = engine.connect(site.docker_host, timeout=site.engine_timeout)
    image = current_image(site, client=client)
    results = [push_to_account(client, image, target, report) for target in targets]
    for result in results:
        record_push(site.state_dir, result)
    digests = {r.digest for r in results}
    if len(digests) > 1:  # registries recompress layers only when they lack them; say so if digests differ
        report(f"note: the accounts got different manifest digests for {image.image}: {', '.join(sorted(digests))}")
    return results


def push_to_account(client: Any, image: ImageResult, target: Target, report: Callable[[str], None] = say) -> PushResult:
    started = time.monotonic()
    repository, tag = target.repository, image.tag
    ref = f"{repository}:{tag}"
    auth = registry_auth(target)
    remote = remote_digest(client, ref, auth)
    local = local_digests(client, image.id, repository)
    if remote and remote in local:
        report(f"{target.name}: {ref} is already in {target.registry} with this content ({remote}); nothing uploaded")
        return _result(target, image, remote, 0, True, started)
    if remote:  # content tags are immutable: never pushed over with other content
        check_same_content(client, image, target, remote)
        report(
            f"{target.name}: {ref} is already in {target.registry} as {remote}: the same layers and settings, "
            "built at another time; nothing uploaded"
        )
        return _result(target, image, remote, 0, True, started)
    deferred.before_change()
    engine.engine_call(f"docker tag {ref}", client.tag, image.id, repository, tag=tag)
    report(f"{target.name}: pushing {ref}")
    log = PushLog(registry=target.registry, say=lambda line: report(f"{target.name}: {line}"), secrets=auth.secrets)
    try:
        stream = client.push(repository, tag=tag, stream=True, decode=True, auth_config=auth.config)
        for record in engine.records(stream, f"the push to {target.registry}", client):
            log.feed(record)
    except docker.errors.APIError as err:
        raise engine.push_failure(engine.first_line(err), target.registry, auth.secrets) from None
    digest = log.result_digest()
    skipped = not any(p.status == "pushed" for p in log.layers.values())
    note = "no layer uploaded, registry already had them" if skipped else f"{log.uploaded_bytes / 1e6:.1f} MB uploaded"
    report(f"{target.name}: pushed {ref} -> {digest} ({note})")
    return _result(target, image, digest, log.uploaded_bytes, False, started)


def images_for(targets: list[Target], tag: str | None = None, client: Any = None) -> dict[str, ImageRef]:
    """Per account, the image a deploy would run: ``tag`` (default: the tag the image stage would give
    the tree as it is, computed without building) and its digest in that account's registry, if there."""
    if not targets:
        return {}
    site = targets[0].build
    client = client or engine.connect(site.docker_host, timeout=site.engine_timeout)
    revision = None
    if tag is None:
        _, content = image_name(client, site)
        tag, revision = content.tag, content.revision
    return {
        t.name: ImageRef(
            tag=tag,
            digest=remote_digest(client, f"{t.repository}:{tag}", registry_auth(t)),
            repository=t.repository,
            revision=revision,
        )
        for t in targets
    }


class TagConflict(StageFailed):
    """The registry has the tag with other content: refused, the registry is left as it is (exit 1)."""


def check_same_content(client: Any, image: ImageResult, target: Target, remote: str) -> None:
    """Refuse (TagConflict) unless the registry's ``remote`` manifest has this image's layers and settings."""
    host, name = split_repository(target.repository)
    registry = RegistryClient(host, credentials=lambda: http_credentials(target))
    manifest = registry.manifest(name, remote)
    theirs = registry.config_blob(name, manifest) if manifest is not None and not manifest.is_index else {}
    ours = engine.inspect_image(client, image.id) or {}
    differ = content.differences(content.of_inspect(ours), content.of_config(theirs)) if theirs else ["an index"]
    if differ:
        remote_id = manifest.config.digest if manifest is not None and manifest.config else "?"
        raise TagConflict(
            f"{target.name}: {target.repository}:{image.tag} is in {target.registry} with other content "
            f"(manifest {remote}, image {remote_id}); this build is image {image.id} ({', '.join(differ)} differ); "
            "refusing to push over it: content tags are immutable",
            hint=f"deploy what is there with --image={image.tag}, or build from a new commit",
        )


def remote_digest(client: Any, ref: str, auth: RegistryAuth) -> str | None:
    """The registry's manifest digest for ``ref`` (None when it lacks the tag)."""
    try:
        answer = client.inspect_distribution(ref, auth_config=auth.config)
    except docker.errors.NotFound:
        return None
    except docker.errors.APIError as err:
        message = engine.first_line(err)
        if "manifest unknown" in message or "name unknown" in message or "not found" in message.lower():
            return None
        raise engine.push_failure(message, auth.registry, auth.secrets) from None
    except docker.errors.DockerException as err:
        raise engine.push_failure(engine.first_line(err), auth.registry, auth.secrets) from None
    except engine.CONNECTION_LOST as err:  # the engine asks the registry: it hung or went away meanwhile
        raise engine.lost(err, f"asking {auth.registry} for {ref}", client) from None
    return (answer.get("Descriptor") or {}).get("digest")


def local_digests(client: Any, image_id: str, repository: str) -> set[str]:
    """Manifest digests this engine pushed (or pulled) the image as, in ``repository``."""
    info = engine.inspect_image(client, image_id) or {}
    return {d.split("@", 1)[1] for d in info.get("RepoDigests") or [] if d.split("@", 1)[0] == repository}


def _result(
    target: Target, image: ImageResult, digest: str, uploaded: int, skipped: bool, started: float
) -> PushResult:
    return PushResult(
        account=target.name,
        registry=target.registry,
        repository=target.repository,
        tag=image.tag,
        digest=digest,
        image_id=image.id,
        uploaded_bytes=uploaded,
        skipped=skipped,
        sandbox=target.sandbox,
        seconds=round(time.monotonic() - started, 2),
    )
