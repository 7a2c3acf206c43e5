"""ghe-backup's pipeline: test -> image -> push -> deploy[account], plus the local sandbox.

Each task parses its flags, loads config and calls one function in ``ghe_backup``.
Exit codes: 0 success, 1 a stage or deployment failed, 2 bad input or config,
3 infrastructure unreachable (see docs/operations.md).
"""

from invoke import Collection, task

from ghe_backup import sandbox
from ghe_backup.delivery import approval, render, testing
from ghe_backup.delivery import config as config_module
from ghe_backup.delivery.executor import preflight
from ghe_backup.delivery.lazy import lazy_module
from ghe_backup.delivery.secrets import redact_data
from ghe_backup.delivery.targets import check_history, check_targets, positive_int, resolve_targets, use_sandbox

# Stage modules load on first use (boto3 and the Docker SDK are slow to import).
image_module = lazy_module("ghe_backup.delivery.image")
push_module = lazy_module("ghe_backup.delivery.push")
deploy_module = lazy_module("ghe_backup.delivery.deploy")
stack_status = lazy_module("ghe_backup.delivery.stack_status")
history_module = lazy_module("ghe_backup.delivery.history")
sandbox_aws = lazy_module("ghe_backup.sandbox.aws")

ROOT = config_module.REPO_ROOT
ACCOUNT_HELP = "account name from config/accounts/ (repeat for several accounts)"
SANDBOX_HELP = "target the local sandbox instead of the real account (or set INVOKE_GHE_SANDBOX=1)"
JSON_HELP = "print the result as JSON"


@task
def test(c):
    """Run the fast unit tests: the pipeline's gate (no sandbox needed)."""
    testing.run_unit_tests(ROOT)


@task(pre=[test], help={"sandbox": "build on the sandbox's locally made base image"})
def image(c, sandbox=False):
    """Build the ghe-backup image, tagged by content, and smoke-test it."""
    image_module.build_image(ROOT, sandbox=use_sandbox(sandbox, c.config), config=c.config)


@preflight(check_targets)
@task(pre=[image], iterable=["account"], help={"account": ACCOUNT_HELP, "sandbox": SANDBOX_HELP, "json": JSON_HELP})
def push(c, account, sandbox=False, json=False):
    """Push the image to each account's registry (uploads only what changed)."""
    targets = resolve_targets(account, use_sandbox(sandbox, c.config), ROOT)
    results = push_module.push_image(ROOT, targets, config=c.config)
    render.print_json(results) if json else render.print_table(push_module.RESULT_COLUMNS, push_module.result_rows(results or []))


@preflight(approval.check_deploy)
@task(
    pre=[push],
    iterable=["account"],
    help={
        "account": ACCOUNT_HELP, "sandbox": SANDBOX_HELP, "json": JSON_HELP,
        "yes": "approve without asking (CI, after its own approval)",
    },
)
def deploy(c, account, sandbox=False, yes=False, json=False):
    """Deploy the pushed image to each account (test, image and push run first)."""
    targets = resolve_targets(account, use_sandbox(sandbox, c.config), ROOT)
    results = deploy_module.deploy_accounts(ROOT, targets, assume_yes=yes, config=c.config)
    render.print_json(results) if json else render.print_table(deploy_module.RESULT_COLUMNS, deploy_module.result_rows(results))


@task(help={"json": JSON_HELP})
def accounts(c, json=False):
    """List the configured accounts: name, id, region, deployer, approval."""
    settings = [a.settings for a in config_module.load_accounts(ROOT).values()]
    if json:
        return render.print_json([{k: getattr(s, k) for k in ("name", "account_id", "region", "deployer", "approval")} for s in settings])
    rows = [(s.name, s.account_id, s.region, s.deployer, "required" if s.approval else "no") for s in settings]
    render.print_table(("account", "id", "region", "deployer", "approval"), rows)


@task(name="config", help={"account": "account name", "origins": "show where each value came from", "json": JSON_HELP})
def show_config(c, account=None, origins=False, json=False):
    """Show the account's merged senza definition (secrets redacted)."""
    [target] = resolve_targets(account, False, ROOT)
    if origins:
        return render.print_origins(target.merged, json=json)
    definition = redact_data(target.definition)
    render.print_json(definition) if json else render.print_yaml(definition)


@preflight(check_targets)
@task(iterable=["account"], help={"account": ACCOUNT_HELP, "sandbox": SANDBOX_HELP, "json": JSON_HELP})
def status(c, account, sandbox=False, json=False):
    """Show the running ghe-backup stacks: status, version, image, AMI, newer Taupage."""
    targets = resolve_targets(account, use_sandbox(sandbox, c.config), ROOT)
    stack_status.show_status(ROOT, targets, as_json=json)


@preflight(check_history)
@task(help={"account": "account name (default: all)", "limit": "show only the last N attempts", "json": JSON_HELP})
def history(c, account=None, limit=None, json=False):
    """Show every deploy attempt: who, when, what, and how it ended."""
    history_module.show_history(ROOT, account, as_json=json, limit=positive_int(limit, "limit"))


@task(name="up")
def sandbox_up(c):
    """Start the local sandbox (engine, registry, emulated AWS accounts, Lizzy agents)."""
    render.print_sandbox(sandbox.up(ROOT))


@task(name="down")
def sandbox_down(c):
    """Stop what sandbox.up started (recorded pids); data and images are kept."""
    render.print_sandbox(sandbox.down(ROOT))


@task(name="status", help={"json": JSON_HELP})
def sandbox_status(c, json=False):
    """Show the sandbox's endpoints and which components run."""
    current = sandbox.status(ROOT)
    render.print_json(current) if json else render.print_sandbox(current)


@task(name="publish-taupage", help={"date": "AMI date as YYYYMMDD (default: the next staged one)"})
def sandbox_publish_taupage(c, date=None):
    """Publish a newer Taupage AMI in every sandbox account."""
    render.print_json(sandbox_aws.publish_taupage(ROOT, date=date))


ns = Collection(test, image, push, deploy, accounts, show_config, status, history)
ns.add_collection(Collection("sandbox", sandbox_up, sandbox_down, sandbox_status, sandbox_publish_taupage))
ns.configure({"ghe": {"sandbox": False}})
