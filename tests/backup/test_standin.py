"""The stand-in backup-utils: the same layout backup-utils leaves behind."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from ghe_backup.backup.backup_utils import ghes_supported
from ghe_backup.backup.snapshots import list_snapshots


def _run(standin: Path, env: dict, **kwargs) -> subprocess.CompletedProcess:
    base = {"PATH": os.environ["PATH"]}
    return subprocess.run([str(standin)], env={**base, **env}, capture_output=True, text=True, timeout=30, **kwargs)


def test_version_line(standin):
    out = subprocess.run([str(standin), "--version"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("GitHub backup-utils v") and out.count("\n") == 1


def test_success_creates_a_complete_snapshot_and_current(standin, tmp_path):
    data = tmp_path / "d"
    result = _run(standin, {"GHE_DATA_DIR": str(data), "GHE_HOSTNAME": "ghe.test"})
    assert result.returncode == 0, result.stderr
    [snap] = list_snapshots(data)
    assert snap.complete and os.readlink(data / "current") == snap.name
    assert (snap.path / "repositories" / "data").is_file() and not (data / "in-progress").exists()
    assert not (data / "in-progress-backup").exists()
    assert "ghe.test" in result.stdout
    # The appliance's version, as backup-utils records it (not backup-utils' own version).
    assert snap.ghes_version == "v3.21.0" and ghes_supported(snap.ghes_version)


def test_failure_leaves_an_incomplete_snapshot(standin, tmp_path):
    data = tmp_path / "d"
    result = _run(standin, {"GHE_DATA_DIR": str(data), "GHE_STANDIN_FAIL": "1"})
    assert result.returncode != 0 and "GHE_STANDIN_FAIL" in result.stderr
    [snap] = list_snapshots(data)
    assert not snap.complete and not (data / "current").exists() and not (data / "in-progress").exists()


def test_reads_the_config_file_and_prunes_to_num_snapshots(standin, tmp_path):
    data = tmp_path / "d"
    config = tmp_path / "backup.config"
    config.write_text(f"GHE_HOSTNAME='ghe.test'\nGHE_DATA_DIR='{data}'\nGHE_NUM_SNAPSHOTS='2'\n")
    for name in ("20260101T000000", "20260102T000000", "20260103T000000"):
        (data / name).mkdir(parents=True)
    (data / "20260101T000000" / "incomplete").touch()  # not counted, not pruned by count
    result = _run(standin, {"GHE_BACKUP_CONFIG": str(config)})
    assert result.returncode == 0, result.stderr
    names = [(s.name, s.complete) for s in list_snapshots(data)]
    assert names[0] == ("20260101T000000", False) and ("20260102T000000", True) not in names
    assert next(n for n, complete in names if complete) == "20260103T000000" and len(names) == 3


def test_the_recorded_ghes_version_can_be_chosen(standin, tmp_path):
    data = tmp_path / "d"
    assert _run(standin, {"GHE_DATA_DIR": str(data), "GHE_STANDIN_GHES_VERSION": "v3.22.0"}).returncode == 0
    assert list_snapshots(data)[0].ghes_version == "v3.22.0"


def test_marks_in_progress_while_running_and_cleans_up_on_term(standin, tmp_path):
    data = tmp_path / "d"
    record = tmp_path / "record"
    proc = subprocess.Popen(
        [str(standin)],
        env={
            "PATH": os.environ["PATH"],
            "GHE_DATA_DIR": str(data),
            "GHE_STANDIN_SLEEP": "30",
            "GHE_STANDIN_RECORD": str(record),
        },
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )

    def started() -> list[str] | None:
        # The markers are written, then the snapshot's folder and its `incomplete` file: wait for all.
        try:
            found = (data / "in-progress-backup").read_text().split()
        except FileNotFoundError:
            return None
        return found if len(found) == 2 and (data / found[0] / "incomplete").exists() else None

    deadline = time.monotonic() + 10
    while started() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    timestamp, pid = (data / "in-progress").read_text().split()
    assert int(pid) == proc.pid and (data / timestamp / "incomplete").exists()
    assert (data / "in-progress-backup").read_text().split() == [timestamp, pid]
    os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(5) == 143
    assert not (data / "in-progress").exists() and (data / timestamp / "incomplete").exists()
    assert not (data / "in-progress-backup").exists()
    assert record.read_text().split("\n")[:2] == [f"start {proc.pid}", f"end {proc.pid} 143"]


def test_refuses_to_start_while_the_in_progress_pid_runs(standin, tmp_path):
    data = tmp_path / "d"
    data.mkdir()
    (data / "in-progress").write_text("20260101T000000 1\n")  # pid 1 always runs
    result = _run(standin, {"GHE_DATA_DIR": str(data)})
    assert result.returncode == 1 and "may still be running" in result.stderr and list_snapshots(data) == []


def test_an_in_progress_marker_whose_pid_is_gone_is_removed_as_backup_utils_does(standin, tmp_path):
    data = tmp_path / "d"
    data.mkdir()
    gone = subprocess.Popen(["true"])
    gone.wait()
    (data / "in-progress").write_text(f"20260101T000000 {gone.pid}\n")
    assert _run(standin, {"GHE_DATA_DIR": str(data)}).returncode == 0
    assert [s.complete for s in list_snapshots(data)] == [True]
