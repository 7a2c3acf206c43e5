"""Benchmark the deploy stage against a running sandbox (inv sandbox.up first).

1. Detection: a stack stays CREATE_IN_PROGRESS (moto leaves one whose create call failed); the
   wait polls it with the account's poll_max_interval; after a steady period the stack is
   deleted behind its back. Reports the delay until the wait noticed, and requests per minute
   at steady state, for the CloudFormation reader (senza) and the Lizzy reader.
2. Deploy stage: two deploys of staging through its Lizzy agent and through senza (the second
   replaces the first), with the time of each step.

    .venv/bin/python scripts/benchmark_deploy.py [--steady 30]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

from ghe_backup.delivery.aws_access import account_access
from ghe_backup.delivery.config import REPO_ROOT, load_accounts
from ghe_backup.delivery.deploy import ImageRef, deploy_account
from ghe_backup.delivery.deployers import make_deployer
from ghe_backup.delivery.stacks import StackFailed, wait_for_stack
from ghe_backup.sandbox import SandboxState
from ghe_backup.sandbox import aws as sandbox_aws

STUCK = {"Resources": {"Profile": {"Type": "AWS::IAM::InstanceProfile", "Properties": {"Roles": ["no-such-role"]}}}}


class Counting:
    def __init__(self, reader):
        self.reader, self.requests = reader, 0

    def observe(self, stack, *, with_events):
        self.requests += 2 if with_events else 1  # events are a second request
        return self.reader.observe(stack, with_events=with_events)


def detection(account, endpoints, deployer_name, steady):
    cfn = sandbox_aws.account_client(account.settings, "cloudformation")
    name = f"ghe-backup-bench{deployer_name}{int(time.time())}"
    try:
        cfn.create_stack(StackName=name, TemplateBody=json.dumps(STUCK))
    except Exception:
        pass  # moto: the call fails, the stack stays CREATE_IN_PROGRESS
    settings = account.settings
    deployer = make_deployer(settings, account_access(settings), endpoints)
    reader = Counting(deployer.reader)
    deleted_at: list[float] = []

    def delete_later():
        time.sleep(steady)
        cfn.delete_stack(StackName=name)
        deleted_at.append(time.monotonic())  # moto deletes within the call: the state changed now

    threading.Thread(target=delete_later, daemon=True).start()
    started = time.monotonic()
    try:
        wait_for_stack(reader, name, goal="create", deadline=started + steady + 60,
                       max_interval=settings.poll_max_interval, report=lambda line: None)
    except StackFailed:
        pass
    noticed = time.monotonic()
    return {"reader": deployer_name, "poll_max_interval": settings.poll_max_interval,
            "noticed_after_s": round(noticed - deleted_at[0], 2),
            "requests_per_minute": round(reader.requests / (noticed - started) * 60, 1)}


def deploys(account, endpoints, deployer_name):
    import dataclasses

    account = dataclasses.replace(account, settings=dataclasses.replace(account.settings, deployer=deployer_name))
    rows = []
    for tag in ("bench1", "bench2"):
        started = time.monotonic()
        result = deploy_account(REPO_ROOT, account, ImageRef(tag=tag), assume_yes=True, sandbox_endpoints=endpoints,
                                report=lambda line: None)
        rows.append({"deployer": deployer_name, "tag": tag, "wall_s": round(time.monotonic() - started, 2), **result.seconds})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steady", type=float, default=30.0, help="seconds the stack stays in progress")
    args = parser.parse_args()
    endpoints = SandboxState.load(REPO_ROOT).endpoints
    staging = load_accounts(REPO_ROOT)["staging"].retarget(
        registry=endpoints.get("registry", "127.0.0.1:5000"), aws_endpoint=endpoints["aws_endpoint"], lizzy_url=endpoints["lizzy"]["staging"]
    )
    results = {"detection": [detection(staging, endpoints, d, args.steady) for d in ("senza", "lizzy")],
               "deploy_stage": deploys(staging, endpoints, "lizzy") + deploys(staging, endpoints, "senza")}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
