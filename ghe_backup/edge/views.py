"""How each result reads as tables: one function per result type, used by ``render.show``.

Views only arrange values; they never compute, read or shorten them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ghe_backup.edge.render import Table


@dataclass(frozen=True)
class AccountSummary:
    name: str
    account_id: str
    region: str
    deployer: str
    approval: bool


@dataclass(frozen=True)
class Origin:
    key: str
    value: Any
    source: str


def pushes(results: list[Any]) -> list[Table]:
    rows = [
        (
            r.account,
            f"{r.repository}:{r.tag}",
            r.digest,
            "already there" if r.skipped else f"{r.uploaded_bytes / 1e6:.1f} MB",
        )
        for r in results
    ]
    return [Table(("account", "image", "digest", "uploaded"), rows)]


def deploys(results: list[Any]) -> list[Table]:
    rows = [(r.account, r.stack, r.status, r.image, r.ami, r.replaced) for r in results]
    return [Table(("account", "stack", "status", "image", "AMI", "replaced"), rows)]


def accounts(summaries: list[AccountSummary]) -> list[Table]:
    rows = [(s.name, s.account_id, s.region, s.deployer, "required" if s.approval else "no") for s in summaries]
    return [Table(("account", "id", "region", "deployer", "approval"), rows)]


def origins(found: list[Origin]) -> list[Table]:
    return [Table(("key", "value", "from"), [(o.key, o.value, o.source) for o in found])]


def status(found: list[Any]) -> list[Table]:
    tables = []
    for s in found:
        title = f"{s.account} ({s.account_id}, {s.region}){' [sandbox]' if s.sandbox else ''}"
        rows = [
            (
                st.name,
                st.status,
                st.version,
                st.image_tag,
                f"{s.running_ami_names.get(st.ami) or '?'} ({st.ami})",
                st.instance_type,
                st.created,
            )
            for st in s.stacks
        ]
        notes = []
        if not s.stacks:
            notes.append(f"{s.account}: no ghe-backup stack is running")
        newest = s.newest_taupage
        if s.newer_taupage_available and newest:
            notes.append(
                f"{s.account}: a newer Taupage AMI is available: {newest['name']} ({newest['id']}); redeploy to use it"
            )
        elif newest and s.stacks:
            notes.append(f"{s.account}: running the newest Taupage AMI ({newest['name']})")
        tables.append(
            Table(("stack", "status", "version", "image", "AMI", "instance", "created"), rows, title=title, notes=notes)
        )
    return tables


def history(entries: list[dict[str, Any]]) -> list[Table]:
    rows = [
        (
            str(e.get("time", ""))[:19].replace("T", " "),
            e.get("user"),
            str(e.get("account", "")) + (" (sandbox)" if e.get("sandbox") else ""),
            e.get("deployer"),
            e.get("stack_version"),
            e.get("image_tag"),
            e.get("result"),
            f"{e.get('duration', 0):.0f}s",
            e.get("reason"),
        )
        for e in entries
    ]
    columns = ("time (UTC)", "user", "account", "deployer", "stack version", "image", "result", "took", "reason")
    return [Table(columns, rows)]


def sandbox(current: dict[str, Any]) -> list[Table]:
    rows = [(name, "up" if ok else "down") for name, ok in current.get("components", {}).items()]
    notes = [f"registry[{account}] {address}" for account, address in current.get("registries", {}).items()]
    notes += [f"{key:<13} {current[key]}" for key in ("aws_endpoint", "token_env") if current.get(key)]
    notes += [f"lizzy[{account}] {url}" for account, url in current.get("lizzy", {}).items()]
    return [Table(("component", "state"), rows, title="sandbox", notes=notes)]
