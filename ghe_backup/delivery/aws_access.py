"""AWS sessions for one account: the caller's credentials, or a role assumed in the account.

In the sandbox the base credentials are the sandbox's dummy keys and every call goes to the
moto endpoint, so real credentials in the environment never reach it. ``deploy_role`` set:
assume ``arn:aws:iam::<account_id>:role/<deploy_role>``; unset: use the base credentials as
they are (the account guard then proves whose they are).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

from ghe_backup.errors import ConfigError, Unreachable

#: botocore's own retries stay small: our waits decide how long to keep trying.
CLIENT_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30)
SANDBOX_CREDENTIALS = {"aws_access_key_id": "AKIASANDBOXGHEBACKUP", "aws_secret_access_key": "sandbox-not-a-secret"}
THROTTLING = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"}


@dataclass(frozen=True)
class AccountAccess:
    """A session acting in one account, and where its calls go."""

    session: Any
    region: str
    endpoint: str | None

    def client(self, service: str) -> Any:
        return self.session.client(service, region_name=self.region, endpoint_url=self.endpoint, config=CLIENT_CONFIG)

    def environment(self) -> dict[str, str]:
        """Variables that give a subprocess (senza) exactly these credentials."""
        creds = self.session.get_credentials().get_frozen_credentials()
        env = {
            "AWS_ACCESS_KEY_ID": creds.access_key,
            "AWS_SECRET_ACCESS_KEY": creds.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }
        if creds.token:
            env["AWS_SESSION_TOKEN"] = creds.token
        if self.endpoint:
            env["AWS_ENDPOINT_URL"] = self.endpoint
        return env

    def secrets(self) -> list[str]:
        creds = self.session.get_credentials().get_frozen_credentials()
        return [s for s in (creds.secret_key, creds.token) if s]


def base_session(settings: Any) -> Any:
    if settings.sandbox:
        return boto3.Session(region_name=settings.region, **SANDBOX_CREDENTIALS)
    return boto3.Session(region_name=settings.region)


def account_access(settings: Any, base: Any | None = None) -> AccountAccess:
    """Credentials for the account (assuming ``deploy_role`` when set)."""
    base = base or base_session(settings)
    endpoint = settings.aws_endpoint if settings.sandbox or settings.aws_endpoint else None
    if not settings.deploy_role:
        return AccountAccess(base, settings.region, endpoint)
    arn = f"arn:aws:iam::{settings.account_id}:role/{settings.deploy_role}"
    sts = base.client("sts", region_name=settings.region, endpoint_url=endpoint, config=CLIENT_CONFIG)
    try:
        creds = sts.assume_role(RoleArn=arn, RoleSessionName=f"ghe-backup-deploy-{settings.name}")["Credentials"]
    except ClientError as err:
        raise ConfigError(f"{settings.name}: cannot assume {arn}: {aws_message(err)}", hint="check deploy_role and your credentials") from None
    except NoCredentialsError:
        raise ConfigError(f"{settings.name}: no AWS credentials to assume {arn} with", hint="log in to AWS first") from None
    except BotoCoreError as err:
        raise Unreachable(f"{settings.name}: AWS STS unreachable: {err}") from None
    session = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"], region_name=settings.region,
    )
    return AccountAccess(session, settings.region, endpoint)


def aws_message(err: ClientError) -> str:
    error = err.response.get("Error", {})
    return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".strip()


def is_transient(err: BaseException) -> bool:
    """Connection faults, 5xx, 429 and throttling: worth another try."""
    if isinstance(err, (EndpointConnectionError, ConnectionError)):
        return True
    if isinstance(err, BotoCoreError):
        return "connect" in type(err).__name__.lower() or "timeout" in type(err).__name__.lower()
    if isinstance(err, ClientError):
        code = err.response.get("Error", {}).get("Code", "")
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in THROTTLING or status == 429 or status >= 500
    return False
