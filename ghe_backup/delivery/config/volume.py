"""The data volume guard: refuse any definition that would put the backups at risk.

Every snapshot lives on one EBS volume, tagged ``Name: ghe-backup-data``, that no stack owns:
Taupage attaches it by name at boot and mounts it at ``/data``, and the container writes under
``/data``. Each rule below protects one link of that chain, on the merged definition (whatever
layer changed it: base, defaults or overlay). A rule returns a ``Finding`` saying what the change
would do to the backups, or None.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

KeyPath = tuple[str, ...]

STACK_NAME = "ghe-backup"
DATA_VOLUME = "ghe-backup-data"
DATA_MOUNT = "/data"
TAUPAGE_GROUP = "Senza::TaupageAutoScalingGroup"


@dataclass(frozen=True)
class Finding:
    """One problem: where (the key path in the merged definition), what, and the fix."""

    path: KeyPath
    problem: str
    fix: str


def taupage_groups(definition: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(name, body) of each Taupage auto-scaling group of the definition."""
    found = []
    for item in definition.get("SenzaComponents") or []:
        for name, body in (item or {}).items():
            if isinstance(body, dict) and body.get("Type") == TAUPAGE_GROUP:
                found.append((str(name), body))
    return found


def stack_name(definition: dict[str, Any]) -> Finding | None:
    name = (definition.get("SenzaInfo") or {}).get("StackName")
    if name == STACK_NAME:
        return None
    return Finding(
        ("SenzaInfo", "StackName"),
        f"{name!r} is not {STACK_NAME!r}: the running {STACK_NAME} stack would never be replaced, and two "
        "instances would compete for the one data volume",
        f"keep StackName: {STACK_NAME}",
    )


def one_group(definition: dict[str, Any]) -> Finding | None:
    groups = taupage_groups(definition)
    if len(groups) == 1:
        return None
    if not groups:
        return Finding(
            ("SenzaComponents",),
            f"no component of Type {TAUPAGE_GROUP}: nothing would run the backups",
            "keep the AppServer component of senza/ghe-backup.yaml",
        )
    names = ", ".join(name for name, _ in groups)
    return Finding(
        ("SenzaComponents", groups[1][0]),
        f"{len(groups)} Taupage groups ({names}) would compete for the one data volume",
        "keep a single Taupage auto-scaling group",
    )


def group_checks(definition: dict[str, Any]) -> list[Finding]:
    """The rules for the (one) Taupage group, each at most one finding."""
    found = []
    for name, body in taupage_groups(definition)[:1]:
        base = ("SenzaComponents", name)
        for rule in GROUP_RULES:
            finding = rule(base, body)
            if finding:
                found.append(finding)
    return found


def scaling(base: KeyPath, body: dict[str, Any]) -> Finding | None:
    limits = body.get("AutoScaling") or {}
    for key in ("Minimum", "Maximum", "DesiredCapacity"):
        value = limits.get(key, 1)  # senza's default size is one instance
        if value == 1 and type(value) is int:
            continue
        if value == 0:
            problem = "0 would stop the backup instance: no backups would run"
        else:
            problem = f"{value!r}: one EBS volume attaches to one instance; a second one would find it taken"
        return Finding((*base, "AutoScaling", key), problem, f"keep {key}: 1")
    return None


def volumes(base: KeyPath, body: dict[str, Any]) -> Finding | None:
    path = (*base, "TaupageConfig", "volumes", "ebs")
    ebs = ((body.get("TaupageConfig") or {}).get("volumes") or {}).get("ebs") or {}
    devices = [device for device, name in ebs.items() if name == DATA_VOLUME]
    if len(devices) == 1:
        return None
    if len(devices) > 1:
        return Finding(path, f"{DATA_VOLUME} is named for {len(devices)} devices", "attach it once, as /dev/sdf")
    others = ", ".join(f"{k}: {v}" for k, v in ebs.items())
    what = f"names {others} instead" if others else "is missing"
    return Finding(
        path,
        f"the data volume {DATA_VOLUME} {what}: the instance would start without the backups "
        "(a renamed volume is a new, empty one)",
        f"keep /dev/sdf: {DATA_VOLUME}",
    )


def _data_device(body: dict[str, Any]) -> str | None:
    ebs = ((body.get("TaupageConfig") or {}).get("volumes") or {}).get("ebs") or {}
    return next((str(device) for device, name in ebs.items() if name == DATA_VOLUME), None)


def _partitions(device: str) -> set[str]:
    """The names a device attached as /dev/sdX shows up as on the instance."""
    letter = device.rsplit("/", 1)[-1].removeprefix("xvd").removeprefix("sd")
    return {device, f"/dev/sd{letter}", f"/dev/xvd{letter}"}


def mounts(base: KeyPath, body: dict[str, Any]) -> Finding | None:
    path = (*base, "TaupageConfig", "mounts")
    table = (body.get("TaupageConfig") or {}).get("mounts") or {}
    device = _data_device(body)
    partitions = _partitions(device) if device else set()
    mount = table.get(DATA_MOUNT)
    if not isinstance(mount, dict):
        moved = [p for p, m in table.items() if isinstance(m, dict) and m.get("partition") in partitions]
        where = f" (it is mounted at {moved[0]} instead)" if moved else ""
        return Finding(
            path,
            f"no mount at {DATA_MOUNT}{where}: the container writes backups under {DATA_MOUNT}, they would land "
            "on the instance's root disk and vanish with it",
            f"keep {DATA_MOUNT}: {{partition: /dev/xvdf, filesystem: ext4, erase_on_boot: false}}",
        )
    if partitions and mount.get("partition") not in partitions:
        return Finding(
            (*path, DATA_MOUNT, "partition"),
            f"{mount.get('partition')!r} is not the data volume's device ({device}): another disk would be "
            f"mounted at {DATA_MOUNT}",
            "keep partition: /dev/xvdf",
        )
    if mount.get("erase_on_boot") is not False:
        value = mount.get("erase_on_boot", "missing")
        problem = (
            "true would erase the data volume, and every backup on it, at each boot"
            if value is True
            else f"{value}: it must say false, explicitly, so that no boot formats the data volume"
        )
        return Finding((*path, DATA_MOUNT, "erase_on_boot"), problem, "keep erase_on_boot: false")
    for other, spec in table.items():
        if other != DATA_MOUNT and isinstance(spec, dict) and spec.get("partition") in partitions:
            return Finding(
                (*path, str(other)),
                f"mounts the data volume a second time, at {other}",
                f"mount it only at {DATA_MOUNT}",
            )
    return None


def block_devices(base: KeyPath, body: dict[str, Any]) -> Finding | None:
    device = _data_device(body)
    partitions = _partitions(device) if device else set()
    for index, mapping in enumerate(body.get("BlockDeviceMappings") or []):
        name = mapping.get("DeviceName") if isinstance(mapping, dict) else None
        if name in partitions:
            return Finding(
                (*base, "BlockDeviceMappings", str(index)),
                f"maps {name}, the data volume's device, to a volume the stack creates: the instance would "
                "get a new, empty disk there, deleted with the stack",
                "remove this mapping; the data volume is attached by name (TaupageConfig.volumes)",
            )
    return None


def environment(base: KeyPath, body: dict[str, Any]) -> Finding | None:
    env = (body.get("TaupageConfig") or {}).get("environment") or {}
    path = (*base, "TaupageConfig", "environment")
    mount = env.get("DATA_MOUNT", DATA_MOUNT)
    if mount != DATA_MOUNT:
        return Finding(
            (*path, "DATA_MOUNT"),
            f"{mount!r} is not where the data volume is mounted ({DATA_MOUNT})",
            f"keep DATA_MOUNT: {DATA_MOUNT}",
        )
    data_dir = env.get("GHE_DATA_DIR", "/data/ghe-data")
    normal = posixpath.normpath(str(data_dir)) if isinstance(data_dir, str) and data_dir.startswith("/") else None
    if normal is None or not normal.startswith(DATA_MOUNT + "/"):
        return Finding(
            (*path, "GHE_DATA_DIR"),
            f"{data_dir!r} is not a directory inside the data volume ({DATA_MOUNT}): backups would land on the "
            "instance's root disk and vanish with it",
            f"use a path under {DATA_MOUNT}, e.g. {DATA_MOUNT}/ghe-data",
        )
    required = env.get("REQUIRE_DATA_MOUNT", True)
    if str(required).strip().lower() in ("0", "false", "no", "off"):
        return Finding(
            (*path, "REQUIRE_DATA_MOUNT"),
            f"{required!r} lets the container back up onto the root disk when the data volume is not mounted",
            "remove it: it is for local tests only",
        )
    return None


DEFINITION_RULES: tuple[Callable[[dict[str, Any]], Finding | None], ...] = (stack_name, one_group)
GROUP_RULES: tuple[Callable[[KeyPath, dict[str, Any]], Finding | None], ...] = (
    scaling,
    volumes,
    mounts,
    block_devices,
    environment,
)


def check_data_volume(definition: dict[str, Any]) -> list[Finding]:
    """Every way the definition would put the data volume or the backups on it at risk."""
    found = [f for rule in DEFINITION_RULES if (f := rule(definition))]
    return found or group_checks(definition)
