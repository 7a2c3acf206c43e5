"""The test stage (the pipeline's gate): the fast unit tests, run before anything is built.

Entry point: ``run_unit_tests(root, reuse=...)``. Modules: ``inputs`` (the hash of what the tests
read), ``passes`` (``.state/test-passes.json``), ``unit_tests`` (the stage).
"""

from ghe_backup.delivery.gate.unit_tests import GateResult, run_unit_tests

__all__ = ["GateResult", "run_unit_tests"]
