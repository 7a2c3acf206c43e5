"""Copy an image from one registry to another by digest, without an engine (``crane copy``).

Resolve the tag to a manifest digest in the source, read the manifest by that digest, copy every
blob the destination lacks (config and layers, streamed and checked against their digests; for
an index, every platform's manifest first), then put the same manifest bytes under the tag: the
destination's digest is the source's, so what prod runs is byte for byte what staging ran.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ghe_backup.delivery.push.manifests import Manifest
from ghe_backup.delivery.push.registry_api import RegistryClient
from ghe_backup.errors import StageFailed
from ghe_backup.plumbing.progress import say


@dataclass
class CopyResult:
    digest: str  # the manifest's, the same in both registries
    config_digest: str | None  # the image id (None for an index)
    copied_bytes: int = 0  # blob bytes uploaded to the destination
    copied_blobs: int = 0
    present_blobs: int = 0  # blobs the destination had already


def copy_image(
    source: RegistryClient,
    source_name: str,
    reference: str,
    dest: RegistryClient,
    dest_name: str,
    tag: str,
    *,
    report: Callable[[str], None] = say,
) -> CopyResult:
    """Copy ``source/source_name:reference`` to ``dest/dest_name:tag``; the same manifest digest in both."""
    digest = source.manifest_digest(source_name, reference)
    manifest = source.manifest(source_name, digest) if digest else None
    if manifest is None:
        raise StageFailed(f"{source.host}/{source_name}:{reference} is gone from its registry")
    config = manifest.config
    result = CopyResult(digest=manifest.digest, config_digest=config.digest if config else None)
    _copy_manifest(source, source_name, dest, dest_name, manifest, result, report, tag)
    return result


def _copy_manifest(
    source: RegistryClient,
    source_name: str,
    dest: RegistryClient,
    dest_name: str,
    manifest: Manifest,
    result: CopyResult,
    report: Callable[[str], None],
    reference: str,
) -> None:
    for child in manifest.children():  # an index: each platform's image before the index names it
        found = source.manifest(source_name, child.digest)
        if found is None:
            raise StageFailed(f"{source.host}/{source_name} lacks {child.digest}, which its index names")
        _copy_manifest(source, source_name, dest, dest_name, found, result, report, child.digest)
    for blob in manifest.blobs():
        if dest.has_blob(dest_name, blob.digest, push=True):
            result.present_blobs += 1
            continue
        report(f"copying {blob.digest[:19]} ({blob.size / 1e6:.1f} MB) from {source.host} to {dest.host}")
        dest.upload_blob(dest_name, blob, lambda blob=blob: source.open_blob(source_name, blob))
        result.copied_blobs += 1
        result.copied_bytes += blob.size
    stored = dest.put_manifest(dest_name, reference, manifest)
    if stored != manifest.digest:
        raise StageFailed(f"{dest.host}/{dest_name}:{reference} was stored as {stored}, not {manifest.digest}")
