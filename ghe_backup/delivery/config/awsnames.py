"""AWS names that exist, from the data botocore ships (offline): regions and EC2 instance types.

Read lazily and once per process, and without importing botocore: the partitions file is 7 KB;
the EC2 model is 4 MB uncompressed, so only its ``InstanceType`` shape is decoded (about 10 ms).
When the data cannot be found (a botocore without it), names are not checked, never refused.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import json
import re
from pathlib import Path


@functools.cache
def _data_dir() -> Path | None:
    spec = importlib.util.find_spec("botocore")
    if spec is None or not spec.origin:
        return None
    folder = Path(spec.origin).parent / "data"
    return folder if folder.is_dir() else None


@functools.cache
def regions() -> frozenset[str] | None:
    """Every region of every partition (aws, aws-cn, aws-us-gov, ...), or None if unknown."""
    folder = _data_dir()
    try:
        partitions = json.loads((folder / "partitions.json").read_text())["partitions"] if folder else None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not partitions:
        return None
    return frozenset(name for partition in partitions for name in partition.get("regions", {}))


@functools.cache
def instance_types() -> frozenset[str] | None:
    """Every EC2 instance type of botocore's newest EC2 model, or None if unknown."""
    folder = _data_dir()
    versions = sorted((folder / "ec2").glob("*/service-2.json*")) if folder else []
    if not versions:
        return None
    path = versions[-1]
    try:
        raw = path.read_bytes()
        text = (gzip.decompress(raw) if path.suffix == ".gz" else raw).decode()
        return frozenset(_shape_enum(text, "InstanceType"))
    except (OSError, ValueError, KeyError, TypeError, EOFError):
        return None


def _shape_enum(text: str, shape: str) -> list[str]:
    """The ``enum`` of one shape of a service model, decoding only that shape when it can be found."""
    found = re.search(rf'"{shape}"\s*:\s*\{{\s*"type"\s*:\s*"string"\s*,\s*"enum"', text)
    if found:
        value, _ = json.JSONDecoder().raw_decode(text, found.start() + text[found.start() :].index("{"))
        return list(value["enum"])
    return list(json.loads(text)["shapes"][shape]["enum"])
