"""The push stage: push the content-tagged image to each account's registry (build once, deploy many).

Per account: log in (ECR token or Docker config) -> ask the registry for the tag's manifest
digest -> if it is the digest this engine already pushed for this image, upload nothing ->
otherwise tag and push, following the stream (per-layer progress, errors raised) -> record
``account -> {repository, tag, digest}`` in ``.state/pushes.json``, which the deploy stage
reads with ``pushed_image``. Every account gets the same image, so the same digest.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import docker.errors

from ghe_backup.delivery import docker_engine, render
from ghe_backup.delivery.config import AccountConfig
from ghe_backup.delivery.image import ImageResult, current_image, docker_host
from ghe_backup.delivery.registry_auth import RegistryAuth, registry_auth
from ghe_backup.delivery.streams import PushLog

STATE_FILE = Path(".state/pushes.json")


@dataclass
class PushResult:
    account: str
    registry: str
    repository: str  # registry/image
    tag: str
    digest: str  # sha256:... of the manifest
    image_id: str
    uploaded_bytes: int  # uncompressed bytes of the layers uploaded (0 when skipped)
    skipped: bool  # the registry already had this tag with this content
    sandbox: bool
    seconds: float

    @property
    def reference(self) -> str:
        """``repository:tag@digest``: what a deployment pins."""
        return f"{self.repository}:{self.tag}@{self.digest}"


def push_image(root: Path, accounts: list[AccountConfig], *, config: Any = None) -> list[PushResult]:
    sandbox = any(a.settings.sandbox for a in accounts)
    client = docker_engine.connect(docker_host(root, sandbox))
    image = current_image(root, sandbox=sandbox, config=config, client=client)
    results = [push_to_account(client, image, account) for account in accounts]
    for result in results:
        record_push(root, result)
    digests = {r.digest for r in results}
    if len(digests) > 1:  # registries recompress layers only when they lack them; say so if digests differ
        render.info(f"note: the accounts got different manifest digests for {image.image}: {', '.join(sorted(digests))}")
    return results


def push_to_account(client: Any, image: ImageResult, account: AccountConfig) -> PushResult:
    started = time.monotonic()
    settings = account.settings
    repository, tag = settings.repository, image.tag
    ref = f"{repository}:{tag}"
    auth = registry_auth(settings)
    remote = remote_digest(client, ref, auth)
    local = local_digests(client, image.id, repository)
    if remote and remote in local:
        render.info(f"{settings.name}: {ref} is already in {settings.registry} with this content ({remote}); nothing uploaded")
        return _result(settings, image, remote, 0, True, started)
    if remote:
        render.info(f"{settings.name}: {ref} exists in the registry with other content ({remote}); pushing this build over it")
    docker_engine.engine_call(f"docker tag {ref}", client.tag, image.id, repository, tag=tag)
    render.info(f"{settings.name}: pushing {ref}")
    log = PushLog(registry=settings.registry, say=lambda line: render.info(f"{settings.name}: {line}"), secrets=auth.secrets)
    try:
        stream = client.push(repository, tag=tag, stream=True, decode=True, auth_config=auth.config)
        for record in docker_engine.records(stream, f"the push to {settings.registry}"):
            log.feed(record)
    except docker.errors.APIError as err:
        raise docker_engine.push_failure(docker_engine.first_line(err), settings.registry, auth.secrets) from None
    digest = log.result_digest()
    skipped = not any(p.status == "pushed" for p in log.layers.values())
    note = "no layer uploaded, registry already had them" if skipped else f"{log.uploaded_bytes / 1e6:.1f} MB uploaded"
    render.info(f"{settings.name}: pushed {ref} -> {digest} ({note})")
    return _result(settings, image, digest, log.uploaded_bytes, False, started)


def remote_digest(client: Any, ref: str, auth: RegistryAuth) -> str | None:
    """The registry's manifest digest for ``ref`` (None when it lacks the tag)."""
    try:
        answer = client.inspect_distribution(ref, auth_config=auth.config)
    except docker.errors.NotFound:
        return None
    except docker.errors.APIError as err:
        message = docker_engine.first_line(err)
        if "manifest unknown" in message or "name unknown" in message or "not found" in message.lower():
            return None
        raise docker_engine.push_failure(message, auth.registry, auth.secrets) from None
    except docker.errors.DockerException as err:
        raise docker_engine.push_failure(docker_engine.first_line(err), auth.registry, auth.secrets) from None
    return (answer.get("Descriptor") or {}).get("digest")


def local_digests(client: Any, image_id: str, repository: str) -> set[str]:
    """Manifest digests this engine pushed (or pulled) the image as, in ``repository``."""
    info = docker_engine.engine_call("image inspect", client.inspect_image, image_id)
    return {d.split("@", 1)[1] for d in info.get("RepoDigests") or [] if d.split("@", 1)[0] == repository}


def _result(settings: Any, image: ImageResult, digest: str, uploaded: int, skipped: bool, started: float) -> PushResult:
    return PushResult(
        account=settings.name, registry=settings.registry, repository=settings.repository, tag=image.tag, digest=digest,
        image_id=image.id, uploaded_bytes=uploaded, skipped=skipped, sandbox=settings.sandbox,
        seconds=round(time.monotonic() - started, 2),
    )


def result_rows(results: list[PushResult]) -> list[tuple[str, ...]]:
    """Rows for ``render.print_table(RESULT_COLUMNS, ...)``."""
    return [
        (r.account, f"{r.repository}:{r.tag}", r.digest, "already there" if r.skipped else f"{r.uploaded_bytes / 1e6:.1f} MB")
        for r in results
    ]


RESULT_COLUMNS = ("account", "image", "digest", "uploaded")


def _load(root: Path) -> dict[str, Any]:
    try:
        data = json.loads((root / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record_push(root: Path, result: PushResult) -> None:
    """Keep the latest push per account and registry (a sandbox push never hides the real one)."""
    data = _load(root)
    entry = data.setdefault(result.account, {"latest": None, "registries": {}})
    entry["registries"][result.registry] = asdict(result)
    entry["latest"] = result.registry
    path = root / STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def pushed_image(root: Path, account_name: str, registry: str | None = None) -> PushResult | None:
    """What was last pushed for ``account_name`` (to ``registry`` if given), or None."""
    entry = _load(root).get(account_name)
    if not entry:
        return None
    record = entry.get("registries", {}).get(registry or entry.get("latest"))
    if not record:
        return None
    fields = set(PushResult.__dataclass_fields__)
    return PushResult(**{k: v for k, v in record.items() if k in fields})
