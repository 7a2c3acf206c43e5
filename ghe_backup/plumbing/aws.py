"""AWS sessions acting in one account, through a given endpoint (AWS itself, or the sandbox's moto).

The caller says where calls go (``endpoint_url``, None for AWS itself) and with which base
credentials (``credentials``, None for boto3's own chain: environment, profile, instance role);
the sandbox gives its dummy keys, so real credentials never reach the emulator. ``account_access`` then assumes
``arn:aws:iam::<account_id>:role/<deploy_role>`` when a role is set, else uses the base
credentials as they are (the account guard proves whose they are).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
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
    #: The account STS named when it handed out these credentials (the AssumeRole answer's ARN):
    #: the guard's proof without asking STS again. None: ask (``sts:GetCallerIdentity``).
    acts_in: str | None = None
    #: One client per service and region: making one costs more CPU than most calls (clients are
    #: thread-safe; a session is not, so clients are made under the lock).
    _clients: dict[tuple[str, str, int], tuple[Config, Any]] = field(default_factory=dict, compare=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def client(self, service: str, region: str | None = None, config: Config = CLIENT_CONFIG) -> Any:
        key = (service, region or self.region, id(config))
        with self._lock:
            if key not in self._clients:  # the config is kept with its client: its id stays its own
                made = self.session.client(service, region_name=key[1], endpoint_url=self.endpoint, config=config)
                self._clients[key] = (config, made)
            return self._clients[key][1]

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


#: One botocore Loader for every session of this process: the service models and endpoint rules
#: are parsed once (parsing them is most of what making a client costs, about 0.1 s per session
#: for the endpoint rules alone), and its loads are serialized, so accounts deployed in parallel
#: threads do not parse the same JSON at the same time (each missing the other's cache: a no-op
#: deploy of two accounts parsed 34 model files twice, 0.2 s of CPU).
_LOADER: list[Any] = []
_LOADER_LOCK = threading.RLock()


def _shared_loader() -> Any:
    import botocore.loaders

    class SerialLoader(botocore.loaders.Loader):
        def load_service_model(self, *args: Any, **kwargs: Any) -> Any:
            with _LOADER_LOCK:
                return super().load_service_model(*args, **kwargs)

        def load_data_with_path(self, *args: Any, **kwargs: Any) -> Any:
            with _LOADER_LOCK:
                return super().load_data_with_path(*args, **kwargs)

        def load_data(self, *args: Any, **kwargs: Any) -> Any:
            with _LOADER_LOCK:
                return super().load_data(*args, **kwargs)

    with _LOADER_LOCK:
        if not _LOADER:
            import os

            paths = [  # as botocore's own create_loader reads AWS_DATA_PATH
                os.path.expanduser(os.path.expandvars(p))
                for p in os.environ.get("AWS_DATA_PATH", "").split(os.pathsep)
                if p
            ]
            _LOADER.append(SerialLoader(extra_search_paths=paths))
        return _LOADER[0]


def new_session(**options: Any) -> Any:
    """A boto3 session whose botocore loader is the process's one (models parsed once)."""
    import botocore.session

    core = botocore.session.Session()
    loader = _shared_loader()
    core.register_component("data_loader", loader)
    session = boto3.Session(botocore_session=core, **options)
    with _LOADER_LOCK:  # each boto3 session appends its data folder to the (shared) loader's paths
        loader.search_paths[:] = list(dict.fromkeys(loader.search_paths))
    return session


def base_session(region: str, credentials: Mapping[str, str] | None = None) -> Any:
    return new_session(region_name=region, **dict(credentials or {}))


#: The variables boto3's credential chain reads: a base session made for the same ones is the same.
CHAIN_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)
#: Base sessions and their STS clients, shared by the accounts of a run that start from the same
#: credentials (every account assumes its role from them): a session and a client cost more CPU
#: than the call they make. ``forget_sessions`` empties it (a new run starts).
_BASES: dict[tuple[Any, ...], tuple[Any, dict[tuple[str | None, int], Any]]] = {}


def forget_sessions() -> None:
    with _SESSION_LOCK:
        _BASES.clear()


def _shared_base(region: str, credentials: Mapping[str, str] | None) -> tuple[Any, dict[tuple[str | None, int], Any]]:
    import os

    given = tuple(sorted((credentials or {}).items()))
    chain = () if credentials else tuple(os.environ.get(name) for name in CHAIN_VARIABLES)
    key = (region, given, chain)
    with _SESSION_LOCK:
        if key not in _BASES:
            _BASES[key] = (base_session(region, credentials), {})
        return _BASES[key]


def _base_sts(
    base: Any, clients: dict[tuple[str | None, int], Any], region: str, endpoint: str | None, config: Config
) -> Any:
    with _SESSION_LOCK:
        key = (endpoint, id(config))
        if key not in clients:
            clients[key] = (config, base.client("sts", region_name=region, endpoint_url=endpoint, config=config))
        return clients[key][1]


def arn_account(arn: str) -> str | None:
    """The account of an ARN (``arn:aws:sts::123456789012:assumed-role/...``), or None."""
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[4].isdigit() else None


#: A boto3 session makes clients one at a time.
_SESSION_LOCK = threading.Lock()


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
    first STS call's timeouts and retries (a preflight probe asks once, quickly).

    The role's credentials refresh themselves before they expire (a deploy, its wait for a running
    backup and a restore can outlast the role session's hour).
    """
    if not deploy_role:
        return AccountAccess(base or base_session(region, credentials), region, endpoint_url)
    if base is None:
        base, shared = _shared_base(region, credentials)
    else:
        shared = {}
    arn = f"arn:aws:iam::{account_id}:role/{deploy_role}"
    session_name = f"ghe-backup-deploy-{name}"
    named: list[str | None] = []

    def assume(which: str = "first") -> dict[str, str]:
        sts = _base_sts(base, shared, region, endpoint_url, config if which == "first" else CLIENT_CONFIG)
        answer = sts.assume_role(RoleArn=arn, RoleSessionName=session_name)
        creds = answer["Credentials"]
        logredact.remember(creds.get("SecretAccessKey"), creds.get("SessionToken"))
        named.append(arn_account(str((answer.get("AssumedRoleUser") or {}).get("Arn") or "")))
        expiry = creds.get("Expiration") or ""  # STS always says; without it they never expire
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": expiry.isoformat() if hasattr(expiry, "isoformat") else str(expiry),
        }

    with sts_errors(
        name,
        endpoint_url,
        refused=lambda err: ConfigError(
            f"{name}: cannot assume {arn}: {aws_message(err)}", hint="check deploy_role and your credentials"
        ),
        no_credentials=f"{name}: no AWS credentials to assume {arn} with",
        retried="retried 3 times",
    ):
        first = assume()
    if not first["expiry_time"]:
        return AccountAccess(
            new_session(
                region_name=region,
                aws_access_key_id=first["access_key"],
                aws_secret_access_key=first["secret_key"],
                aws_session_token=first["token"],
            ),
            region,
            endpoint_url,
            named[0],
        )
    refreshing = RefreshableCredentials.create_from_metadata(
        metadata=first, refresh_using=lambda: assume("refresh"), method="sts-assume-role"
    )
    session = new_session(region_name=region)
    session._session._credentials = refreshing  # boto3 has no public setter for refreshing credentials
    return AccountAccess(session, region, endpoint_url, named[0])


def caller_account(access: AccountAccess, name: str, config: Config = CLIENT_CONFIG) -> str:
    """The account the credentials act in (``sts:GetCallerIdentity``, or what STS named when it
    handed them out), with one-line errors."""
    if access.acts_in:
        return access.acts_in
    sts = access.client("sts", config=config)
    with sts_errors(
        name,
        access.endpoint,
        refused=lambda err: ConfigError(
            f"{name}: AWS refused the credentials: {aws_message(err)}", hint="log in to AWS again"
        ),
        no_credentials=f"{name}: no AWS credentials",
    ):
        return sts.get_caller_identity()["Account"]


@contextlib.contextmanager
def sts_errors(
    name: str,
    endpoint: str | None,
    *,
    refused: Callable[[ClientError], ConfigError],
    no_credentials: str,
    retried: str | None = None,
) -> Iterator[None]:
    """STS faults as one-line errors: transient ones exit 3, a refusal (``refused``) and missing
    credentials exit 2."""
    try:
        yield
    except ClientError as err:
        if is_transient(err):
            raise Unreachable(f"{name}: AWS STS did not answer: {aws_message(err)}", hint=retried) from None
        raise refused(err) from None
    except NoCredentialsError:
        raise ConfigError(no_credentials, hint="log in to AWS first") from None
    except BotoCoreError as err:
        raise Unreachable(f"{name}: AWS STS unreachable at {endpoint or 'AWS'}: {type(err).__name__}") from None


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
