"""The built ghe-backup image on the sandbox's real Docker engine, with the stand-in backup-utils.

The image is built by the image stage (``build_image``) from a temporary git copy of this
checkout's build context, on the sandbox's offline base image. Containers run with host
networking and a data volume: a real tmpfs mounted on the host and bind-mounted at /data (a
whole file system, as the EBS volume is, so ``REQUIRE_DATA_MOUNT`` keeps its default), an
existing SSH key mounted read-only (kept, so no KMS) and pinned host keys.

Covered here because only the real engine shows them: backups on schedule with health and
metrics; PID 1 (tini) reaping what backup-utils leaves behind; a ``docker stop`` that gives
backup-utils its clean-up; ``/health`` from the first second of a fresh container with an old
snapshot and a low disk; and which program each documented command runs in the image.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import REPO_ROOT, backup_status, free_port, host_key_line, parse_prometheus

from ghe_backup.delivery.image.build import build_image
from ghe_backup.plumbing import engine as docker_engine

pytestmark = pytest.mark.integration

HOSTNAME = "github.example.com"
START_MARGIN = 8  # seconds between creating the container and its one scheduled backup
SNAPSHOT_NAME = re.compile(r"\d{8}T\d{6}")
#: The container stop timeout docs/backup-program.md asks for: SHUTDOWN_GRACE (60) + 30 s.
STOP_TIMEOUT = 90


def _context_repo():
    """tests/support/context_repo.py (the image tests' temp build-context repo)."""
    from support import context_repo

    return context_repo


@pytest.fixture(scope="module")
def context_root(tmp_path_factory):
    return _context_repo().make_repo(tmp_path_factory.mktemp("image"))


@pytest.fixture(scope="module")
def image(sandbox_engine_registry, context_root):
    """The ghe-backup image (stand-in backup-utils, sandbox base), built and smoke-tested by the image stage."""
    return build_image(_context_repo().sandbox_site(context_root, sandbox_engine_registry))


@pytest.fixture
def client(image):
    return docker_engine.connect()  # the engine the image stage built on


@pytest.fixture
def volume(tmp_path):
    """A real file system for /data: a 64 MiB tmpfs on the host, bind-mounted into containers."""
    path = tmp_path / "data"
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0755", "tmpfs", str(path)], check=True)
    yield path
    subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.fixture
def key(tmp_path, fake_private_key):
    path = tmp_path / "id_rsa"
    path.write_bytes(fake_private_key)
    path.chmod(0o600)
    return path


@pytest.fixture
def containers(client):
    made = []
    yield made
    for container in made:
        client.remove_container(container, force=True)


def _environment(**extra) -> dict[str, str]:
    return {
        "GHE_HOSTNAME": HOSTNAME,
        "GHE_NUM_SNAPSHOTS": "3",
        "HEALTH_BIND": "127.0.0.1",
        "GHE_KNOWN_HOSTS": f"[{HOSTNAME}]:122 {host_key_line()}",
        "STATE_TABLE": "",  # no AWS here: test_state_table covers the account's table
        **extra,
    }


def _create(
    client, image, containers, volume, key, *, environment, command=None, entrypoint=None, stop_timeout=STOP_TIMEOUT
):
    container = client.create_container(
        image.id,
        command=command,
        entrypoint=entrypoint,
        environment=environment,
        stop_timeout=stop_timeout,
        host_config=client.create_host_config(
            network_mode="host",
            binds={str(volume): {"bind": "/data", "mode": "rw"}, str(key): {"bind": "/root/.ssh/id_rsa", "mode": "ro"}},
        ),
    )
    containers.append(container)
    return container


def _run(client, image, containers, volume, key, *args, entrypoint=None, environment=None):
    """Run a one-off container to its end; (exit code, stdout, stderr)."""
    container = _create(
        client,
        image,
        containers,
        volume,
        key,
        environment=_environment(**(environment or {})),
        command=list(args),
        entrypoint=entrypoint,
    )
    client.start(container)
    code = client.wait(container, timeout=60)["StatusCode"]
    out = client.logs(container, stdout=True, stderr=False).decode(errors="replace")
    err = client.logs(container, stdout=False, stderr=True).decode(errors="replace")
    return code, out, err


def _exec(client, container, *cmd, environment=None) -> tuple[int, str]:
    run = client.exec_create(container, list(cmd), environment=environment)
    output = client.exec_start(run).decode(errors="replace")
    return client.exec_inspect(run)["ExitCode"], output


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


def _wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except OSError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def _once_at(due: datetime) -> str:
    return f"{due.minute} {due.hour} {due.day} {due.month} * {due.second}"  # 6 fields, seconds last


def test_the_image_backs_up_on_schedule_reports_health_and_stops_cleanly(
    client, image, containers, volume, key, fake_private_key
):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    due = (datetime.now(UTC) + timedelta(seconds=START_MARGIN)).replace(microsecond=0)
    container = _create(
        client,
        image,
        containers,
        volume,
        key,  # default entrypoint and command: run
        environment=_environment(BACKUP_SCHEDULE=_once_at(due), HEALTH_PORT=str(port)),
    )
    client.start(container)

    # The health server answers before the backup; the one scheduled backup then completes.
    deadline = due + timedelta(seconds=25)
    health = None
    while datetime.now(UTC) < deadline:
        if client.inspect_container(container)["State"]["Status"] != "running":
            pytest.fail(f"the container exited early:\n{_logs(client, container)}")
        try:
            status, body = _get(f"{base}/health")
        except OSError:
            time.sleep(0.2)
            continue
        assert status == 200, body
        health = json.loads(body)
        if health["last_snapshot"] and not health["backup_running"] and health.get("last_run"):
            break
        time.sleep(0.3)
    else:
        pytest.fail(
            f"no snapshot reported by {base}/health by {deadline:%H:%M:%S} (last answer: {health}):\n"
            f"{_logs(client, container)}"
        )

    # The snapshot on the volume, in the original's data directory, laid out as backup-utils does.
    ghe_data = volume / "ghe-production-data"
    snapshots = sorted(p.name for p in ghe_data.iterdir() if SNAPSHOT_NAME.fullmatch(p.name))
    assert len(snapshots) == 1, snapshots
    name = snapshots[0]
    taken = datetime.strptime(name, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    assert due <= taken <= due + timedelta(seconds=10), (name, due)
    assert Path((ghe_data / "current").readlink()).name == name
    assert not (ghe_data / name / "incomplete").exists() and not (ghe_data / "in-progress").exists()
    assert (ghe_data / name / "version").read_text() == "v3.21.0\n"

    status, body = _get(f"{base}/health")
    health = json.loads(body)
    assert status == 200 and health["status"] == "healthy" and health["alerts"] == []
    assert health["last_snapshot"] == name and health["ghes_version"] == "v3.21.0"
    assert health["last_run"]["result"] == "success" and health["backup_running"] is False

    # The image's own HEALTHCHECK command, as Docker runs it: it finds the server on HEALTH_PORT.
    check = client.inspect_image(image.id)["Config"]["Healthcheck"]["Test"]
    assert check[0] == "CMD-SHELL", check
    assert _exec(client, container, "/bin/sh", "-c", check[1])[0] == 0
    assert _exec(client, container, "/bin/sh", "-c", f"HEALTH_PORT={free_port()} {check[1]}")[0] != 0

    _, samples = parse_prometheus(_get(f"{base}/metrics")[1])
    assert samples[("ghe_backup_healthy", ())] == 1 and samples[("ghe_backup_ready", ())] == 1
    assert samples[("ghe_backup_last_success_timestamp_seconds", ())] == taken.timestamp()
    assert samples[("ghe_backup_runs_total", (("result", "success"),))] == 1
    assert samples[("ghe_backup_ghes_version_supported", ())] == 1

    logged = _events(client, container)
    names = [e["event"] for e in logged]
    assert "ssh_key_kept" in names and "ssh_key_installed" not in names
    assert key.read_bytes() == fake_private_key
    assert [(e["result"], e["exit_code"]) for e in logged if e["event"] == "backup_finished"] == [("success", 0)]

    # docker stop: SIGTERM reaches the program through tini; nothing is running: a quick exit 0.
    stopping = time.monotonic()
    client.stop(container)
    assert client.wait(container, timeout=30)["StatusCode"] == 0, _logs(client, container)
    assert time.monotonic() - stopping < 10
    assert [e["event"] for e in _events(client, container)][-2:] == ["shutdown_requested", "service_stopped"]


def _processes(client, container) -> list[tuple[int, str, str]]:
    """(pid, state, command) of every process in the container, read from its /proc."""
    code, out = _exec(client, container, "sh", "-c", 'for s in /proc/[0-9]*/stat; do cat "$s" 2>/dev/null; echo; done')
    found = []
    for line in out.splitlines():
        if ")" in line:
            head, _, tail = line.rpartition(")")
            pid, _, comm = head.partition(" (")
            found.append((int(pid), tail.split()[0], comm))
    return found


def test_pid_1_is_tini_and_reaps_what_backups_leave_behind(client, image, containers, volume, key):
    # Each backup leaves a daemon in its own session (as ssh's ControlPersist master does); when it
    # exits, its parent is PID 1. A Python PID 1 never reaped them: 3 runs, 3 zombies for good.
    container = _create(
        client,
        image,
        containers,
        volume,
        key,
        environment=_environment(BACKUP_SCHEDULE="0 0 1 1 *", HEALTH_PORT=str(free_port())),
    )
    client.start(container)
    _wait_for(lambda: "backup_scheduled" in _logs(client, container), 20, "the service to start")
    assert _exec(client, container, "cat", "/proc/1/comm")[1].strip() == "tini"
    for _ in range(3):
        code, out = _exec(
            client, container, "ghe-backup-service", "backup-once", environment={"GHE_STANDIN_ORPHAN": "1"}
        )
        assert code == 0, out
        time.sleep(1.05)  # one snapshot per second
    _wait_for(
        lambda: not [p for p in _processes(client, container) if p[2] == "sleep" and p[1] != "Z"],
        10,
        "the orphans to exit",
    )
    deadline = time.monotonic() + 5
    while zombies := [p for p in _processes(client, container) if p[1] == "Z"]:
        assert time.monotonic() < deadline, f"zombies nobody reaps: {zombies}"
        time.sleep(0.1)
    assert len([p for p in (volume / "ghe-production-data").iterdir() if SNAPSHOT_NAME.fullmatch(p.name)]) == 3


def test_docker_stop_gives_backup_utils_its_clean_up(client, image, containers, volume, key):
    # backup-utils' exit trap (re-enabling git gc on the appliance over ssh) takes 12 s here, more
    # than Docker's default stop timeout. It used to start only after an 8 s grace.
    due = (datetime.now(UTC) + timedelta(seconds=4)).replace(microsecond=0)
    container = _create(
        client,
        image,
        containers,
        volume,
        key,
        environment=_environment(
            BACKUP_SCHEDULE=_once_at(due),
            HEALTH_PORT=str(free_port()),
            GHE_STANDIN_SLEEP="600",
            GHE_STANDIN_CLEANUP_SECONDS="12",
            GHE_STANDIN_RECORD="/data/record",
        ),
    )
    client.start(container)
    record = volume / "record"
    ghe_data = volume / "ghe-production-data"
    _wait_for(lambda: (ghe_data / "in-progress-backup").exists(), 30, "the backup to start")
    stopped = {}

    def stop():
        stopped["at"] = time.monotonic()
        client.stop(container)  # no timeout given: the container's own (STOP_TIMEOUT)

    stopper = threading.Thread(target=stop)
    stopper.start()
    _wait_for(lambda: "cleanup-start" in record.read_text(), 5, "backup-utils' clean-up to start", interval=0.05)
    signalled = time.monotonic() - stopped["at"]
    assert signalled < 2  # signalled at once, not after a grace
    stopper.join(STOP_TIMEOUT + 10)
    elapsed = time.monotonic() - stopped["at"]
    state = client.inspect_container(container)["State"]
    assert state["ExitCode"] == 0 and not state["OOMKilled"], _logs(client, container)
    assert 12 <= elapsed < STOP_TIMEOUT, elapsed
    print(f"docker stop: clean-up started after {signalled:.2f}s, container exited 0 after {elapsed:.1f}s")
    lines = record.read_text().split("\n")
    pid = lines[0].split()[1]
    assert f"cleanup-done {pid}" in lines and f"end {pid} 143" in lines
    assert not (ghe_data / "in-progress").exists() and not (ghe_data / "in-progress-backup").exists()
    assert json.loads((ghe_data / ".ghe-backup-state.json").read_text())["last_run"]["result"] == "terminated"


def _shipped_shutdown_grace() -> str:
    """SHUTDOWN_GRACE as the shipped senza base gives it to the container on Taupage."""
    import yaml

    base = yaml.safe_load((REPO_ROOT / "senza" / "ghe-backup.yaml").read_text())
    group = next(item["AppServer"] for item in base["SenzaComponents"] if "AppServer" in item)
    return str(group["TaupageConfig"]["environment"]["SHUTDOWN_GRACE"])


def test_on_taupages_stop_timeout_the_run_s_end_is_recorded_before_dockers_kill(
    client, image, containers, volume, key, aws_env, state_table
):
    # Taupage stops the container with Docker's default 10 s stop timeout. With the shipped base's
    # SHUTDOWN_GRACE and a clean-up that takes longer than it, the program must still kill
    # backup-utils, record the run's end (state file and the account's table) and exit 0 itself.
    due = (datetime.now(UTC) + timedelta(seconds=4)).replace(microsecond=0)
    container = _create(
        client,
        image,
        containers,
        volume,
        key,
        stop_timeout=None,  # Docker's default, as Taupage runs it
        environment=_environment(
            BACKUP_SCHEDULE=_once_at(due),
            HEALTH_PORT=str(free_port()),
            SHUTDOWN_GRACE=_shipped_shutdown_grace(),
            GHE_STANDIN_SLEEP="600",
            GHE_STANDIN_CLEANUP_SECONDS="30",
            STATE_TABLE=state_table,
            KMS_REGION="eu-central-1",
            AWS_ENDPOINT_URL=aws_env["AWS_ENDPOINT_URL"],
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
        ),
    )
    assert client.inspect_container(container)["Config"].get("StopTimeout") is None
    client.start(container)
    _wait_for(lambda: backup_status(state_table).get("running") is True, 30, "the run's start in the state table")
    stopping = time.monotonic()
    client.stop(container)  # no timeout given: the container's own, Docker's default 10 s
    elapsed = time.monotonic() - stopping
    state = client.inspect_container(container)["State"]
    assert state["ExitCode"] == 0, f"exit {state['ExitCode']} after {elapsed:.1f}s:\n{_logs(client, container)}"
    assert elapsed < 10, elapsed
    stopped = [e for e in _events(client, container) if e["event"] == "service_stopped"]
    assert stopped and stopped[0]["backup_was_running"] is True
    print(f"docker stop on Taupage's timeout: exit 0 after {elapsed:.1f}s, shutdown {stopped[0]['shutdown_seconds']}s")
    ghe_data = volume / "ghe-production-data"
    assert json.loads((ghe_data / ".ghe-backup-state.json").read_text())["last_run"]["result"] == "terminated"
    recorded = backup_status(state_table)
    assert recorded["running"] is False and recorded["last_result"] == "terminated", recorded


def test_a_fresh_container_with_an_old_snapshot_and_a_low_disk_answers_200_at_once(
    client, image, containers, volume, key
):
    # A deploy that is to fix stale backups: Taupage fails the instance without a 200 in ~60 s.
    old = volume / "ghe-production-data" / "20261001T000000"
    old.mkdir(parents=True)
    (old / "version").write_text("v3.21.0\n")
    port = free_port()
    container = _create(
        client,
        image,
        containers,
        volume,
        key,
        environment=_environment(
            BACKUP_SCHEDULE="0 0 1 1 *", HEALTH_PORT=str(port), MAX_SNAPSHOT_AGE="3600", MIN_FREE_BYTES=str(10**12)
        ),
    )
    client.start(container)
    started = time.monotonic()
    status, body = _wait_for(lambda: _get(f"http://127.0.0.1:{port}/health"), 10, "a health answer", interval=0.02)
    first_answer = time.monotonic() - started
    answer = json.loads(body)
    assert status == 200 and answer["status"] in ("starting", "degraded"), body
    assert {"stale", "low_disk"} <= set(answer["alerts"]) and answer["last_snapshot"] == old.name
    assert first_answer < 1.5, f"first answer after {first_answer:.2f}s"
    print(f"first /health answer {first_answer:.3f}s after docker start returned")
    _wait_for(
        lambda: (
            {e.get("kind") for e in _events(client, container) if e["event"] == "alert_raised"} >= {"stale", "low_disk"}
        ),
        10,
        "the alerts in the log",
    )


def test_each_documented_command_runs_the_right_program(client, image, containers, volume, key):
    # ghe-backup-service is our program; ghe-backup stays backup-utils' (here the stand-in). In a
    # running container, where backup.config exists, `ghe-backup backup-once` (our old name) used
    # to start a backup without our lock; now it is refused with the right command.
    code, out, _ = _run(client, image, containers, volume, key, "--version")  # the image's entrypoint
    assert code == 0 and out.startswith("ghe-backup-service ")
    container = _create(
        client,
        image,
        containers,
        volume,
        key,
        environment=_environment(BACKUP_SCHEDULE="0 0 1 1 *", HEALTH_PORT=str(free_port())),
    )
    client.start(container)
    _wait_for(lambda: "backup_scheduled" in _logs(client, container), 20, "the service to start")
    ghe_data = volume / "ghe-production-data"
    snapshots = lambda: [p for p in ghe_data.iterdir() if SNAPSHOT_NAME.fullmatch(p.name)]  # noqa: E731
    assert _exec(client, container, "ghe-backup-service", "--version")[1].startswith("ghe-backup-service ")
    assert _exec(client, container, "ghe-backup", "--version")[1].startswith("GitHub backup-utils v")
    for old in ("backup-once", "health", "hygiene"):
        code, out = _exec(client, container, "ghe-backup", old)
        assert code == 2 and f"run: ghe-backup-service {old}" in out, (code, out)
        assert snapshots() == []
    code, out = _exec(client, container, "ghe-backup-service", "backup-once")
    assert code == 0, out
    assert len(snapshots()) == 1 and '"event": "backup_finished"' in out
    assert _exec(client, container, "ghe-backup-service", "health")[0] == 0
    # What backup-utils needs from the image: ps for its in-progress check, UTC for snapshot names.
    assert _exec(client, container, "sh", "-c", "ps -p 1 >/dev/null && date +%Z") == (0, "UTC\n")


@pytest.fixture
def release_server(tmp_path):
    """GitHub's release download, played offline: an archive laid out as backup-utils' releases are."""
    import http.server
    import shutil
    import tarfile
    from functools import partial

    tree = tmp_path / "github-backup-utils-v9.9.9"
    (tree / "bin").mkdir(parents=True)
    (tree / "share" / "github-backup-utils").mkdir(parents=True)
    shutil.copy2(REPO_ROOT / "ghe_backup" / "backup" / "standin" / "ghe-backup", tree / "bin" / "ghe-backup")
    (tree / "share" / "github-backup-utils" / "version").write_text("9.9.9\n")
    served = tmp_path / "served"
    served.mkdir()
    with tarfile.open(served / "archive.tar.gz", "w:gz") as archive:
        archive.add(tree, arcname=tree.name)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    import hashlib

    yield (
        f"http://127.0.0.1:{server.server_address[1]}/archive.tar.gz",
        hashlib.sha256((served / "archive.tar.gz").read_bytes()).hexdigest(),
    )
    server.shutdown()
    server.server_close()


def _build(client, context_root, tag: str, buildargs: dict[str, str]) -> tuple[str, str | None]:
    """Build the Dockerfile with these arguments (host network: the build reaches 127.0.0.1)."""
    import io
    import tarfile

    from ghe_backup.delivery.image.build import PIP_CA_MEMBER
    from ghe_backup.delivery.image.context import context_archive, context_files
    from ghe_backup.edge.settings import pip_cert

    context = io.BytesIO(context_archive(context_root, context_files(context_root)).getvalue())
    cert = pip_cert(None)  # as the edge resolves it for the image stage: the build's pip trusts what this host trusts
    if cert is not None:
        with tarfile.open(fileobj=context, mode="a") as archive:
            data = cert.read_bytes()
            info = tarfile.TarInfo(PIP_CA_MEMBER)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    context.seek(0)
    log, error = [], None
    for record in client.build(
        fileobj=context,
        custom_context=True,
        tag=tag,
        buildargs=buildargs,
        decode=True,
        rm=True,
        forcerm=True,
        pull=False,
        network_mode="host",
    ):
        log.append(record.get("stream", ""))
        error = error or record.get("error")
    return "".join(log), error


def test_the_release_archive_is_downloaded_and_checked_against_its_sha256(client, image, context_root, release_server):
    # The default source for the real image (BACKUP_UTILS_SOURCE=release), offline: the pinned
    # version's archive comes from GitHub's release download in the real build.
    url, digest = release_server
    args = {
        "BASE_IMAGE": image.base_image,
        "BACKUP_UTILS_SOURCE": "release",
        "BACKUP_UTILS_VERSION": "v9.9.9",
        "BACKUP_UTILS_URL": url,
        "BACKUP_UTILS_SHA256": digest,
    }
    tag = "ghe-backup-release-test:latest"
    log, error = _build(client, context_root, tag, args)
    try:
        assert error is None, log[-3000:]
        assert f"backup-utils v9.9.9 from {url}: sha256 {digest} verified" in log
        container = client.create_container(
            tag,
            ["-c", "cat /opt/backup-utils/share/github-backup-utils/version; ghe-backup --version"],
            entrypoint=["sh"],
        )
        try:
            client.start(container)
            assert client.wait(container, timeout=60)["StatusCode"] == 0
            out = client.logs(container, stdout=True, stderr=False).decode()
        finally:
            client.remove_container(container, force=True)
        assert out.split("\n")[:2] == ["9.9.9", "GitHub backup-utils v3.99.0-standin"]
        log, error = _build(
            client, context_root, "ghe-backup-release-test:bad", {**args, "BACKUP_UTILS_SHA256": "0" * 64}
        )
        assert error is not None and "is not the pinned" in log + error, log[-3000:]
        # The build stopped at the check, inside the fetching step: nothing unverified was unpacked.
        last_step = [line for line in log.splitlines() if line.startswith("Step ")][-1]
        assert "pin fetch" in last_step and "backup-utils v9.9.9 from" not in log, log[-3000:]
    finally:
        client.remove_image(tag, force=True)
