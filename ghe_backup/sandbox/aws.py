"""Sandbox component: a moto server on 127.0.0.1 standing in for every account in config/accounts.

Each account is seeded the way a real one is before ghe-backup's first deployment: its default
VPC and subnets (moto makes them), a Taupage AMI catalogue, the ``app-ghe-backup`` security
group and IAM role the senza base names, the deploy role, a KMS key (``alias/ghe-backup``) with
a throwaway SSH key encrypted by it, and the ``ghe-backup-data`` EBS volume in ``<region>a``.

The Taupage catalogue is a JSON file moto reads at start (``MOTO_AMIS_PATH``): three published
images and, disabled, one staged image per day for the next 30 days. ``publish_taupage`` enables
a staged one, so senza (which picks the newest available ``Taupage-AMI-*``) sees a newer AMI.
moto keeps everything in memory: a restart re-seeds from scratch (new volume ids, no stacks).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from ghe_backup.errors import ConfigError, Unreachable
from ghe_backup.sandbox.processes import log_file, port_open, recorded_pid, start_process, stop_process, wait_until
from ghe_backup.sandbox.state import SANDBOX_CREDENTIALS, SandboxState, port_base

NAME = "aws"
HOST = "127.0.0.1"
SEED_ROLE = "sandbox-seeder"
APP_NAME = "app-ghe-backup"
VOLUME_NAME = "ghe-backup-data"
KMS_ALIAS = "alias/ghe-backup"
PUBLISHED_AGES = (90, 60, 20)  # days before the sandbox starts: the newest is fresh by the default policy (30)
STAGED_DAYS = 30
AMI_PREFIX = "Taupage-AMI-"


def port() -> int:
    return port_base() + 1


def endpoint() -> str:
    return f"http://{HOST}:{port()}"


def start(state: Any) -> None:
    accounts = _accounts(state.root)
    if not is_up(state):
        catalogue = write_catalogue(state.dir / "aws" / "amis.json", dt.date.today())
        env = {**_clean_env(), "MOTO_AMIS_PATH": str(catalogue)}
        moto = Path(sys.executable).with_name("moto_server")
        argv = (
            [str(moto), "-H", HOST, "-p", str(port())]
            if moto.exists()
            else [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port())]
        )
        start_process(state.dir, NAME, argv, env=env)
        wait_until(lambda: port_open(HOST, port()), "moto server", 30, log_file(state.dir, NAME))
    state.endpoints["aws_endpoint"] = endpoint()
    state.endpoints["aws_accounts"] = {name: seed_account(settings) for name, settings in accounts.items()}


def stop(state: Any) -> None:
    stop_process(state.dir, NAME)
    for key in ("aws_endpoint", "aws_accounts"):
        state.endpoints.pop(key, None)


def is_up(state: Any) -> bool:
    return recorded_pid(state.dir, NAME) is not None and port_open(HOST, port())


_ACCOUNTS: dict[tuple[str, str], dict[str, Any]] = {}


def _accounts(root: Path) -> dict[str, Any]:
    """The accounts' settings (read, checked and cached by the config files' contents: every
    component asks, and checking the config costs more than the sandbox's own probes)."""
    from ghe_backup.delivery.config import load_accounts

    digest = hashlib.sha256()
    for folder in ("config", "senza"):
        for path in sorted((root / folder).rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    key = (str(root), digest.hexdigest())
    if key not in _ACCOUNTS:
        _ACCOUNTS[key] = {name: account.settings for name, account in load_accounts(root).items()}
    return _ACCOUNTS[key]


def _clean_env() -> dict[str, str]:
    """The environment without real AWS credentials or profiles."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}


# -- the Taupage catalogue ------------------------------------------------------------------


def ami_id(name: str) -> str:
    return "ami-" + hashlib.sha256(name.encode()).hexdigest()[:17]


def write_catalogue(path: Path, today: dt.date) -> Path:
    dates = [(today - dt.timedelta(days=d), "available") for d in PUBLISHED_AGES]
    dates += [(today + dt.timedelta(days=d), "disabled") for d in range(STAGED_DAYS)]
    images = []
    for day, state in dates:
        name = f"{AMI_PREFIX}{day:%Y%m%d}-000000"
        images.append(
            {
                "ami_id": ami_id(name),
                "name": name,
                "description": f"Taupage AMI of {day:%Y-%m-%d} (sandbox)",
                "state": state,
                "public": False,
                "root_device_type": "ebs",
                "root_device_name": "/dev/xvda",
                "virtualization_type": "hvm",
                "architecture": "x86_64",
                "hypervisor": "xen",
                "image_type": "machine",
                "creation_date": f"{min(day, today):%Y-%m-%d}T00:00:00.000Z",  # staged ones: made today
            }
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(images, indent=1) + "\n")
    return path


def publish_taupage(root: Path, date: str | None = None) -> dict[str, Any]:
    """Enable the staged Taupage AMI of ``date`` (YYYYMMDD; default: the next staged one) everywhere."""
    state = SandboxState.load(root)
    if not is_up(state):
        raise Unreachable("the sandbox AWS endpoint is not running", hint="start it with: inv sandbox.up")
    published: dict[str, Any] = {}
    for name, settings in _accounts(root).items():
        ec2 = account_client(settings, "ec2")
        images = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [AMI_PREFIX + "*"]}])[
            "Images"
        ]
        staged = sorted((i for i in images if i["State"] == "disabled"), key=lambda i: i["Name"])
        pick = [i for i in staged if date is None or i["Name"].startswith(f"{AMI_PREFIX}{date}-")][:1]
        if not pick:
            available = ", ".join(i["Name"][len(AMI_PREFIX) : len(AMI_PREFIX) + 8] for i in staged) or "none left"
            raise ConfigError(
                f"no staged Taupage AMI for {date or 'publishing'} in {name}", hint=f"staged dates: {available}"
            )
        ec2.enable_image(ImageId=pick[0]["ImageId"])
        published[name] = {"image_id": pick[0]["ImageId"], "name": pick[0]["Name"]}
    return published


# -- seeding one account --------------------------------------------------------------------


def account_session(settings: Any, role: str = SEED_ROLE) -> Any:
    """A boto3 session acting inside the account (moto maps assumed-role keys to its id)."""
    import boto3

    sts = boto3.client("sts", endpoint_url=endpoint(), region_name=settings.region, **SANDBOX_CREDENTIALS)
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{settings.account_id}:role/{role}", RoleSessionName=role)[
        "Credentials"
    ]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=settings.region,
    )


def account_client(settings: Any, service: str) -> Any:
    return account_session(settings).client(service, endpoint_url=endpoint())


def seed_account(settings: Any) -> dict[str, Any]:
    """Make the account look like one prepared for ghe-backup (idempotent)."""
    session = account_session(settings)
    ec2 = session.client("ec2", endpoint_url=endpoint())
    iam = session.client("iam", endpoint_url=endpoint())
    kms = session.client("kms", endpoint_url=endpoint())
    dynamodb = session.client("dynamodb", endpoint_url=endpoint())
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    return {
        "account_id": settings.account_id,
        "region": settings.region,
        "vpc_id": vpc,
        "security_group_id": _security_group(ec2, vpc),
        "roles": [
            _role(iam, APP_NAME, "ec2.amazonaws.com"),
            *([_role(iam, settings.deploy_role, None)] if settings.deploy_role else []),
        ],
        "kms_key_id": (key := _kms_key(kms)),
        "kms_private_ssh_key": _encrypted_ssh_key(kms, key),
        "volume_id": _data_volume(ec2, f"{settings.region}a"),
        "state_table": _state_table(dynamodb, settings.state_table),
    }


def state_table_definition(name: str) -> dict[str, Any]:
    """The account's state table (deploy lock, history, backup status), as docs/operations.md creates it."""
    return {
        "TableName": name,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }


def _state_table(dynamodb: Any, name: str) -> str:
    try:
        dynamodb.describe_table(TableName=name)
    except dynamodb.exceptions.ResourceNotFoundException:
        dynamodb.create_table(**state_table_definition(name))
    return name


def _security_group(ec2: Any, vpc: str) -> str:
    found = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [APP_NAME]}, {"Name": "vpc-id", "Values": [vpc]}]
    )
    if found["SecurityGroups"]:
        return found["SecurityGroups"][0]["GroupId"]
    return ec2.create_security_group(GroupName=APP_NAME, Description="ghe-backup instances", VpcId=vpc)["GroupId"]


def _role(iam: Any, name: str, service: str | None) -> str:
    principal = {"Service": service} if service else {"AWS": "*"}
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}],
    }
    try:
        return iam.get_role(RoleName=name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(policy))["Role"]["Arn"]


def _kms_key(kms: Any) -> str:
    for alias in kms.list_aliases()["Aliases"]:
        if alias["AliasName"] == KMS_ALIAS and alias.get("TargetKeyId"):
            return alias["TargetKeyId"]
    key = kms.create_key(Description="ghe-backup secrets (sandbox)")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=KMS_ALIAS, TargetKeyId=key)
    return key


def _encrypted_ssh_key(kms: Any, key: str) -> str:
    """A fresh throwaway SSH private key, encrypted with the account's key, as Taupage expects it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    blob = kms.encrypt(KeyId=key, Plaintext=private)["CiphertextBlob"]
    return "aws:kms:" + base64.b64encode(blob).decode()


def _data_volume(ec2: Any, zone: str) -> str:
    found = ec2.describe_volumes(Filters=[{"Name": "tag:Name", "Values": [VOLUME_NAME]}])["Volumes"]
    if found:
        return found[0]["VolumeId"]
    volume = ec2.create_volume(
        AvailabilityZone=zone,
        Size=100,
        VolumeType="gp3",
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "Name", "Value": VOLUME_NAME}]}],
    )
    return volume["VolumeId"]
