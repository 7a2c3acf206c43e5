"""Load YAML files safely, remembering the line each key came from.

Only YAML's safe types are ever constructed: a tag such as ``!!python/object`` is a
``ConfigError`` naming the file and line, never an object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ghe_backup.errors import ConfigError

KeyPath = tuple[str, ...]


@dataclass
class YamlDocument:
    path: Path
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, key_path: KeyPath) -> int | None:
        """The line of the key path, or of its nearest ancestor that has one."""
        for end in range(len(key_path), -1, -1):
            line = self.lines.get(tuple(key_path[:end]))
            if line is not None:
                return line
        return None


def display_path(path: Path) -> str:
    """A path as users should see it: relative to the working directory when possible."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_yaml(path: Path) -> YamlDocument:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{display_path(path)}: file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{display_path(path)}: cannot read: {err}") from None
    return parse_yaml(text, path)


def parse_yaml(text: str, path: Path) -> YamlDocument:
    where = display_path(path)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.constructor.ConstructorError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else "?"
        tag = (err.problem or "").split("'")[1] if "'" in (err.problem or "") else "tag"
        raise ConfigError(
            f"{where}:{line}: YAML tag {tag} is not allowed",
            hint="config may only hold plain mappings, lists, strings, numbers and booleans",
        ) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else "?"
        problem = err.problem or err.context or "malformed YAML"
        raise ConfigError(f"{where}:{line}: malformed YAML: {problem}", hint="fix the YAML syntax") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{where}: malformed YAML: {err}") from None
    lines: dict[KeyPath, int] = {}
    if node is not None:
        _collect_lines(node, (), lines)
    return YamlDocument(path=path, data=data, lines=lines)


def _collect_lines(node: yaml.Node, prefix: KeyPath, lines: dict[KeyPath, int]) -> None:
    lines.setdefault(prefix, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = (*prefix, str(key_node.value))
            lines[key] = key_node.start_mark.line + 1
            _collect_lines(value_node, key, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _collect_lines(item, (*prefix, str(index)), lines)
            # Lists of single-key mappings are addressed by their key ("AppServer").
            if isinstance(item, yaml.MappingNode) and len(item.value) == 1:
                name = str(item.value[0][0].value)
                _collect_lines(item.value[0][1], (*prefix, name), lines)
                lines[(*prefix, name)] = item.start_mark.line + 1
