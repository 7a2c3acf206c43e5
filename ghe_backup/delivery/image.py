"""The image stage: build the ghe-backup image with a content tag, stream its log, smoke-test it.

Steps: choose build arguments (the sandbox uses its offline base image and the stand-in
backup-utils) -> compute the content tag -> reuse an identical, already smoke-tested image or
build one from git's view of the context (log streamed live) -> run ``--version`` in it with
no network -> record the result in ``.state/image.json`` (for push, deploy and benchmarks).

The build runs with host networking: its pip step installs the runtime deps from PyPI (the
sandbox engine's default network is none). When the host's pip trusts extra certificates
(``PIP_CERT``, or Invoke config ``ghe.image.pip_cert``), that bundle goes into the context as
``pip-ca.pem`` for the pip step only; it is not part of the tag and not in the final image.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import tarfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import docker.errors

from ghe_backup import __version__
from ghe_backup.delivery import docker_engine, render
from ghe_backup.delivery.streams import BuildLog
from ghe_backup.delivery.tagging import FIXED_MTIME, content_tag, context_archive, context_files
from ghe_backup.errors import StageFailed, Unreachable

IMAGE_NAME = "ghe-backup"
STATE_FILE = Path(".state/image.json")
KEEP_RECORDS = 20
#: The Dockerfile's defaults; only arguments that differ from these go into the tag's suffix.
DEFAULT_ARGS = {"BASE_IMAGE": "python:3.11-slim", "BACKUP_UTILS_SOURCE": "git", "BACKUP_UTILS_VERSION": "v3.10.0"}
CONFIG_KEYS = {"base_image": "BASE_IMAGE", "backup_utils_source": "BACKUP_UTILS_SOURCE", "backup_utils_version": "BACKUP_UTILS_VERSION"}
#: Where the Dockerfile's pip step looks for extra CA certificates (optional).
PIP_CA_MEMBER = "pip-ca.pem"


@dataclass
class ImageResult:
    image: str  # ghe-backup:<tag>
    tag: str
    id: str
    size: int  # bytes, base included
    base_image: str
    base_size: int | None
    revision: str
    dirty: bool
    built: bool  # False when an identical, smoke-tested image was already there
    seconds: float
    steps: int = 0
    rebuilt_steps: int = 0  # steps that ran (not from the cache)
    smoke: str = ""

    @property
    def app_size(self) -> int | None:
        return self.size - self.base_size if self.base_size is not None else None


def build_args(*, sandbox: bool, config: Any = None, base_image: str | None = None, root: Path | None = None) -> dict[str, str]:
    """The content-relevant build arguments: defaults < sandbox < Invoke config ghe.image.* < flag."""
    args = dict(DEFAULT_ARGS)
    section = _config_section(config)
    if sandbox:
        if not (base_image or section.get("base_image")):
            args["BASE_IMAGE"] = sandbox_base_image(root)
        args["BACKUP_UTILS_SOURCE"] = "context"  # no network to clone from
    for key, arg in CONFIG_KEYS.items():
        if section.get(key):
            args[arg] = str(section[key])
    if base_image:
        args["BASE_IMAGE"] = base_image
    return args


def sandbox_base_image(root: Path | None) -> str:
    from ghe_backup.delivery.config import REPO_ROOT
    from ghe_backup.sandbox import SandboxState

    name = SandboxState.load(root or REPO_ROOT).endpoints.get("base_image")
    if not name:
        raise Unreachable("the sandbox's base image is not built", hint="start the sandbox: inv sandbox.up")
    return name


def docker_host(root: Path, sandbox: bool) -> str | None:
    """The sandbox's engine when targeting it, else DOCKER_HOST or the default socket."""
    if not sandbox:
        return None
    from ghe_backup.sandbox import SandboxState

    return SandboxState.load(root).endpoints.get("docker_host")


def tag_args(client: Any, args: dict[str, str]) -> dict[str, str]:
    """The non-default arguments, with the base image pinned to its id when it is local."""
    changed = {k: v for k, v in args.items() if DEFAULT_ARGS.get(k) != v}
    if "BASE_IMAGE" in changed:
        changed["BASE_IMAGE"] = _image_id(client, changed["BASE_IMAGE"]) or changed["BASE_IMAGE"]
    if changed.get("BACKUP_UTILS_SOURCE") == "context":
        changed.pop("BACKUP_UTILS_VERSION", None)  # the stand-in's files are hashed with the context
    return changed


def build_image(root: Path, *, sandbox: bool, config: Any = None, base_image: str | None = None, nocache: bool = False) -> ImageResult:
    started = time.monotonic()
    args = build_args(sandbox=sandbox, config=config, base_image=base_image, root=root)
    client = docker_engine.connect(docker_host(root, sandbox))
    tag = content_tag(root, tag_args(client, args))
    name = f"{IMAGE_NAME}:{tag.tag}"
    reused = None if nocache else _reusable(root, client, name)
    if reused is not None:
        render.info(f"image {name} is up to date (same content, smoke-tested); nothing to build")
        return dataclasses.replace(reused, built=False, seconds=round(time.monotonic() - started, 2), steps=0, rebuilt_steps=0)
    render.info(f"building {name} on {args['BASE_IMAGE']}")
    log = BuildLog(say=render.info)
    # The commit the tree is based on; a dirty tree shows in the tag's hash suffix and in
    # .state/image.json, not here, so a code-only change re-runs only the code's COPY.
    labels = {"REVISION": tag.revision, "VERSION": __version__}
    try:
        for record in docker_engine.records(_start_build(client, root, name, {**args, **labels}, nocache, config), "the image build"):
            log.feed(record)
    except docker.errors.APIError as err:  # the classic builder rejects a bad Dockerfile before any step
        raise StageFailed(f"image build of {name} failed: Dockerfile error: {docker_engine.first_line(err)}") from None
    if not log.image_id:
        raise StageFailed(f"image build of {name} ended without an image id", hint="see the build log above")
    rebuilt = log.rebuilt
    smoke = smoke_test(client, name)
    info = docker_engine.engine_call("image inspect", client.inspect_image, name)
    result = ImageResult(
        image=name, tag=tag.tag, id=info["Id"], size=int(info["Size"]), base_image=args["BASE_IMAGE"],
        base_size=_image_size(client, args["BASE_IMAGE"]), revision=tag.revision, dirty=tag.dirty, built=True,
        seconds=round(time.monotonic() - started, 2), steps=log.steps, rebuilt_steps=rebuilt, smoke=smoke,
    )
    record_image(root, result)
    render.info(f"built {name} ({result.id[7:19]}, {result.size / 1e6:.1f} MB; {rebuilt} of {log.steps} steps rebuilt); smoke test: {smoke}")
    return result


def _start_build(client: Any, root: Path, name: str, args: dict[str, str], nocache: bool, config: Any = None) -> Any:
    context = context_archive(root, context_files(root))
    cert = pip_cert(config)
    if cert is not None:
        context = _with_member(context, PIP_CA_MEMBER, cert.read_bytes())
    try:
        return client.build(
            fileobj=context, custom_context=True, tag=name, buildargs=args,
            decode=True, rm=True, forcerm=True, nocache=nocache, pull=False, network_mode="host",
        )
    except docker.errors.APIError:
        raise
    except docker.errors.DockerException as err:
        raise Unreachable(f"Docker engine went away during the image build: {docker_engine.first_line(err)}") from None


#: Where the host's trusted CAs are named, in order; the build's pip trusts what the host trusts
#: (behind a TLS-inspecting proxy, the public CAs of the base image are not enough).
CA_VARIABLES = ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def pip_cert(config: Any = None, system_bundle: Path = SYSTEM_CA_BUNDLE) -> Path | None:
    """The CA bundle for pip in the build: ghe.image.pip_cert, PIP_CERT, SSL_CERT_FILE,
    REQUESTS_CA_BUNDLE, else the host's system bundle if it has one."""
    named = [("ghe.image.pip_cert", _config_section(config).get("pip_cert"))]
    named += [(name, os.environ.get(name)) for name in CA_VARIABLES]
    for source, value in named:
        if value:
            path = Path(value).expanduser()
            if not path.is_file():
                raise StageFailed(f"the CA bundle for pip ({path}, from {source}) is not a file")
            return path
    return system_bundle if system_bundle.is_file() else None


def _with_member(context: io.BytesIO, name: str, data: bytes) -> io.BytesIO:
    """The context tar with one more file (appended; the tag was computed without it)."""
    context.seek(0)
    buffer = io.BytesIO(context.read())
    with tarfile.open(fileobj=buffer, mode="a") as archive:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(data), 0o644, FIXED_MTIME
        archive.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def smoke_test(client: Any, name: str) -> str:
    """Run ``<entrypoint> --version`` in the image with no network; its output, or StageFailed."""
    container = docker_engine.engine_call(
        "smoke test", client.create_container, name, command=["--version"], network_disabled=True,
        host_config=client.create_host_config(network_mode="none"),
    )
    try:
        docker_engine.engine_call("smoke test", client.start, container)
        status = docker_engine.engine_call("smoke test", client.wait, container, timeout=60)
        output = client.logs(container, stdout=True, stderr=True).decode(errors="replace").strip()
    finally:
        client.remove_container(container, force=True)
    code = status.get("StatusCode")
    if code != 0 or __version__ not in output:
        last = output.splitlines()[-1] if output else "no output"
        raise StageFailed(f"smoke test of {name} failed: '--version' exited {code}: {last}")
    return output.splitlines()[-1]


def _reusable(root: Path, client: Any, name: str) -> ImageResult | None:
    record = image_records(root).get(name.split(":", 1)[1])
    if record is None or _image_id(client, name) != record.id:
        return None
    return record


def _image_id(client: Any, name: str) -> str | None:
    try:
        return client.inspect_image(name)["Id"]
    except docker.errors.NotFound:
        return None


def _image_size(client: Any, name: str) -> int | None:
    try:
        return int(client.inspect_image(name)["Size"])
    except docker.errors.NotFound:
        return None


def _config_section(config: Any) -> dict[str, Any]:
    """Invoke config ``ghe.image`` (base_image, backup_utils_source, backup_utils_version, pip_cert)."""
    try:
        section = config["ghe"]["image"]
    except (TypeError, KeyError, AttributeError):
        return {}
    return dict(section) if section else {}


def image_records(root: Path) -> dict[str, ImageResult]:
    """Recorded builds by tag (newest last)."""
    try:
        data = json.loads((root / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    fields = set(ImageResult.__dataclass_fields__)
    return {tag: ImageResult(**{k: v for k, v in item.items() if k in fields}) for tag, item in data.get("builds", {}).items()}


def record_image(root: Path, result: ImageResult) -> None:
    records = image_records(root)
    records.pop(result.tag, None)
    records[result.tag] = result
    kept = dict(list(records.items())[-KEEP_RECORDS:])
    path = root / STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"last": result.tag, "builds": {t: asdict(r) for t, r in kept.items()}}, indent=2) + "\n")
    tmp.replace(path)


def current_image(root: Path, *, sandbox: bool, config: Any = None, client: Any = None) -> ImageResult:
    """The built image for the current content (the tag is recomputed, not trusted from state)."""
    client = client or docker_engine.connect(docker_host(root, sandbox))
    args = build_args(sandbox=sandbox, config=config, root=root)
    tag = content_tag(root, tag_args(client, args))
    name = f"{IMAGE_NAME}:{tag.tag}"
    info = _inspect(client, name)
    if info is None:
        raise StageFailed(f"image {name} is not built (the content changed since the last build?)", hint="run: inv image")
    record = image_records(root).get(tag.tag)
    if record is not None and record.id == info["Id"]:
        return record
    return ImageResult(
        image=name, tag=tag.tag, id=info["Id"], size=int(info["Size"]), base_image=args["BASE_IMAGE"],
        base_size=_image_size(client, args["BASE_IMAGE"]), revision=tag.revision, dirty=tag.dirty, built=False, seconds=0.0,
    )


def _inspect(client: Any, name: str) -> dict[str, Any] | None:
    try:
        return client.inspect_image(name)
    except docker.errors.NotFound:
        return None
