"""AWS sessions acting in one account, through a given endpoint (AWS itself, or the sandbox's moto).

The caller says where calls go (``endpoint_url``, None for AWS itself) and with which base
credentials (``credentials``, None for boto3's own chain: environment, profile, instance role);
the sandbox gives its dummy keys, so real credentials never reach the emulator. ``account_access`` then assumes
``arn:aws:iam::<account_id>:role/<deploy_role>`` when a role is set, else uses the base
credentials as they are (the account guard proves whose they are).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from ghe_backup.errors import ConfigError, Unreachable
from ghe_backup.plumbing import logredact

#: botocore's own retries stay small: our waits decide how long to keep trying (refusals, 5xx and
#: throttling get more rounds there). An endpoint that takes the connection and never answers (a
#: hung one) costs a call at most 2 tries of 10 s, so a deploy's deadline holds within about 20 s
#: per step (AWS answers these calls in well under a second). ``total_max_attempts`` counts the
#: first try (``max_attempts`` would add one).
CLIENT_CONFIG = Config(retries={"total_max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=10)
THROTTLING = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"}


@dataclass(frozen=True)
class AccountAccess:
    """A session acting in one account, and where its calls go."""

    session: Any
    region: str
    endpoint: str | None

    def client(self, service: str, region: str | None = None, config: Config = CLIENT_CONFIG) -> Any:
        return self.session.client(
            service, region_name=region or self.region, endpoint_url=self.endpoint, config=config
        )

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


def base_session(region: str, credentials: Mapping[str, str] | None = None) -> Any:
    return boto3.Session(region_name=region, **dict(credentials or {}))


def account_access(
    *,
    name: str,
    account_id: str,
    region: str,
    deploy_role: str | None,
    endpoint_url: str | None,
    credentials: Mapping[str, str] | None = None,
    base: Any | None = None,
    config: Config = CLIENT_CONFIG,
) -> AccountAccess:
    """Credentials acting in the account (assuming ``deploy_role`` when set); ``config`` sets the
    STS call's timeouts and retries (a preflight probe asks once, quickly)."""
    base = base or base_session(region, credentials)
    if not deploy_role:
        return AccountAccess(base, region, endpoint_url)
    arn = f"arn:aws:iam::{account_id}:role/{deploy_role}"
    sts = base.client("sts", region_name=region, endpoint_url=endpoint_url, config=config)
    try:
        creds = sts.assume_role(RoleArn=arn, RoleSessionName=f"ghe-backup-deploy-{name}")["Credentials"]
    except ClientError as err:
        if is_transient(err):
            raise Unreachable(f"{name}: AWS STS did not answer: {aws_message(err)}", hint="retried 3 times") from None
        raise ConfigError(
            f"{name}: cannot assume {arn}: {aws_message(err)}", hint="check deploy_role and your credentials"
        ) from None
    except NoCredentialsError:
        raise ConfigError(f"{name}: no AWS credentials to assume {arn} with", hint="log in to AWS first") from None
    except BotoCoreError as err:
        raise Unreachable(f"{name}: AWS STS unreachable at {endpoint_url or 'AWS'}: {type(err).__name__}") from None
    logredact.remember(creds.get("SecretAccessKey"), creds.get("SessionToken"))
    session = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region,
    )
    return AccountAccess(session, region, endpoint_url)


def caller_account(access: AccountAccess, name: str, config: Config = CLIENT_CONFIG) -> str:
    """The account the credentials act in (``sts:GetCallerIdentity``), with one-line errors."""
    sts = access.session.client("sts", region_name=access.region, endpoint_url=access.endpoint, config=config)
    try:
        return sts.get_caller_identity()["Account"]
    except ClientError as err:
        if is_transient(err):
            raise Unreachable(f"{name}: AWS STS did not answer: {aws_message(err)}") from None
        raise ConfigError(
            f"{name}: AWS refused the credentials: {aws_message(err)}", hint="log in to AWS again"
        ) from None
    except NoCredentialsError:
        raise ConfigError(f"{name}: no AWS credentials", hint="log in to AWS first") from None
    except BotoCoreError as err:
        raise Unreachable(f"{name}: AWS STS unreachable at {access.endpoint or 'AWS'}: {type(err).__name__}") from None


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


def is_timeout(err: BaseException) -> bool:
    """No answer in time. botocore tried again already, each try waiting its full timeout."""
    return isinstance(err, (ReadTimeoutError, ConnectTimeoutError))


def worth_retrying(err: BaseException) -> bool:
    """A transient fault worth another round of tries on top of botocore's: refusals, 5xx and throttling
    pass in seconds; a timeout does not (another round would keep a hung endpoint's caller for minutes)."""
    return is_transient(err) and not is_timeout(err)
