"""AWS names that exist, from the data botocore ships (offline): regions and EC2 instance types.

Read lazily and once per process, and without importing botocore: the partitions file is 7 KB;
the EC2 model is 4 MB uncompressed, so it is decompressed only up to its ``InstanceType`` shape,
and only that shape's list is decoded.
When the data cannot be found (a botocore without it), names are not checked, never refused.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import zlib
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
    try:
        return frozenset(shape_enum(versions[-1], "InstanceType"))
    except (OSError, ValueError, KeyError, TypeError, EOFError, zlib.error):
        return None


def shape_enum(path: Path, shape: str) -> list[str]:
    """The ``enum`` of one string shape of a service model (``service-2.json[.gz]``).

    The EC2 model is 4 MB; it is decompressed only as far as the shape, and only the shape's list
    is decoded. A model laid out otherwise is decoded in full.
    """
    start = re.compile(rb'"' + shape.encode() + rb'"\s*:\s*\{\s*"type"\s*:\s*"string"\s*,\s*"enum"\s*:\s*\[')
    raw = path.read_bytes()
    stream = zlib.decompressobj(16 + zlib.MAX_WBITS) if path.suffix == ".gz" else None
    text, searched, step = bytearray(), 0, 256 * 1024
    for offset in range(0, len(raw), step):
        text += stream.decompress(raw[offset : offset + step]) if stream else raw[offset : offset + step]
        found = start.search(text, max(0, searched - 200))  # a match may straddle two pieces
        end = text.find(b"]", found.end()) if found else -1
        if found and end >= 0:
            return list(json.loads(bytes(text[found.end() - 1 : end + 1])))
        searched = len(text)
    if stream:
        text += stream.flush()
    return list(json.loads(bytes(text))["shapes"][shape]["enum"])
