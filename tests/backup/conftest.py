"""Fixtures for the container program's tests: temp data volumes, the stand-in
backup-utils, a fake private key, and a real moto server for KMS."""

from __future__ import annotations

import base64
import errno
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# The venv's editable install predates ghe_backup/__init__.py and resolves ghe_backup as a
# namespace package (no __version__); this checkout first on the path gives the real package.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from ghe_backup.backup.logs import JsonLineFormatter  # noqa: E402
from ghe_backup.backup.settings import load_settings  # noqa: E402

STANDIN = REPO_ROOT / "ghe_backup" / "backup" / "standin" / "ghe-backup"


def events(caplog) -> list[dict]:
    """The captured log records as the JSON objects the program prints."""
    formatter = JsonLineFormatter()
    return [json.loads(formatter.format(record)) for record in caplog.records]


def host_key_line(seed: int = 1) -> str:
    """An ed25519 public key line ("ssh-ed25519 <base64>") in the SSH wire format."""
    import struct

    blob = b"".join(struct.pack(">I", len(part)) + part for part in (b"ssh-ed25519", bytes([seed]) * 32))
    return f"ssh-ed25519 {base64.b64encode(blob).decode()}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def standin() -> Path:
    assert os.access(STANDIN, os.X_OK), "the stand-in ghe-backup must be executable"
    return STANDIN


@pytest.fixture
def backup_env(tmp_path: Path, standin: Path) -> dict[str, str]:
    """Environment for a backup container whose data volume is a temp dir."""
    mount = tmp_path / "data"
    mount.mkdir()
    return {
        "HOME": str(tmp_path / "home"),
        "GHE_HOSTNAME": "github.example.com",
        "GHE_NUM_SNAPSHOTS": "3",
        "DATA_MOUNT": str(mount),
        "GHE_DATA_DIR": str(mount / "ghe-data"),
        "REQUIRE_DATA_MOUNT": "0",
        "GHE_BACKUP_CONFIG": str(tmp_path / "etc" / "backup.config"),
        "GHE_BACKUP_COMMAND": str(standin),
        "SSH_KEY_PATH": str(tmp_path / "home" / ".ssh" / "id_rsa"),
        "TAUPAGE_CONFIG": str(tmp_path / "meta" / "taupage.yaml"),
        "BACKUP_SCHEDULE": "0 */2 * * *",
        "GHE_KNOWN_HOSTS": f"[github.example.com]:122 {host_key_line()}\n",
        "STATE_TABLE": "",  # tests of the account's state table turn it on
        "HEALTH_BIND": "127.0.0.1",
        "HEALTH_PORT": "0",
        # Nothing listens here: a metadata lookup fails at once instead of hanging.
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": f"http://127.0.0.1:{free_port()}",
        "METADATA_TIMEOUT": "0.5",
    }


@pytest.fixture
def settings(backup_env):
    return load_settings(backup_env)


@pytest.fixture
def data_dir(settings) -> Path:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings.data_dir


def subprocess_env(extra: dict[str, str]) -> dict[str, str]:
    """os.environ plus ``extra``, with this checkout first on the import path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GHE_", "AWS_", "KMS_"))}
    env.update(extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def run_cli(args: list[str], env: dict[str, str], timeout: float = 30, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ghe_backup", *args],
        env=subprocess_env(env),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


@pytest.fixture
def small_tmpfs(tmp_path) -> Path:
    """A real 1 MiB tmpfs (needs root): ENOSPC and read-only remounts come from the kernel."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "volume"
    mount.mkdir()
    _mount("-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(mount))
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def remount_read_only(mount: Path) -> None:
    """What ext4 with errors=remount-ro does to the data volume after an I/O error."""
    _mount("-o", "remount,ro", str(mount))


def fill_disk(mount: Path) -> Path:
    """Write zeros until the file system is full (ENOSPC); returns the file to delete later."""
    filler = mount / "filler"
    with open(filler, "wb", buffering=0) as handle:
        chunk = b"\0" * 4096
        try:
            while True:
                handle.write(chunk)
        except OSError as err:
            assert err.errno == errno.ENOSPC, err
    return filler


@pytest.fixture(scope="session")
def fake_private_key() -> bytes:
    """A private-key-shaped secret with a random body, different on every run."""
    body = base64.encodebytes(secrets.token_bytes(600)).decode()
    return f"-----BEGIN OPENSSH PRIVATE KEY-----\n{body}-----END OPENSSH PRIVATE KEY-----\n".encode()


def secret_fragments(*secrets_: bytes | str) -> list[str]:
    """Distinctive pieces of secrets to look for in output (any 24-char slice would do)."""
    pieces = []
    texts = []
    for secret in secrets_:
        raw = secret if isinstance(secret, bytes) else secret.encode()
        # The secret itself and its base64 form (as it travels in KMS requests and answers).
        texts += [raw.decode(), base64.b64encode(raw).decode()]
    for text in texts:
        compact = "".join(line for line in text.splitlines() if "-----" not in line)
        pieces += [compact[i : i + 24] for i in range(0, max(len(compact) - 24, 1), 97)]
    return [p for p in pieces if p]


def assert_no_secrets(text: str, *secrets_: bytes | str) -> None:
    leaked = [p for p in secret_fragments(*secrets_) if p in text]
    assert not leaked, f"key material leaked into output ({len(leaked)} fragments)"


@pytest.fixture(scope="session")
def moto_server():
    """A real moto server on a free loopback port, for the whole session."""
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
    if exe is None:
        pytest.skip("moto_server is not installed (pip install 'moto[server]')")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"moto_server did not start on port {port}")
            time.sleep(0.1)
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def aws_env(moto_server, monkeypatch) -> dict[str, str]:
    """Point boto3 at the moto server with dummy credentials."""
    env = {
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-central-1",
    }
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def state_table(aws_env):
    """A fresh state table on the moto server, as the sandbox and docs/operations.md create it (the
    program never creates it)."""
    import boto3

    from ghe_backup.sandbox.aws import state_table_definition

    client = boto3.client("dynamodb", region_name="eu-central-1")
    name = f"ghe-backup-state-{time.monotonic_ns()}"
    client.create_table(**state_table_definition(name))
    yield name
    client.delete_table(TableName=name)


def backup_status(table: str) -> dict:
    """The backup's status record in the state table, each attribute's plain value."""
    import boto3

    found = boto3.client("dynamodb", region_name="eu-central-1").get_item(
        TableName=table, Key={"pk": {"S": "backup"}, "sk": {"S": "status"}}
    )
    return {key: next(iter(value.values())) for key, value in found.get("Item", {}).items()}


# --- a strict parser for the Prometheus text format (0.0.4) ------------------------------

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\\n]|\\[\\"n])*)"\s*(,|(?=}))')
_TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count", "")}


def parse_prometheus(text: str) -> tuple[dict[str, str], dict[tuple[str, tuple], float]]:
    """Parse exposition text strictly; return (family -> type, (name, labels) -> value).

    Raises AssertionError on anything a Prometheus server would reject or misread: bad names,
    bad label syntax, unparsable values, TYPE after samples, duplicate series, families split
    into several blocks, samples whose name does not belong to the declared family.
    """
    assert text.endswith("\n"), "exposition must end with a newline"
    types: dict[str, str] = {}
    helps: set[str] = set()
    samples: dict[tuple[str, tuple], float] = {}
    finished: set[str] = set()
    current: str | None = None
    for number, line in enumerate(text[:-1].split("\n"), 1):
        where = f"line {number}: {line!r}"
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                assert _METRIC_NAME.fullmatch(name), where
                if parts[1] == "HELP":
                    assert name not in helps, f"second HELP, {where}"
                    helps.add(name)
                else:
                    assert len(parts) == 4 and parts[3] in _TYPES, where
                    assert name not in types, f"second TYPE, {where}"
                    assert not any(n == name or n.startswith(name + "_") for n, _ in samples), (
                        f"TYPE after samples, {where}"
                    )
                    types[name] = parts[3]
            continue
        match = _METRIC_NAME.match(line)
        assert match, where
        name, rest = match.group(), line[match.end() :]
        labels: list[tuple[str, str]] = []
        if rest.startswith("{"):
            rest = rest[1:]
            while not rest.lstrip().startswith("}"):
                label = _LABEL.match(rest)
                assert label, f"bad labels, {where}"
                labels.append((label.group(1), label.group(2)))
                rest = rest[label.end() :]
            rest = rest.lstrip()[1:]
            assert len({k for k, _ in labels}) == len(labels), f"repeated label, {where}"
        assert rest.startswith(" "), where
        fields = rest.split()
        assert 1 <= len(fields) <= 2, where
        value = float(fields[0])  # raises on garbage; accepts NaN, +Inf, -Inf
        if len(fields) == 2:
            int(fields[1])
        family = next((f for f, kind in types.items() if name in [f + s for s in _SUFFIXES.get(kind, ("",))]), name)
        if family != current:
            assert family not in finished, f"family {family} split into blocks, {where}"
            if current is not None:
                finished.add(current)
            current = family
        key = (name, tuple(sorted(labels)))
        assert key not in samples, f"duplicate series, {where}"
        samples[key] = value
    return types, samples
