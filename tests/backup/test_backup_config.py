"""backup.config: validation with clear errors, and a rendering bash/sh reads back exactly."""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from ghe_backup.backup.backup_config import (
    BackupConfigError,
    render_backup_config,
    validate_data_dir,
    validate_hostname,
    write_backup_config,
)


@pytest.mark.parametrize("host", ["github.example.com", "ghe", "ghe-1.corp.example.org:122", "10.1.2.3", "a.b.c."])
def test_valid_hostnames(host):
    assert validate_hostname(host) == host


@pytest.mark.parametrize(
    "host", ["-bad.example.com", "bad-.example.com", "ex ample.com", "a..b", "host_name.com",
             "github.example.com:0", "github.example.com:99999", "1.2.3.999", "x" * 64 + ".com",
             "github.example.com;rm -rf /"],
)
def test_invalid_hostnames_name_the_variable(host):
    with pytest.raises(BackupConfigError, match="GHE_HOSTNAME"):
        validate_hostname(host)


def test_missing_hostname_says_how_to_fix():
    with pytest.raises(BackupConfigError, match=r"GHE_HOSTNAME is not set \(set GHE_HOSTNAME"):
        validate_hostname(None)


def test_data_dir_must_be_inside_the_mount(tmp_path):
    mount = tmp_path / "data"
    mount.mkdir()
    assert validate_data_dir(mount / "ghe-data", mount, require_mount=False) == mount / "ghe-data"
    for outside in (tmp_path / "elsewhere", mount, mount / ".." / "escape", Path("relative/dir")):
        with pytest.raises(BackupConfigError, match="GHE_DATA_DIR"):
            validate_data_dir(outside, mount, require_mount=False)


def test_data_dir_symlinked_out_of_the_mount_is_refused(tmp_path):
    mount, elsewhere = tmp_path / "data", tmp_path / "root-disk"
    mount.mkdir()
    elsewhere.mkdir()
    (mount / "ghe-data").symlink_to(elsewhere)
    with pytest.raises(BackupConfigError, match="not inside the data volume"):
        validate_data_dir(mount / "ghe-data", mount, require_mount=False)


def test_mount_must_exist_and_be_a_mount_point(tmp_path):
    with pytest.raises(BackupConfigError, match="DATA_MOUNT=.* does not exist"):
        validate_data_dir(tmp_path / "nope" / "d", tmp_path / "nope", require_mount=False)
    with pytest.raises(BackupConfigError, match="is not a mount point.*REQUIRE_DATA_MOUNT=0"):
        validate_data_dir(tmp_path / "d", tmp_path, require_mount=True)
    # "/" is always a mount point, so the same check passes there.
    assert validate_data_dir(tmp_path / "d", Path("/"), require_mount=True)


def _source(config: Path, names: list[str]) -> dict[str, str]:
    """Read the values back the way backup-utils does: by sourcing the file in a shell."""
    script = f'. "{config}"; ' + "; ".join(f'printf "%s\\0" "${name}"' for name in names)
    out = subprocess.run(["sh", "-c", script], capture_output=True, check=True).stdout.decode()
    return dict(zip(names, out.split("\0")))


def test_rendered_config_reads_back_exactly_in_a_shell(settings, tmp_path):
    tricky = """-o ProxyCommand='nc %h %p' -o "User=admin" $HOME `id` \\ end"""
    configured = replace(settings, extra_ssh_opts=tricky, extra_rsync_opts="--bwlimit=1000 --exclude='*.tmp'")
    path = write_backup_config(configured)
    assert path == settings.backup_config_path and oct(path.stat().st_mode & 0o777) == "0o644"
    values = _source(path, ["GHE_HOSTNAME", "GHE_DATA_DIR", "GHE_NUM_SNAPSHOTS",
                            "GHE_EXTRA_SSH_OPTS", "GHE_EXTRA_RSYNC_OPTS"])
    assert values == {
        "GHE_HOSTNAME": "github.example.com",
        "GHE_DATA_DIR": str(settings.data_dir),
        "GHE_NUM_SNAPSHOTS": "3",
        "GHE_EXTRA_SSH_OPTS": tricky,
        "GHE_EXTRA_RSYNC_OPTS": "--bwlimit=1000 --exclude='*.tmp'",
    }


def test_default_ssh_options_use_the_installed_key(settings):
    text = render_backup_config(settings)
    assert f"-i {settings.ssh_key_path}" in text and "StrictHostKeyChecking=accept-new" in text
    assert "GHE_EXTRA_RSYNC_OPTS" not in text


def test_control_characters_in_options_are_refused(settings):
    with pytest.raises(BackupConfigError, match="GHE_EXTRA_SSH_OPTS contains control characters"):
        render_backup_config(replace(settings, extra_ssh_opts="-v\nGHE_HOSTNAME=evil"))


def test_unwritable_config_path_names_the_variable(settings, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(BackupConfigError, match="GHE_BACKUP_CONFIG"):
        write_backup_config(replace(settings, backup_config_path=blocker / "backup.config"))
    assert not os.path.exists(blocker / "backup.config")
