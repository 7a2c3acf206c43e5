"""The data volume checks: a whole file system or a bind-mounted directory (real mounts and
mountinfo text), writability, and snapshot chains nothing prunes."""

from __future__ import annotations

from pathlib import Path

from ghe_backup.backup.volume import not_a_volume, other_chains, parse_mountinfo, unwritable

MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 259:1 / / rw,relatime - ext4 /dev/nvme0n1p1 rw
612 27 259:1 /data /data rw,relatime master:1 - ext4 /dev/nvme0n1p1 rw,errors=remount-ro
613 27 202:80 / /mnt/my\\040volume ro,relatime - ext4 /dev/xvdf ro
"""


def test_mountinfo_tells_a_volume_from_a_bind_mounted_directory(tmp_path):
    entries = {e.mount_point: e for e in parse_mountinfo(MOUNTINFO)}
    assert entries["/data"].root == "/data" and entries["/data"].source == "/dev/nvme0n1p1"
    assert entries["/mnt/my volume"].root == "/" and entries["/mnt/my volume"].read_only
    info = tmp_path / "mountinfo"
    info.write_text(MOUNTINFO)
    # What Docker shows when the EBS volume is missing: the root disk's /data, bind-mounted.
    assert (
        not_a_volume(Path("/data"), info)
        == "is the directory /data of /dev/nvme0n1p1 (ext4) bind-mounted, not a volume"
    )
    assert not_a_volume(Path("/mnt/my volume"), info) is None
    assert not_a_volume(tmp_path / "nowhere", info) == "is not a mount point"


def test_a_real_tmpfs_is_a_volume_and_its_read_only_remount_is_seen(small_tmpfs):
    from conftest import remount_read_only

    assert not_a_volume(small_tmpfs) is None
    assert unwritable(small_tmpfs) is None
    assert unwritable(small_tmpfs / "not-yet-created") is None  # judged by its parent
    remount_read_only(small_tmpfs)
    assert unwritable(small_tmpfs) == "is mounted read-only"


def test_other_chains_are_found_and_ours_is_not(tmp_path):
    (tmp_path / "ghe-production-data" / "20261127T080000").mkdir(parents=True)
    (tmp_path / "ghe-data" / "20261101T000000").mkdir(parents=True)
    (tmp_path / "ghe-data" / "20261102T000000").mkdir()
    (tmp_path / "lost+found").mkdir()
    assert other_chains(tmp_path, tmp_path / "ghe-production-data") == [(tmp_path / "ghe-data", 2)]
    assert other_chains(tmp_path / "missing", tmp_path / "x") == []
