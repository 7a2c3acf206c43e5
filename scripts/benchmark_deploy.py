"""Benchmark the deploy stage against a running sandbox (inv sandbox.up first).

1. Detection: a stack stays CREATE_IN_PROGRESS (moto leaves one whose create call failed); the
   wait polls it with the account's poll_max_interval; after a steady period (plus a random
   fraction of the interval, so the change falls at any point of the polling cycle) the stack
   is deleted behind its back. Reports, per sample, the delay until the wait noticed, and the
   HTTP requests per minute in the steady window (from 10 s after the start until the delete,
   counting every request the reader sent: status reads, event reads, retries), for the
   reader of each deployer.
2. Deploy stage: two deploys of staging through its Lizzy agent and through senza (the second
   replaces the first), with the time of each step.

    .venv/bin/python scripts/benchmark_deploy.py [--steady 30] [--samples 3]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import random
import statistics
import threading
import time
from pathlib import Path

import botocore.exceptions

from ghe_backup.delivery.deploy import steps
from ghe_backup.delivery.deploy.run import deploy_account
from ghe_backup.delivery.deploy.steps import ImageRef
from ghe_backup.delivery.deploy.wait import StackFailed, wait_for_stack
from ghe_backup.edge.targets import Resolution
from ghe_backup.sandbox import aws as sandbox_aws

REPO_ROOT = Path(__file__).resolve().parents[1]

STUCK = {"Resources": {"Profile": {"Type": "AWS::IAM::InstanceProfile", "Properties": {"Roles": ["no-such-role"]}}}}


class Requests:
    """Times of the HTTP requests a deployer's reader sends (botocore ``before-send``, Lizzy client)."""

    def __init__(self, conn):
        self.times: list[float] = []
        deployer = conn.deployer
        cfn = getattr(conn.account, "cfn", None)
        if cfn is not None:
            cfn.meta.events.register("before-send.cloudformation", lambda **_: self.times.append(time.monotonic()))
        self.client = getattr(deployer, "client", None)
        self.lizzy_before = self.client.requests if self.client else 0

    def lizzy(self) -> int:
        return (self.client.requests - self.lizzy_before) if self.client else 0


def detection(target, deployer_name, steady):
    account = with_deployer(target, deployer_name)
    cfn = sandbox_aws.account_client(account.settings, "cloudformation")
    name = f"ghe-backup-bench{deployer_name}{int(time.time() * 1000)}"
    with contextlib.suppress(
        botocore.exceptions.ClientError
    ):  # moto: the call fails, the stack stays CREATE_IN_PROGRESS
        cfn.create_stack(StackName=name, TemplateBody=json.dumps(STUCK))
    settings = account.settings
    conn = steps.connect(account)
    requests = Requests(conn)
    deleted_at: list[float] = []
    delay = steady + random.uniform(0, settings.poll_max_interval)

    def delete_later():
        time.sleep(delay)
        cfn.delete_stack(StackName=name)
        deleted_at.append(time.monotonic())  # moto deletes within the call: the state changed now

    threading.Thread(target=delete_later, daemon=True).start()
    started = time.monotonic()
    with contextlib.suppress(StackFailed):
        wait_for_stack(
            conn.account,
            name,
            goal="create",
            deadline=started + steady + 60,
            max_interval=settings.poll_max_interval,
            report=lambda line: None,
        )
    noticed = time.monotonic()
    window = (started + 10, deleted_at[0])
    in_window = [t for t in requests.times if window[0] <= t < window[1]]
    return {
        "reader": deployer_name,
        "poll_max_interval": settings.poll_max_interval,
        "noticed_after_s": round(noticed - deleted_at[0], 2),
        "requests_per_minute_steady": round(len(in_window) / (window[1] - window[0]) * 60, 1),
        "requests": len(requests.times),
        "lizzy_requests": requests.lizzy(),
    }


def summary(samples):
    by_reader: dict[str, list[dict]] = {}
    for sample in samples:
        by_reader.setdefault(sample["reader"], []).append(sample)
    return {
        reader: {
            "noticed_after_s": {
                "min": min(s["noticed_after_s"] for s in rows),
                "median": statistics.median(s["noticed_after_s"] for s in rows),
                "max": max(s["noticed_after_s"] for s in rows),
            },
            "requests_per_minute_steady": max(s["requests_per_minute_steady"] for s in rows),
        }
        for reader, rows in by_reader.items()
    }


def with_deployer(target, deployer_name):
    return dataclasses.replace(
        target,
        account=dataclasses.replace(
            target.account, settings=dataclasses.replace(target.settings, deployer=deployer_name)
        ),
    )


def deploys(target, deployer_name):
    account = with_deployer(target, deployer_name)
    rows = []
    for tag in ("bench1", "bench2"):
        started = time.monotonic()
        result = deploy_account(account, ImageRef(tag=tag), report=lambda line: None)
        rows.append(
            {"deployer": deployer_name, "tag": tag, "wall_s": round(time.monotonic() - started, 2), **result.seconds}
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steady", type=float, default=30.0, help="seconds the stack stays in progress")
    parser.add_argument("--samples", type=int, default=3, help="detection samples per reader")
    args = parser.parse_args()
    [staging] = Resolution(REPO_ROOT).targets(["staging"], True)
    samples = [detection(staging, d, args.steady) for _ in range(args.samples) for d in ("senza", "lizzy")]
    results = {
        "detection": samples,
        "detection_summary": summary(samples),
        "deploy_stage": deploys(staging, "lizzy") + deploys(staging, "senza"),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
