"""What a deploy would change, without changing or building anything: ``inv plan``, the approval
prompt, and the check that an approved plan still holds when it is applied.

A plan reads the account (CloudFormation and its state table, with the account's own credentials;
no deployer, so no token) and compares the running version with what would be deployed: image tag
and digest, AMI (name, age, expiry), the rendered definition (a unified diff against the one
recorded for the running stack, secrets redacted), the stacks a deploy would delete. A saved plan
(``--out``) is applied later by ``inv deploy --plan FILE``, which refuses when the account moved on.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
from collections.abc import Callable
from dataclasses import MISSING as dataclasses_MISSING
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ghe_backup.delivery.deploy import steps
from ghe_backup.delivery.deploy.definition import DEPLOYER_TAG, DIGEST_TAG, HASH_TAG, dump, recall_definition
from ghe_backup.delivery.deploy.freshness import AmiAge, ami_age
from ghe_backup.delivery.deploy.guard import check_caller
from ghe_backup.delivery.deploy.steps import HEALTHY, Connection, ImageRef, Intent
from ghe_backup.delivery.target import Target
from ghe_backup.errors import Attention, ConfigError
from ghe_backup.plumbing.redact import redact_data

PLAN_FORMAT = 1


@dataclass
class Running:
    stack: str
    status: str
    image_tag: str | None
    digest: str | None
    ami: AmiAge | None
    definition_hash: str | None
    deployed_by: str | None
    created: str


@dataclass
class AccountPlan:
    account: str
    account_id: str
    region: str
    sandbox: bool
    deployer: str
    operation: str
    approval_needed: bool
    image_tag: str
    image_digest: str | None  # None: not pushed yet (the deploy pushes it first)
    repository: str
    ami: AmiAge | None
    definition_hash: str
    running: Running | None
    changes: list[str] = field(default_factory=list)  # "first deployment", "image", "AMI", "definition"
    deletes: list[str] = field(default_factory=list)  # stacks the deploy would delete (running and leftovers)
    leftovers: list[str] = field(default_factory=list)  # failed or half-made stacks of earlier runs
    diff: str = ""  # unified diff of the definition, running -> new (secrets redacted)
    no_op: bool = False

    @property
    def changed(self) -> bool:
        return not self.no_op


def plan_account(
    target: Target, intent: Intent | ImageRef, conn: Connection | None = None, now: dt.datetime | None = None
) -> AccountPlan:
    """Read the account and say what deploying ``intent`` would change (nothing is changed)."""
    conn = conn or steps.reader(target)
    intent = intent if isinstance(intent, Intent) else Intent(image=intent)
    now = now or dt.datetime.now(dt.UTC)
    check_caller(target, conn.account.caller_account())
    stacks = conn.account.list_stacks(target.stack_base)
    healthy = [s for s in stacks if s.status in HEALTHY]
    leftovers = [s.name for s in stacks if s.status not in HEALTHY]
    plan = steps.make_plan(target, intent, healthy, conn)
    running = plan.running
    ami = ami_age(conn.account.describe_ami(plan.ami["id"]) if plan.ami else None, now) if plan.ami else None
    found = AccountPlan(
        account=target.name,
        account_id=target.settings.account_id,
        region=target.settings.region,
        sandbox=target.sandbox,
        deployer=target.settings.deployer,
        operation=intent.operation,
        approval_needed=target.settings.approval,
        image_tag=intent.image.tag,
        image_digest=intent.image.digest,
        repository=intent.image.repository or target.repository,
        ami=ami,
        definition_hash=plan.definition_hash,
        running=_running(running, conn, now),
        leftovers=leftovers,
    )
    found.deletes = [*leftovers, *(s.name for s in healthy)]
    recorded = recall_definition(conn.store, target.state_dir, target.name, running.name) if running else None
    found.diff = definition_diff(recorded, plan.definition, running.name if running else None)
    found.changes = _changes(found, plan.definition_hash)
    found.no_op = plan.up_to_date and not leftovers
    if found.no_op:
        found.deletes = []
    return found


def _running(stack: Any, conn: Connection, now: dt.datetime) -> Running | None:
    if stack is None:
        return None
    return Running(
        stack=stack.name,
        status=stack.status,
        image_tag=stack.image_tag,
        digest=stack.tags.get(DIGEST_TAG),
        ami=ami_age(
            conn.account.describe_ami(stack.ami) or ({"id": stack.ami, "name": "?"} if stack.ami else None), now
        ),
        definition_hash=stack.tags.get(HASH_TAG),
        deployed_by=stack.tags.get(DEPLOYER_TAG),
        created=stack.created,
    )


def _changes(plan: AccountPlan, new_hash: str) -> list[str]:
    run = plan.running
    if run is None:
        return ["first deployment"]
    found = []
    if run.image_tag != plan.image_tag or (plan.image_digest and run.digest != plan.image_digest):
        found.append("image")
    if plan.ami and (run.ami is None or run.ami.id != plan.ami.id):
        found.append("AMI")
    if run.definition_hash != new_hash:
        found.append("definition")
    return found


def definition_diff(old: dict[str, Any] | None, new: dict[str, Any], running: str | None) -> str:
    """A unified diff of the definitions (secret values redacted); '' when equal."""
    if running is None:
        return ""
    before = dump(redact_data(old)).splitlines(keepends=True) if old is not None else []
    after = dump(redact_data(new)).splitlines(keepends=True)
    label = f"{running} (as deployed)" if old is not None else f"{running} (definition not recorded)"
    return "".join(difflib.unified_diff(before, after, fromfile=label, tofile="to deploy"))


def moved_on(approved: AccountPlan, fresh: AccountPlan) -> list[str]:
    """What changed in the account (or the image) since ``approved`` was made; [] when it still holds."""
    found = []
    was = approved.running.stack if approved.running else None
    now = fresh.running.stack if fresh.running else None
    if was != now:
        found.append(f"the running stack is {now or 'none'}, not {was or 'none'} (another deploy?)")
    if (approved.ami.id if approved.ami else None) != (fresh.ami.id if fresh.ami else None):
        found.append(
            f"the AMI would be {fresh.ami.name if fresh.ami else 'none'}, not {approved.ami.name if approved.ami else 'none'}"
        )
    if approved.image_tag != fresh.image_tag:
        found.append(f"the image is {fresh.image_tag}, not {approved.image_tag}")
    elif approved.image_digest and fresh.image_digest and approved.image_digest != fresh.image_digest:
        found.append(f"{fresh.image_tag} is now {fresh.image_digest}, not {approved.image_digest}")
    if approved.definition_hash != fresh.definition_hash:
        found.append("the definition changed (the config or the senza base)")
    return found


# -- saved plans -------------------------------------------------------------------------------------


def save(plans: list[AccountPlan], path: Path, *, revision: str | None) -> None:
    data = {
        "format": PLAN_FORMAT,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "revision": revision,
        "accounts": [asdict(p) for p in plans],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def load(path: Path) -> list[AccountPlan]:
    """A plan saved by ``inv plan --out``; one-line errors for anything else."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such plan file", hint="make one with: inv plan --account=NAME --out=FILE"
        ) from None
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise ConfigError(
            f"{path}: not a saved plan ({type(err).__name__})", hint="make one with inv plan --out"
        ) from None
    if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT or not isinstance(data.get("accounts"), list):
        raise ConfigError(f"{path}: not a saved plan of this version", hint="make one with inv plan --out")
    plans = []
    for index, item in enumerate(data["accounts"]):
        try:
            plans.append(_plan_from(item))
        except _WrongField as err:
            raise ConfigError(
                f"{path}: a saved plan with a missing or wrong field: accounts[{index}]{err}",
                hint="make a new one with inv plan --out",
            ) from None
    return plans


class _WrongField(Exception):
    """Where in a saved plan's account entry a field is missing, unknown or of the wrong type."""


#: The field types a saved plan holds (annotations as written in the dataclasses above).
_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "bool": (bool,),
    "str | None": (str, type(None)),
    "float | None": (int, float, type(None)),
    "list[str]": (list,),
}


def _typed(cls: type, item: Any, where: str, nested: dict[str, Callable[[Any, str], Any]]) -> Any:
    if not isinstance(item, dict):
        raise _WrongField(f"{where}: not a mapping")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(item) - set(known))
    if unknown:
        raise _WrongField(f"{where}.{unknown[0]}: not a field of this version")
    values = {}
    for name, spec in known.items():
        if name not in item:
            if spec.default is dataclasses_MISSING and spec.default_factory is dataclasses_MISSING:
                raise _WrongField(f"{where}.{name}: missing")
            continue
        value = item[name]
        if name in nested:
            values[name] = None if value is None else nested[name](value, f"{where}.{name}")
            continue
        allowed = _TYPES.get(str(spec.type), (object,))
        wrong = not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed)
        if not wrong and str(spec.type) == "list[str]":
            wrong = not all(isinstance(v, str) for v in value)
        if wrong:
            raise _WrongField(f"{where}.{name}: {type(value).__name__} is not {spec.type}")
        values[name] = value
    return cls(**values)


def _ami_from(item: Any, where: str) -> AmiAge:
    return _typed(AmiAge, item, where, {})


def _running_from(item: Any, where: str) -> Running:
    return _typed(Running, item, where, {"ami": _ami_from})


def _plan_from(item: Any) -> AccountPlan:
    return _typed(AccountPlan, item, "", {"ami": _ami_from, "running": _running_from})


def plan_accounts(
    targets: list[Target], image_of: Callable[[Target], ImageRef], *, operation: str = "deploy"
) -> list[AccountPlan]:
    return [plan_account(t, Intent(image=image_of(t), operation=operation)) for t in targets]


def require_no_change(found: list[AccountPlan]) -> list[AccountPlan]:
    """``inv plan --exit-code``: exit 5 (``Attention``) when a deploy would change anything."""
    changing = [f"{p.account} ({', '.join(p.changes) or 'leftovers'})" for p in found if p.changed]
    if changing:
        raise Attention(f"a deploy would change {', '.join(changing)}", hint="see the plan above")
    return found


def still_holds(approved: AccountPlan, plan: Any) -> list[str]:
    """What moved on between an approved plan and the deploy's own plan (a ``steps.Plan``)."""
    running = plan.running
    fresh = AccountPlan(
        account=approved.account,
        account_id=approved.account_id,
        region=approved.region,
        sandbox=approved.sandbox,
        deployer=approved.deployer,
        operation=plan.operation,
        approval_needed=approved.approval_needed,
        image_tag=plan.image.tag,
        image_digest=plan.image.digest,
        repository=plan.image_name.rsplit(":", 1)[0],
        ami=AmiAge(id=plan.ami["id"], name=plan.ami.get("name", "?"), created=None, age_days=None)
        if plan.ami
        else None,
        definition_hash=plan.definition_hash,
        running=Running(
            stack=running.name,
            status=running.status,
            image_tag=running.image_tag,
            digest=None,
            ami=None,
            definition_hash=None,
            deployed_by=None,
            created=running.created,
        )
        if running
        else None,
    )
    return moved_on(approved, fresh)
