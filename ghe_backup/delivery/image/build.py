"""The image stage: build the ghe-backup image with a content tag, stream its log, smoke-test it.

Steps: compute the content tag (the context and the non-default build arguments) -> reuse an
identical, already smoke-tested image or build one from git's view of the context (log streamed
live) -> run ``--version`` in it with no network -> record the result in ``.state/image.json``.

The build runs with host networking: its pip step installs the runtime deps from PyPI (the
sandbox engine's default network is none). When the site names a CA bundle for pip, it goes
into the context as ``pip-ca.pem`` for the pip step only; it is not part of the tag or the image.
"""

from __future__ import annotations

import dataclasses
import io
import tarfile
import time
from collections.abc import Callable
from typing import Any

import docker.errors

from ghe_backup import __version__
from ghe_backup.delivery.image.args import DEFAULT_ARGS
from ghe_backup.delivery.image.buildlog import BuildLog
from ghe_backup.delivery.image.context import FIXED_MTIME, content_tag, context_archive, context_files
from ghe_backup.delivery.image.records import ImageResult, image_records, record_image
from ghe_backup.delivery.image.smoke import smoke_test
from ghe_backup.delivery.target import BuildSite
from ghe_backup.errors import StageFailed
from ghe_backup.plumbing import deferred, engine
from ghe_backup.plumbing.progress import say

IMAGE_NAME = "ghe-backup"
#: Where the Dockerfile's pip step looks for extra CA certificates (optional).
PIP_CA_MEMBER = "pip-ca.pem"


def tag_args(client: Any, args: dict[str, str]) -> dict[str, str]:
    """The non-default arguments, with the base image pinned to its id when it is local."""
    changed = {k: v for k, v in args.items() if DEFAULT_ARGS.get(k) != v}
    if "BASE_IMAGE" in changed:
        found = engine.inspect_image(client, changed["BASE_IMAGE"])
        changed["BASE_IMAGE"] = found["Id"] if found else changed["BASE_IMAGE"]
    if changed.get("BACKUP_UTILS_SOURCE") == "context":
        changed.pop("BACKUP_UTILS_VERSION", None)  # the stand-in's files are hashed with the context
    return changed


def image_name(client: Any, site: BuildSite) -> tuple[str, Any]:
    """``ghe-backup:<content tag>`` for the site's context and arguments, and the tag itself."""
    tag = content_tag(site.root, tag_args(client, dict(site.build_args)))
    return f"{IMAGE_NAME}:{tag.tag}", tag


def build_image(site: BuildSite, *, nocache: bool = False, report: Callable[[str], None] = say) -> ImageResult:
    started = time.monotonic()
    args = dict(site.build_args)
    client = engine.connect(site.docker_host, timeout=site.engine_timeout)
    name, tag = image_name(client, site)
    reused = None if nocache else _reusable(site, client, name)
    if reused is not None:
        report(f"image {name} is up to date (same content, smoke-tested); nothing to build")
        return dataclasses.replace(
            reused, built=False, seconds=round(time.monotonic() - started, 2), steps=0, rebuilt_steps=0
        )
    deferred.before_change()
    report(f"building {name} on {args['BASE_IMAGE']}")
    log = BuildLog(say=report)
    # The commit the tree is based on; a dirty tree shows in the tag's hash suffix and in
    # .state/image.json, not here, so a code-only change re-runs only the code's COPY.
    labels = {"REVISION": tag.revision, "VERSION": __version__}
    try:
        stream = _start_build(client, site, name, {**args, **labels}, nocache)
        for record in engine.records(stream, "the image build", client):
            log.feed(record)
    except docker.errors.APIError as err:  # the classic builder rejects a bad Dockerfile before any step
        raise StageFailed(f"image build of {name} failed: Dockerfile error: {engine.first_line(err)}") from None
    if not log.image_id:
        raise StageFailed(f"image build of {name} ended without an image id", hint="see the build log above")
    smoke = smoke_test(client, name)
    info = engine.inspect_image(client, name) or {}
    base = engine.inspect_image(client, args["BASE_IMAGE"])
    result = ImageResult(
        image=name,
        tag=tag.tag,
        id=info.get("Id", log.image_id),
        size=int(info.get("Size", 0)),
        base_image=args["BASE_IMAGE"],
        base_size=int(base["Size"]) if base else None,
        revision=tag.revision,
        dirty=tag.dirty,
        built=True,
        seconds=round(time.monotonic() - started, 2),
        steps=log.steps,
        rebuilt_steps=log.rebuilt,
        smoke=smoke,
    )
    record_image(site.state_dir, result)
    report(
        f"built {name} ({result.id[7:19]}, {result.size / 1e6:.1f} MB; {log.rebuilt} of {log.steps} steps rebuilt); smoke test: {smoke}"
    )
    return result


def _start_build(client: Any, site: BuildSite, name: str, args: dict[str, str], nocache: bool) -> Any:
    context = context_archive(site.root, context_files(site.root))
    if site.pip_cert is not None:
        context = with_member(context, PIP_CA_MEMBER, site.pip_cert.read_bytes())
    try:
        return client.build(
            fileobj=context,
            custom_context=True,
            tag=name,
            buildargs=args,
            decode=True,
            rm=True,
            forcerm=True,
            nocache=nocache,
            pull=False,
            network_mode="host",
            timeout=client.timeout,  # the SDK's build has no timeout of its own: a hung engine would hold it for ever
        )
    except docker.errors.APIError:
        raise
    except (docker.errors.DockerException, *engine.CONNECTION_LOST) as err:
        raise engine.lost(err, "the image build", client) from None


def with_member(context: io.BytesIO, name: str, data: bytes) -> io.BytesIO:
    """The context tar with one more file (appended; the tag was computed without it)."""
    context.seek(0)
    buffer = io.BytesIO(context.read())
    with tarfile.open(fileobj=buffer, mode="a") as archive:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(data), 0o644, FIXED_MTIME
        archive.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def _reusable(site: BuildSite, client: Any, name: str) -> ImageResult | None:
    record = image_records(site.state_dir).get(name.split(":", 1)[1])
    if record is None:
        return None
    found = engine.inspect_image(client, name)
    return record if found is not None and found["Id"] == record.id else None


def current_image(site: BuildSite, client: Any = None) -> ImageResult:
    """The built image for the current content (the tag is recomputed, not trusted from state)."""
    client = client or engine.connect(site.docker_host, timeout=site.engine_timeout)
    name, tag = image_name(client, site)
    info = engine.inspect_image(client, name)
    if info is None:
        raise StageFailed(
            f"image {name} is not built (the content changed since the last build?)", hint="run: inv image"
        )
    record = image_records(site.state_dir).get(tag.tag)
    if record is not None and record.id == info["Id"]:
        return record
    base = engine.inspect_image(client, site.build_args["BASE_IMAGE"])
    return ImageResult(
        image=name,
        tag=tag.tag,
        id=info["Id"],
        size=int(info["Size"]),
        base_image=site.build_args["BASE_IMAGE"],
        base_size=int(base["Size"]) if base else None,
        revision=tag.revision,
        dirty=tag.dirty,
        built=False,
        seconds=0.0,
    )
