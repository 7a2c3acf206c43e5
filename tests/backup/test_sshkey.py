"""SSH key: parsing, metadata region lookup, atomic 0600 write, and the KMS round trip
against a real moto server. No test may see key material in any output."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from conftest import assert_no_secrets, run_cli

from ghe_backup.backup.sshkey import (
    KeyDecryptError,
    KmsUnreachable,
    SecretBytes,
    install_ssh_key,
    instance_region,
    parse_kms_value,
    read_encrypted_key,
    write_key_file,
)


class _NeverCalledKms:
    def decrypt(self, **_):
        raise AssertionError("KMS must not be called")


def test_secret_bytes_never_show_themselves():
    secret = SecretBytes(b"super-secret-value-123")
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r}", repr([secret])):
        assert "super-secret" not in text
    assert secret.reveal() == b"super-secret-value-123"


@pytest.mark.parametrize("value", ["kms:QUJD", "AQICAHh4", "-----BEGIN RSA PRIVATE KEY-----", "", 42, None])
def test_wrong_prefix_is_a_clear_error_without_the_value(value):
    with pytest.raises(KeyDecryptError) as err:
        parse_kms_value(value, "taupage.yaml")
    message = str(err.value)
    assert "does not start with 'aws:kms:'" in message and "taupage.yaml" in message
    if isinstance(value, str) and value:
        assert value not in message


@pytest.mark.parametrize("payload", ["not base64 at all!", "QUJD*", ""])
def test_corrupted_base64_is_a_clear_error(payload):
    with pytest.raises(KeyDecryptError, match="not valid base64"):
        parse_kms_value("aws:kms:" + payload, "the secret file")


def test_base64_split_over_lines_is_accepted():
    blob = os.urandom(90)
    encoded = base64.b64encode(blob).decode()
    value = "aws:kms:" + encoded[:40] + "\n  " + encoded[40:] + "\n"
    assert parse_kms_value(value, "x").reveal() == blob


def test_read_from_taupage_yaml(tmp_path):
    blob = os.urandom(64)
    taupage = tmp_path / "taupage.yaml"
    taupage.write_text(
        yaml.safe_dump(
            {"application_id": "ghe-backup", "kms_private_ssh_key": "aws:kms:" + base64.b64encode(blob).decode()}
        )
    )
    ciphertext, source = read_encrypted_key(taupage, None)
    assert ciphertext.reveal() == blob and source == taupage


def test_secret_file_wins_over_taupage(tmp_path):
    blob = os.urandom(64)
    secret = tmp_path / "ssh-key"
    secret.write_text("aws:kms:" + base64.b64encode(blob).decode() + "\n")
    ciphertext, source = read_encrypted_key(tmp_path / "missing.yaml", secret)
    assert ciphertext.reveal() == blob and source == secret


def test_missing_key_in_taupage_names_the_fix(tmp_path):
    taupage = tmp_path / "taupage.yaml"
    taupage.write_text("application_id: ghe-backup\n")
    with pytest.raises(KeyDecryptError, match="has no 'kms_private_ssh_key'") as err:
        read_encrypted_key(taupage, None)
    assert "TAUPAGE_CONFIG" in str(err.value)


def test_broken_yaml_error_does_not_quote_the_document(tmp_path):
    taupage = tmp_path / "taupage.yaml"
    taupage.write_text("kms_private_ssh_key: aws:kms:SECRETSECRETSECRET\n  bad: [unclosed\n")
    with pytest.raises(KeyDecryptError, match="not valid YAML") as err:
        read_encrypted_key(taupage, None)
    assert "SECRETSECRET" not in str(err.value)


def test_missing_sources_name_the_variables(tmp_path):
    with pytest.raises(KeyDecryptError, match="TAUPAGE_CONFIG"):
        read_encrypted_key(tmp_path / "nope.yaml", None)
    with pytest.raises(KeyDecryptError, match="SSH_KEY_SECRET_FILE"):
        read_encrypted_key(tmp_path / "nope.yaml", tmp_path / "no-secret")


def test_key_file_is_written_0600_in_a_0700_dir_even_with_open_umask(tmp_path, fake_private_key):
    dest = tmp_path / "home" / ".ssh" / "id_rsa"
    old = os.umask(0)
    try:
        write_key_file(dest, SecretBytes(fake_private_key))
    finally:
        os.umask(old)
    assert dest.read_bytes() == fake_private_key
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert stat.S_IMODE(dest.parent.stat().st_mode) == 0o700
    assert [p.name for p in dest.parent.iterdir()] == ["id_rsa"]  # no temp file left


def test_existing_key_is_kept_without_calling_kms(settings):
    settings.ssh_key_path.parent.mkdir(parents=True)
    settings.ssh_key_path.write_bytes(b"existing key\n")
    result = install_ssh_key(settings, kms_client=_NeverCalledKms())
    assert result.action == "kept"
    assert settings.ssh_key_path.read_bytes() == b"existing key\n"


# --- instance metadata -------------------------------------------------------------------


class _Imds(BaseHTTPRequestHandler):
    token = "tok-123"
    v2 = True

    def do_PUT(self):
        if not self.v2:
            self.send_response(405)
            self.end_headers()
            return
        body = self.token.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.v2 and self.headers.get("X-aws-ec2-metadata-token") != self.token:
            self.send_response(401)
            self.end_headers()
            return
        body = json.dumps({"region": "eu-west-1", "instanceId": "i-1"}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(params=[True, False], ids=["imdsv2", "imdsv1"])
def imds(request):
    handler = type("H", (_Imds,), {"v2": request.param})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_region_comes_from_instance_metadata(imds):
    assert instance_region(imds, timeout=2) == "eu-west-1"


def test_unreachable_metadata_fails_fast_and_names_the_override(settings):
    start = time.monotonic()
    with pytest.raises(KmsUnreachable, match="KMS_REGION"):
        instance_region(settings.metadata_endpoint, timeout=0.5)
    assert time.monotonic() - start < 3


# --- KMS round trip against a real moto server ---------------------------------------------


def _kms_client(region_name: str):
    import boto3  # only here: importing boto3 costs most of a second the unit tests need not pay

    return boto3.client("kms", region_name=region_name)


@pytest.fixture
def kms_value(aws_env, fake_private_key):
    """The fake key encrypted with a fresh KMS key in moto, as an aws:kms: value."""
    kms = _kms_client("eu-central-1")
    key_id = kms.create_key(Description="ghe-backup test")["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=fake_private_key)["CiphertextBlob"]
    return "aws:kms:" + base64.b64encode(blob).decode()


def _with_taupage(settings, value, **changes):
    settings.taupage_config.parent.mkdir(parents=True, exist_ok=True)
    settings.taupage_config.write_text(yaml.safe_dump({"kms_private_ssh_key": value}))
    return replace(settings, **{"aws_region": "eu-central-1", **changes})


@pytest.mark.integration
def test_kms_round_trip_writes_the_key_0600(settings, kms_value, fake_private_key, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    result = install_ssh_key(_with_taupage(settings, kms_value))
    assert result.action == "written"
    assert settings.ssh_key_path.read_bytes() == fake_private_key
    assert stat.S_IMODE(settings.ssh_key_path.stat().st_mode) == 0o600
    out = capsys.readouterr()
    assert_no_secrets(out.out + out.err + caplog.text, fake_private_key, kms_value[8:])
    assert "ssh_key_installed" in caplog.text  # the event is logged, its secrets are not


@pytest.mark.integration
def test_region_from_metadata_feeds_kms(settings, aws_env, fake_private_key, imds):
    kms = _kms_client("eu-west-1")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    value = (
        "aws:kms:" + base64.b64encode(kms.encrypt(KeyId=key_id, Plaintext=fake_private_key)["CiphertextBlob"]).decode()
    )
    configured = _with_taupage(settings, value, aws_region=None, metadata_endpoint=imds)
    install_ssh_key(configured)
    assert settings.ssh_key_path.read_bytes() == fake_private_key


@pytest.mark.integration
def test_existing_key_is_replaced_only_when_asked(settings, kms_value, fake_private_key):
    settings.ssh_key_path.parent.mkdir(parents=True)
    settings.ssh_key_path.write_bytes(b"old key\n")
    assert install_ssh_key(_with_taupage(settings, kms_value)).action == "kept"
    assert settings.ssh_key_path.read_bytes() == b"old key\n"
    assert install_ssh_key(_with_taupage(settings, kms_value, replace_ssh_key=True)).action == "replaced"
    assert settings.ssh_key_path.read_bytes() == fake_private_key


@pytest.mark.integration
@pytest.mark.parametrize("corrupt", ["truncated", "garbage", "wrong-prefix"])
def test_corrupted_value_is_one_clear_error_and_no_file(settings, kms_value, fake_private_key, corrupt, capsys):
    encoded = kms_value[len("aws:kms:") :]
    value = {
        "truncated": "aws:kms:" + base64.b64encode(base64.b64decode(encoded)[:-20]).decode(),
        "garbage": "aws:kms:" + base64.b64encode(os.urandom(200)).decode(),
        "wrong-prefix": "kms:" + encoded,
    }[corrupt]
    with pytest.raises(KeyDecryptError) as err:
        install_ssh_key(_with_taupage(settings, value))
    message = str(err.value)
    assert "\n" not in message and str(settings.taupage_config) in message
    assert not settings.ssh_key_path.exists()
    assert not settings.ssh_key_path.parent.exists() or not any(settings.ssh_key_path.parent.iterdir())
    out = capsys.readouterr()
    assert_no_secrets(message + out.out + out.err, fake_private_key, encoded, value)


@pytest.mark.integration
def test_decrypted_value_that_is_no_key_is_refused_without_showing_it(settings, aws_env):
    kms = _kms_client("eu-central-1")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    plaintext = os.urandom(24).hex()
    value = (
        "aws:kms:"
        + base64.b64encode(kms.encrypt(KeyId=key_id, Plaintext=plaintext.encode())["CiphertextBlob"]).decode()
    )
    with pytest.raises(KeyDecryptError, match="not a private key") as err:
        install_ssh_key(_with_taupage(settings, value))
    assert plaintext not in str(err.value)
    assert not settings.ssh_key_path.exists()


@pytest.mark.integration
def test_cli_decrypt_key_leaks_nothing(backup_env, aws_env, kms_value, fake_private_key, tmp_path):
    secret_file = tmp_path / "secret" / "ssh-key"
    secret_file.parent.mkdir()
    secret_file.write_text(kms_value)
    env = {**backup_env, **aws_env, "KMS_REGION": "eu-central-1", "SSH_KEY_SECRET_FILE": str(secret_file)}
    ok = run_cli(["decrypt-key"], env)
    assert ok.returncode == 0, ok.stderr
    key_path = Path(backup_env["SSH_KEY_PATH"])
    assert key_path.read_bytes() == fake_private_key
    assert json.loads(ok.stdout.splitlines()[-1])["event"] == "ssh_key_installed"

    secret_file.write_text("aws:kms:" + base64.b64encode(os.urandom(100)).decode())
    failed = run_cli(["--debug", "decrypt-key", "--replace"], env)
    assert failed.returncode == 2
    assert (
        failed.stderr.strip()
        .splitlines()[-1]
        .startswith("ghe-backup-service: error: KMS in eu-central-1 could not decrypt")
    )
    assert key_path.read_bytes() == fake_private_key  # the good key stays
    assert_no_secrets(ok.stdout + ok.stderr + failed.stdout + failed.stderr, fake_private_key, kms_value[8:])
