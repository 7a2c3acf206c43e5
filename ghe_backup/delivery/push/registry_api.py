"""A small client of the Registry HTTP API v2 (Distribution, ECR, any OCI registry): manifests and blobs.

Enough to copy an image between registries by digest, as ``crane copy`` does, without an engine:
read a manifest (by tag or digest), ask for and stream blobs, upload blobs (monolithic: POST then
one PUT, which ECR handles; chunked: PATCHes then a PUT, for registries or proxies that cap a
request's size: used when a monolithic PUT is answered 413) and put a manifest.

Authentication answers the registry's challenge: none until asked (loopback registries usually
ask nothing), ``Basic`` with the account's credentials (ECR's token, or the Docker config), or the
``Bearer`` token dance (a token for the repository's scope from the realm the registry names).
Loopback registries are spoken to over plain HTTP, as the engine trusts them; others over HTTPS.
Credentials and tokens never appear in errors or output.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urljoin

import requests

from ghe_backup.errors import StageFailed, Unreachable
from ghe_backup.plumbing.redact import redact_text

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
IMAGE_MANIFESTS = (DOCKER_MANIFEST, OCI_MANIFEST)
INDEXES = (DOCKER_LIST, OCI_INDEX)
ACCEPT = ", ".join((*IMAGE_MANIFESTS, *INDEXES))
#: connect, read (a layer of a few hundred MB streams through one request)
TIMEOUT = (10.0, 300.0)
#: Chunk size for chunked uploads; 5 MiB is the smallest part S3-backed registries take.
CHUNK = 16 * 1024 * 1024
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


class BlobSource(Protocol):
    """What an upload reads from: a ``BlobStream`` from another registry, or a local file in tests."""

    def read(self, size: int = -1, /) -> bytes: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc: object) -> Any: ...


@dataclass(frozen=True)
class Credentials:
    """A login for one registry: a user and password (an ECR token is one), or an identity token."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    identity_token: str | None = field(default=None, repr=False)

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.password, self.identity_token) if s)


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


def parse_challenge(header: str) -> tuple[str, dict[str, str]] | None:
    """``Bearer realm="...",service="...",scope="..."`` -> ("bearer", {...}); None if there is none."""
    scheme, _, rest = header.strip().partition(" ")
    if not scheme:
        return None
    return scheme.lower(), dict(_CHALLENGE_PARAM.findall(rest))


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
        self._credentials_source = credentials
        self._credentials: Credentials | None = None
        self._asked = False
        self._basic: str | None = None  # the header, once the registry asked for Basic
        self._bearer: dict[str, str] = {}  # scope -> token
        self.session = session or requests.Session()
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

    # -- requests and authentication ------------------------------------------------------------

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
        url = path if path.startswith(("http://", "https://")) else self.base + path
        scope = f"repository:{name}:{'pull,push' if push else 'pull'}"
        replayable = data is None or isinstance(data, bytes | str)
        for attempt in range(2):
            sent = {**(headers or {}), **self._authorization(scope)}
            try:
                answer = self.session.request(
                    method, url, headers=sent, data=data, stream=stream, timeout=TIMEOUT, allow_redirects=True
                )
            except requests.exceptions.RequestException as err:
                raise Unreachable(f"registry {self.host} is not reachable: {self._redact(str(err))}") from None
            if answer.status_code != 401 or attempt or not replayable or not self._answer_challenge(answer, scope):
                return answer
            answer.close()
        return answer

    def _authorization(self, scope: str) -> dict[str, str]:
        if scope in self._bearer:
            return {"Authorization": f"Bearer {self._bearer[scope]}"}
        return {"Authorization": self._basic} if self._basic else {}

    def _login(self) -> Credentials | None:
        if not self._asked:
            self._credentials, self._asked = self._credentials_source(), True
        return self._credentials

    def _answer_challenge(self, answer: requests.Response, scope: str) -> bool:
        """Take what the 401 asks for (a Basic login or a Bearer token); False if nothing can be given."""
        challenge = parse_challenge(answer.headers.get("WWW-Authenticate", ""))
        if challenge is None:
            return False
        scheme, params = challenge
        login = self._login()
        if scheme == "basic":
            if login is None or not login.username or self._basic:
                return False
            pair = f"{login.username}:{login.password or ''}".encode()
            self._basic = "Basic " + base64.b64encode(pair).decode()
            return True
        if scheme == "bearer" and params.get("realm"):
            # ask for what this client will do in the repository (pull, or pull and push), and for
            # what the registry named if that differs, so one token serves the whole session
            scopes = [scope, *([params["scope"]] if params.get("scope") not in (None, "", scope) else [])]
            self._bearer[scope] = self._token(params, scopes, login)
            return True
        return False

    def _token(self, params: dict[str, str], scopes: list[str], login: Credentials | None) -> str:
        """The Bearer token dance: the realm grants a token for the scopes (anonymously or for the login)."""
        query = {"service": params.get("service", ""), "scope": scopes}
        try:
            if login is not None and login.identity_token:  # docker login's refresh token (OAuth2)
                answer = self.session.post(
                    params["realm"],
                    data={
                        "service": query["service"],
                        "scope": " ".join(scopes),  # OAuth2: one space-separated field
                        "grant_type": "refresh_token",
                        "refresh_token": login.identity_token,
                        "client_id": "ghe-backup",
                    },
                    timeout=TIMEOUT,
                )
            else:
                basic = (login.username, login.password or "") if login is not None and login.username else None
                answer = self.session.get(params["realm"], params=query, auth=basic, timeout=TIMEOUT)
        except requests.exceptions.RequestException as err:
            raise Unreachable(f"the token service of {self.host} is not reachable: {self._redact(str(err))}") from None
        if answer.status_code in (401, 403):
            raise self._refused(f"its token service refused a token for {' '.join(scopes)}")
        self._check(answer, f"get a token for {' '.join(scopes)}")
        try:
            found = answer.json()
            return str(found.get("token") or found["access_token"])
        except (ValueError, KeyError, AttributeError):
            raise StageFailed(f"the token service of {self.host} answered without a token") from None

    # -- errors -------------------------------------------------------------------------------

    def _check(self, answer: requests.Response, what: str, expected: tuple[int, ...] = (200,)) -> None:
        if answer.status_code in expected:
            return
        if answer.status_code in (401, 403):
            raise self._refused(f"it would not let us {what} (HTTP {answer.status_code})")
        raise StageFailed(f"registry {self.host} could not {what}: HTTP {answer.status_code}{self._detail(answer)}")

    def _refused(self, detail: str) -> StageFailed:
        return StageFailed(
            f"registry {self.host} refused the credentials: {detail}",
            hint=f"check the login for {self.host} (ECR: the account's AWS credentials; else docker login {self.host})",
        )

    def _detail(self, answer: requests.Response) -> str:
        try:
            errors = answer.json().get("errors") or []
            first = errors[0]
            return self._redact(f" ({first.get('code')}: {first.get('message')})")
        except (ValueError, AttributeError, IndexError, TypeError):
            return ""

    def _redact(self, text: str) -> str:
        login = self._credentials
        return redact_text(text, [*(login.secrets if login else ()), *self._bearer.values()])


class BlobStream:
    """A blob being read from a registry: ``read`` hashes and counts, the end is checked against the digest."""

    def __init__(self, answer: requests.Response, blob: Descriptor, host: str):
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
