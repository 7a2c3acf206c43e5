"""Read ghe-backup's stacks in one account: state, events, image tag, AMI, and the newest Taupage.

``CloudFormationAccount`` is the account as the deploy steps see it (a fake in unit tests).
Read-only but for ``delete_stack``, the fallback for a half-made stack a deployer cannot delete:
changes go through a deployer (Lizzy or senza). Transient faults of a stack read are raised as
``TransientError`` so waits retry them; anything else becomes a one-line error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from ghe_backup.errors import StageFailed, Unreachable
from ghe_backup.plumbing.aws import AccountAccess, aws_message, is_transient, worth_retrying

TAUPAGE_PATTERN = "Taupage-AMI-*"
#: The senza parameter that carries the image tag.
PARAMETER = "ImageVersion"
#: senza's rule for stack versions; a stack is ``<StackName>-<version>``.
VERSION_PATTERN = re.compile(r"^[a-zA-Z0-9]+$")


def version_of(base: str, name: str) -> str | None:
    """The version of stack ``name`` if it is a stack of ``base`` (``ghe-backup``)."""
    prefix = base + "-"
    rest = name[len(prefix) :] if name.startswith(prefix) else ""
    return rest if VERSION_PATTERN.match(rest or "-") else None


@dataclass(frozen=True)
class StackInfo:
    name: str
    version: str
    status: str
    image_tag: str | None
    ami: str | None
    instance_type: str | None
    created: str
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StackEvent:
    id: str
    time: str
    resource: str
    status: str
    reason: str = ""


@dataclass(frozen=True)
class Observation:
    """One look at a stack; ``status`` None means it does not exist (or was deleted)."""

    status: str | None
    reason: str = ""
    events: tuple[StackEvent, ...] = ()


class TransientError(Exception):
    """A read that may succeed when tried again (connection, 5xx, 429, throttling)."""


def _call(what: str, fn: Any, **kwargs: Any) -> Any:
    """One read, retried a few times on transient faults (not timeouts: see ``worth_retrying``); then a one-line error."""
    retrying = Retrying(
        wait=wait_exponential(multiplier=0.5, max=4),
        stop=stop_after_attempt(4),
        retry=retry_if_exception(worth_retrying),
        reraise=True,
    )
    try:
        return retrying(fn, **kwargs)
    except ClientError as err:
        if is_transient(err):
            raise Unreachable(f"{what}: {aws_message(err)}", hint="retried 4 times") from None
        raise StageFailed(f"{what}: {aws_message(err)}") from None
    except BotoCoreError as err:
        raise Unreachable(f"{what}: {err}") from None


def ami_facts(image: dict[str, Any]) -> dict[str, Any]:
    """What the pipeline needs to know of an AMI (``deprecation``: when AWS retires it, if it says)."""
    return {
        "id": image["ImageId"],
        "name": image.get("Name", ""),
        "state": image.get("State", "available"),
        "created": image.get("CreationDate"),
        "deprecation": image.get("DeprecationTime"),
    }


def _missing(err: ClientError) -> bool:
    return "does not exist" in aws_message(err)


class CloudFormationAccount:
    """ghe-backup's view of one account's CloudFormation, EC2, Auto Scaling and STS."""

    def __init__(self, access: AccountAccess):
        self.access = access
        self.cfn = access.client("cloudformation")
        self.stack_ids: dict[str, str] = {}

    # -- who we are -------------------------------------------------------------------------

    def caller_account(self) -> str:
        if self.access.acts_in:  # STS named the account when it handed out the role's credentials
            return self.access.acts_in
        return _call("asking STS who we are", self.access.client("sts").get_caller_identity)["Account"]

    # -- one stack, while waiting -----------------------------------------------------------

    def observe(self, stack: str, *, with_events: bool) -> Observation:
        ref = self.stack_ids.get(stack, stack)  # deleted stacks are found by id only
        try:
            found = self.cfn.describe_stacks(StackName=ref)["Stacks"]
        except ClientError as err:
            if _missing(err):
                return Observation(status=None)
            if is_transient(err):
                raise TransientError(str(err)) from err
            raise StageFailed(f"reading {stack}: {aws_message(err)}") from None
        except BotoCoreError as err:
            raise TransientError(str(err)) from err
        if not found:
            return Observation(status=None)
        current = found[0]
        if ref != stack and current["StackStatus"] == "DELETE_COMPLETE":
            # Deleted: its name is free and a stack of that name may be created again (a restore).
            # Asked by id a deleted stack stays DELETE_COMPLETE forever; the new one is found by name.
            del self.stack_ids[stack]
            again = self.observe(stack, with_events=with_events)
            if again.status is not None:
                return again
            self.stack_ids[stack] = current["StackId"]
        self.stack_ids[stack] = current["StackId"]
        events = self.events(current["StackId"]) if with_events else ()
        return Observation(
            status=current["StackStatus"], reason=current.get("StackStatusReason", "") or "", events=events
        )

    def events(self, stack_id: str) -> tuple[StackEvent, ...]:
        try:
            answer = self.cfn.describe_stack_events(StackName=stack_id)
        except (ClientError, BotoCoreError) as err:
            if is_transient(err):
                raise TransientError(str(err)) from err
            return ()
        return tuple(
            StackEvent(
                id=e["EventId"],
                time=e["Timestamp"].isoformat(),
                resource=e.get("LogicalResourceId", "?"),
                status=e.get("ResourceStatus", "?"),
                reason=e.get("ResourceStatusReason", "") or "",
            )
            for e in answer["StackEvents"]
        )

    # -- every ghe-backup stack -------------------------------------------------------------

    def list_stacks(self, base: str) -> list[StackInfo]:
        """``base``'s stacks that exist (not deleted), oldest first, with image tag and AMI."""
        stacks: list[dict[str, Any]] = []
        token: dict[str, str] = {}
        while True:
            page = _call("listing stacks", self.cfn.describe_stacks, **token)
            stacks += [
                s for s in page["Stacks"] if version_of(base, s["StackName"]) and s["StackStatus"] != "DELETE_COMPLETE"
            ]
            if not page.get("NextToken"):
                break
            token = {"NextToken": page["NextToken"]}
        launch = self._launch_configurations([s["StackName"] for s in stacks])
        infos = []
        for s in sorted(stacks, key=lambda s: s["CreationTime"]):
            params = {p["ParameterKey"]: p.get("ParameterValue") for p in s.get("Parameters", [])}
            config = launch.get(s["StackName"], {})
            infos.append(
                StackInfo(
                    name=s["StackName"],
                    version=version_of(base, s["StackName"]) or "",
                    status=s["StackStatus"],
                    image_tag=params.get(PARAMETER),
                    ami=config.get("ImageId"),
                    instance_type=config.get("InstanceType"),
                    created=s["CreationTime"].isoformat(timespec="seconds"),
                    tags={t["Key"]: t["Value"] for t in s.get("Tags", [])},
                )
            )
        return infos

    def _launch_configurations(self, names: list[str]) -> dict[str, dict[str, Any]]:
        """Stack name -> its launch configuration (AMI, instance type)."""
        if not names:
            return {}
        physical: dict[str, str] = {}
        for name in names:
            try:
                resources = self.cfn.describe_stack_resources(StackName=name)["StackResources"]
            except ClientError:
                continue  # a stack stuck half-way may have none
            except BotoCoreError as err:
                raise Unreachable(
                    f"reading the resources of {name}: AWS did not answer: {type(err).__name__}"
                ) from None
            for r in resources:
                if r.get("ResourceType") == "AWS::AutoScaling::LaunchConfiguration" and r.get("PhysicalResourceId"):
                    physical[r["PhysicalResourceId"]] = name
        if not physical:
            return {}
        answer = _call(
            "reading launch configurations",
            self.access.client("autoscaling").describe_launch_configurations,
            LaunchConfigurationNames=list(physical),
        )
        return {physical[c["LaunchConfigurationName"]]: c for c in answer["LaunchConfigurations"]}

    # -- AMIs -------------------------------------------------------------------------------

    def newest_taupage(self) -> dict[str, Any] | None:
        """The AMI senza would pick now: the newest available private ebs ``Taupage-AMI-*``."""
        filters = [
            {"Name": "name", "Values": [TAUPAGE_PATTERN]},
            {"Name": "is-public", "Values": ["false"]},
            {"Name": "state", "Values": ["available"]},
            {"Name": "root-device-type", "Values": ["ebs"]},
        ]
        images = _call("looking up Taupage AMIs", self.access.client("ec2").describe_images, Filters=filters)["Images"]
        if not images:
            return None
        return ami_facts(max(images, key=lambda i: i["Name"]))

    def describe_ami(self, ami: str | None) -> dict[str, Any] | None:
        """Name, state, creation and deprecation time of an AMI; None when it is gone (or unreadable)."""
        if not ami:
            return None
        try:
            images = self.access.client("ec2").describe_images(ImageIds=[ami])["Images"]
        except (ClientError, BotoCoreError):
            return None
        return ami_facts(images[0]) if images else None

    def ami_name(self, ami: str | None) -> str | None:
        found = self.describe_ami(ami)
        return found["name"] if found else None

    # -- the one change ---------------------------------------------------------------------

    def delete_stack(self, stack: str) -> None:
        """Delete through the CloudFormation API: only to clean up a stack the deployer could not."""
        _call(f"deleting {stack}", self.cfn.delete_stack, StackName=stack)
