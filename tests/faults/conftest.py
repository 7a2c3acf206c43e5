"""The fault suite's runner: every selected scenario starts at once (tests/support/faults.py)."""

from __future__ import annotations

import pytest

from support.faults import Runner


@pytest.fixture(scope="session")
def faults(request, tmp_path_factory, sandbox_engine_registry):
    """Outcomes of the fault scenarios the selected tests name (``@pytest.mark.fault(NAME)``).

    The first test that asks starts the lanes of all of them (each lane in a private sandbox of
    its own, lanes at the same time); each test then waits for its scenario only. Run it without
    ``-n``: every xdist worker would start every lane of the tests it collected.
    """
    wanted = sorted({m.args[0] for item in request.session.items for m in item.iter_markers("fault")})
    runner = Runner(tmp_path_factory.mktemp("faults"), wanted)
    runner.start()
    try:
        yield runner
    finally:
        runner.close()
