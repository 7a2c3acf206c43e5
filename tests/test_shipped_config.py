"""The operators' own config (config/, senza/): it validates, and no two accounts' backups overlap.

The only tests that read the shipped files; everything else uses tests/data/tree/.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import pytest
from croniter import croniter

from ghe_backup.delivery.config import load_accounts

REPO = Path(__file__).resolve().parents[1]
#: A backup of one appliance runs up to this long; two accounts starting closer than that overlap.
BACKUP_SLOT = dt.timedelta(minutes=59)


def schedules():
    return {
        name: account.component("AppServer")["TaupageConfig"]["environment"]["BACKUP_SCHEDULE"]
        for name, account in load_accounts(REPO).items()
    }


def starts(expression: str, days: int = 7) -> list[dt.datetime]:
    begin = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)  # a Monday
    it = croniter(expression, begin - dt.timedelta(seconds=1))
    found = []
    while (when := it.get_next(dt.datetime)) < begin + dt.timedelta(days=days):
        found.append(when)
    return found


def test_every_shipped_overlay_validates():
    assert load_accounts(REPO)  # raises ConfigError with file:line otherwise


def test_no_two_accounts_back_up_at_the_same_time():
    found = {name: starts(expression) for name, expression in schedules().items()}
    for (a, times_a), (b, times_b) in itertools.combinations(found.items(), 2):
        clashes = [(x, y) for x in times_a for y in times_b if abs(x - y) < BACKUP_SLOT]
        assert not clashes, f"{a} and {b} back up within {BACKUP_SLOT} of each other, e.g. {clashes[0]}"


def test_the_backup_program_agrees_no_two_accounts_overlap():
    from ghe_backup.backup.schedule import find_overlaps

    begin = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    assert find_overlaps(schedules(), begin, begin + dt.timedelta(days=7), BACKUP_SLOT) == []


# --- the committed CI files are generated from these accounts ----------------------------------


def test_committed_ci_files_are_what_the_generators_write_now():
    from ghe_backup.ci import check_files, github_files, jenkins_files

    accounts = load_accounts(REPO)
    states = check_files(REPO, github_files(accounts) + jenkins_files(accounts))
    stale = [s for s in states if s.state != "up to date"]
    assert stale == [], "run inv ci.github and inv ci.jenkins:\n" + "".join(s.diff for s in stale)


@pytest.mark.process
def test_adding_dr_and_running_the_generators_adds_its_plan_and_deploy_jobs_to_both(shipped_tree):
    """A temp copy of the repo's config and CI files; dr.yaml added; the real `inv ci.*` commands."""
    import os
    import re
    import shutil
    import subprocess
    import sys

    import yaml

    from support.accounts import add_account

    for path in (".github", "ci"):
        shutil.copytree(REPO / path, shipped_tree / path)
    inv = str(Path(sys.executable).parent / "inv")

    def run(*argv):
        env = {**os.environ, "GHE_BACKUP_ROOT": str(shipped_tree)}
        return subprocess.run([inv, *argv], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)

    assert run("ci.check").returncode == 0
    add_account(shipped_tree, "dr", approval=True)
    stale = run("ci.check")
    assert stale.returncode == 1 and "run inv ci.github and inv ci.jenkins" in stale.stderr
    assert run("ci.github").returncode == 0 and run("ci.jenkins").returncode == 0
    assert run("ci.check").returncode == 0

    deliver = yaml.safe_load((shipped_tree / ".github/workflows/deliver.yml").read_text())["jobs"]
    assert {"plan-dr", "deploy-dr"} <= set(deliver)
    assert deliver["deploy-dr"]["environment"] == "dr" and deliver["deploy-dr"]["needs"] == ["plan-dr"]
    assert deliver["plan-dr"]["needs"] == ["build", "deploy-staging"]
    refresh = yaml.safe_load((shipped_tree / ".github/workflows/taupage-refresh.yml").read_text())["jobs"]
    assert {"check-dr", "refresh-dr"} <= set(refresh)
    jenkinsfile = (shipped_tree / "ci/Jenkinsfile").read_text()
    stages = re.findall(r"stage\('([^']+)'\)", jenkinsfile)
    assert {"Plan dr", "Approve dr", "Deploy dr", "Check dr", "Refresh dr"} <= set(stages)
    assert "lock(resource: 'ghe-backup-dr'" in jenkinsfile
    assert ".venv/bin/inv deploy --account=dr --plan=plan-dr.json --yes" in jenkinsfile
