"""ghe-backup's pipeline: test -> image -> push -> deploy[account], plus the local sandbox.

Each task resolves its flags into targets (``resolve``), calls one stage function and hands
the result to the renderer. Stage modules are imported inside the task bodies, so `inv --list`
and `inv accounts` do not pay for boto3 and the Docker SDK.
Exit codes: 0 success, 1 a stage or deployment failed, 2 bad input or config,
3 infrastructure unreachable (see docs/operations.md).
"""

from invoke import Collection, task

from ghe_backup.edge import checks, render, views
from ghe_backup.edge.executor import preflight, replaces_prerequisites
from ghe_backup.edge.settings import DEFAULTS
from ghe_backup.edge.targets import positive_int, resolve

ACCOUNT_HELP = "account name from config/accounts/ (repeat for several accounts)"
SANDBOX_HELP = "target the local sandbox instead of the real account (or set INVOKE_GHE_SANDBOX=1)"
JSON_HELP = "print the result as JSON"


@task(help={"reuse": "skip when these inputs (files, lock, Python, selection) passed before, as a prerequisite does"})
def test(c, reuse=False):
    """Run the fast unit tests on every core: the pipeline's gate (no sandbox needed)."""
    from ghe_backup.delivery.gate import run_unit_tests

    run_unit_tests(resolve(c.config).root, reuse=reuse)


@preflight(checks.build)
@task(pre=[test], help={"sandbox": "build on the sandbox's locally made base image"})
def image(c, sandbox=False):
    """Build the ghe-backup image, tagged by content, and smoke-test it."""
    from ghe_backup.delivery.image.build import build_image

    return build_image(resolve(c.config).build_site(sandbox))


@preflight(checks.targets)
@task(pre=[image], iterable=["account"], help={"account": ACCOUNT_HELP, "sandbox": SANDBOX_HELP, "json": JSON_HELP})
def push(c, account, sandbox=False, json=False):
    """Push the image to each account's registry (uploads only what changed)."""
    from ghe_backup.delivery.push.push import push_image

    return render.show(push_image(resolve(c.config).targets(account, sandbox)), views.pushes, json=json)


@preflight(checks.deploy)
@replaces_prerequisites("image")
@task(
    pre=[push],
    iterable=["account"],
    help={
        "account": ACCOUNT_HELP,
        "sandbox": SANDBOX_HELP,
        "json": JSON_HELP,
        "yes": "approve without asking (CI, after its own approval)",
        "image": "deploy this pushed tag, built once: no test, image or push; copied by digest from another "
        "account's registry if this account's lacks it",
    },
)
def deploy(c, account, sandbox=False, yes=False, json=False, image=None):
    """Deploy the pushed image to each account (test, image and push run first, unless --image)."""
    from ghe_backup.delivery.deploy.run import deploy_accounts
    from ghe_backup.edge.prompt import ask_approval

    found = resolve(c.config)
    targets = found.targets(account, sandbox)
    if image:
        from ghe_backup.delivery.push.promote import promote_image

        promote_image(targets, image, found.all_targets(sandbox))
    results = deploy_accounts(targets, ask=None if yes else ask_approval)
    return render.show(results, views.deploys, json=json)


@task(help={"json": JSON_HELP})
def accounts(c, json=False):
    """List the configured accounts: name, id, region, deployer, approval."""
    found = [
        views.AccountSummary(s.name, s.account_id, s.region, s.deployer, s.approval)
        for s in (a.settings for a in resolve(c.config).accounts.values())
    ]
    return render.show(found, views.accounts, json=json)


@preflight(checks.account_named)
@task(name="config", help={"account": "account name", "origins": "show where each value came from", "json": JSON_HELP})
def show_config(c, account=None, origins=False, json=False):
    """Show the account's merged senza definition (secrets redacted)."""
    from ghe_backup.delivery.config import leaves
    from ghe_backup.plumbing.redact import redact_data, redact_leaf

    [target] = resolve(c.config).targets(account, False)
    if origins:
        found = [
            views.Origin(".".join(path), redact_leaf(path, value), source)
            for path, value, source in leaves(target.account.merged)
        ]
        return render.show(found, views.origins, json=json)
    definition = redact_data(target.account.definition)
    return render.print_json(definition) if json else render.print_yaml(definition)


@preflight(checks.targets)
@task(iterable=["account"], help={"account": ACCOUNT_HELP, "sandbox": SANDBOX_HELP, "json": JSON_HELP})
def status(c, account, sandbox=False, json=False):
    """Show the running ghe-backup stacks: status, version, image, AMI, newer Taupage."""
    from ghe_backup.delivery.deploy.status import account_status

    found = [account_status(target) for target in resolve(c.config).targets(account, sandbox)]
    return render.show(found, views.status, json=json)


@preflight(checks.history)
@task(help={"account": "account name (default: all)", "limit": "show only the last N attempts", "json": JSON_HELP})
def history(c, account=None, limit=None, json=False):
    """Show every deploy attempt: who, when, what, and how it ended."""
    from ghe_backup.delivery.deploy import history as deploy_history

    entries = deploy_history.read(resolve(c.config).state_dir, account, positive_int(limit, "limit"))
    return render.show(entries, views.history, json=json)


@task(name="up")
def sandbox_up(c):
    """Start the local sandbox (engine, registry, emulated AWS accounts, Lizzy agents)."""
    from ghe_backup import sandbox

    return render.show(sandbox.up(resolve(c.config).root), views.sandbox)


@task(name="down")
def sandbox_down(c):
    """Stop what sandbox.up started (recorded pids); data and images are kept."""
    from ghe_backup import sandbox

    return render.show(sandbox.down(resolve(c.config).root), views.sandbox)


@task(name="status", help={"json": JSON_HELP})
def sandbox_status(c, json=False):
    """Show the sandbox's endpoints and which components run."""
    from ghe_backup import sandbox

    return render.show(sandbox.status(resolve(c.config).root), views.sandbox, json=json)


@task(name="publish-taupage", help={"date": "AMI date as YYYYMMDD (default: the next staged one)"})
def sandbox_publish_taupage(c, date=None):
    """Publish a newer Taupage AMI in every sandbox account."""
    from ghe_backup.sandbox.aws import publish_taupage

    return render.print_json(publish_taupage(resolve(c.config).root, date=date))


ns = Collection(test, image, push, deploy, accounts, show_config, status, history)
ns.add_collection(Collection("sandbox", sandbox_up, sandbox_down, sandbox_status, sandbox_publish_taupage))
ns.configure(DEFAULTS)
