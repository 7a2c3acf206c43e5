"""The one runner of external programs: typed errors, redaction, timeouts."""

from __future__ import annotations

import sys
import time

import pytest

from ghe_backup.errors import ExitCode
from ghe_backup.plumbing.command import CommandFailed, CommandMissing, CommandTimedOut, run, spawn


def test_output_is_captured_and_secrets_redacted():
    result = run([sys.executable, "-c", "print('token=s3cr3t-value ok')"], timeout=30, secrets=["s3cr3t-value"])
    assert result.returncode == 0 and result.stdout == "token=<redacted> ok\n"


def test_a_failure_names_the_program_its_exit_code_and_last_line():
    with pytest.raises(CommandFailed) as err:
        run(
            [sys.executable, "-c", "import sys; print('first'); print('the reason s3cr3t'); sys.exit(3)"],
            what="tool",
            timeout=30,
            secrets=["s3cr3t"],
        )
    assert err.value.exit_code == ExitCode.FAILED and err.value.returncode == 3
    assert str(err.value) == "tool failed (exit 3): the reason <redacted>"


def test_the_command_is_echoed_redacted():
    lines = []
    run([sys.executable, "-c", "pass", "--password=hunter22"], timeout=30, secrets=["hunter22"], echo=lines.append)
    assert lines == [f"$ {sys.executable} -c pass --password=<redacted>"]


def test_a_hung_program_is_stopped_at_its_timeout():
    started = time.monotonic()
    with pytest.raises(CommandTimedOut) as err:
        run([sys.executable, "-c", "import time; time.sleep(30)"], what="sleeper", timeout=0.2)
    assert time.monotonic() - started < 10
    assert str(err.value) == "sleeper did not finish within 0.2s (it was stopped)"
    assert err.value.exit_code == ExitCode.FAILED


def test_a_missing_program_is_unreachable():
    with pytest.raises(CommandMissing) as err:
        run(["/no/such/program-xyz"], what="xyz", timeout=5)
    assert err.value.exit_code == ExitCode.UNREACHABLE and "'/no/such/program-xyz' is not installed" in str(err.value)


def test_check_false_returns_the_failure():
    assert run([sys.executable, "-c", "import sys; sys.exit(4)"], timeout=30, check=False).returncode == 4


def test_spawned_servers_log_to_their_file(tmp_path):
    import os
    import signal

    log = tmp_path / "logs" / "server.log"
    pid = spawn([sys.executable, "-c", "import time; print('serving', flush=True); time.sleep(30)"], log_path=log)
    try:
        assert os.getsid(pid) == pid  # its own session: a Ctrl-C in our terminal does not reach it
        deadline = time.monotonic() + 10
        while not (log.exists() and log.read_text()) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        os.kill(pid, signal.SIGKILL)  # a server runs until stopped; no need to wait for its sleep
        os.waitpid(pid, 0)
    assert log.read_text() == "serving\n"
