"""Reading the engine's build stream (records as the engine sends them)."""

from __future__ import annotations

import pytest

from ghe_backup.delivery.image.buildlog import BuildLog
from ghe_backup.errors import ExitCode, StageFailed


def build_records(*texts: str) -> list[dict]:
    return [{"stream": t} for t in texts]


def test_build_log_counts_steps_and_cache_hits_and_keeps_the_image_id():
    said: list[str] = []
    log = BuildLog(say=said.append)
    for record in build_records(
        "Step 1/3 : FROM base\n",
        " ---> 1234\n",
        "Step 2/3 : COPY a b\n",
        " ---> Using cache\n",
        " ---> 5678\n",
        "Step 3/3 : LABEL x=y\n",
        " ---> Running in abc\n",
    ) + [{"aux": {"ID": "sha256:feed"}}, {"stream": "Successfully built feed\n"}]:
        log.feed(record)
    assert (log.steps, log.cached, log.rebuilt, log.image_id) == (3, 1, 1, "sha256:feed")
    assert said[0] == "Step 1/3 : FROM base" and "Successfully built feed" in said


def test_no_stage_s_from_counts_as_rebuilt_in_a_multi_stage_build():
    log = BuildLog()
    for record in build_records(
        "Step 1/6 : ARG BASE\n",
        "Step 2/6 : FROM base AS deps\n",
        " ---> 1234\n",
        "Step 3/6 : RUN pip install x\n",
        " ---> Using cache\n",
        "Step 4/6 : FROM base\n",
        " ---> 1234\n",  # a later stage's FROM: no "Using cache" either
        "Step 5/6 : COPY --from=deps /a /a\n",
        " ---> Using cache\n",
        "Step 6/6 : COPY app /app\n",
        " ---> Running in 9\n",
    ):
        log.feed(record)
    assert (log.steps, log.cached, log.preamble, log.rebuilt) == (6, 2, 3, 1)


def test_a_failed_run_step_is_named_with_its_error_and_last_output():
    log = BuildLog()
    for record in build_records(
        "Step 1/2 : FROM base\n", "Step 2/2 : RUN make\n", " ---> Running in 1\n", "make: *** no rule\n"
    ):
        log.feed(record)
    with pytest.raises(StageFailed) as err:
        log.feed(
            {
                "errorDetail": {"code": 2, "message": "The command '/bin/sh -c make' returned a non-zero code: 2"},
                "error": "The command '/bin/sh -c make' returned a non-zero code: 2",
            }
        )
    assert err.value.exit_code == ExitCode.FAILED
    assert "at Step 2/2 : RUN make: The command '/bin/sh -c make' returned a non-zero code: 2" in str(err.value)
    assert "make: *** no rule" in str(err.value)


def test_a_full_disk_during_a_build_says_so():
    log = BuildLog()
    log.feed({"stream": "Step 4/9 : COPY ghe_backup/ /opt/ghe-backup/ghe_backup/\n"})
    with pytest.raises(StageFailed, match=r"at Step 4/9 .*out of disk space: .*no space left on device"):
        log.feed({"error": "failed to copy files: write /var/lib/docker/overlay2/x/diff/a: no space left on device"})
