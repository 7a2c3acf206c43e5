"""Credentials for an account's registry: ECR tokens through boto3, else the user's Docker config.

For ``<account>.dkr.ecr.<region>.amazonaws.com`` registries a short-lived token comes from
``ecr.get_authorization_token`` in that region, as the account's deploy role when one is set
(``pipeline.deploy_role``), through the target's AWS endpoint. Any other
registry gets ``None``: the Docker SDK then uses ``~/.docker/config.json`` and its credential
helpers, as ``docker push`` would. ``http_credentials`` gives the same logins to the Registry HTTP
API client (promotion). Secrets never reach output: callers redact them.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field

from ghe_backup.delivery.push.registry_api import split_repository
from ghe_backup.delivery.push.registry_login import Credentials
from ghe_backup.delivery.target import Target
from ghe_backup.errors import StageFailed, Unreachable

ECR_HOST = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")


@dataclass(frozen=True)
class RegistryAuth:
    registry: str
    config: dict[str, str] | None = field(default=None, repr=False)  # the SDK's auth_config; None: Docker config

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(
            v for k, v in (self.config or {}).items() if k in ("password", "identitytoken", "registrytoken") and v
        )


def ecr_registry(registry: str) -> tuple[str, str] | None:
    """(account id, region) when ``registry`` is an ECR host."""
    match = ECR_HOST.match(registry.split("/", 1)[0])
    return (match["account"], match["region"]) if match else None


def registry_auth(target: Target) -> RegistryAuth:
    ecr = ecr_registry(target.registry)
    if ecr is None:
        return RegistryAuth(registry=target.registry)
    account_id, region = ecr
    return RegistryAuth(registry=target.registry, config=ecr_login(target, account_id, region))


def ecr_login(target: Target, account_id: str, region: str) -> dict[str, str]:
    import botocore.exceptions as bex

    settings = target.settings
    try:
        access = target.access()  # the deploy role when configured, else the caller's credentials
        ecr = access.client("ecr", region=region)
        answer = ecr.get_authorization_token(registryIds=[account_id])
        data = answer["authorizationData"][0]
        username, password = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)
    except (bex.EndpointConnectionError, bex.ConnectTimeoutError) as err:
        raise Unreachable(f"ECR in {region} is not reachable for account {settings.name}: {err}") from None
    except bex.NoCredentialsError:
        raise StageFailed(
            f"no AWS credentials to log in to ECR for account {settings.name}",
            hint="set AWS credentials (AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)",
        ) from None
    except bex.ClientError as err:
        error = err.response.get("Error", {})
        raise StageFailed(
            f"ECR refused a login token for account {settings.name} ({account_id}): {error.get('Code')}: {error.get('Message')}"
        ) from None
    return {
        "username": username,
        "password": password,
        "serveraddress": data.get("proxyEndpoint") or f"https://{target.registry}",
    }


def http_credentials(target: Target) -> Credentials | None:
    """The login for the Registry HTTP API (promotion): the ECR token, else the Docker config's entry.

    Asked only when a registry wants a login (a loopback registry usually does not)."""
    auth = registry_auth(target)
    if auth.config:
        return Credentials(username=auth.config.get("username"), password=auth.config.get("password"))
    return docker_config_credentials(split_repository(target.repository)[0])


def docker_config_credentials(host: str) -> Credentials | None:
    """What ``docker login`` stored for ``host`` (config.json, a credential store or helper), or None."""
    import docker.auth
    import docker.errors

    try:
        found = docker.auth.load_config().resolve_authconfig(host)
    except docker.errors.DockerException as err:  # a credential helper that failed
        raise StageFailed(f"the Docker config's credentials for {host} could not be read: {err}") from None
    entry = {str(k).lower(): v for k, v in (found or {}).items()}
    login = Credentials(
        username=entry.get("username"), password=entry.get("password"), identity_token=entry.get("identitytoken")
    )
    return login if login.username or login.identity_token else None
