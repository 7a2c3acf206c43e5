"""Debug logs without secrets: botocore's own debug output of a real AssumeRole, and known shapes."""

from __future__ import annotations

import logging

import pytest

from ghe_backup.plumbing import logredact
from ghe_backup.plumbing.logredact import redact_log_text


@pytest.fixture
def debug_log(monkeypatch):
    """Every record at DEBUG, as `inv --debug` has it, collected as formatted text."""
    monkeypatch.setattr(logging, "_logRecordFactory", logging.getLogRecordFactory())  # restored afterwards
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(self.format(record))

    handler = Collect(level=logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    logredact.install()
    yield lines
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_a_real_assume_role_logged_by_botocore_shows_no_credential(debug_log):
    from ghe_backup.plumbing.aws import account_access
    from support.motoserver import MotoServer

    server = MotoServer()
    server.start()
    try:
        access = account_access(
            name="prod",
            account_id="123456789012",
            region="eu-central-1",
            deploy_role="ghe-backup-deployer",
            endpoint_url=server.url,
            credentials={"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key": "base-secret-key-1234"},
        )
        access.client("sts").get_caller_identity()  # signed with the session token
    finally:
        server.stop()
    creds = access.session.get_credentials().get_frozen_credentials()
    text = "\n".join(debug_log)
    assert "AssumeRole" in text and "X-Amz-Security-Token" in text  # botocore did log it all...
    for secret in (creds.secret_key, creds.token, "base-secret-key-1234"):
        assert secret not in text  # ...redacted
    assert "<SecretAccessKey><redacted></SecretAccessKey>" in text


def test_records_of_any_logger_and_any_handler_are_redacted(debug_log):
    logredact.remember("my-known-token-value")
    logging.getLogger("anything").debug(
        "sending %s with %s", "Authorization: Bearer abc.def.ghi", "my-known-token-value"
    )
    assert debug_log[-1] == "sending Authorization: <redacted> with <redacted>"


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "headers={'X-Amz-Security-Token': b'FQoGZXIvYXdz', 'Authorization': b'AWS4-HMAC-SHA256 Credential=x'}",
            "headers={'X-Amz-Security-Token': b'<redacted>', 'Authorization': b'<redacted>'}",
        ),
        ("x-amz-security-token:FQoGZXIvYXdz\nhost:a", "x-amz-security-token:<redacted>\nhost:a"),
        ('{"authorizationToken":"QVdTOnBhc3M=","expiresAt":1}', '{"authorizationToken":"<redacted>","expiresAt":1}'),
        ('{"Plaintext": "LS0tLS1CRUdJTg=="}', '{"Plaintext": "<redacted>"}'),
        ("?X-Amz-Signature=abcdef&X-Amz-Credential=AKIA%2F", "?X-Amz-Signature=<redacted>&X-Amz-Credential=<redacted>"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", "<redacted>"),
        ("Event needs-retry.sts.AssumeRole: calling handler", "Event needs-retry.sts.AssumeRole: calling handler"),
    ],
)
def test_shapes(text, expected):
    assert redact_log_text(text) == expected
