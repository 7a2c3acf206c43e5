"""The test stage: runs pytest, fails on failures, remembers passes and skips them as a prerequisite.

Real pytest runs on a tiny checkout (``support.gate_repo``), whose one test counts its runs; the
record logic's own tests replace pytest by a counter (``fake_pytest``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ghe_backup.delivery.gate import passes, run_unit_tests, unit_tests
from ghe_backup.delivery.gate.inputs import gate_key
from ghe_backup.errors import StageFailed
from support.gate_repo import TINY_TEST, make_test_repo, runs


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return make_test_repo(tmp_path_factory.mktemp("gate") / "repo")


@pytest.fixture
def repo(template, tmp_path, monkeypatch):
    """A fresh copy of the tiny checkout; its test counts runs in ``tmp_path/runs``."""
    monkeypatch.setenv("GATE_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # one test, one process: no xdist to load
    monkeypatch.delenv("GATE_RED", raising=False)
    return Path(shutil.copytree(template, tmp_path / "repo", symlinks=True))


@pytest.fixture
def fake_pytest(monkeypatch):
    """pytest replaced by a counter; ``fail`` makes the runs fail, ``during`` runs inside each."""

    class Fake:
        fail = False
        runs = 0
        during = staticmethod(lambda root: None)

        def __call__(self, root, command):
            self.runs += 1
            self.during(root)
            if self.fail:
                raise StageFailed("unit tests failed (pytest exit 1)")

    fake = Fake()
    monkeypatch.setattr(unit_tests, "_run_pytest", fake)
    return fake


def gate(repo, lines=None, **kwargs):
    kwargs.setdefault("workers", 0)  # one process: these runs have one test each
    return run_unit_tests(repo, report=(lines if lines is not None else []).append, **kwargs)


def record_file(repo) -> Path:
    return repo / ".state" / passes.STATE_FILE


def recorded(repo) -> list[str]:
    return sorted(json.loads(record_file(repo).read_text())["passes"])


# --- running pytest for real ------------------------------------------------------------------


@pytest.mark.process
def test_a_pass_passes_the_stage_and_as_a_prerequisite_its_output_goes_to_stderr(repo, tmp_path, capfd):
    with contextlib.redirect_stdout(sys.stderr):  # as the executor runs a prerequisite
        result = gate(repo)
    out, err = capfd.readouterr()
    assert out == "" and "1 passed" in err  # named directly, it writes to stdout (tests/test_tasks.py)
    assert result.ran and result.key == gate_key(repo, list(unit_tests.UNIT_SELECTION)).digest
    assert runs(tmp_path / "runs") == 1 and recorded(repo) == [result.key]


@pytest.mark.process
def test_the_tests_scratch_is_in_memory_unless_the_caller_chose_tmpdir(repo, tmp_path, monkeypatch):
    scratch = unit_tests.scratch_dir({})
    monkeypatch.delenv("TMPDIR", raising=False)
    monkeypatch.setenv("GATE_TMPDIR", str(tmp_path / "tmpdir"))  # the tiny test writes where its temp goes
    gate(repo)
    assert (tmp_path / "tmpdir").read_text() == (scratch or "")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    gate(repo)
    assert (tmp_path / "tmpdir").read_text() == str(tmp_path)


def test_scratch_goes_to_memory_only_where_it_is_writable_with_room(tmp_path, monkeypatch):
    assert unit_tests.scratch_dir({}, memory=tmp_path) == str(tmp_path)
    assert unit_tests.scratch_dir({"TMPDIR": "/elsewhere"}, memory=tmp_path) is None  # the caller's choice
    assert unit_tests.scratch_dir({}, memory=tmp_path / "missing") is None
    monkeypatch.setattr(unit_tests, "SCRATCH_ROOM", 1 << 62)  # more room than any disk has
    assert unit_tests.scratch_dir({}, memory=tmp_path) is None


@pytest.mark.process
def test_failing_tests_fail_the_stage_and_are_not_remembered(repo, tmp_path, monkeypatch):
    monkeypatch.setenv("GATE_RED", "1")
    with pytest.raises(StageFailed, match=r"unit tests failed \(pytest exit 1\)"):
        gate(repo, reuse=True)
    assert runs(tmp_path / "runs") == 1 and not record_file(repo).exists()


def test_workers_follow_the_usable_cores(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert unit_tests.workers_wanted() == 2  # one per core
    assert unit_tests.pytest_command(["-m", "x"], 2)[-4:] == ["-n", "2", "--dist", "worksteal"]
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert unit_tests.workers_wanted() == 0
    assert "-n" not in unit_tests.pytest_command(["-m", "x"], 0)


@pytest.mark.process
def test_sigterm_to_the_stage_stops_pytest_and_records_nothing(repo, tmp_path):
    """A cancelled CI job: SIGTERM to the stage only. (Ctrl-C reaches pytest itself; see the fake above.)"""
    started = tmp_path / "started"
    (repo / "tests" / "test_tiny.py").write_text(
        textwrap.dedent(f"""
            import os, pathlib, time

            def test_slow():
                pathlib.Path({str(started)!r}).write_text(str(os.getpid()))
                time.sleep(30)
            """)
    )
    code = f"from pathlib import Path; from ghe_backup.delivery.gate import run_unit_tests; run_unit_tests(Path({str(repo)!r}), workers=0)"
    stage = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert started.exists(), "pytest never started"
        stage.send_signal(signal.SIGTERM)  # to the stage only, as a CI runner cancelling a job might
        assert stage.wait(timeout=20) != 0
    finally:
        stage.kill()
    assert not record_file(repo).exists()
    assert gone(int(started.read_text())), "the stage left pytest running"


def gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    return False


def test_outside_git_the_tests_always_run(tmp_path, monkeypatch, fake_pytest):
    plain = tmp_path / "plain"  # no .git here or above
    plain.mkdir()
    (plain / "test_tiny.py").write_text(TINY_TEST)
    lines = []
    assert gate(plain, lines, reuse=True).key is None and gate(plain, reuse=True).ran
    assert fake_pytest.runs == 2 and "passes are not remembered" in lines[0]
    assert not record_file(plain).exists()


# --- remembering passes (pytest replaced by a counter) ----------------------------------------


def test_a_pass_is_remembered_and_skipped_as_a_prerequisite_saying_so_with_the_hash(repo, fake_pytest):
    lines = []
    first = gate(repo, lines, reuse=True)
    assert lines[-1] == f"test: passed; recorded for inputs {first.key[:12]} (4 files)"
    again = gate(repo, lines, reuse=True)
    assert first.ran and not again.ran and again.key == first.key and fake_pytest.runs == 1
    assert lines[-1].startswith("test: skipped: these inputs passed at ") and f"hash {first.key[:12]}" in lines[-1]
    assert recorded(repo) == [first.key]


def test_named_directly_the_tests_run_even_after_a_pass(repo, fake_pytest):
    gate(repo)
    assert gate(repo).ran and gate(repo, reuse=False).ran and fake_pytest.runs == 3


def test_a_failed_run_is_never_remembered_and_runs_again(repo, fake_pytest):
    fake_pytest.fail = True
    for _ in range(2):
        with pytest.raises(StageFailed):
            gate(repo, reuse=True)
    assert fake_pytest.runs == 2 and not record_file(repo).exists()


def test_a_failure_after_a_change_keeps_the_earlier_pass_of_the_earlier_content(repo, fake_pytest):
    original = gate(repo, reuse=True).key
    (repo / "module.py").write_text("VALUE = 2\n")
    fake_pytest.fail = True
    with pytest.raises(StageFailed):
        gate(repo, reuse=True)
    assert recorded(repo) == [original]


def test_a_change_runs_the_tests_again_and_each_content_keeps_its_pass(repo, fake_pytest):
    original = gate(repo, reuse=True).key
    module = repo / "module.py"
    module.write_text("VALUE = 2\n")
    changed = gate(repo, reuse=True)
    assert changed.ran and changed.key != original
    module.write_text("VALUE = 1\n")  # back to what passed first (another branch, an undo)
    assert not gate(repo, reuse=True).ran
    assert fake_pytest.runs == 2 and recorded(repo) == sorted([original, changed.key])


def test_inputs_changed_while_the_tests_ran_are_not_remembered(repo, fake_pytest):
    fake_pytest.during = lambda root: (root / "module.py").write_text("VALUE = 3\n")
    lines = []
    assert gate(repo, lines, reuse=True).ran
    assert not record_file(repo).exists() and "inputs changed while the tests ran" in lines[-1]


def test_ctrl_c_during_the_run_records_nothing(repo, fake_pytest):
    def interrupted(root):
        raise KeyboardInterrupt

    fake_pytest.during = interrupted
    with pytest.raises(KeyboardInterrupt):
        gate(repo, reuse=True)
    assert not record_file(repo).exists()


def test_a_hand_edited_or_torn_record_is_no_pass(repo, fake_pytest):
    key = gate(repo).key
    record_file(repo).write_text(json.dumps({"passes": {key: {"at": "x"}}}))
    assert gate(repo, reuse=True).ran
    record_file(repo).write_text("not json")
    assert gate(repo, reuse=True).ran and fake_pytest.runs == 3


def test_only_the_newest_passes_are_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(passes, "KEEP", 3)
    for n in range(5):
        passes.record_pass(tmp_path, f"k{n}", seconds=1.0, files=1, selection=["-m", "x"])
    data = json.loads((tmp_path / passes.STATE_FILE).read_text())["passes"]
    assert sorted(data) == ["k2", "k3", "k4"]
    assert passes.passed_before(tmp_path, "k4").selection == ["-m", "x"]
    assert passes.passed_before(tmp_path, "k0") is None


def test_the_checks_a_deploy_deferred_run_before_the_tests_and_stop_them(repo, fake_pytest):
    from ghe_backup.errors import ConfigError
    from ghe_backup.plumbing import deferred

    deferred.reset()
    deferred.defer(lambda: (_ for _ in ()).throw(ConfigError("prod: Lizzy refused the token (401)")))
    try:
        with pytest.raises(ConfigError, match="refused the token"):
            gate(repo)
        assert fake_pytest.runs == 0 and not record_file(repo).exists()
    finally:
        deferred.reset()


def test_a_remembered_pass_leaves_the_deferred_checks_pending(repo, fake_pytest):
    from ghe_backup.plumbing import deferred

    gate(repo)
    deferred.reset()
    deferred.defer(lambda: None)
    try:
        result = gate(repo, reuse=True)
        assert not result.ran and deferred.pending()
    finally:
        deferred.reset()
