"""What the Registry API moves: manifests (image and index), blob descriptors, blob streams.

A manifest is kept as the registry's bytes, so copying it keeps its digest. A blob read from a
registry is checked against its digest and size as it streams (``BlobStream``), so a copy never
stores bytes that are not what the manifest names.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from ghe_backup.errors import StageFailed

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
IMAGE_MANIFESTS = (DOCKER_MANIFEST, OCI_MANIFEST)
INDEXES = (DOCKER_LIST, OCI_INDEX)
ACCEPT = ", ".join((*IMAGE_MANIFESTS, *INDEXES))
#: Read and upload pieces; 5 MiB is the smallest part S3-backed registries take.
CHUNK = 16 * 1024 * 1024


@dataclass(frozen=True)
class Descriptor:
    digest: str
    size: int
    media_type: str = ""


@dataclass(frozen=True)
class Manifest:
    digest: str  # sha256 of ``body``: what a deployment pins
    media_type: str
    body: bytes = field(repr=False)

    @property
    def data(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEXES

    @property
    def config(self) -> Descriptor | None:
        found = self.data.get("config")
        return _descriptor(found) if isinstance(found, dict) else None

    def blobs(self) -> list[Descriptor]:
        """An image manifest's config and layers (what must be in a registry before the manifest)."""
        data = self.data
        found = [data["config"], *data.get("layers", [])] if "config" in data else []
        return [_descriptor(d) for d in found]

    def children(self) -> list[Descriptor]:
        """An index's manifests (one per platform)."""
        return [_descriptor(d) for d in self.data.get("manifests", [])] if self.is_index else []


def _descriptor(data: dict[str, Any]) -> Descriptor:
    return Descriptor(digest=str(data["digest"]), size=int(data.get("size", 0)), media_type=data.get("mediaType", ""))


class BlobSource(Protocol):
    """What an upload reads from: a ``BlobStream`` from another registry, or a local file in tests."""

    def read(self, size: int = -1, /) -> bytes: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc: object) -> Any: ...


class BlobStream:
    """A blob being read from a registry: ``read`` hashes and counts, the end is checked against the digest."""

    def __init__(self, answer: Any, blob: Descriptor, host: str):
        self.answer, self.blob, self.host = answer, blob, host
        self.read_bytes = 0
        self._hash = hashlib.sha256()
        self._raw = answer.raw

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(None if size is None or size < 0 else size, decode_content=False)
        self.read_bytes += len(data)
        self._hash.update(data)
        if not data or self.read_bytes >= self.blob.size:
            self._verify(final=not data)
        return data

    def __iter__(self) -> Iterator[bytes]:
        while True:
            piece = self.read(CHUNK)
            if not piece:
                return
            yield piece

    def _verify(self, *, final: bool) -> None:
        if self.read_bytes > self.blob.size or (final and self.read_bytes != self.blob.size):
            raise StageFailed(
                f"blob {self.blob.digest} from {self.host}: {self.read_bytes} bytes, expected {self.blob.size}"
            )
        if self.read_bytes == self.blob.size and "sha256:" + self._hash.hexdigest() != self.blob.digest:
            raise StageFailed(f"blob {self.blob.digest} from {self.host} does not match its digest")

    def __len__(self) -> int:  # requests sends a stream with a length as Content-Length, not chunked
        return self.blob.size

    def __enter__(self) -> BlobStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.answer.close()
