"""Turn result data into text for people or JSON for machines (a separate step from the work)."""

from __future__ import annotations

import dataclasses
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Any, Iterable, Sequence

from rich.console import Console
from rich.table import Table

#: Progress and messages for people go to stderr; results go to stdout.
console = Console(stderr=True, highlight=False, soft_wrap=True)


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


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(to_data(value), indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> None:
    table = Table(*columns, title=title, title_justify="left")
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    Console(highlight=False).print(table)


def info(message: str) -> None:
    console.print(message, markup=False)


def print_yaml(value: Any) -> None:
    import yaml

    sys.stdout.write(yaml.safe_dump(to_data(value), sort_keys=False, default_flow_style=False))
    sys.stdout.flush()


def print_origins(merged: Any, *, json: bool = False) -> None:
    """Every leaf of a merged definition with the file it came from."""
    from ghe_backup.delivery.merge import leaves
    from ghe_backup.delivery.secrets import redact_data

    rows = [
        (".".join(path), redact_data({path[-1]: value})[path[-1]] if path else value, source)
        for path, value, source in leaves(merged)
    ]
    if json:
        return print_json([{"key": k, "value": v, "source": s} for k, v, s in rows])
    print_table(("key", "value", "from"), rows)


def print_sandbox(current: dict[str, Any]) -> None:
    rows = [(name, "up" if ok else "down") for name, ok in current.get("components", {}).items()]
    print_table(("component", "state"), rows, title="sandbox")
    for key in ("registry", "aws_endpoint", "token_env"):
        if current.get(key):
            info(f"{key:<13} {current[key]}")
    for account, url in current.get("lizzy", {}).items():
        info(f"lizzy[{account}] {url}")
