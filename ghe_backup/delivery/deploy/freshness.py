"""Taupage freshness and backup freshness: when an account needs a refresh, or attention.

Taupage AMIs change often and expire; the account's policy (``pipeline.max_ami_age_days``,
``pipeline.refresh_days_before_expiry``) says when the running AMI is stale: older than the
maximum age, or retired by AWS (``DeprecationTime`` of the image) within the given days. Backups
are stale when the newest complete one (as the backup program records it in the account's state
table) is older than ``pipeline.max_backup_age_hours``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

DAY = 86400.0
_NAME_DATE = re.compile(r"(\d{8})-(\d{6})")


def days_old(age_days: float) -> str:
    """'0 days old', '1 day old', '12 days old' (rounded to whole days)."""
    days = int(round(age_days))
    return f"{days} day{'' if days == 1 else 's'} old"


@dataclass(frozen=True)
class AmiAge:
    id: str
    name: str
    created: str | None  # ISO-8601
    age_days: float | None
    deprecation: str | None = None  # when AWS retires it, if it says
    days_to_expiry: float | None = None


def _parse(when: str | None) -> dt.datetime | None:
    if not when:
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(when).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def ami_age(facts: dict[str, Any] | None, now: dt.datetime) -> AmiAge | None:
    """The age of an AMI from its creation date (else the date in a Taupage name) and its expiry."""
    if not facts:
        return None
    created = _parse(facts.get("created"))
    if created is None:
        match = _NAME_DATE.search(facts.get("name") or "")
        if match:
            created = dt.datetime.strptime("".join(match.groups()), "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
    expiry = _parse(facts.get("deprecation"))
    return AmiAge(
        id=facts["id"],
        name=facts.get("name") or "?",
        created=created.isoformat() if created else None,
        age_days=max(0.0, round((now - created).total_seconds() / DAY, 1)) if created else None,
        deprecation=expiry.isoformat() if expiry else None,
        days_to_expiry=round((expiry - now).total_seconds() / DAY, 1) if expiry else None,
    )


def ami_stale(running: AmiAge | None, settings: Any) -> list[str]:
    """Why the running AMI is stale by the account's policy ([] when it is fresh or nothing runs)."""
    if running is None:
        return []
    reasons = []
    if running.age_days is not None and running.age_days > settings.max_ami_age_days:
        reasons.append(f"AMI {running.name} is {days_old(running.age_days)} (max {settings.max_ami_age_days})")
    if running.days_to_expiry is not None and running.days_to_expiry <= settings.refresh_days_before_expiry:
        when = (running.deprecation or "")[:10]
        reasons.append(f"AMI {running.name} expires {when} (in {max(running.days_to_expiry, 0):.0f} days)")
    return reasons


def backup_stale(backup: dict[str, Any] | None, settings: Any, now: dt.datetime) -> list[str]:
    """Why the account's backups need attention ([] when the newest complete one is recent enough)."""
    if not backup:
        return ["no backup recorded yet"]
    last = _parse(backup.get("last_good_snapshot"))
    if last is None:
        return ["no complete backup recorded yet"]
    hours = (now - last).total_seconds() / 3600
    if hours > settings.max_backup_age_hours:
        return [f"the newest complete backup is {hours:.0f} hours old (max {settings.max_backup_age_hours})"]
    return []
