"""Test helper: real Distribution registries on 127.0.0.1 (open, htpasswd, or Bearer tokens) and tiny images.

``TokenService`` is a token server as Docker Hub runs one: it checks a Basic login and grants a
signed JWT for the scope asked; the registry trusts its certificate (``auth.token``), so clients
must do the real Bearer token dance.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import io
import json
import tarfile
import threading
import time
import uuid
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import yaml

from ghe_backup.delivery.push.manifests import DOCKER_MANIFEST, Descriptor, Manifest
from ghe_backup.delivery.push.registry_api import RegistryClient
from ghe_backup.sandbox import registry as registry_component
from ghe_backup.sandbox.processes import log_file, start_process, wait_until


def serve(state_dir: Path, name: str, *, htpasswd: tuple[str, str] | None = None, tokens: TokenService | None = None):
    """A registry of its own under ``state_dir/name``; its host:port (stop with processes.stop_process)."""
    port = _free()
    folder = state_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    config = registry_component.registry_config(folder / "data", port)
    if htpasswd is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt

            user, password = htpasswd
            (folder / "htpasswd").write_text(f"{user}:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))}\n")
        config["auth"] = {"htpasswd": {"realm": "test", "path": str(folder / "htpasswd")}}
    if tokens is not None:
        (folder / "root.pem").write_bytes(tokens.certificate_pem)
        config["auth"] = {
            "token": {
                "realm": tokens.realm,
                "service": tokens.service,
                "issuer": tokens.issuer,
                "rootcertbundle": str(folder / "root.pem"),
            }
        }
    (folder / "config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    start_process(state_dir, name, ["docker-registry", "serve", str(folder / "config.yml")])
    address = f"127.0.0.1:{port}"
    wait_until(lambda: registry_component.answers(address), f"registry {address}", 30.0, log_file(state_dir, name))
    return address


def _free() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TokenService:
    """Grants RS256 JWTs for the scope asked to one Basic login; records every request."""

    service = "test-registry"
    issuer = "test-issuer"

    def __init__(self, user: str, password: str):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self.user, self.password = user, password
        self.refresh_token = f"refresh-{uuid.uuid4()}"
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test token issuer")])
        now = dt.datetime.now(dt.UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.certificate_pem = self.certificate.public_bytes(serialization.Encoding.PEM)
        self._der = self.certificate.public_bytes(serialization.Encoding.DER)
        self.requests: list[dict] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                query = parse_qs(urlparse(self.path).query)
                login = self.headers.get("Authorization", "")
                service.requests.append({"scope": query.get("scope", [""])[0], "authorization": login})
                expected = "Basic " + base64.b64encode(f"{service.user}:{service.password}".encode()).decode()
                if login != expected:
                    self.send_response(401)
                    self.end_headers()
                    return
                body = json.dumps({"token": service.token(query.get("scope", [""])[0])}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):  # OAuth2: docker login's identity token as a refresh token
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                scope = form.get("scope", [""])[0].split(" ")[0]
                service.requests.append({"scope": scope, "grant": form.get("grant_type", [""])[0]})
                if form.get("grant_type") != ["refresh_token"] or form.get("refresh_token") != [service.refresh_token]:
                    self.send_response(401)
                    self.end_headers()
                    return
                body = json.dumps({"access_token": service.token(scope)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self.server.server_port}/token"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()

    def token(self, scope: str) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        access = []
        if scope:
            kind, name, actions = scope.split(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(self._der).decode()]}
        claims = {
            "iss": self.issuer,
            "sub": self.user,
            "aud": self.service,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "access": access,
        }
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"

    def close(self) -> None:
        self.server.shutdown()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def layer(files: dict[str, bytes]) -> tuple[bytes, str]:
    """A gzipped layer tar and its diff id (sha256 of the tar)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 315532800
            archive.addfile(info, io.BytesIO(data))
    tar = raw.getvalue()
    return gzip.compress(tar, mtime=0), "sha256:" + hashlib.sha256(tar).hexdigest()


class Bytes(io.BytesIO):
    """Bytes to upload as a blob source (a context manager, as a registry's stream is)."""


def put_image(
    client: RegistryClient, name: str, tag: str, layers: list[dict[str, bytes]], env: str = "A=1"
) -> Manifest:
    """A small image (gzipped layers and a config) uploaded through ``client``; its manifest."""
    made = [layer(files) for files in layers]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": [env], "Cmd": ["true"]},
            "rootfs": {"type": "layers", "diff_ids": [diff for _, diff in made]},
        }
    ).encode()
    blobs = [(config, "application/vnd.docker.container.image.v1+json")]
    blobs += [(data, "application/vnd.docker.image.rootfs.diff.tar.gzip") for data, _ in made]
    descriptors = []
    for data, media_type in blobs:
        blob = Descriptor(digest="sha256:" + hashlib.sha256(data).hexdigest(), size=len(data), media_type=media_type)
        if not client.has_blob(name, blob.digest, push=True):
            client.upload_blob(name, blob, lambda data=data: Bytes(data))
        descriptors.append({"mediaType": media_type, "size": blob.size, "digest": blob.digest})
    body = json.dumps(
        {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": descriptors[0], "layers": descriptors[1:]}
    ).encode()
    manifest = Manifest(digest="sha256:" + hashlib.sha256(body).hexdigest(), media_type=DOCKER_MANIFEST, body=body)
    client.put_manifest(name, tag, manifest)
    return manifest
