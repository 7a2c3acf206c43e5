"""The test stage runs the real unit selection with pytest and fails the stage on failures."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import pytest

from ghe_backup.delivery.gate import run_unit_tests
from ghe_backup.errors import StageFailed

REPO = Path(__file__).resolve().parents[3]


def test_passing_tests_pass_the_stage(capfd):
    run_unit_tests(REPO, ["tests/delivery/config/test_merge.py"])
    assert "passed" in capfd.readouterr().out


def test_as_a_prerequisite_its_output_goes_to_stderr(capfd):
    with contextlib.redirect_stdout(sys.stderr):
        run_unit_tests(REPO, ["tests/delivery/config/test_merge.py"])
    out, err = capfd.readouterr()
    assert out == "" and "passed" in err


def test_failing_tests_fail_the_stage(tmp_path):
    (tmp_path / "test_red.py").write_text("def test_red():\n    assert 1 == 2\n")
    with pytest.raises(StageFailed, match=r"unit tests failed \(pytest exit 1\)"):
        run_unit_tests(REPO, [str(tmp_path / "test_red.py")])
