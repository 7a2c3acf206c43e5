"""The backup state in the AWS account, for the pipeline: one DynamoDB item, best effort.

The pipeline keeps its deploy lock and history in the same table (key ``pk``/``sk``, both
strings; the program never creates it). The program updates ``{pk: "backup", sk: "status"}`` at
each run's start (``running`` true) and end (``running`` false, ``run_ended``, ``last_result``,
the newest complete snapshot), so ``inv status`` sees backups even when no instance runs, and a
deploy can wait for a running backup instead of killing it. While a run goes, a heartbeat
(``heartbeat``, every ``heartbeat_seconds``) tells the pipeline it is alive: a ``running`` flag
whose record stays silent for 3 intervals belongs to a dead container
(``ghe_backup/delivery/deploy/backup_wait.py``, ``run_state``).

Best effort: updates go through a queue to one daemon thread, so a slow or failing DynamoDB
never fails or delays a backup; each kind of failure is logged once. ``STATE_TABLE`` empty
turns it off.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .logs import log_event

log = logging.getLogger(__name__)
KEY = {"pk": {"S": "backup"}, "sk": {"S": "status"}}
RESULTS = {"success": "succeeded", "failed": "failed", "terminated": "terminated", "skipped": "skipped"}
#: Seconds between heartbeats while a run goes; recorded with the run (``heartbeat_seconds``) so the
#: pipeline knows how long a silence means a dead container.
HEARTBEAT_INTERVAL = 300


def iso(timestamp: float) -> str:
    """ISO-8601 UTC to the second, as the pipeline reads it: 2026-11-27T08:00:00Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


@dataclass(frozen=True)
class LastGood:
    """The newest complete snapshot on the volume."""

    taken_at: float
    ghes_version: str | None


@dataclass(frozen=True)
class Update:
    """One UpdateItem: attributes to set, to remove, and an optional condition."""

    set: dict[str, dict]
    remove: tuple[str, ...] = ()
    only_if_running: bool = False

    def request(self, table: str) -> dict:
        names = {f"#{name}": name for name in (*self.set, *self.remove)}
        values = {f":{name}": value for name, value in self.set.items()}
        expression = "SET " + ", ".join(f"#{name} = :{name}" for name in self.set)
        if self.remove:
            expression += " REMOVE " + ", ".join(f"#{name}" for name in self.remove)
        request = {"TableName": table, "Key": KEY, "UpdateExpression": expression}
        if self.only_if_running:
            names["#running"], values[":was_running"] = "running", {"BOOL": True}
            request["ConditionExpression"] = "#running = :was_running"
        request.update(ExpressionAttributeNames=names, ExpressionAttributeValues=values)
        return request


def _common(now: float, host: str, last_good: LastGood | None) -> dict[str, dict]:
    values = {"updated": {"S": iso(now)}, "host": {"S": host}}
    if last_good is not None:
        values["last_good_snapshot"] = {"S": iso(last_good.taken_at)}
        values["last_good_epoch"] = {"N": str(int(last_good.taken_at))}
        if last_good.ghes_version:
            values["ghes_version"] = {"S": last_good.ghes_version}
    return values


def start_update(
    started_at: float, host: str, last_good: LastGood | None, heartbeat_seconds: float = HEARTBEAT_INTERVAL
) -> Update:
    return Update(
        {
            "running": {"BOOL": True},
            "run_started": {"S": iso(started_at)},
            "heartbeat": {"S": iso(started_at)},
            "heartbeat_seconds": {"N": f"{heartbeat_seconds:g}"},
            **_common(started_at, host, last_good),
        },
        remove=("run_ended",),
    )


def heartbeat_update(now: float, host: str) -> Update:
    """A running run is alive; only while the item says ``running`` (a late beat never reopens a run)."""
    return Update({"heartbeat": {"S": iso(now)}, "updated": {"S": iso(now)}, "host": {"S": host}}, only_if_running=True)


def end_update(
    result: str, started_at: float | None, finished_at: float, host: str, last_good: LastGood | None
) -> Update:
    """The end of a run; a skipped start (another backup holds the lock) leaves ``running`` alone."""
    values = {"last_result": {"S": RESULTS[result]}, **_common(finished_at, host, last_good)}
    if result != "skipped":
        values.update(running={"BOOL": False}, run_ended={"S": iso(finished_at)})
        if started_at is not None:
            values["run_started"] = {"S": iso(started_at)}
    return Update(values)


def interrupted_update(now: float, host: str, last_good: LastGood | None) -> Update:
    """At start, with the lock free: a run still marked running was killed with its container."""
    return Update(
        {
            "running": {"BOOL": False},
            "run_ended": {"S": iso(now)},
            "last_result": {"S": "terminated"},
            **_common(now, host, last_good),
        },
        only_if_running=True,
    )


def refresh_update(now: float, host: str, last_good: LastGood) -> Update:
    """At start: the volume's newest snapshot, so a new instance reports it before its first run."""
    return Update(_common(now, host, last_good))


class StateTable:
    """Sends updates to the table in order, from one daemon thread; never raises to the caller."""

    def __init__(
        self,
        table: str,
        region: Callable[[], str],
        *,
        client_factory: Callable[[str], object] | None = None,
        host: str | None = None,
    ):
        self.table, self._region, self._client_factory = table, region, client_factory or _dynamodb_client
        self.host = host or socket.gethostname()
        self._queue: queue.Queue[Update | None] = queue.Queue()
        self._failures: set[str] = set()
        self._idle = threading.Event()
        self._idle.set()
        self._thread = threading.Thread(target=self._work, name="state-table", daemon=True)
        self._thread.start()

    def send(self, update: Update) -> None:
        self._idle.clear()
        self._queue.put(update)

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for queued updates to be sent (or given up)."""
        return self._idle.wait(timeout)

    def _work(self) -> None:
        client = None
        while True:
            update = self._queue.get()
            try:
                if client is None:
                    client = self._connect()
                if client is not None:
                    self._write(client, update)
            finally:
                if self._queue.empty():
                    self._idle.set()

    def _connect(self):
        try:
            return self._client_factory(self._region())
        except Exception as err:  # no region (no metadata), no boto3 config: retried at the next update
            self._failed(type(err).__name__, err)
            return None

    def _write(self, client, update: Update) -> None:
        import botocore.exceptions as bex

        try:
            client.update_item(**update.request(self.table))
        except bex.ClientError as err:
            code = err.response.get("Error", {}).get("Code", "ClientError")
            if code != "ConditionalCheckFailedException":  # nothing was running: nothing to fix
                self._failed(code, err)
            return
        except Exception as err:  # unreachable endpoint, timeouts, no credentials
            self._failed(type(err).__name__, err)
            return
        if self._failures:
            log_event(log, "state_table_write_recovered", table=self.table)
            self._failures.clear()

    def _failed(self, kind: str, err: Exception) -> None:
        if kind in self._failures:
            return
        self._failures.add(kind)
        log_event(
            log, "state_table_write_failed", level=logging.WARNING, table=self.table, kind=kind, error=str(err)[:300]
        )


def _dynamodb_client(region: str):
    import boto3
    import botocore.config

    config = botocore.config.Config(connect_timeout=3, read_timeout=5, retries={"mode": "standard", "max_attempts": 3})
    return boto3.client("dynamodb", region_name=region, config=config)


def last_good(data_dir) -> LastGood | None:
    from .snapshots import newest_complete

    newest = newest_complete(data_dir)
    return LastGood(newest.taken_at.timestamp(), newest.ghes_version) if newest else None


def open_state_table(settings) -> StateTable | None:
    """The settings' table, or None when ``STATE_TABLE`` is empty; the region as for KMS."""
    if not settings.state_table:
        return None
    from .sshkey import instance_region

    def region() -> str:
        return settings.aws_region or instance_region(settings.metadata_endpoint, settings.metadata_timeout)

    return StateTable(settings.state_table, region)


class Heartbeat:
    """Sends ``heartbeat_update`` every ``interval`` seconds from its own thread, between ``start``
    and ``stop``. Sending only queues the update (``StateTable.send``), so a slow or failing
    DynamoDB never holds a beat, and ``stop`` returns at once."""

    def __init__(self, table: StateTable, interval: float, clock: Callable[[], float] = time.time):
        self.table, self.interval, self.clock = table, interval, clock
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.stop()
        self._stop = stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(stop,), name="heartbeat", daemon=True)
        self._thread.start()

    def _beat(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            self.table.send(heartbeat_update(self.clock(), self.table.host))

    def stop(self) -> None:
        """No beat is queued after this returns (the end update comes after the last one)."""
        if self._stop is not None:
            self._stop.set()
            self._thread.join(1.0)  # it only waits and queues: at once
            self._stop = self._thread = None


def run_hooks(settings, table: StateTable | None, *, heartbeat_interval: float = HEARTBEAT_INTERVAL):
    """Runner hooks that record each run's start and end in ``table``, with a heartbeat in between
    (no-ops without a table)."""
    from .runner import RunHooks

    if table is None:
        return RunHooks()
    heartbeat = Heartbeat(table, heartbeat_interval)

    def started(started_at: float) -> None:
        table.send(start_update(started_at, table.host, last_good(settings.data_dir), heartbeat_interval))
        heartbeat.start()

    def finished(outcome) -> None:
        if outcome.result != "skipped":  # a skip is another holder's run: it keeps its own heartbeat
            heartbeat.stop()
        table.send(
            end_update(
                outcome.result,
                outcome.started_at,
                outcome.finished_at or time.time(),
                table.host,
                last_good(settings.data_dir),
            )
        )

    return RunHooks(started, finished)
