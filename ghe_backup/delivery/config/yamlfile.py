"""Load YAML files safely, remembering the line each key came from.

Reading is bounded, so no input hangs, exhausts memory or ends in a traceback:

- only small regular UTF-8 files are read (``plumbing.textfile``: a FIFO, a device such as
  ``/dev/zero`` or a directory is refused from its ``stat``, before any read);
- a document may nest at most ``MAX_DEPTH`` levels and expand to at most ``MAX_NODES`` nodes,
  counting every use of an alias: a "billion laughs" file is refused after composing, before
  anything walks the expanded tree;
- keys are names: a key must be a string (whole numbers only in mappings the caller names, such
  as Taupage's ``ports``); a key given twice in one mapping is an error (YAML keeps the last);
- only YAML's safe types are constructed: a tag such as ``!!python/object`` is an error naming the
  file and line, never an object.

Parsing uses libyaml's events where PyYAML has it (eight times faster than the pure-Python
scanner), composed by PyYAML's composer with the checks above. A document libyaml refuses is
read again by the pure-Python loader, whose messages name the problem more exactly (the
character a tab is, the alias that is undefined): good files go fast, bad ones say the same. A
text with a tab, a byte-order mark after its start or a character YAML forbids goes to the pure-Python
loader at once (libyaml reads the first two differently).
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ghe_backup.errors import ConfigError
from ghe_backup.plumbing.memo import Kept
from ghe_backup.plumbing.textfile import display_path, read_text

__all__ = ["MAX_DEPTH", "MAX_NODES", "YamlDocument", "display_path", "load_yaml", "parse_yaml"]
KeyPath = tuple[str, ...]

MAX_DEPTH = 32  # the deepest config path is about 10 levels
MAX_NODES = 20_000  # every value, counting each use of an alias; the shipped tree has about 200

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_MERGE = "tag:yaml.org,2002:merge"
_KEY_KINDS = {
    "tag:yaml.org,2002:bool": "a boolean",
    "tag:yaml.org,2002:null": "empty (null)",
    "tag:yaml.org,2002:float": "a number",
    _INT: "a number",
    "tag:yaml.org,2002:timestamp": "a date",
    "tag:yaml.org,2002:binary": "binary data",
}


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

    @property
    def empty(self) -> bool:
        """No document at all (an empty file, or comments only)."""
        return self.data is None


def load_yaml(path: Path, *, number_keys_under: Iterable[str] = ()) -> YamlDocument:
    """Read and parse one YAML file within the limits above.

    ``number_keys_under`` names the mappings whose keys may be whole numbers (``ports``).
    """
    return parse_yaml(read_text(path), path, number_keys_under=number_keys_under)


#: Documents parsed in this process, by text (a run reads the same files more than once, and the
#: tests read the same fixture files hundreds of times). Only good documents are kept; each caller
#: gets its own copy.
_PARSED: Kept[tuple[str, frozenset[str]], tuple[Any, dict[KeyPath, int]]] = Kept(256)


def parse_yaml(text: str, path: Path, *, number_keys_under: Iterable[str] = ()) -> YamlDocument:
    key = (text, frozenset(number_keys_under))
    found = _PARSED.get(key)
    if found is None:
        document = _parse_yaml(text, path, key[1])
        found = _PARSED.keep(key, (_copy(document.data), document.lines))
    return YamlDocument(path=path, data=_copy(found[0]), lines=dict(found[1]))


def _copy(value: Any) -> Any:
    """A deep copy of what the safe loader makes: dicts, lists and immutable scalars are copied
    here (``copy.deepcopy`` took more time than parsing), anything else by ``copy.deepcopy``.
    Values an alias shares are copied apart (their count is bounded by ``MAX_NODES``)."""
    kind = type(value)
    if kind is dict:
        return {k: _copy(v) for k, v in value.items()}
    if kind is list:
        return [_copy(v) for v in value]
    if kind in _IMMUTABLE:
        return value
    return copy.deepcopy(value)


_IMMUTABLE = frozenset({str, int, float, bool, type(None), bytes, dt.date, dt.datetime})


def _parse_yaml(text: str, path: Path, number_keys_under: frozenset[str]) -> YamlDocument:
    where = display_path(path)
    if (
        _FastLoader is not None
        and "\t" not in text
        and "\ufeff" not in text[1:]
        and not yaml.reader.Reader.NON_PRINTABLE.search(text)
    ):
        fast = _FastLoader(text, where)
        try:
            return _document(fast, path, number_keys_under)
        except yaml.YAMLError as err:
            # libyaml refused it: the pure-Python loader below names the problem more exactly, except
            # a value nested a thousand levels deep on one line (libyaml's limit), refused here: the
            # pure-Python scanner would look ahead a thousand levels too, in quadratic time (0.15 s)
            if getattr(err, "problem", None) == "exceeded maximum nesting depth" and err.problem_mark:
                raise _too_deep(where, err.problem_mark) from None
        finally:
            fast.dispose()
    loader = None
    try:
        loader = _Loader(text, where)  # the reader checks every character here
        return _document(loader, path, number_keys_under)
    except ConfigError:
        raise
    except yaml.constructor.ConstructorError as err:
        raise _constructor_error(where, err) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else "?"
        problem = err.problem or err.context or "malformed YAML"
        if err.context == "expected a single document in the stream":
            problem = "a second YAML document ('---'); a config file holds one"
        hint = "indent with spaces, not tabs" if "'\\t'" in problem else "fix the YAML syntax"
        raise ConfigError(f"{where}:{line}: malformed YAML: {problem}", hint=hint) from None
    except yaml.reader.ReaderError as err:
        line = text[: err.position].count("\n") + 1
        code = err.character if isinstance(err.character, int) else ord(str(err.character)[:1] or "?")
        raise ConfigError(
            f"{where}:{line}: control character #x{code:04x} is not allowed in YAML", hint="remove it"
        ) from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{where}: malformed YAML: {type(err).__name__}") from None
    finally:
        if loader is not None:
            loader.dispose()


def _document(loader: Any, path: Path, number_keys_under: frozenset[str]) -> YamlDocument:
    node = loader.get_single_node()
    lines: dict[KeyPath, int] = {}
    data = None
    if node is not None:
        _Check(loader, number_keys_under).document(node)
        _collect_lines(node, (), lines)
        data = loader.construct_document(node)
    return YamlDocument(path=path, data=data, lines=lines)


def _too_deep(where: str, mark: Any) -> ConfigError:
    return ConfigError(
        f"{where}:{mark.line + 1}: nested more than {MAX_DEPTH} levels deep", hint="config files are a few levels deep"
    )


class _DepthLimited:
    """Refuses to compose deeper than ``MAX_DEPTH`` (PyYAML's composer recurses)."""

    where: str
    _depth: int

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _too_deep(self.where, self.peek_event().start_mark)
            return super().compose_node(parent, index)  # type: ignore[misc]
        finally:
            self._depth -= 1


class _Loader(_DepthLimited, yaml.SafeLoader):
    """PyYAML's safe loader, all in Python."""

    def __init__(self, text: str, where: str):
        yaml.SafeLoader.__init__(self, text)
        self.where, self._depth = where, 0


def _fast_loader() -> type | None:
    """The safe loader on libyaml's events (its C parser, PyYAML's composer and constructor)."""
    try:
        from yaml._yaml import CParser
    except ImportError:  # PyYAML built without libyaml
        return None

    class FastLoader(
        _DepthLimited, yaml.composer.Composer, CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver
    ):
        def __init__(self, text: str, where: str):
            CParser.__init__(self, text)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
            yaml.composer.Composer.__init__(self)
            self.where, self._depth = where, 0

    return FastLoader


_FastLoader = _fast_loader()


class _Check:
    """One pass over the composed node graph: expanded size and depth, keys, duplicates."""

    def __init__(self, loader: _Loader, number_keys_under: frozenset[str]):
        self.loader, self.where, self.number_keys_under = loader, loader.where, number_keys_under
        self.measured: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded nodes, height)
        self.open: set[int] = set()

    def document(self, node: yaml.Node) -> None:
        size, _ = self.measure(node, 1, ())
        if size > MAX_NODES:
            raise ConfigError(
                f"{self.where}: expands to more than {MAX_NODES} values (aliases used many times over)",
                hint="use fewer aliases; config files hold a few hundred values",
            )

    def measure(self, node: yaml.Node, depth: int, path: KeyPath) -> tuple[int, int]:
        """(expanded size, height) of ``node`` reached at ``depth``; refuses what exceeds the limits."""
        key = id(node)
        if key in self.open:
            raise ConfigError(
                f"{self.where}:{node.start_mark.line + 1}: an alias refers to a value that contains it",
                hint="recursive structures are not config",
            )
        known = self.measured.get(key)
        if known is None:
            self.open.add(key)
            try:
                known = self._measure_children(node, depth, path)
            finally:
                self.open.discard(key)
            self.measured[key] = known
        size, height = known
        if depth + height - 1 > MAX_DEPTH:
            raise ConfigError(
                f"{self.where}:{node.start_mark.line + 1}: nested more than {MAX_DEPTH} levels deep (through aliases)",
                hint="config files are a few levels deep",
            )
        if size > MAX_NODES:
            raise ConfigError(
                f"{self.where}:{node.start_mark.line + 1}: expands to more than {MAX_NODES} values "
                "(aliases used many times over)",
                hint="use fewer aliases; config files hold a few hundred values",
            )
        return known

    def _measure_children(self, node: yaml.Node, depth: int, path: KeyPath) -> tuple[int, int]:
        if depth > MAX_DEPTH:
            raise ConfigError(
                f"{self.where}:{node.start_mark.line + 1}: nested more than {MAX_DEPTH} levels deep",
                hint="config files are a few levels deep",
            )
        if isinstance(node, yaml.SequenceNode):
            children = [(item, (*path, str(i))) for i, item in enumerate(node.value)]
        elif isinstance(node, yaml.MappingNode):
            children = []
            for key_node, value_node in self.keys(node, path):
                children.append((value_node, (*path, str(key_node.value))))
        else:
            return 1, 1
        size, height = 1, 1
        for child, child_path in children:
            child_size, child_height = self.measure(child, depth + 1, child_path)
            size, height = size + child_size, max(height, child_height + 1)
            if size > MAX_NODES:  # stop adding early: sizes of a bomb grow exponentially
                break
        return size, height

    def keys(self, node: yaml.MappingNode, path: KeyPath) -> list[tuple[yaml.Node, yaml.Node]]:
        """The mapping's (key, value) node pairs, once each key is known to be a name given once."""
        numbers_allowed = bool(path) and path[-1] in self.number_keys_under
        seen: dict[tuple[str, str], int] = {}
        for key_node, _ in node.value:
            line = key_node.start_mark.line + 1
            here = ".".join(path)
            if not isinstance(key_node, yaml.ScalarNode):
                kind = "a mapping" if isinstance(key_node, yaml.MappingNode) else "a list"
                raise ConfigError(
                    f"{self.where}:{line}: {here + ': ' if here else ''}a key is {kind}, not a name",
                    hint="keys are plain names; a '?' starts a complex key",
                )
            tag = key_node.tag
            if tag not in (_STR, _MERGE) and not (tag == _INT and numbers_allowed):
                kind = _KEY_KINDS.get(tag, "not a plain name")
                shown = key_node.value if len(key_node.value) <= 20 else key_node.value[:20] + "..."
                fix = f'quote it ("{shown}":) if it is meant as a name' if key_node.value else "give the key a name"
                raise ConfigError(
                    f"{self.where}:{line}: {here + ': ' if here else ''}key {shown or '(empty)'} is {kind}, not a name",
                    hint=fix,
                )
            identity = (tag, str(self.loader.construct_yaml_int(key_node)) if tag == _INT else key_node.value)
            if identity in seen:
                shown = ".".join((*path, key_node.value))
                raise ConfigError(
                    f"{self.where}:{line}: {shown}: duplicate key (first given on line {seen[identity]})",
                    hint="remove one of them; YAML would silently keep the last",
                )
            seen[identity] = line
        return node.value


def _constructor_error(where: str, err: yaml.constructor.ConstructorError) -> ConfigError:
    line = err.problem_mark.line + 1 if err.problem_mark else "?"
    problem = err.problem or ""
    if "could not determine a constructor for the tag" in problem and "'" in problem:
        tag = problem.split("'")[1]
        return ConfigError(
            f"{where}:{line}: YAML tag {tag} is not allowed",
            hint="config may only hold plain mappings, lists, strings, numbers and booleans",
        )
    return ConfigError(f"{where}:{line}: {problem or 'cannot read this value'}", hint="fix the YAML")


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
