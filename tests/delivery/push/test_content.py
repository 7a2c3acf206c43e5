"""What counts as the same image content: layers and runtime settings, not build times."""

from __future__ import annotations

import copy

from ghe_backup.delivery.push import content

INSPECT = {
    "Id": "sha256:local",
    "Created": "2026-11-27T10:00:00Z",
    "Os": "linux",
    "Architecture": "amd64",
    "RootFS": {"Type": "layers", "Layers": ["sha256:base", "sha256:venv", "sha256:code"]},
    "Config": {
        "Env": ["PATH=/opt/venv/bin", "LANG=C.UTF-8"],
        "Entrypoint": ["python3", "-m", "ghe_backup"],
        "Cmd": ["run"],
        "WorkingDir": "/opt/ghe-backup",
        "Labels": {"org.opencontainers.image.revision": "abc"},
        "Healthcheck": {"Test": ["CMD", "true"]},
        "Volumes": None,
        "OnBuild": None,
        "Hostname": "4f2c",  # the build container's: not content
    },
    "ContainerConfig": {"Cmd": ["/bin/sh", "-c", "#(nop) COPY ..."]},
}
CONFIG = {
    "created": "2026-11-27T11:30:00Z",  # another build time
    "os": "linux",
    "architecture": "amd64",
    "rootfs": {"type": "layers", "diff_ids": ["sha256:base", "sha256:venv", "sha256:code"]},
    "config": {
        "Env": ["PATH=/opt/venv/bin", "LANG=C.UTF-8"],
        "Entrypoint": ["python3", "-m", "ghe_backup"],
        "Cmd": ["run"],
        "WorkingDir": "/opt/ghe-backup",
        "Labels": {"org.opencontainers.image.revision": "abc"},
        "Healthcheck": {"Test": ["CMD", "true"]},
        "Volumes": {},
        "Hostname": "9a1b",
    },
    "history": [{"created": "2026-11-27T11:30:00Z"}],
    "container": "9a1b",
}


def test_the_same_layers_and_settings_built_at_another_time_are_the_same_content():
    assert content.differences(content.of_inspect(INSPECT), content.of_config(CONFIG)) == []


def test_other_layers_or_settings_are_other_content_and_named():
    config = copy.deepcopy(CONFIG)
    config["rootfs"]["diff_ids"][1] = "sha256:other-venv"
    config["config"]["Env"].append("EXTRA=1")
    config["config"]["Labels"]["org.opencontainers.image.revision"] = "def"
    assert content.differences(content.of_inspect(INSPECT), content.of_config(config)) == [
        "layers",
        "runtime: Env",
        "runtime: Labels",
    ]
    config = copy.deepcopy(CONFIG)
    config["architecture"] = "arm64"
    assert content.differences(content.of_inspect(INSPECT), content.of_config(config)) == ["platform"]


def test_an_empty_registry_config_is_not_the_same_content():
    assert "layers" in content.differences(content.of_inspect(INSPECT), content.of_config({}))
