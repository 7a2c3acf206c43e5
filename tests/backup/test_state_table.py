"""The backup state in the account's DynamoDB table (the pipeline's store), against a real moto
server: what a run writes at its start and end, a run killed with its container, and failures
that are logged once and never fail or delay a backup."""

from __future__ import annotations

import re
import socket
import time
from dataclasses import replace

import pytest
from conftest import backup_status, events

from ghe_backup.backup.backup_config import write_backup_config
from ghe_backup.backup.entrypoint import record_startup
from ghe_backup.backup.runner import BackupRunner
from ghe_backup.backup.snapshots import newest_complete
from ghe_backup.backup.state_table import StateTable, iso, open_state_table, run_hooks

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
TABLE = "ghe-backup-state"


def _dynamodb():
    import boto3

    return boto3.client("dynamodb", region_name="eu-central-1")


def _runner(settings, name: str, monkeypatch, tmp_path):
    monkeypatch.setenv("GHE_STANDIN_RECORD", str(tmp_path / "record"))
    configured = replace(settings, state_table=name, aws_region="eu-central-1")
    configured.data_dir.mkdir(parents=True, exist_ok=True)
    write_backup_config(configured)
    state = open_state_table(configured)
    return BackupRunner(configured, lock_patience=0.05, hooks=run_hooks(configured, state)), state


def _wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.integration
def test_a_run_is_recorded_at_its_start_and_end(settings, state_table, monkeypatch, tmp_path):
    import threading

    runner, state = _runner(settings, state_table, monkeypatch, tmp_path)
    assert runner.run_once().result == "success"
    assert state.flush(10)
    first = newest_complete(settings.data_dir)
    item = backup_status(state_table)
    assert item["pk"] == "backup" and item["sk"] == "status"
    assert item["running"] is False and item["last_result"] == "succeeded"
    assert ISO.match(item["run_started"]) and ISO.match(item["run_ended"]) and ISO.match(item["updated"])
    assert item["run_started"] <= item["run_ended"]
    assert item["last_good_snapshot"] == iso(first.taken_at.timestamp())
    assert item["last_good_epoch"] == str(int(first.taken_at.timestamp()))
    assert item["ghes_version"] == "v3.21.0" and item["host"] == socket.gethostname()

    # A long run: running while it runs, without run_ended; terminated when stopped.
    monkeypatch.setenv("GHE_STANDIN_SLEEP", "60")
    time.sleep(1.05)  # a new snapshot name (one per second)
    thread = threading.Thread(target=runner.run_once)
    thread.start()
    _wait_for(lambda: backup_status(state_table).get("running") is True)
    running = backup_status(state_table)
    assert "run_ended" not in running and running["run_started"] >= item["run_ended"]
    assert running["last_good_snapshot"] == item["last_good_snapshot"]  # the last good one is still known
    runner.stop(grace=10)
    thread.join(10)
    assert state.flush(10)
    ended = backup_status(state_table)
    assert (
        ended["running"] is False
        and ended["last_result"] == "terminated"
        and ended["run_ended"] >= running["run_started"]
    )


@pytest.mark.integration
def test_a_run_killed_with_its_container_is_closed_at_the_next_start(settings, state_table, monkeypatch, tmp_path):
    runner, state = _runner(settings, state_table, monkeypatch, tmp_path)
    assert runner.run_once().result == "success"
    assert state.flush(10)  # the run's own end is written before the killed container's record replaces it
    stale = {
        "pk": {"S": "backup"},
        "sk": {"S": "status"},
        "running": {"BOOL": True},
        "run_started": {"S": "2026-11-27T06:00:00Z"},
        "last_result": {"S": "succeeded"},
    }
    _dynamodb().put_item(TableName=state_table, Item=stale)  # what a SIGKILLed container leaves
    record_startup(runner.settings, state)
    assert state.flush(10)
    item = backup_status(state_table)
    assert item["running"] is False and item["last_result"] == "terminated" and ISO.match(item["run_ended"])
    assert item["last_good_snapshot"] == iso(newest_complete(settings.data_dir).taken_at.timestamp())
    before = backup_status(state_table)
    record_startup(runner.settings, state)  # nothing running: nothing to close, the last good refreshed
    assert state.flush(10)
    assert (
        backup_status(state_table)["last_result"] == "terminated"
        and backup_status(state_table)["run_ended"] == before["run_ended"]
    )


@pytest.mark.integration
def test_a_missing_table_is_logged_once_and_backups_go_on(settings, aws_env, monkeypatch, tmp_path, caplog):
    caplog.set_level("INFO")
    runner, state = _runner(settings, "no-such-table", monkeypatch, tmp_path)
    for _ in range(2):
        assert runner.run_once().result == "success"
        time.sleep(1.05)
    assert state.flush(10)
    failures = [e for e in events(caplog) if e["event"] == "state_table_write_failed"]
    assert [(f["kind"], f["table"]) for f in failures] == [("ResourceNotFoundException", "no-such-table")]


def test_an_unanswering_endpoint_never_delays_a_backup(settings, data_dir, monkeypatch, tmp_path, caplog):
    import boto3
    import botocore.config

    # Accepts connections, never answers: every write waits for its read timeout.
    black_hole = socket.socket()
    black_hole.bind(("127.0.0.1", 0))
    black_hole.listen(16)
    endpoint = f"http://127.0.0.1:{black_hole.getsockname()[1]}"

    def client(region):
        return boto3.client(
            "dynamodb",
            region_name=region,
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=botocore.config.Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1}),
        )

    state = StateTable(TABLE, lambda: "eu-central-1", client_factory=client)
    monkeypatch.setenv("GHE_STANDIN_RECORD", str(tmp_path / "record"))
    write_backup_config(settings)
    runner = BackupRunner(settings, lock_patience=0.05, hooks=run_hooks(settings, state))
    started = time.monotonic()
    assert runner.run_once().result == "success"
    assert time.monotonic() - started < 2
    assert not state.flush(0.1)  # the writes are still waiting, on their own thread
    black_hole.close()
    assert state.flush(10)  # given up, each kind of failure logged once
    assert len({e["kind"] for e in events(caplog) if e["event"] == "state_table_write_failed"}) >= 1


def test_an_empty_state_table_turns_recording_off(settings):
    assert open_state_table(replace(settings, state_table=None)) is None


def test_updates_are_sent_in_order_and_failures_of_each_kind_logged_once(caplog):
    caplog.set_level("INFO")
    sent = []

    class Client:
        def update_item(self, **request):
            sent.append(request["ExpressionAttributeValues"].get(":last_result", {}).get("S"))
            if len(sent) <= 2:
                raise TimeoutError("read timeout")

    from ghe_backup.backup.state_table import end_update

    state = StateTable("t", lambda: "eu-central-1", client_factory=lambda region: Client(), host="h")
    for result in ("failed", "terminated", "success"):
        state.send(end_update(result, 1.0, 2.0, "h", None))
    assert state.flush(5)
    assert sent == ["failed", "terminated", "succeeded"]
    names = [e["event"] for e in events(caplog)]
    assert names.count("state_table_write_failed") == 1 and names.count("state_table_write_recovered") == 1


def test_a_skipped_start_leaves_running_alone():
    from ghe_backup.backup.state_table import LastGood, end_update, start_update

    skipped = end_update("skipped", None, 1800000000.0, "h", None).request("t")
    assert "running" not in skipped["ExpressionAttributeNames"].values()
    assert skipped["ExpressionAttributeValues"][":last_result"] == {"S": "skipped"}
    start = start_update(1800000000.0, "h", LastGood(1799990000.0, "v3.21.0")).request("t")
    assert start["UpdateExpression"].endswith(" REMOVE #run_ended")
    assert start["ExpressionAttributeValues"][":run_started"] == {"S": "2027-01-15T08:00:00Z"}
    assert start["ExpressionAttributeValues"][":last_good_epoch"] == {"N": "1799990000"}
    assert start["Key"] == {"pk": {"S": "backup"}, "sk": {"S": "status"}}


# --- the heartbeat -----------------------------------------------------------------------------


class _RecordingClient:
    """A fake DynamoDB client: keeps each UpdateItem request; ``hold`` makes every call hang."""

    def __init__(self, hold=None):
        self.requests, self.hold = [], hold

    def update_item(self, **request):
        if self.hold is not None:
            self.hold.wait(30)
        self.requests.append(request)


def _kind(request) -> str:
    names = set(request["ExpressionAttributeNames"].values())
    return "end" if "last_result" in names else "start" if "run_started" in names else "heartbeat"


def _beats_then_ends(runner, client, state, tmp_path):
    """Run one backup that lasts a while, waiting (bounded) for heartbeats in the middle of it."""
    import threading

    outcome = {}
    thread = threading.Thread(target=lambda: outcome.setdefault("run", runner.run_once()))
    thread.start()
    try:
        _wait_for(lambda: [_kind(r) for r in client.requests].count("heartbeat") >= 3)
        assert (tmp_path / "record").exists() and thread.is_alive()  # beats while backup-utils runs
    finally:
        (tmp_path / "done").touch()  # backup-utils (the stand-in) may finish now, whatever happened
    thread.join(30)
    assert state.flush(5)
    return outcome["run"]


def test_a_run_beats_its_heartbeat_until_it_ends_and_never_after(settings, monkeypatch, tmp_path):
    import threading

    from ghe_backup.backup.state_table import StateTable

    monkeypatch.setenv("GHE_STANDIN_UNTIL", str(tmp_path / "done"))  # lasts until _beats_then_ends says
    monkeypatch.setenv("GHE_STANDIN_RECORD", str(tmp_path / "record"))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    write_backup_config(settings)
    client = _RecordingClient()
    state = StateTable("t", lambda: "eu-central-1", client_factory=lambda region: client, host="h")
    runner = BackupRunner(settings, lock_patience=0.05, hooks=run_hooks(settings, state, heartbeat_interval=0.05))
    assert _beats_then_ends(runner, client, state, tmp_path).result == "success"
    kinds = [_kind(r) for r in client.requests]
    assert kinds[0] == "start" and kinds[-1] == "end" and set(kinds[1:-1]) == {"heartbeat"}, kinds
    start, beat = client.requests[0], client.requests[1]
    assert start["ExpressionAttributeValues"][":heartbeat_seconds"] == {"N": "0.05"}
    assert ISO.match(start["ExpressionAttributeValues"][":heartbeat"]["S"])
    assert beat["ConditionExpression"] == "#running = :was_running"  # a late beat never reopens a run
    assert set(beat["ExpressionAttributeNames"].values()) == {"heartbeat", "updated", "host", "running"}
    # after the end: no more beats (the heartbeat thread is gone, not just quiet)
    assert not [thread for thread in threading.enumerate() if thread.name == "heartbeat"]


def test_a_hanging_table_never_delays_the_run_or_its_heartbeat(settings, monkeypatch, tmp_path):
    import threading

    from ghe_backup.backup.state_table import StateTable

    monkeypatch.setenv("GHE_STANDIN_SLEEP", "0.2")
    monkeypatch.setenv("GHE_STANDIN_RECORD", str(tmp_path / "record"))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    write_backup_config(settings)
    hold = threading.Event()
    client = _RecordingClient(hold)
    state = StateTable("t", lambda: "eu-central-1", client_factory=lambda region: client, host="h")
    runner = BackupRunner(settings, lock_patience=0.05, hooks=run_hooks(settings, state, heartbeat_interval=0.01))
    started = time.monotonic()
    assert runner.run_once().result == "success"
    took = time.monotonic() - started
    assert took < 3, took  # backup-utils' 0.2 s and our own steps, whatever the table does
    assert client.requests == [] and not state.flush(0)  # everything is still queued behind the hung call
    hold.set()
    assert state.flush(10)
    kinds = [_kind(r) for r in client.requests]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("heartbeat") >= 1, kinds


def test_the_heartbeat_update_only_touches_a_running_record():
    from ghe_backup.backup.state_table import heartbeat_update

    request = heartbeat_update(1800000000.0, "h").request("t")
    assert request["ExpressionAttributeValues"][":heartbeat"] == {"S": "2027-01-15T08:00:00Z"}
    assert request["ExpressionAttributeValues"][":updated"] == {"S": "2027-01-15T08:00:00Z"}
    assert request["ConditionExpression"] == "#running = :was_running"
