"""Registry credentials: ECR detection and login through boto3 (moto), Docker config otherwise."""

from __future__ import annotations

import dataclasses

import pytest

from ghe_backup.delivery.push.registry_auth import ecr_registry, registry_auth
from ghe_backup.errors import ConfigError, StageFailed
from support.targets import make_target


@pytest.mark.parametrize(
    ("registry", "expected"),
    [
        ("123456789012.dkr.ecr.eu-central-1.amazonaws.com", ("123456789012", "eu-central-1")),
        ("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com", ("123456789012", "us-east-1")),
        ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", ("123456789012", "cn-north-1")),
        ("127.0.0.1:5000", None),
        ("registry.example.org/team", None),
        ("12345.dkr.ecr.eu-central-1.amazonaws.com", None),
        ("123456789012.dkr.ecr.eu-central-1.amazonaws.com.evil.example", None),
    ],
)
def test_ecr_registries_are_recognised(registry, expected):
    assert ecr_registry(registry) == expected


def prod():
    return make_target("prod")


def test_other_registries_use_the_docker_config():
    auth = registry_auth(dataclasses.replace(prod(), registry="127.0.0.1:5000"))
    assert auth.config is None and auth.secrets == ()


@pytest.fixture
def aws(monkeypatch):
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-central-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


def test_ecr_login_gets_a_token_and_never_shows_it(aws):
    auth = registry_auth(prod())
    assert auth.config["username"] == "AWS" and auth.config["password"]
    assert auth.config["serveraddress"].startswith("https://")
    assert auth.secrets == (auth.config["password"],)
    assert auth.config["password"] not in repr(auth)


def test_ecr_login_assumes_the_deploy_role(aws):
    assert registry_auth(make_target("prod", settings={"deploy_role": "deployer"})).config["username"] == "AWS"


def test_missing_aws_credentials_fail_the_push(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(StageFailed, match="no AWS credentials to log in to ECR for account prod"):
        registry_auth(make_target("prod", settings={"deploy_role": None}))
    with pytest.raises(
        ConfigError, match="prod: no AWS credentials to assume arn:aws:iam::123456789012:role/ghe-backup-deployer"
    ):
        registry_auth(prod())
