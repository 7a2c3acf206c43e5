"""The data volume guard: every change that would put the backups at risk is refused, saying why."""

from __future__ import annotations

import copy

import pytest

from ghe_backup.delivery.config import load_accounts
from ghe_backup.delivery.config.volume import check_data_volume
from support.targets import FIXTURE_TREE

BASE = load_accounts(FIXTURE_TREE)["prod"].merged.data


def app(definition):
    return definition["SenzaComponents"][1]["AppServer"]


def changed(change):
    definition = copy.deepcopy(BASE)
    change(definition)
    return definition


def findings(definition):
    return [(".".join(f.path), f.problem) for f in check_data_volume(definition)]


def test_the_shipped_definition_keeps_the_volume_safe():
    assert findings(BASE) == []


@pytest.mark.parametrize(
    "change, path, says",
    [
        (
            lambda d: app(d)["TaupageConfig"]["mounts"]["/data"].update(erase_on_boot=True),
            "SenzaComponents.AppServer.TaupageConfig.mounts./data.erase_on_boot",
            "true would erase the data volume, and every backup on it, at each boot",
        ),
        (
            lambda d: app(d)["TaupageConfig"]["mounts"]["/data"].pop("erase_on_boot"),
            "SenzaComponents.AppServer.TaupageConfig.mounts./data.erase_on_boot",
            "missing: it must say false, explicitly",
        ),
        (
            lambda d: app(d)["TaupageConfig"]["mounts"].update(
                {"/backup": app(d)["TaupageConfig"]["mounts"].pop("/data")}
            ),
            "SenzaComponents.AppServer.TaupageConfig.mounts",
            "no mount at /data (it is mounted at /backup instead)",
        ),
        (
            lambda d: app(d)["TaupageConfig"]["mounts"]["/data"].update(partition="/dev/xvdg"),
            "SenzaComponents.AppServer.TaupageConfig.mounts./data.partition",
            "'/dev/xvdg' is not the data volume's device (/dev/sdf)",
        ),
        (
            lambda d: app(d)["TaupageConfig"]["mounts"].update(
                {"/mnt": {"partition": "/dev/xvdf", "erase_on_boot": False}}
            ),
            "SenzaComponents.AppServer.TaupageConfig.mounts./mnt",
            "mounts the data volume a second time, at /mnt",
        ),
        (
            lambda d: app(d)["TaupageConfig"]["volumes"]["ebs"].update({"/dev/sdf": "ghe-backup-data-new"}),
            "SenzaComponents.AppServer.TaupageConfig.volumes.ebs",
            "the data volume ghe-backup-data names /dev/sdf: ghe-backup-data-new instead",
        ),
        (
            lambda d: app(d)["TaupageConfig"].pop("volumes"),
            "SenzaComponents.AppServer.TaupageConfig.volumes.ebs",
            "the data volume ghe-backup-data is missing",
        ),
        (
            lambda d: app(d)["TaupageConfig"]["volumes"]["ebs"].update({"/dev/sdg": "ghe-backup-data"}),
            "SenzaComponents.AppServer.TaupageConfig.volumes.ebs",
            "ghe-backup-data is named for 2 devices",
        ),
        (
            lambda d: app(d).update(BlockDeviceMappings=[{"DeviceName": "/dev/xvdf", "Ebs": {"VolumeSize": 500}}]),
            "SenzaComponents.AppServer.BlockDeviceMappings.0",
            "maps /dev/xvdf, the data volume's device, to a volume the stack creates",
        ),
        (
            lambda d: app(d)["AutoScaling"].update(Minimum=0, Maximum=0),
            "SenzaComponents.AppServer.AutoScaling.Minimum",
            "0 would stop the backup instance: no backups would run",
        ),
        (
            lambda d: app(d)["AutoScaling"].update(DesiredCapacity=0),
            "SenzaComponents.AppServer.AutoScaling.DesiredCapacity",
            "0 would stop the backup instance",
        ),
        (
            lambda d: app(d)["AutoScaling"].update(Maximum=2),
            "SenzaComponents.AppServer.AutoScaling.Maximum",
            "2: one EBS volume attaches to one instance",
        ),
        (
            lambda d: d["SenzaInfo"].update(StackName="ghe-backup-v2"),
            "SenzaInfo.StackName",
            "'ghe-backup-v2' is not 'ghe-backup': the running ghe-backup stack would never be replaced",
        ),
        (
            lambda d: d["SenzaComponents"].append({"Second": copy.deepcopy(app(d))}),
            "SenzaComponents.Second",
            "2 Taupage groups (AppServer, Second) would compete for the one data volume",
        ),
        (
            lambda d: app(d).update(Type="Senza::StupsAutoConfiguration"),
            "SenzaComponents",
            "no component of Type Senza::TaupageAutoScalingGroup: nothing would run the backups",
        ),
        (
            lambda d: app(d)["TaupageConfig"]["environment"].update(DATA_MOUNT="/mnt"),
            "SenzaComponents.AppServer.TaupageConfig.environment.DATA_MOUNT",
            "'/mnt' is not where the data volume is mounted (/data)",
        ),
        (
            lambda d: app(d)["TaupageConfig"]["environment"].update(GHE_DATA_DIR="/data/../root"),
            "SenzaComponents.AppServer.TaupageConfig.environment.GHE_DATA_DIR",
            "'/data/../root' is not a directory inside the data volume (/data)",
        ),
        (
            lambda d: app(d)["TaupageConfig"]["environment"].update(GHE_DATA_DIR="/data"),
            "SenzaComponents.AppServer.TaupageConfig.environment.GHE_DATA_DIR",
            "'/data' is not a directory inside the data volume",
        ),
        (
            lambda d: app(d)["TaupageConfig"]["environment"].update(GHE_DATA_DIR="data/ghe"),
            "SenzaComponents.AppServer.TaupageConfig.environment.GHE_DATA_DIR",
            "'data/ghe' is not a directory inside the data volume",
        ),
        (
            lambda d: app(d)["TaupageConfig"]["environment"].update(REQUIRE_DATA_MOUNT="false"),
            "SenzaComponents.AppServer.TaupageConfig.environment.REQUIRE_DATA_MOUNT",
            "lets the container back up onto the root disk",
        ),
    ],
)
def test_a_risky_change_is_refused_saying_why(change, path, says):
    [(where, problem)] = findings(changed(change))[:1]
    assert where == path
    assert says in problem


@pytest.mark.parametrize(
    "change",
    [
        lambda d: app(d)["TaupageConfig"]["environment"].update(GHE_DATA_DIR="/data/backups/ghe"),
        lambda d: app(d)["TaupageConfig"]["environment"].pop("DATA_MOUNT"),  # the container's default is /data
        lambda d: app(d).pop("AutoScaling"),  # senza's default group size is one instance
        lambda d: app(d)["TaupageConfig"]["volumes"]["ebs"].update({"/dev/sdg": "scratch"}),  # another volume
        lambda d: app(d).update(BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 50}}]),
        lambda d: app(d)["TaupageConfig"]["mounts"]["/data"].update(partition="/dev/sdf"),  # the same device
    ],
)
def test_harmless_changes_pass(change):
    assert findings(changed(change)) == []
