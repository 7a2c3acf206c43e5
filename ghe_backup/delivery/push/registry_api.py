"""A small client of the Registry HTTP API v2 (Distribution, ECR, any OCI registry): manifests and blobs.

Enough to copy an image between registries by digest, as ``crane copy`` does, without an engine:
read a manifest (by tag or digest), ask for and stream blobs, upload blobs (monolithic: POST then
one PUT, which ECR handles; chunked: PATCHes then a PUT, for registries or proxies that cap a
request's size: used when a monolithic PUT is answered 413) and put a manifest. How it logs in:
``registry_login``. Loopback registries are spoken to over plain HTTP, as the engine trusts
them; others over HTTPS.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin

import requests

from ghe_backup.delivery.push.manifests import ACCEPT, CHUNK, BlobSource, BlobStream, Descriptor, Manifest
from ghe_backup.delivery.push.registry_login import TIMEOUT, Credentials, Login, refused
from ghe_backup.errors import StageFailed, Unreachable


def split_repository(repository: str) -> tuple[str, str]:
    """``host[:port]/name`` -> (host[:port], name)."""
    host, _, name = repository.partition("/")
    if not name:
        raise ValueError(f"{repository!r} names no repository")
    return host, name


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0].strip("[]") if not host.startswith("[") else host[1:].split("]")[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class RegistryClient:
    """One registry's API; ``credentials`` is asked only when the registry wants a login."""

    def __init__(
        self,
        host: str,
        *,
        credentials: Callable[[], Credentials | None] = lambda: None,
        session: requests.Session | None = None,
        chunk_size: int = CHUNK,
    ):
        self.host = host
        self.base = f"{'http' if is_loopback(host) else 'https'}://{host}"
        self.session = session or requests.Session()
        self.login = Login(host, credentials, self.session)
        self.chunk_size = chunk_size

    # -- manifests ------------------------------------------------------------------------------

    def manifest_digest(self, name: str, reference: str) -> str | None:
        """The digest of ``name:reference`` (tag or digest), or None when the registry lacks it."""
        answer = self._request("HEAD", f"/v2/{name}/manifests/{reference}", name, headers={"Accept": ACCEPT})
        if answer.status_code == 404:
            return None
        self._check(answer, f"look up {name}:{reference}")
        digest = answer.headers.get("Docker-Content-Digest")
        return digest or self.manifest(name, reference).digest  # not every registry sends the header on HEAD

    def manifest(self, name: str, reference: str) -> Manifest | None:
        """The manifest of ``name:reference``, checked against its digest when asked by digest."""
        answer = self._request("GET", f"/v2/{name}/manifests/{reference}", name, headers={"Accept": ACCEPT})
        if answer.status_code == 404:
            return None
        self._check(answer, f"read the manifest of {name}:{reference}")
        body = answer.content
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if reference.startswith("sha256:") and digest != reference:
            raise StageFailed(f"registry {self.host} sent a manifest for {name}@{reference} whose digest is {digest}")
        media_type = answer.headers.get("Content-Type", "").split(";")[0].strip() or json.loads(body).get("mediaType")
        return Manifest(digest=digest, media_type=media_type or "", body=body)

    def put_manifest(self, name: str, reference: str, manifest: Manifest) -> str:
        """Store ``manifest`` as ``name:reference`` (a tag, or its digest); the digest the registry stored."""
        answer = self._request(
            "PUT",
            f"/v2/{name}/manifests/{reference}",
            name,
            push=True,
            headers={"Content-Type": manifest.media_type},
            data=manifest.body,
        )
        self._check(answer, f"put the manifest {name}:{reference}", expected=(201,))
        return answer.headers.get("Docker-Content-Digest") or manifest.digest

    def config_blob(self, name: str, manifest: Manifest) -> dict[str, Any]:
        """The image configuration a manifest points to (layers' diff ids, the runtime config)."""
        if manifest.config is None:
            raise StageFailed(f"{self.host}/{name}@{manifest.digest} is not an image manifest")
        with self.open_blob(name, manifest.config) as stream:
            return json.loads(b"".join(stream))

    # -- blobs ----------------------------------------------------------------------------------

    def has_blob(self, name: str, digest: str, *, push: bool = False) -> bool:
        answer = self._request("HEAD", f"/v2/{name}/blobs/{digest}", name, push=push)
        if answer.status_code == 404:
            return False
        self._check(answer, f"look up blob {digest} in {name}")
        return True

    def open_blob(self, name: str, blob: Descriptor) -> BlobStream:
        """A blob's bytes as a stream, checked against its digest and size as they are read."""
        answer = self._request("GET", f"/v2/{name}/blobs/{blob.digest}", name, stream=True)
        self._check(answer, f"read blob {blob.digest} of {name}")
        return BlobStream(answer, blob, self.host)

    def upload_blob(self, name: str, blob: Descriptor, open_source: Callable[[], BlobSource]) -> str:
        """Upload ``blob`` to ``name``, read from ``open_source()``: monolithic, or in chunks when the
        registry (or a proxy) refuses one request that large (413). How it went: "monolithic"/"chunked"."""
        location = self._start_upload(name)
        with open_source() as source:
            answer = self._request(
                "PUT",
                self._with_digest(location, blob.digest),
                name,
                push=True,
                headers={"Content-Type": "application/octet-stream"},
                data=source,
            )
        if answer.status_code == 413:
            self._request("DELETE", location, name, push=True)  # drop the refused session; chunks get a new one
            with open_source() as source:
                self.upload_chunked(name, blob, source)
            return "chunked"
        self._check(answer, f"upload blob {blob.digest} to {name}", expected=(201,))
        return "monolithic"

    def upload_chunked(self, name: str, blob: Descriptor, source: BlobSource) -> None:
        """PATCH ``chunk_size`` pieces (each with its Content-Range), then PUT the digest with no body."""
        location, offset = self._start_upload(name), 0
        while piece := source.read(self.chunk_size):
            end = offset + len(piece) - 1
            answer = self._request(
                "PATCH",
                location,
                name,
                push=True,
                headers={"Content-Type": "application/octet-stream", "Content-Range": f"{offset}-{end}"},
                data=piece,
            )
            self._check(answer, f"upload a chunk of {blob.digest} to {name}", expected=(202,))
            location, offset = self._absolute(answer.headers.get("Location") or location), end + 1
        answer = self._request("PUT", self._with_digest(location, blob.digest), name, push=True)
        self._check(answer, f"finish the upload of {blob.digest} to {name}", expected=(201,))

    def _start_upload(self, name: str) -> str:
        answer = self._request("POST", f"/v2/{name}/blobs/uploads/", name, push=True)
        self._check(answer, f"start an upload to {name}", expected=(202,))
        location = answer.headers.get("Location")
        if not location:
            raise StageFailed(f"registry {self.host} started an upload to {name} without a Location")
        return self._absolute(location)

    def _absolute(self, location: str) -> str:
        return urljoin(self.base + "/", location)

    @staticmethod
    def _with_digest(location: str, digest: str) -> str:
        return f"{location}{'&' if '?' in location else '?'}digest={digest}"

    # -- requests ---------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        name: str,
        *,
        push: bool = False,
        headers: dict[str, str] | None = None,
        data: Any = None,
        stream: bool = False,
    ) -> requests.Response:
        """One request in ``name``'s pull (or pull,push) scope, sent again once after a 401 the login
        could answer (a body that is a stream cannot be sent again: uploads log in with their POST)."""
        url = path if path.startswith(("http://", "https://")) else self.base + path
        scope = f"repository:{name}:{'pull,push' if push else 'pull'}"
        replayable = data is None or isinstance(data, bytes | str)
        for attempt in range(2):
            sent = {**(headers or {}), **self.login.authorization(scope)}
            try:
                answer = self.session.request(
                    method, url, headers=sent, data=data, stream=stream, timeout=TIMEOUT, allow_redirects=True
                )
            except requests.exceptions.RequestException as err:
                raise Unreachable(f"registry {self.host} is not reachable: {self.login.redact(str(err))}") from None
            challenge = answer.headers.get("WWW-Authenticate", "")
            if answer.status_code != 401 or attempt or not replayable or not self.login.answer(challenge, scope):
                return answer
            answer.close()
        return answer

    # -- errors -------------------------------------------------------------------------------

    def _check(self, answer: requests.Response, what: str, expected: tuple[int, ...] = (200,)) -> None:
        if answer.status_code in expected:
            return
        if answer.status_code in (401, 403):
            raise refused(self.host, f"it would not let us {what} (HTTP {answer.status_code})")
        raise StageFailed(f"registry {self.host} could not {what}: HTTP {answer.status_code}{self._detail(answer)}")

    def _detail(self, answer: requests.Response) -> str:
        try:
            errors = answer.json().get("errors") or []
            first = errors[0]
            return self.login.redact(f" ({first.get('code')}: {first.get('message')})")
        except (ValueError, AttributeError, IndexError, TypeError):
            return ""
