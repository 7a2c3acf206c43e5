"""The test stage (the pipeline's gate): the fast unit tests, run before anything is built.

Entry point: ``run_unit_tests(root)``.
"""

from ghe_backup.delivery.gate.unit_tests import run_unit_tests

__all__ = ["run_unit_tests"]
