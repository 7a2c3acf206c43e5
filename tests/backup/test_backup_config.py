"""backup.config: validation with clear errors, and a rendering bash/sh reads back exactly."""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import host_key_line

from ghe_backup.backup.backup_config import (
    BackupConfigError,
    render_backup_config,
    validate_data_dir,
    write_backup_config,
)
from ghe_backup.backup.settings import load_settings
from ghe_backup.errors import ConfigError


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


def test_a_volume_passes_and_a_bind_mounted_directory_does_not(small_tmpfs, tmp_path):
    # Docker bind-mounts the root disk's /data when the EBS volume is missing: a mount point,
    # but of a directory inside another file system. A real file system mounted there passes.
    assert validate_data_dir(small_tmpfs / "ghe-data", small_tmpfs, require_mount=True)
    inner, bound = small_tmpfs / "inner", tmp_path / "bound"
    inner.mkdir()
    bound.mkdir()
    subprocess.run(["mount", "--bind", str(inner), str(bound)], check=True)
    try:
        assert os.path.ismount(bound)  # what the old check asked: it passed
        with pytest.raises(BackupConfigError) as err:
            validate_data_dir(bound / "ghe-data", bound, require_mount=True)
        assert f"DATA_MOUNT='{bound}' is the directory /inner of tmpfs (tmpfs) bind-mounted, not a volume" in str(
            err.value
        )
        assert "attach and mount the data volume" in str(err.value)
    finally:
        subprocess.run(["umount", str(bound)], check=False)


def _source(config: Path, names: list[str]) -> dict[str, str]:
    """Read the values back the way backup-utils does: by sourcing the file in a shell."""
    script = f'. "{config}"; ' + "; ".join(f'printf "%s\\0" "${name}"' for name in names)
    out = subprocess.run(["sh", "-c", script], capture_output=True, check=True).stdout.decode()
    return dict(zip(names, out.split("\0"), strict=False))


def test_rendered_config_reads_back_exactly_in_a_shell(settings, tmp_path):
    tricky = """-o ProxyCommand='nc %h %p' -o "User=admin" $HOME `id` \\ end"""
    configured = replace(settings, extra_ssh_opts=tricky, extra_rsync_opts="--exclude='*.tmp'", rsync_bwlimit="20M")
    path = write_backup_config(configured)
    assert path == settings.backup_config_path and oct(path.stat().st_mode & 0o777) == "0o644"
    values = _source(
        path, ["GHE_HOSTNAME", "GHE_DATA_DIR", "GHE_NUM_SNAPSHOTS", "GHE_EXTRA_SSH_OPTS", "GHE_EXTRA_RSYNC_OPTS"]
    )
    ours = f"-i {settings.ssh_key_path} -o UserKnownHostsFile={settings.known_hosts_path} -o StrictHostKeyChecking=yes"
    assert values == {
        "GHE_HOSTNAME": "github.example.com",
        "GHE_DATA_DIR": str(settings.data_dir),
        "GHE_NUM_SNAPSHOTS": "3",
        "GHE_EXTRA_SSH_OPTS": f"{ours} {tricky}",  # the user's options no longer replace ours
        "GHE_EXTRA_RSYNC_OPTS": "--exclude='*.tmp' --bwlimit=20M",
    }


def test_host_keys_are_pinned_next_to_the_config(settings):
    write_backup_config(settings)
    assert settings.known_hosts_path == settings.backup_config_path.parent / "known_hosts"
    lines = [line for line in settings.known_hosts_path.read_text().splitlines() if not line.startswith("#")]
    assert lines == [f"[github.example.com]:122 {host_key_line()}"]
    assert "StrictHostKeyChecking=yes" in settings.backup_config_path.read_text()


def test_without_pinned_keys_the_start_is_refused_unless_accept_new_is_chosen(backup_env):
    env = {k: v for k, v in backup_env.items() if k != "GHE_KNOWN_HOSTS"}
    with pytest.raises(BackupConfigError) as err:
        render_backup_config(load_settings(env))
    assert str(err.value).startswith("GHE_KNOWN_HOSTS is not set") and "SSH_HOST_KEY_POLICY=accept-new" in str(
        err.value
    )
    chosen = load_settings({**env, "SSH_HOST_KEY_POLICY": "accept-new"})
    text = render_backup_config(chosen)
    # What is accepted on first use is kept on the data volume, for the next container too.
    assert f"UserKnownHostsFile={chosen.data_dir}/.ghe-backup-known_hosts -o StrictHostKeyChecking=accept-new" in text
    with pytest.raises(BackupConfigError, match="not both"):
        render_backup_config(load_settings({**backup_env, "SSH_HOST_KEY_POLICY": "accept-new"}))


def test_hostnames_are_written_in_backup_utils_form(settings):
    text = render_backup_config(replace(settings, ghe_hostname="admin@[2001:db8::1]"))
    assert "GHE_HOSTNAME=admin@2001:db8::1:122\n" in text
    with pytest.raises(ConfigError, match="port 122"):
        render_backup_config(replace(settings, ghe_hostname="github.example.com:22"))


def test_bandwidth_limit_is_set_in_one_place(settings):
    assert "GHE_EXTRA_RSYNC_OPTS" not in render_backup_config(settings)
    assert "GHE_EXTRA_RSYNC_OPTS=--bwlimit=5000\n" in render_backup_config(replace(settings, rsync_bwlimit="5000"))
    with pytest.raises(BackupConfigError, match="RSYNC_BWLIMIT"):
        render_backup_config(replace(settings, rsync_bwlimit="5000", extra_rsync_opts="--bwlimit=10"))


def test_control_characters_in_options_are_refused(settings):
    with pytest.raises(BackupConfigError, match="GHE_EXTRA_SSH_OPTS contains control characters"):
        render_backup_config(replace(settings, extra_ssh_opts="-v\nGHE_HOSTNAME=evil"))


def test_unwritable_config_path_names_the_variable(settings, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(BackupConfigError, match="GHE_BACKUP_CONFIG"):
        write_backup_config(replace(settings, backup_config_path=blocker / "backup.config"))
    assert not os.path.exists(blocker / "backup.config")
