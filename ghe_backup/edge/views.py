"""How each result reads as tables: one function per result type, used by ``render.show``.

Views only arrange values; they never compute, read or shorten them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ghe_backup.delivery.deploy.freshness import days_old
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


def _ami(age: Any) -> str:
    if age is None:
        return "-"
    text = f"{age.name} ({age.id})"
    if age.age_days is not None:
        text += f", {days_old(age.age_days)}"
    if age.deprecation:
        text += f", expires {age.deprecation[:10]}"
    return text


def status(found: list[Any]) -> list[Table]:
    tables = []
    for s in found:
        title = f"{s.account} ({s.account_id}, {s.region}){' [sandbox]' if s.sandbox else ''}"
        rows = [
            (
                st.name,
                st.status,
                st.image_tag,
                st.tags.get("ghe-backup:image-digest"),
                f"{s.running_ami_names.get(st.ami) or '?'} ({st.ami})",
                st.instance_type,
                st.created,
                st.tags.get("ghe-backup:deployed-by"),
            )
            for st in s.stacks
        ]
        notes = []
        if not s.stacks:
            notes.append(f"{s.account}: no ghe-backup stack is running")
        if s.running_ami is not None:
            notes.append(f"{s.account}: AMI {_ami(s.running_ami)}")
        newest = s.newest_taupage
        if s.newer_taupage_available and newest:
            notes.append(f"{s.account}: a newer Taupage AMI is available: {_ami(s.newest_ami)}")
        elif newest and s.running is not None:
            notes.append(f"{s.account}: running the newest Taupage AMI ({newest['name']})")
        backup = s.backup or {}
        if backup:
            running = {
                "running": " (a backup is running)",
                "dead": f" (a run marked running since {backup.get('run_started') or '?'} has been silent too long: "
                "its container is gone, deploys do not wait for it)",
            }.get(s.backup_run, "")
            notes.append(
                f"{s.account}: last good backup {backup.get('last_good_snapshot') or 'none yet'}; "
                f"last run {backup.get('last_result') or '?'}{running}"
            )
        if s.lock is not None and s.lock.held and s.lock.holder is not None:
            state = "STALE deploy lock" if s.lock.stale else "deploy lock"
            notes.append(f"{s.account}: {state} held by {s.lock.holder.describe()}")
        for reason in s.attention:
            notes.append(f"{s.account}: attention: {reason}")
        columns = ("stack", "status", "image", "digest", "AMI", "instance", "created", "by")
        tables.append(Table(columns, rows, title=title, notes=notes))
    return tables


def locks(found: list[Any]) -> list[Table]:
    rows = []
    for status in found:
        holder = status.holder
        if holder is None:
            rows.append((status.account, "free", "-", "-", "-", "-"))
            continue
        state = ("stale" if status.stale else "held") if status.held else "released"
        where = f"{holder.host} (pid {holder.pid})" + (f" {holder.ci_url}" if holder.ci_url else "")
        what = holder.operation + (f": {holder.reason}" if holder.reason else "")
        rows.append((status.account, state, holder.user, where, what, holder.since))
    return [Table(("account", "lock", "holder", "where", "for", "since (UTC)"), rows)]


def history(entries: list[dict[str, Any]]) -> list[Table]:
    rows = [
        (
            str(e.get("time", ""))[:19].replace("T", " "),
            e.get("user"),
            str(e.get("account", "")) + (" (sandbox)" if e.get("sandbox") else ""),
            e.get("operation", "deploy"),
            e.get("stack_version"),
            e.get("image_tag"),
            e.get("ami"),
            e.get("result"),
            f"{e.get('duration', 0):.0f}s",
            "yes" if can_roll_back_to(e) else "",
            e.get("left") or e.get("reason"),
        )
        for e in entries
    ]
    columns = (
        "time (UTC)",
        "user",
        "account",
        "what",
        "stack version",
        "image",
        "AMI",
        "result",
        "took",
        "rollback target",
        "reason / left",
    )
    return [Table(columns, rows, notes=["rollback: inv rollback --account=NAME --to=STACK_VERSION"] if rows else [])]


def can_roll_back_to(entry: dict[str, Any]) -> bool:
    """A version that ran (deployed, rolled back to or refreshed successfully) with its image and AMI known."""
    return entry.get("result") == "succeeded" and bool(
        entry.get("stack_version") and entry.get("image_tag") and entry.get("ami")
    )


def sandbox(current: dict[str, Any]) -> list[Table]:
    rows = [(name, "up" if ok else "down") for name, ok in current.get("components", {}).items()]
    notes = [f"registry[{account}] {address}" for account, address in current.get("registries", {}).items()]
    notes += [f"{key:<13} {current[key]}" for key in ("aws_endpoint", "token_env") if current.get(key)]
    notes += [f"lizzy[{account}] {url}" for account, url in current.get("lizzy", {}).items()]
    return [Table(("component", "state"), rows, title="sandbox", notes=notes)]


def plans(found: list[Any]) -> list[Table]:
    tables = []
    for p in found:
        run = p.running
        title = f"{p.account} ({p.account_id}, {p.region}){' [sandbox]' if p.sandbox else ''}: {p.operation}"
        verdict = "no change (up to date)" if p.no_op else "changes: " + ", ".join(p.changes or ["leftovers removed"])
        rows = [
            ("result", verdict),
            ("running stack", f"{run.stack} ({run.status}, deployed by {run.deployed_by or '?'})" if run else "none"),
            ("image", f"{run.image_tag if run else 'none'} -> {p.image_tag}"),
            ("digest", f"{(run.digest if run else None) or '-'} -> {p.image_digest or 'not pushed yet'}"),
            ("AMI", f"{_ami(run.ami) if run else 'none'} -> {_ami(p.ami)}"),
            ("definition", f"{(run.definition_hash if run else None) or '-'} -> {p.definition_hash}"),
            ("deletes", ", ".join(p.deletes) or "nothing"),
            ("approval", "required" if p.approval_needed else "not required"),
        ]
        notes = [f"{p.account}: leftover of an earlier run, removed first: {name}" for name in p.leftovers]
        tables.append(Table(("", ""), rows, title=title, notes=notes, block=p.diff, header=False))
    return tables


def pipeline(stages: list[Any]) -> list[Table]:
    rows = [
        (
            s.account + (" [sandbox]" if s.sandbox else ""),
            s.commit,
            s.image_tag,
            f"{s.ami} ({s.ami_age_days:.0f} days)" if s.ami and s.ami_age_days is not None else s.ami,
            (s.deployed_at or "")[:16].replace("T", " "),
            s.deployed_by,
            s.last_result,
            s.tree_tag,
            ("BEHIND: " + ", ".join(s.changes)) if s.behind else "up to date",
        )
        for s in stages
    ]
    columns = ("account", "commit", "image", "AMI", "deployed (UTC)", "by", "last result", "tree would deploy", "state")
    behind = [s.account for s in stages if s.behind]
    notes = [f"behind: {', '.join(behind)}" if behind else "every account runs what the tree would deploy"]
    return [Table(columns, rows, title="pipeline", notes=notes)]


def generated(states: list[Any]) -> list[Table]:
    """Generated CI files (``inv ci.github``, ``ci.jenkins``, ``ci.check``)."""
    return [Table(("file", "state", "written by"), [(s.path, s.state, f"inv {s.generator}") for s in states])]


def lint(results: list[Any]) -> list[Table]:
    """Linters over the CI files (``inv ci.lint``)."""
    rows = [
        (r.tool, r.version, ", ".join(r.files), "ok" if r.ok else "problems", f"{r.seconds:.1f} s") for r in results
    ]
    return [Table(("linter", "version", "files", "result", "took"), rows)]
