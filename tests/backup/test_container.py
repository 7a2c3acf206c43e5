"""The built ghe-backup image on the sandbox's real Docker engine, with the stand-in backup-utils.

The image is built by the image stage (``build_image``) from a temporary git copy of this
checkout's build context, on the sandbox's offline base image. The container runs ``run`` (the
image's default command) with host networking, a temp data directory bind-mounted at /data (a
real mount point, so ``REQUIRE_DATA_MOUNT`` keeps its default), an existing SSH key mounted
read-only (kept, so no KMS), and a 6-field schedule (seconds last) that fires once, a few
seconds after the start: the backup is made by the ``run`` process's own scheduler.
"""

from __future__ import annotations

import importlib.util
import json
import re
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ghe_backup.delivery.image.build import build_image
from ghe_backup.plumbing import engine as docker_engine

from conftest import REPO_ROOT, free_port, parse_prometheus

pytestmark = pytest.mark.integration

HOSTNAME = "github.example.com"
START_MARGIN = 8  # seconds between creating the container and its one scheduled backup
SNAPSHOT_NAME = re.compile(r"\d{8}T\d{6}")


def _context_repo():
    """tests/support/context_repo.py (the image tests' temp build-context repo)."""
    from support import context_repo

    return context_repo


@pytest.fixture(scope="module")
def image(sandbox_engine_registry, tmp_path_factory):
    """The ghe-backup image (stand-in backup-utils, sandbox base), built and smoke-tested by the image stage."""
    context_repo = _context_repo()
    root = context_repo.make_repo(tmp_path_factory.mktemp("image"))
    result = build_image(context_repo.sandbox_site(root, sandbox_engine_registry))
    return result


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def _events(client, container) -> list[dict]:
    lines = client.logs(container, stdout=True, stderr=False).decode(errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def _logs(client, container) -> str:
    return client.logs(container, stdout=True, stderr=True).decode(errors="replace")[-4000:]


def test_the_image_backs_up_on_schedule_reports_health_and_stops_cleanly(image, tmp_path, fake_private_key):
    client = docker_engine.connect()  # the engine the image stage built on
    data = tmp_path / "data"
    data.mkdir()
    key = tmp_path / "id_rsa"
    key.write_bytes(fake_private_key)
    key.chmod(0o600)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    due = (datetime.now(timezone.utc) + timedelta(seconds=START_MARGIN)).replace(microsecond=0)
    schedule = f"{due.minute} {due.hour} {due.day} {due.month} * {due.second}"  # once, at `due`

    container = client.create_container(
        image.id,  # default entrypoint and command: python3 -m ghe_backup run
        environment={
            "GHE_HOSTNAME": HOSTNAME,
            "GHE_NUM_SNAPSHOTS": "3",
            "BACKUP_SCHEDULE": schedule,
            "HEALTH_PORT": str(port),
            "HEALTH_BIND": "127.0.0.1",
        },
        host_config=client.create_host_config(
            network_mode="host",
            binds={str(data): {"bind": "/data", "mode": "rw"},
                   str(key): {"bind": "/root/.ssh/id_rsa", "mode": "ro"}},
        ),
    )
    try:
        client.start(container)

        # The health server answers before the backup; the one scheduled backup then completes.
        deadline = due + timedelta(seconds=25)
        health = None
        while datetime.now(timezone.utc) < deadline:
            if client.inspect_container(container)["State"]["Status"] != "running":
                pytest.fail(f"the container exited early:\n{_logs(client, container)}")
            try:
                status, body = _get(f"{base}/health")
            except OSError:
                time.sleep(0.2)
                continue
            health = json.loads(body)
            if health["last_snapshot"] and not health["backup_running"] and health.get("last_run"):
                break
            assert status == 200, body  # a fresh instance is healthy during the grace period
            time.sleep(0.3)
        else:
            pytest.fail(f"no snapshot reported by {base}/health by {deadline:%H:%M:%S} (last answer: {health}):\n"
                        f"{_logs(client, container)}")

        # The snapshot on the mounted data directory, laid out as backup-utils does.
        ghe_data = data / "ghe-data"
        snapshots = sorted(p.name for p in ghe_data.iterdir() if SNAPSHOT_NAME.fullmatch(p.name))
        assert len(snapshots) == 1, snapshots
        name = snapshots[0]
        taken = datetime.strptime(name, "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc)
        assert due <= taken <= due + timedelta(seconds=10), (name, due)
        current = ghe_data / "current"
        assert current.is_symlink() and Path(current.readlink()).name == name
        assert not (ghe_data / name / "incomplete").exists()
        assert not (ghe_data / "in-progress").exists()
        assert (ghe_data / name / "repositories" / "data").read_text() == "fake repository data\n"
        assert (ghe_data / name / "strategy").read_text() == f"{HOSTNAME}\n"
        assert json.loads((ghe_data / ".ghe-backup-state.json").read_text())  # the run's record survives on the volume

        # /health reports it.
        status, body = _get(f"{base}/health")
        health = json.loads(body)
        assert status == 200, body
        assert health["status"] == "healthy" and health["problems"] == []
        assert health["last_snapshot"] == name and health["snapshots_kept"] == 1
        assert health["backup_running"] is False
        assert health["last_run"]["result"] == "success" and health["last_run"]["exit_code"] == 0
        assert 0 <= health["last_snapshot_age_seconds"] < 60

        # /metrics shows the last success.
        status, text = _get(f"{base}/metrics")
        assert status == 200
        _types, samples = parse_prometheus(text)
        assert samples[("ghe_backup_up", ())] == 1
        assert samples[("ghe_backup_healthy", ())] == 1
        assert samples[("ghe_backup_last_success_timestamp_seconds", ())] == taken.timestamp()
        assert samples[("ghe_backup_last_run_success", ())] == 1
        assert samples[("ghe_backup_last_run_exit_code", ())] == 0
        assert samples[("ghe_backup_runs_total", (("result", "success"),))] == 1
        assert samples[("ghe_backup_snapshots_kept", ())] == 1
        assert samples[("ghe_backup_backup_running", ())] == 0

        # The existing key was kept (no KMS); the stand-in ran as backup-utils' ghe-backup.
        logged = _events(client, container)
        names = [e["event"] for e in logged]
        assert "ssh_key_kept" in names and "ssh_key_installed" not in names
        assert key.read_bytes() == fake_private_key
        finished = [e for e in logged if e["event"] == "backup_finished"]
        assert [(e["result"], e["exit_code"]) for e in finished] == [("success", 0)]
        assert any(e["event"] == "backup_output" and f"snapshot {name}" in e["line"] for e in logged)

        # docker stop: SIGTERM, and the service exits 0 within Docker's 10 s.
        stopping = time.monotonic()
        client.stop(container, timeout=10)
        exit_code = client.wait(container, timeout=30)["StatusCode"]
        assert exit_code == 0, _logs(client, container)
        assert time.monotonic() - stopping < 10, "the service did not stop before Docker's SIGKILL"
        names = [e["event"] for e in _events(client, container)]
        assert names[-2:] == ["shutdown_requested", "service_stopped"], names
        assert len([p for p in ghe_data.iterdir() if SNAPSHOT_NAME.fullmatch(p.name)]) == 1
    finally:
        client.remove_container(container, force=True)
