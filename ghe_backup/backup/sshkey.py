"""Install the SSH key for the GitHub Enterprise appliance, decrypted with KMS.

The encrypted key comes from Taupage's user data (``kms_private_ssh_key: aws:kms:<base64>``
in ``/meta/taupage.yaml``) or from a mounted secret file holding the same ``aws:kms:`` value.
It is decrypted with KMS in the instance's region and written atomically with mode 0600.
Key material (plain or encrypted) never reaches a log line, an error message or a repr.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from ghe_backup.errors import ConfigError, Unreachable

from .logs import log_event
from .settings import Settings

KMS_PREFIX = "aws:kms:"
TAUPAGE_KEY = "kms_private_ssh_key"
log = logging.getLogger(__name__)


class KeyDecryptError(ConfigError):
    """The encrypted SSH key is missing, malformed, or KMS refused to decrypt it."""


class KmsUnreachable(Unreachable):
    """KMS or the instance metadata service could not be reached."""


class SecretBytes:
    """Bytes that never show themselves in str(), repr() or f-strings."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes):
        self._value = value

    def reveal(self) -> bytes:
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return f"<secret: {len(self._value)} bytes>"

    __str__ = __repr__


@dataclass(frozen=True)
class KeyInstallResult:
    path: Path
    action: str  # "written", "replaced" or "kept"
    source: Path | None


def parse_kms_value(value: object, source: str) -> SecretBytes:
    """The ciphertext inside an ``aws:kms:<base64>`` value from ``source``."""
    if not isinstance(value, str) or not value.strip().startswith(KMS_PREFIX):
        raise KeyDecryptError(
            f"the SSH key in {source} does not start with '{KMS_PREFIX}'",
            hint="store the key encrypted with KMS as aws:kms:<base64 ciphertext>",
        )
    encoded = "".join(value.strip()[len(KMS_PREFIX) :].split())
    try:
        blob = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        blob = b""
    if not blob:
        raise KeyDecryptError(
            f"the SSH key in {source} is not valid base64 after '{KMS_PREFIX}'",
            hint="re-encrypt the key and paste the whole base64 ciphertext",
        )
    return SecretBytes(blob)


def read_encrypted_key(taupage_config: Path, secret_file: Path | None) -> tuple[SecretBytes, Path]:
    """Read the encrypted key from the secret file if one is set, else from Taupage user data."""
    if secret_file is not None:
        try:
            text = secret_file.read_text()
        except OSError as err:
            raise KeyDecryptError(
                f"cannot read SSH_KEY_SECRET_FILE={secret_file}: {err.strerror}",
                hint="mount the secret there or unset SSH_KEY_SECRET_FILE",
            ) from None
        return parse_kms_value(text, str(secret_file)), secret_file
    try:
        document = yaml.safe_load(taupage_config.read_text())
    except OSError as err:
        raise KeyDecryptError(
            f"cannot read TAUPAGE_CONFIG={taupage_config}: {err.strerror}",
            hint="run on a Taupage instance, set TAUPAGE_CONFIG or SSH_KEY_SECRET_FILE",
        ) from None
    except yaml.YAMLError as err:
        # The YAML error text quotes the document, which may hold the key: report the line only.
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise KeyDecryptError(f"TAUPAGE_CONFIG={taupage_config} is not valid YAML{where}") from None
    if not isinstance(document, dict) or TAUPAGE_KEY not in document:
        raise KeyDecryptError(
            f"TAUPAGE_CONFIG={taupage_config} has no '{TAUPAGE_KEY}'",
            hint=f"add {TAUPAGE_KEY}: aws:kms:<base64> to the TaupageConfig",
        )
    return parse_kms_value(document[TAUPAGE_KEY], f"{taupage_config} ({TAUPAGE_KEY})"), taupage_config


def instance_region(endpoint: str, timeout: float) -> str:
    """The instance's region from the metadata service (IMDSv2, falling back to v1)."""
    headers = {}
    try:
        token_request = urllib.request.Request(
            f"{endpoint}/latest/api/token",
            method="PUT",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"},
        )
        with urllib.request.urlopen(token_request, timeout=timeout) as response:
            headers["X-aws-ec2-metadata-token"] = response.read().decode()
    except urllib.error.HTTPError:
        pass  # IMDSv1 only
    except (urllib.error.URLError, OSError):
        raise _metadata_unreachable(endpoint) from None
    try:
        request = urllib.request.Request(f"{endpoint}/latest/dynamic/instance-identity/document", headers=headers)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            region = json.loads(response.read()).get("region")
    except (urllib.error.URLError, OSError, ValueError, AttributeError):
        raise _metadata_unreachable(endpoint) from None
    if not isinstance(region, str) or not region:
        raise _metadata_unreachable(endpoint)
    return region


def _metadata_unreachable(endpoint: str) -> KmsUnreachable:
    return KmsUnreachable(
        f"cannot read the region from instance metadata at {endpoint}",
        hint="set KMS_REGION (or AWS_REGION) when not running on EC2",
    )


def decrypt_key(ciphertext: SecretBytes, region: str, *, source: str = "the key", client=None) -> SecretBytes:
    """Decrypt ``ciphertext`` with KMS in ``region``; the result must be a private key."""
    import boto3
    import botocore.config
    import botocore.exceptions as bex

    if client is None:
        config = botocore.config.Config(connect_timeout=5, read_timeout=10, retries={"mode": "standard"})
        client = boto3.client("kms", region_name=region, config=config)
    try:
        with _quiet_aws_debug_logs():
            plain = client.decrypt(CiphertextBlob=ciphertext.reveal())["Plaintext"]
    except bex.ClientError as err:
        code = err.response.get("Error", {}).get("Code", "unknown")
        if code in ("AccessDeniedException", "UnrecognizedClientException"):
            raise KeyDecryptError(
                f"KMS in {region} refused to decrypt {source} ({code})",
                hint="give the instance role kms:Decrypt on the key",
            ) from None
        raise KeyDecryptError(
            f"KMS in {region} could not decrypt {source} ({code})",
            hint="check that the value was encrypted with a KMS key in this account and region",
        ) from None
    except (bex.EndpointConnectionError, bex.ConnectTimeoutError, bex.ReadTimeoutError):
        raise KmsUnreachable(f"cannot reach KMS in {region}", hint="check network access to KMS") from None
    except bex.NoCredentialsError:
        raise KeyDecryptError("no AWS credentials to call KMS", hint="run with an instance role") from None
    if b"PRIVATE KEY-----" not in plain:
        raise KeyDecryptError(
            f"the value decrypted from {source} is not a private key",
            hint="encrypt the PEM/OpenSSH private key file itself",
        )
    return SecretBytes(plain if plain.endswith(b"\n") else plain + b"\n")


@contextlib.contextmanager
def _quiet_aws_debug_logs():
    """botocore's debug logs print request and response bodies, i.e. the key: mute them."""
    loggers = [logging.getLogger(name) for name in ("botocore", "boto3", "urllib3")]
    saved = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(logger.getEffectiveLevel(), logging.INFO))
    try:
        yield
    finally:
        for logger, level in zip(loggers, saved, strict=False):
            logger.setLevel(level)


def write_key_file(dest: Path, key: SecretBytes) -> None:
    """Write the key atomically: a 0600 temp file in the same directory, then rename."""
    dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key.reveal())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def install_ssh_key(settings: Settings, *, kms_client=None) -> KeyInstallResult:
    """Make sure the SSH key exists at ``settings.ssh_key_path``; decrypt it if needed."""
    dest = settings.ssh_key_path
    existed = dest.exists()
    if existed and not settings.replace_ssh_key:
        log_event(log, "ssh_key_kept", path=str(dest))
        return KeyInstallResult(dest, "kept", None)
    ciphertext, source = read_encrypted_key(settings.taupage_config, settings.ssh_key_secret_file)
    region = settings.aws_region or instance_region(settings.metadata_endpoint, settings.metadata_timeout)
    key = decrypt_key(ciphertext, region, source=str(source), client=kms_client)
    try:
        write_key_file(dest, key)
    except OSError as err:
        raise KeyDecryptError(
            f"cannot write the SSH key to SSH_KEY_PATH={dest}: {err.strerror}",
            hint="make the directory writable or set SSH_KEY_PATH",
        ) from None
    action = "replaced" if existed else "written"
    log_event(log, "ssh_key_installed", path=str(dest), action=action, source=str(source), region=region)
    return KeyInstallResult(dest, action, source)
