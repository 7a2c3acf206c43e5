"""Writing the generated files and comparing them with the checkout."""

from __future__ import annotations

import pytest

from ghe_backup.ci import check_files, github_files, jenkins_files, require_current, write_files
from ghe_backup.delivery.config import load_accounts
from ghe_backup.errors import StageFailed
from support.accounts import add_account


def generated(root):
    accounts = load_accounts(root)
    return github_files(accounts) + jenkins_files(accounts)


def test_files_are_written_once_and_then_left_alone(config_tree):
    files = generated(config_tree)
    assert [(s.path, s.state) for s in write_files(config_tree, files)] == [
        (".github/workflows/deliver.yml", "written"),
        (".github/workflows/taupage-refresh.yml", "written"),
        ("ci/Jenkinsfile", "written"),
    ]
    assert (config_tree / "ci" / "Jenkinsfile").read_text() == files[2].text
    mtime = (config_tree / "ci" / "Jenkinsfile").stat().st_mtime_ns
    assert {s.state for s in write_files(config_tree, generated(config_tree))} == {"unchanged"}
    assert (config_tree / "ci" / "Jenkinsfile").stat().st_mtime_ns == mtime
    assert not list((config_tree / "ci").glob(".Jenkinsfile.*"))  # no temp file left behind


def test_the_output_is_the_same_every_time(config_tree):
    assert [f.text for f in generated(config_tree)] == [f.text for f in generated(config_tree)]


def test_check_names_missing_and_stale_files_with_a_diff_and_the_fix(config_tree):
    states = check_files(config_tree, generated(config_tree))
    assert {s.state for s in states} == {"missing"}
    write_files(config_tree, generated(config_tree))
    assert {s.state for s in check_files(config_tree, generated(config_tree))} == {"up to date"}
    require_current(check_files(config_tree, generated(config_tree)))  # no error

    add_account(config_tree, "dr", approval=True)
    states = check_files(config_tree, generated(config_tree))
    assert [s.state for s in states] == ["stale", "stale", "stale"]
    deliver = states[0]
    assert "+  plan-dr:" in deliver.diff and "+  deploy-dr:" in deliver.diff
    assert deliver.diff.startswith(
        "--- .github/workflows/deliver.yml (checkout)\n+++ .github/workflows/deliver.yml (generated now)"
    )
    with pytest.raises(StageFailed) as info:
        require_current(states)
    assert str(info.value) == (
        "generated CI files differ from what config/accounts gives now: .github/workflows/deliver.yml (stale), "
        ".github/workflows/taupage-refresh.yml (stale), ci/Jenkinsfile (stale) "
        "(run inv ci.github and inv ci.jenkins and commit the result)"
    )


def test_a_hand_edit_is_stale_too(config_tree):
    write_files(config_tree, generated(config_tree))
    path = config_tree / "ci" / "Jenkinsfile"
    path.write_text(path.read_text().replace("inversePrecedence: true", "inversePrecedence: false"))
    [jenkins] = [s for s in check_files(config_tree, generated(config_tree)) if s.state != "up to date"]
    assert jenkins.path == "ci/Jenkinsfile" and "-" in jenkins.diff and "inversePrecedence: false" in jenkins.diff
