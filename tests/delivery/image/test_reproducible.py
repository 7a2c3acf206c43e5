"""Reproducible layers: the same inputs built twice without any build cache give the same layers,
so pushing the rebuild uploads nothing (the classic builder, as `docker builder prune -af` would leave it)."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import tarfile
import uuid

import docker.errors
import pytest

from ghe_backup.delivery.image.build import build_image
from ghe_backup.delivery.push.push import push_image, push_to_account
from ghe_backup.plumbing import engine
from ghe_backup.sandbox import registry as registry_component
from ghe_backup.sandbox.processes import stop_process
from support.context_repo import make_repo, registry_targets, sandbox_site

pytestmark = pytest.mark.integration
FIXED_MTIME = 315532800  # the Dockerfile's SOURCE_DATE_EPOCH


@pytest.fixture
def fresh_registry(tmp_path):
    address = registry_component.serve(tmp_path / "registry", "fresh", registry_component.free_port(5850))
    yield address
    stop_process(tmp_path / "registry", "fresh")


def layer_entries(client, image_id):
    """Every layer's tar entries above the base image: (name, type, mode, uid, gid, mtime)."""
    with tarfile.open(fileobj=io.BytesIO(b"".join(client.get_image(image_id)))) as saved:
        manifest = json.load(saved.extractfile("manifest.json"))[0]
        for member in manifest["Layers"][1:]:
            with tarfile.open(fileobj=io.BytesIO(saved.extractfile(member).read())) as layer:
                yield from ((m.name, m.type, m.mode & 0o7777, m.uid, m.gid, m.mtime) for m in layer.getmembers())


def test_a_no_cache_rebuild_has_the_same_layers_and_its_push_uploads_nothing(
    sandbox_engine_registry, fresh_registry, tmp_path
):
    site = sandbox_site(make_repo(tmp_path / "repo"), sandbox_engine_registry)
    client = engine.connect(site.docker_host)
    first = build_image(site, nocache=True)
    made = [first.id]
    [pushed] = push_image(registry_targets(site, fresh_registry, "prod"))
    assert pushed.uploaded_bytes > 30_000_000  # a fresh registry: everything, the deps' venv included
    second = build_image(site, nocache=True)
    try:
        assert second.built and second.rebuilt_steps == second.steps - 6  # all but the ARG before FROM and 5 FROMs ran
        assert second.id != first.id  # the configuration carries the build time...
        layers = [client.inspect_image(i)["RootFS"]["Layers"] for i in (first.id, second.id)]
        assert layers[0] == layers[1] and len(layers[0]) == 4  # ...the layers do not: base, venv, backup-utils, code

        [target] = registry_targets(site, fresh_registry, "prod")
        rebuilt = push_to_account(client, dataclasses.replace(second, tag="rebuilt"), target)
        assert not rebuilt.skipped and rebuilt.uploaded_bytes == 0  # pushed: every layer was there already
        [again] = push_image([target])  # the content tag: the same content, kept with the registry's digest
        assert again.skipped and again.digest == pushed.digest and again.uploaded_bytes == 0

        entries = list(layer_entries(client, second.id))
        assert {(uid, gid) for _, _, _, uid, gid, _ in entries} == {(0, 0)}  # root-owned, as COPY makes it
        assert {mtime for *_, mtime in entries} == {FIXED_MTIME}
        modes = {(kind, mode) for _, kind, mode, *_ in entries}
        assert modes <= {
            (tarfile.REGTYPE, 0o644),
            (tarfile.REGTYPE, 0o755),
            (tarfile.DIRTYPE, 0o755),
            (tarfile.SYMTYPE, 0o777),
        }
        names = {name for name, *_ in entries}
        assert not [n for n in names if n.startswith(("opt/venv/lib/python3.11/site-packages/pip/", "tmp/"))]
        assert any(n.endswith(".pyc") for n in names)  # byte-code is there, compiled without timestamps

        # and the cache still works after no-cache builds: a code change runs only the code's steps
        module = site.root / "ghe_backup" / "backup" / "__init__.py"
        module.write_text(module.read_text() + f"# a one-line change {uuid.uuid4()}\n")  # new to the cache
        changed = build_image(site)
        made.append(changed.id)
        assert changed.rebuilt_steps == 4, "the code stage's COPY, ARG and RUN, and the image's last COPY"
        assert client.inspect_image(changed.id)["RootFS"]["Layers"][:3] == layers[1][:3]
    finally:  # our tags and the builds this test made (each id is new: it holds its build time)
        for name in (f"{fresh_registry}/ghe-backup:rebuilt", f"{fresh_registry}/ghe-backup:{second.tag}", *made):
            with contextlib.suppress(docker.errors.APIError):
                client.remove_image(name)
