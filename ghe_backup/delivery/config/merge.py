"""Place overlays on the shared senza base: pure functions and one table of strategies.

Rules (documented in docs/config.md):
- mappings merge recursively;
- lists of single-key mappings named in ``STRATEGIES`` (``SenzaComponents``, ``Parameters``)
  merge by their key: an existing entry is merged, a new one is appended;
- every other list, and every scalar, is replaced;
- an explicit ``null`` removes the key.

The result remembers where each leaf value came from (its source label).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KeyPath = tuple[str, ...]

MERGE_BY_KEY = "merge-by-key"
#: Per-key merge strategies; keys not named here merge by type (mapping: recursive, else replace).
STRATEGIES: dict[str, str] = {
    "SenzaComponents": MERGE_BY_KEY,
    "Parameters": MERGE_BY_KEY,
}


class _Keyed(dict):
    """A list of single-key mappings, held as an ordered mapping while merging."""


@dataclass
class Merged:
    data: dict[str, Any]
    origins: dict[KeyPath, str] = field(default_factory=dict)

    def origin(self, *path: str) -> str | None:
        return self.origins.get(tuple(path))


def merge_layers(layers: list[tuple[str, dict[str, Any]]]) -> Merged:
    """Merge ``(source, mapping)`` layers in order; later layers win."""
    result: Any = {}
    origins: dict[KeyPath, str] = {}
    for source, data in layers:
        result = _merge(result, _to_internal(data or {}, None), source, (), origins)
    return Merged(data=_to_external(result), origins=origins)


def _to_internal(value: Any, key: str | None) -> Any:
    if isinstance(value, dict):
        return {k: _to_internal(v, k) for k, v in value.items()}
    if isinstance(value, list) and STRATEGIES.get(key or "") == MERGE_BY_KEY:
        keyed = _Keyed()
        for item in value:
            if not (isinstance(item, dict) and len(item) == 1):
                raise ValueError(f"{key} must be a list of single-key mappings")
            ((name, body),) = item.items()
            keyed[str(name)] = _to_internal(body, name)
        return keyed
    return value


def _to_external(value: Any) -> Any:
    if isinstance(value, _Keyed):
        return [{k: _to_external(v)} for k, v in value.items()]
    if isinstance(value, dict):
        return {k: _to_external(v) for k, v in value.items()}
    return value


def _merge(base: Any, patch: Any, source: str, path: KeyPath, origins: dict[KeyPath, str]) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict) and type(base) is type(patch):
        merged = type(base)(base)
        for key, value in patch.items():
            child = (*path, str(key))
            if value is None:
                merged.pop(key, None)
                _forget(origins, child)
            else:
                merged[key] = _merge(merged.get(key), value, source, child, origins)
        return merged
    _forget(origins, path)
    _record(patch, source, path, origins)
    return patch


def _record(value: Any, source: str, path: KeyPath, origins: dict[KeyPath, str]) -> None:
    if isinstance(value, dict) and value:
        for key, child in value.items():
            _record(child, source, (*path, str(key)), origins)
    else:
        origins[path] = source


def _forget(origins: dict[KeyPath, str], path: KeyPath) -> None:
    for known in [p for p in origins if p[: len(path)] == path]:
        del origins[known]


def leaves(merged: Merged) -> list[tuple[KeyPath, Any, str]]:
    """Every leaf value with its key path and origin, in document order."""
    out: list[tuple[KeyPath, Any, str]] = []

    def walk(value: Any, path: KeyPath) -> None:
        if isinstance(value, dict) and value:
            for key, child in value.items():
                walk(child, (*path, str(key)))
        elif isinstance(value, list) and value and STRATEGIES.get(path[-1] if path else "") == MERGE_BY_KEY:
            for item in value:
                ((name, body),) = item.items()
                walk(body, (*path, str(name)))
        else:
            out.append((path, value, merged.origins.get(path, "?")))

    walk(merged.data, ())
    return out


def logical_path(path: tuple[str, ...], data: Any) -> KeyPath:
    """Turn ``(..., "SenzaComponents", "1", "AppServer", ...)`` into ``(..., "SenzaComponents", "AppServer", ...)``.

    Entries of keyed lists are addressed by their key, as origins are recorded and as people
    read them; indexes of other lists stay.
    """
    out: list[str] = []
    node = data
    parts = list(path)
    while parts:
        part = parts.pop(0)
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            item = node[int(part)]
            if isinstance(item, dict) and len(item) == 1:
                ((name, body),) = item.items()
                out.append(str(name))
                if parts and parts[0] == str(name):
                    parts.pop(0)
                node = body
                continue
            out.append(part)
            node = item
        elif isinstance(node, dict):
            out.append(part)
            node = node.get(part, node.get(int(part)) if part.isdigit() else None)
        else:
            out.append(part)
            node = None
    return tuple(out)
