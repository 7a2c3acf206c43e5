"""The Registry HTTP API v2 client and the copy by digest: real Distribution registries (open, htpasswd,
Bearer tokens from a token server) for what registries do, a fake session for what they rarely do."""

from __future__ import annotations

import base64
import hashlib
import io
import json

import pytest

from ghe_backup.delivery.push.manifests import OCI_INDEX, BlobStream, Descriptor, Manifest
from ghe_backup.delivery.push.registry_api import RegistryClient, is_loopback, split_repository
from ghe_backup.delivery.push.registry_copy import copy_image
from ghe_backup.delivery.push.registry_login import Credentials, parse_challenge
from ghe_backup.errors import ExitCode, StageFailed, Unreachable
from ghe_backup.sandbox.processes import stop_process
from support.registries import Bytes, TokenService, put_image, serve

# --- pure parts -----------------------------------------------------------------------------


def test_challenges_are_parsed_with_commas_inside_quotes():
    header = (
        'Bearer realm="https://auth.example.org/token",service="registry.example.org",scope="repository:a/b:pull,push"'
    )
    assert parse_challenge(header) == (
        "bearer",
        {
            "realm": "https://auth.example.org/token",
            "service": "registry.example.org",
            "scope": "repository:a/b:pull,push",
        },
    )
    assert parse_challenge('Basic realm="ecr"') == ("basic", {"realm": "ecr"})
    assert parse_challenge("") is None


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1:5000", True), ("localhost:5000", True), ("[::1]:5000", True), ("127.9.9.9", True)]
    + [
        ("123456789012.dkr.ecr.eu-central-1.amazonaws.com", False),
        ("10.0.0.1:5000", False),
        ("registry.example.org", False),
    ],
)
def test_only_loopback_registries_are_spoken_to_over_plain_http(host, loopback):
    assert is_loopback(host) is loopback
    assert RegistryClient(host).base.startswith("http://" if loopback else "https://")


def test_a_repository_splits_into_host_and_name():
    assert split_repository("registry.example.org/team/ghe-backup") == ("registry.example.org", "team/ghe-backup")
    with pytest.raises(ValueError):
        split_repository("ghe-backup")


def test_credentials_never_show_their_secrets():
    login = Credentials(username="AWS", password="token-value", identity_token="refresh-value")
    assert "token-value" not in repr(login) and "refresh-value" not in repr(login)
    assert login.secrets == ("token-value", "refresh-value")


class FakeRaw:
    def __init__(self, data):
        self.stream = io.BytesIO(data)

    def read(self, size=None, decode_content=False):
        return self.stream.read(-1 if size is None else size)


class FakeAnswer:
    def __init__(self, status=200, headers=None, body=b""):
        self.status_code, self.headers, self.content = status, headers or {}, body
        self.raw = FakeRaw(body)

    def json(self):
        return json.loads(self.content)

    def close(self):
        return None


def blob_of(data: bytes) -> Descriptor:
    return Descriptor(digest="sha256:" + hashlib.sha256(data).hexdigest(), size=len(data))


def test_a_blob_stream_is_checked_against_its_digest_and_size():
    good = b"layer bytes" * 100
    stream = BlobStream(FakeAnswer(body=good), blob_of(good), "r")
    assert b"".join(stream) == good and len(stream) == len(good)
    forged = BlobStream(FakeAnswer(body=b"x" * len(good)), blob_of(good), "r")
    with pytest.raises(StageFailed, match="does not match its digest"):
        b"".join(forged)
    short = BlobStream(FakeAnswer(body=good[:-1]), blob_of(good), "r")
    with pytest.raises(StageFailed, match=f"{len(good) - 1} bytes, expected {len(good)}"):
        b"".join(short)


class FakeSession:
    """Answers an upload as a registry behind a proxy capping request bodies at ``limit`` bytes."""

    def __init__(self, limit):
        self.limit, self.calls, self.received = limit, [], b""

    def request(self, method, url, headers=None, data=None, **_):
        body = data.read() if hasattr(data, "read") else (data or b"")
        self.calls.append((method, url.split("/v2/")[1], len(body), (headers or {}).get("Content-Range")))
        if len(body) > self.limit:
            return FakeAnswer(413)
        if method == "POST":
            return FakeAnswer(202, {"Location": "/v2/app/blobs/uploads/u1?state=x"})
        if method == "PATCH":
            self.received += body
            return FakeAnswer(202, {"Location": "/v2/app/blobs/uploads/u1?state=y"})
        if method == "DELETE":
            return FakeAnswer(204)
        return FakeAnswer(201)


def test_a_monolithic_upload_refused_as_too_large_is_sent_again_in_chunks():
    data = bytes(range(256)) * 40  # 10240 bytes
    session = FakeSession(limit=4096)
    client = RegistryClient("127.0.0.1:1", session=session, chunk_size=4096)
    assert client.upload_blob("app", blob_of(data), lambda: Bytes(data)) == "chunked"
    assert session.received == data
    methods = [(m, size, span) for m, _, size, span in session.calls]
    assert methods == [
        ("POST", 0, None),
        ("PUT", 10240, None),
        ("DELETE", 0, None),
        ("POST", 0, None),
        ("PATCH", 4096, "0-4095"),
        ("PATCH", 4096, "4096-8191"),
        ("PATCH", 2048, "8192-10239"),
        ("PUT", 0, None),
    ]
    assert session.calls[-1][1].endswith(f"state=y&digest={blob_of(data).digest}")


def test_an_unreachable_registry_is_exit_3():
    from ghe_backup.sandbox.registry import free_port

    client = RegistryClient(f"127.0.0.1:{free_port(5999)}")
    with pytest.raises(Unreachable) as err:
        client.manifest_digest("ghe-backup", "latest")
    assert err.value.exit_code == ExitCode.UNREACHABLE and "is not reachable" in str(err.value)


# --- real registries ------------------------------------------------------------------------

LAYERS = [{"a.txt": b"first layer\n" * 1000}, {"b.txt": b"second layer\n" * 5000}]


@pytest.fixture(scope="module")
def tokens():
    service = TokenService("robot", "token-password")
    yield service
    service.close()


@pytest.fixture(scope="module")
def registries(tmp_path_factory, tokens):
    state_dir = tmp_path_factory.mktemp("api-registries")
    names = {"a": {}, "b": {}, "locked": {"htpasswd": ("pusher", "right-password")}, "bearer": {"tokens": tokens}}
    try:
        yield {name: serve(state_dir, name, **options) for name, options in names.items()}
    finally:
        for name in names:
            stop_process(state_dir, name)


def digest_in(address, name, tag, **kwargs):
    return RegistryClient(address, **kwargs).manifest_digest(name, tag)


@pytest.mark.integration
class TestAgainstRegistries:
    def test_copy_by_digest_gives_the_same_manifest_and_copies_only_what_is_missing(self, registries):
        source, dest = RegistryClient(registries["a"]), RegistryClient(registries["b"])
        manifest = put_image(source, "app", "v1", LAYERS)
        lines = []
        first = copy_image(source, "app", "v1", dest, "app", "v1", report=lines.append)
        assert first.digest == manifest.digest == dest.manifest_digest("app", "v1")
        assert first.config_digest == manifest.config.digest and first.copied_blobs == 3 and first.present_blobs == 0
        assert first.copied_bytes == sum(b.size for b in manifest.blobs()) and len(lines) == 3
        assert dest.manifest("app", manifest.digest).body == manifest.body  # byte for byte
        again = copy_image(source, "app", "v1", dest, "app", "v2")
        assert (again.copied_blobs, again.copied_bytes, again.present_blobs) == (0, 0, 3)
        assert dest.manifest_digest("app", "v2") == manifest.digest

    def test_a_missing_tag_is_none_and_a_blob_lookup_answers_both_ways(self, registries):
        client = RegistryClient(registries["a"])
        manifest = put_image(client, "lookup", "v1", LAYERS[:1])
        assert client.manifest_digest("lookup", "nope") is None and client.manifest("nope", "v1") is None
        assert client.has_blob("lookup", manifest.config.digest)
        assert not client.has_blob("lookup", "sha256:" + "0" * 64)
        assert client.config_blob("lookup", manifest)["config"]["Env"] == ["A=1"]

    def test_chunked_uploads_work_against_distribution(self, registries):
        client = RegistryClient(registries["b"], chunk_size=1024)
        data = bytes(range(256)) * 20
        client.upload_chunked("chunks", blob_of(data), Bytes(data))
        assert client.has_blob("chunks", blob_of(data).digest)
        with client.open_blob("chunks", blob_of(data)) as stream:
            assert b"".join(stream) == data

    def test_an_index_is_copied_with_every_platforms_image(self, registries):
        source, dest = RegistryClient(registries["a"]), RegistryClient(registries["b"])
        image = put_image(source, "multi", "amd64", LAYERS[1:])
        body = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    {
                        "mediaType": image.media_type,
                        "digest": image.digest,
                        "size": len(image.body),
                        "platform": {"os": "linux", "architecture": "amd64"},
                    }
                ],
            }
        ).encode()
        index = Manifest(digest="sha256:" + hashlib.sha256(body).hexdigest(), media_type=OCI_INDEX, body=body)
        source.put_manifest("multi", "all", index)
        copied = copy_image(source, "multi", "all", dest, "multi", "all")
        assert copied.digest == index.digest and copied.config_digest is None
        assert dest.manifest("multi", image.digest).body == image.body and copied.copied_blobs == 2

    def test_basic_logins_come_from_the_docker_config_only_when_asked(self, registries, tmp_path, monkeypatch):
        from ghe_backup.delivery.push.registry_auth import docker_config_credentials

        auth = base64.b64encode(b"pusher:right-password").decode()
        (tmp_path / "config.json").write_text(json.dumps({"auths": {registries["locked"]: {"auth": auth}}}))
        monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
        asked = []

        def login():
            asked.append(1)
            return docker_config_credentials(registries["locked"])

        client = RegistryClient(registries["locked"], credentials=login)
        manifest = put_image(client, "locked", "v1", LAYERS[:1])
        assert client.manifest_digest("locked", "v1") == manifest.digest and asked == [1]  # asked once

    def test_wrong_basic_credentials_are_refused_without_showing_them(self, registries):
        wrong = Credentials(username="pusher", password="wrong-password-value")
        client = RegistryClient(registries["locked"], credentials=lambda: wrong)
        with pytest.raises(StageFailed) as err:
            client.manifest_digest("locked", "v1")
        assert "refused the credentials" in str(err.value) and "wrong-password-value" not in str(err.value)
        assert err.value.exit_code == ExitCode.FAILED

    def test_the_bearer_token_dance_gets_a_token_per_scope_from_the_realm(self, registries, tokens):
        login = Credentials(username="robot", password="token-password")
        client = RegistryClient(registries["bearer"], credentials=lambda: login)
        tokens.requests.clear()
        manifest = put_image(client, "team/app", "v1", LAYERS[:1])
        reader = RegistryClient(registries["bearer"], credentials=lambda: login)
        assert reader.manifest_digest("team/app", "v1") == manifest.digest
        scopes = [r["scope"] for r in tokens.requests]
        assert "repository:team/app:pull,push" in scopes and "repository:team/app:pull" in scopes
        assert len(scopes) == 2  # one token per client and scope, reused for every request after
        copy = RegistryClient(registries["a"])
        assert copy_image(reader, "team/app", "v1", copy, "from-bearer", "v1").digest == manifest.digest

    def test_a_token_service_refusing_the_login_is_a_credentials_error(self, registries):
        wrong = Credentials(username="robot", password="not-it")
        with pytest.raises(StageFailed, match="refused the credentials") as err:
            RegistryClient(registries["bearer"], credentials=lambda: wrong).manifest_digest("team/app", "v1")
        assert "not-it" not in str(err.value)

    def test_an_identity_token_from_the_docker_config_is_exchanged_as_an_oauth2_refresh_token(
        self, registries, tokens, tmp_path, monkeypatch
    ):
        from ghe_backup.delivery.push.registry_auth import docker_config_credentials

        config = {"auths": {registries["bearer"]: {"identitytoken": tokens.refresh_token}}}
        (tmp_path / "config.json").write_text(json.dumps(config))
        monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
        tokens.requests.clear()
        client = RegistryClient(
            registries["bearer"], credentials=lambda: docker_config_credentials(registries["bearer"])
        )
        manifest = put_image(client, "oauth/app", "v1", LAYERS[:1])
        assert client.manifest_digest("oauth/app", "v1") == manifest.digest
        assert tokens.requests == [{"scope": "repository:oauth/app:pull,push", "grant": "refresh_token"}] + [
            {"scope": "repository:oauth/app:pull", "grant": "refresh_token"}
        ]
