"""The architecture, checked: no import cycle anywhere, and data flows one way (edge -> stages -> plumbing).

Imports are read from the source (every ``import`` and ``from ... import``, at any depth, type-only
ones included), so a cycle hidden in a function body or under ``TYPE_CHECKING`` counts too.
"""

from __future__ import annotations

import ast
import functools
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "ghe_backup"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    found = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    found["tasks"] = REPO / "tasks.py"
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports (``from pkg import mod`` counts as importing ``pkg.mod``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def longest_known(dotted: str) -> str | None:
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(filter(None, (longest_known(alias.name) for alias in node.names)))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                found.update(filter(None, [longest_known(f"{base}.{alias.name}")]))
    found.discard(name)
    return found


@functools.cache  # read once per test process: the tests below only read it
def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(name, path, set(found)) for name, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_there_is_no_import_cycle_anywhere():
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


#: Who may not import whom: the pipeline never reaches into the sandbox or the edge, plumbing
#: serves everyone and imports none of them, the container program stands alone.
FORBIDDEN = {
    "ghe_backup.delivery": ("ghe_backup.sandbox", "ghe_backup.edge", "tasks"),
    "ghe_backup.plumbing": (
        "ghe_backup.delivery",
        "ghe_backup.sandbox",
        "ghe_backup.edge",
        "ghe_backup.backup",
        "tasks",
    ),
    "ghe_backup.backup": (
        "ghe_backup.delivery",
        "ghe_backup.sandbox",
        "ghe_backup.edge",
        "ghe_backup.plumbing",
        "tasks",
    ),
    "ghe_backup.sandbox": ("ghe_backup.edge", "tasks"),
    # CI generators are pipeline tooling: they read the accounts, never the sandbox or the edge
    "ghe_backup.ci": ("ghe_backup.sandbox", "ghe_backup.edge", "tasks"),
    "ghe_backup.errors": ("ghe_backup.",),
}


def test_data_flows_one_way():
    broken = []
    for name, targets in graph().items():
        for layer, forbidden in FORBIDDEN.items():
            if name == layer or name.startswith(layer + "."):
                broken += [f"{name} -> {t}" for t in targets if any(t == f or t.startswith(f) for f in forbidden)]
    assert broken == []


def test_the_pipeline_never_names_the_sandbox():
    found = subprocess.run(
        ["grep", "-rn", r"ghe_backup.sandbox\|from ghe_backup import sandbox", "ghe_backup/delivery"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert found.stdout == ""


def test_every_package_names_its_entry_points():
    for init in PACKAGE.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc, f"{init.relative_to(REPO)} has no docstring"


def test_ci_generators_read_only_the_account_config_of_the_pipeline():
    from_delivery = {
        target
        for name, targets in graph().items()
        if name.startswith("ghe_backup.ci")
        for target in targets
        if target.startswith("ghe_backup.delivery")
    }
    assert from_delivery and all(t.startswith("ghe_backup.delivery.config") for t in from_delivery)
