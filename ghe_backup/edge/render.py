"""The one renderer: results (dataclasses) as tables for people, or as JSON for machines.

A view (``views``) turns a result into ``Table``s; this module prints them. On a terminal:
Rich tables, values folded rather than cut. Anywhere else (a pipe, a CI log): plain aligned
columns, every value whole whatever ``COLUMNS`` says, no box drawing, no markup. Values are never
read as markup (``[sandbox]`` stays ``[sandbox]``).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import IO, Any


@dataclass
class Table:
    columns: Sequence[str]
    rows: list[Sequence[Any]] = field(default_factory=list)
    title: str | None = None
    notes: list[str] = field(default_factory=list)  # lines after the table (part of the result)
    block: str = ""  # preformatted text after the notes (a diff): printed as it is
    block_kind: str = "diff"  # the fence's language in Markdown
    header: bool = True  # False for key/value tables


View = Callable[[Any], list[Table]]


def to_data(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_data(getattr(value, f.name)) for f in dataclasses.fields(value) if f.repr}
    if isinstance(value, dict):
        return {str(k): to_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_data(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    return value


def show(result: Any, view: View, *, json: bool = False, markdown: bool = False, out: IO[str] | None = None) -> Any:
    """Print ``result`` as JSON, as Markdown (CI job summaries) or through ``view``; returns it."""
    out = out or sys.stdout
    if json:
        print_json(result, out)
    elif markdown:
        out.write("\n".join(markdown_table(table) for table in view(result)))
        out.flush()
    else:
        for table in view(result):
            print_table(table, out)
    return result


def markdown_table(table: Table) -> str:
    """A GitHub-flavoured Markdown table (cells escaped), its notes as a list, its block fenced."""

    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")

    lines = [f"### {escape(table.title)}", ""] if table.title else []
    lines.append("| " + " | ".join(escape(str(c)) for c in table.columns) + " |")
    lines.append("|" + "---|" * len(table.columns))
    lines += ["| " + " | ".join(escape(cell(v)) for v in row) + " |" for row in table.rows]
    if table.notes:
        lines += [""] + [f"- {escape(note)}" for note in table.notes]
    if table.block:
        fence = "````" if "```" in table.block else "```"
        lines += ["", f"{fence}{table.block_kind}", table.block.rstrip("\n"), fence]
    return "\n".join(lines) + "\n"


def print_json(value: Any, out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    out.write(json.dumps(to_data(value), indent=2, sort_keys=False) + "\n")
    out.flush()


def print_yaml(value: Any, out: IO[str] | None = None) -> None:
    import yaml

    out = out or sys.stdout
    out.write(yaml.safe_dump(to_data(value), sort_keys=False, default_flow_style=False))
    out.flush()


def cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "-"
    return str(value)


def print_table(table: Table, out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    rows = [[cell(v) for v in row] for row in table.rows]
    if _is_terminal(out):
        _rich_table(table, rows, out)
    else:
        out.write(plain_table(table.columns, rows, table.title, header=table.header))
    for note in table.notes:
        out.write(note + "\n")
    if table.block:
        out.write(table.block if table.block.endswith("\n") else table.block + "\n")
    out.flush()


def plain_table(columns: Sequence[str], rows: list[list[str]], title: str | None = None, *, header: bool = True) -> str:
    """Aligned columns, two spaces apart, nothing cut; the last column is not padded."""
    shown = [list(map(str, columns))] if header else []
    widths = [max([len(r[i]) for r in shown + rows] or [0]) for i in range(len(columns))]
    lines = [title] if title else []
    for row in [*shown, *rows]:
        padded = [value.ljust(width) for value, width in zip(row[:-1], widths[:-1], strict=True)] + row[-1:]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines) + "\n"


def _is_terminal(out: IO[str]) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


def _rich_table(table: Table, rows: list[list[str]], out: IO[str]) -> None:
    from rich.console import Console
    from rich.table import Table as RichTable
    from rich.text import Text

    rich = RichTable(title=Text(table.title) if table.title else None, title_justify="left", show_header=table.header)
    for column in table.columns:
        rich.add_column(Text(str(column)), overflow="fold")
    for row in rows:
        rich.add_row(*(Text(value) for value in row))
    Console(file=out, highlight=False, markup=False, emoji=False).print(rich)
