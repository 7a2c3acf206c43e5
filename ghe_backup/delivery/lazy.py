"""Import a module on first use, so `inv accounts` does not pay for boto3 and the Docker SDK.

Every `inv` call imports tasks.py; the stage modules it names pull in boto3 and docker
(about 1 s together). With the standard library's LazyLoader a module is executed only
when one of its attributes is first used.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(name)
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
