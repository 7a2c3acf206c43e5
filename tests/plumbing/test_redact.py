"""Secrets out of output: by key, by shape wherever they are, and in error messages."""

from __future__ import annotations

import pytest

from ghe_backup.plumbing.redact import redact_data, secret_kind, shown

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyMTIzNDUifQ.c2lnbmF0dXJlMTIzNDU2Nzg5"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n"


@pytest.mark.parametrize(
    "value, kind",
    [
        (PEM, "a private key"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbg==", "a private key"),
        (JWT, "a token (JWT)"),
        ("ghp_" + "a1B2" * 9, "a GitHub token"),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "a GitHub token"),
        ("AKIAIOSFODNN7EXAMPLE", "an AWS access key id"),
        ("xoxb-1234567890-abcdefghij", "a Slack token"),
        ("Bearer abcdefgh12345678", "a bearer token"),
        ("https://user:secret@lizzy.example.org", "a URL with credentials"),
        ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "a token or key"),
    ],
)
def test_secret_shapes(value, kind):
    assert secret_kind(value) == kind


@pytest.mark.parametrize(
    "value",
    [
        "aws:kms:AQICAHhprodPLACEHOLDERciphertext==" + "x" * 100,  # ciphertext, only KMS opens it
        "123456789012.dkr.ecr.eu-central-1.amazonaws.com",
        "sha256:" + "0123456789abcdef" * 4,
        "0 */2 * * *",
        "${registry}/${image}:{{Arguments.ImageVersion}}",
        "fc97944d-5481-4725-8054-52720ec035bf",
        "LIZZY_TOKEN",
        "github.example.org",
        42,
        None,
    ],
)
def test_ordinary_values_are_not_secrets(value):
    assert secret_kind(value) is None


def test_shown_never_shows_a_secret_and_keeps_messages_short():
    assert shown(JWT) == "a value that looks like a token (JWT) (not shown)"
    assert shown("eu-c\u0435ntral-1") == "'eu-c\\u0435ntral-1'"  # look-alikes show as escapes
    assert shown("x" * 100) == "'" + "x" * 60 + "...' (100 characters)"
    assert shown(72) == "72"


def test_redact_data_by_key_and_by_shape():
    data = {
        "kms_private_ssh_key": "aws:kms:AQICAH==",
        "lizzy_token": "abc",
        "environment": {"NOTE": JWT, "GHE_HOSTNAME": "github.example.org"},
        "list": [PEM],
    }
    assert redact_data(data) == {
        "kms_private_ssh_key": "aws:kms:<redacted>",
        "lizzy_token": "<redacted>",
        "environment": {"NOTE": "<redacted> (a token (JWT))", "GHE_HOSTNAME": "github.example.org"},
        "list": ["<redacted> (a private key)"],
    }
