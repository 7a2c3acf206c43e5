"""inv test --junit=PATH: pytest's JUnit XML report, one testcase per test (a CI shows it per test)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ghe_backup.delivery.gate import run_unit_tests
from ghe_backup.errors import StageFailed

REPO = Path(__file__).resolve().parents[3]


# --- the JUnit report (inv test --junit=PATH) ----------------------------------------------------

TESTS = """
import pytest

def test_one():
    pass

def test_two():
    pass

@pytest.mark.parametrize("n", [1, 2, 3])
def test_many(n):
    pass

@pytest.mark.skip(reason="not here")
def test_skipped():
    pass

@pytest.mark.integration
def test_needs_the_sandbox():
    pass
"""


def junit_cases(report: Path) -> list:
    import xml.etree.ElementTree as ET

    root = ET.parse(report).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["ghe-backup"]
    return [case for suite in suites for case in suite.findall("testcase")]


def summary_counts(out: str) -> dict[str, int]:
    import re

    return {
        word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|deselected|xfailed|xpassed|errors?)", out)
    }


@pytest.mark.process
def test_junit_report_has_one_testcase_per_test_run(tmp_path, capfd):
    (tmp_path / "test_some.py").write_text(TESTS)
    report = tmp_path / "reports" / "junit.xml"  # the folder does not exist yet
    run_unit_tests(tmp_path, junit=report, workers=0)  # one process: its summary counts the deselected test
    counts = summary_counts(capfd.readouterr().out)
    assert counts == {"passed": 5, "skipped": 1, "deselected": 1}
    cases = junit_cases(report)
    assert len(cases) == counts["passed"] + counts["skipped"]
    assert sorted(c.get("name") for c in cases) == [
        "test_many[1]",
        "test_many[2]",
        "test_many[3]",
        "test_one",
        "test_skipped",
        "test_two",
    ]
    assert [c.get("name") for c in cases if c.find("skipped") is not None] == ["test_skipped"]


@pytest.mark.process
def test_junit_report_is_written_when_tests_fail_and_names_the_failure(tmp_path):
    (tmp_path / "test_red.py").write_text("def test_green():\n    pass\n\ndef test_red():\n    assert 1 == 2\n")
    report = tmp_path / "junit.xml"
    with pytest.raises(StageFailed):
        run_unit_tests(tmp_path, junit=report)
    cases = {c.get("name"): c for c in junit_cases(report)}
    assert set(cases) == {"test_green", "test_red"}
    assert cases["test_red"].find("failure") is not None and cases["test_green"].find("failure") is None


@pytest.mark.process
def test_junit_path_is_relative_to_where_inv_started_not_the_checkout(tmp_path, monkeypatch):
    project, here = tmp_path / "project", tmp_path / "here"
    project.mkdir()
    here.mkdir()
    (project / "test_x.py").write_text("def test_x():\n    pass\n")
    monkeypatch.chdir(here)
    run_unit_tests(project, junit=Path("out.xml"))
    assert (here / "out.xml").is_file() and not (project / "out.xml").exists()


def test_junit_path_that_is_a_directory_is_bad_input_before_anything_runs(tmp_path):
    from ghe_backup.errors import UsageError

    (tmp_path / "test_x.py").write_text("raise SystemExit('must not be collected')\n")
    with pytest.raises(UsageError, match=r"--junit: .* is a directory"):
        run_unit_tests(tmp_path, junit=tmp_path)


@pytest.mark.integration
def test_inv_test_junit_writes_one_testcase_per_test_of_the_real_gate(tmp_path):
    """`inv test --junit=report.xml` on this checkout: the real unit selection, counted both ways."""

    inv = str(Path(sys.executable).parent / "inv")
    result = subprocess.run(
        [inv, "--search-root", str(REPO), "test", "--junit=report.xml"],
        cwd=tmp_path,  # a relative path lands where inv was started
        env={**os.environ, "GHE_BACKUP_ROOT": str(REPO)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    counts = summary_counts(result.stdout.strip().splitlines()[-1])
    cases = junit_cases(tmp_path / "report.xml")
    assert counts["passed"] > 100
    ran = ("passed", "skipped", "xfailed", "xpassed")  # each a testcase; deselected ones are not run
    assert len(cases) == sum(counts.get(word, 0) for word in ran)
