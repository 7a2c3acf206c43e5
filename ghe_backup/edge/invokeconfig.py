"""Invoke's config files (``invoke.yaml``, ``~/.invoke.yaml``, ``/etc/invoke.yaml``, ``-f FILE``), read like ours.

Invoke reads them with ``open()`` and ``yaml.safe_load``: a FIFO hangs, ``/dev/zero`` exhausts
memory, a syntax error or a list where a mapping belongs ends in a traceback. ``PipelineConfig``
reads them through the config stage's safe YAML reader (regular files, bounded size, aliases and
depth, names as keys, no duplicates) and checks their shape against the known settings: Invoke's
own sections must stay mappings, and ``ghe:`` holds only the settings of ``edge.settings``. Every
problem is a ``ConfigError`` naming the file and line (exit 2 through ``edge.program``).
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any

from invoke import Config

from ghe_backup.delivery.config.yamlfile import YamlDocument, parse_yaml
from ghe_backup.edge.settings import DEFAULTS
from ghe_backup.errors import ConfigError
from ghe_backup.plumbing.redact import shown
from ghe_backup.plumbing.textfile import display_path, read_text


class PipelineConfig(Config):
    def _load_yaml(self, path: Any) -> Any:
        text = _read(path)
        doc = parse_yaml(text, Path(path))
        return check_shape(doc, self._known())

    _load_yml = _load_yaml

    def _load_json(self, path: Any) -> Any:
        text = _read(path)
        try:
            data = json.loads(text) if text.strip() else None
        except ValueError as err:
            raise ConfigError(
                f"{display_path(Path(path))}: malformed JSON: {err}", hint="fix the JSON syntax"
            ) from None
        return check_shape(YamlDocument(Path(path), data), self._known())

    def load_runtime(self, merge: bool = True) -> None:
        """``-f FILE`` (or ``INVOKE_RUNTIME_CONFIG``) names a file: Invoke skips a missing one silently."""
        path = getattr(self, "_runtime_path", None)
        if path and not os.path.lexists(os.path.expanduser(path)):
            raise ConfigError(f"-f {path}: file not found", hint="give an existing Invoke config file, or drop -f")
        super().load_runtime(merge=merge)

    def _known(self) -> dict[str, Any]:
        return {**self.global_defaults(), **DEFAULTS}


def _read(path: Any) -> str:
    if not os.path.lexists(path):  # Invoke looks for several names and skips the missing ones
        raise FileNotFoundError(2, "No such file or directory", str(path))
    return read_text(Path(path))


def check_shape(doc: YamlDocument, known: dict[str, Any]) -> dict[str, Any]:
    """The file's data, once its sections are mappings where Invoke's are and ``ghe:`` is ours."""
    where = display_path(doc.path)
    if doc.data is None:
        return {}
    if not isinstance(doc.data, dict):
        raise ConfigError(f"{where}: (top level): is not a mapping", hint="Invoke config is a mapping of sections")
    _check(doc, doc.data, known, ())
    return doc.data


def _check(doc: YamlDocument, data: dict[str, Any], known: dict[str, Any], path: tuple[str, ...]) -> None:
    for key, value in data.items():
        here = (*path, str(key))
        default = known.get(key)
        line = doc.line_of(here)
        place = f"{display_path(doc.path)}:{line}" if line else display_path(doc.path)
        if path[:1] == ("ghe",) and key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=1)
            fix = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(sorted(known))}"
            raise ConfigError(f"{place}: {'.'.join(here)}: unknown setting", hint=fix)
        if isinstance(default, dict):
            if value is None:
                continue
            if not isinstance(value, dict):
                raise ConfigError(
                    f"{place}: {'.'.join(here)}: expected a mapping, got {shown(value)}",
                    hint=f"write it as '{key}:' with indented settings under it",
                )
            _check(doc, value, default, here)
    if path == ("tasks",) and data.get("executor_class") is not None and not isinstance(data["executor_class"], str):
        raise ConfigError(
            f"{display_path(doc.path)}: tasks.executor_class: expected a dotted class name",
            hint="ghe_backup.edge.executor.PipelineExecutor",
        )
