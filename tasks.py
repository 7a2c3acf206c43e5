"""ghe-backup's pipeline: test -> image -> push -> deploy[account], plus the local sandbox.

Each task resolves its flags into targets (``resolve``), calls one stage function and hands
the result to the renderer. Stage modules are imported inside the task bodies, so `inv --list`
and `inv accounts` do not pay for boto3 and the Docker SDK.
Exit codes: 0 success, 1 a stage or deployment failed, 2 bad input or config,
3 infrastructure unreachable (see docs/operations.md).
"""

from pathlib import Path

from invoke import Collection, task

from ghe_backup.edge import checks, dry, render, views
from ghe_backup.edge.executor import dry_run, preflight, read_only, replaces_prerequisites
from ghe_backup.edge.settings import DEFAULTS
from ghe_backup.edge.targets import positive_int, resolve

ACCOUNT_HELP = "account name from config/accounts/ (repeat for several accounts)"
SANDBOX_HELP = "target the local sandbox instead of the real account (or set INVOKE_GHE_SANDBOX=1)"
JSON_HELP = "print the result as JSON"
ALL_ACCOUNTS_HELP = "account name (repeat for several; default: all)"


@read_only
@task(
    help={
        "reuse": "skip when these inputs (files, lock, Python, selection) passed before, as a prerequisite does",
        "junit": "also write a JUnit XML report to PATH (one testcase per test, for CI; the tests always run)",
    }
)
def test(c, reuse=False, junit=None):
    """Run the fast unit tests on every core: the pipeline's gate (no sandbox needed)."""
    from ghe_backup.delivery.gate import run_unit_tests

    run_unit_tests(resolve(c.config).root, reuse=reuse, junit=junit or None)


@dry_run(dry.image)
@preflight(checks.build)
@task(pre=[test], help={"sandbox": "build on the sandbox's locally made base image"})
def image(c, sandbox=False):
    """Build the ghe-backup image, tagged by content, and smoke-test it."""
    from ghe_backup.delivery.image.build import build_image

    return build_image(resolve(c.config).build_site(sandbox))


@dry_run(dry.push)
@preflight(checks.push)
@task(pre=[image], iterable=["account"], help={"account": ACCOUNT_HELP, "sandbox": SANDBOX_HELP, "json": JSON_HELP})
def push(c, account, sandbox=False, json=False):
    """Push the image to each account's registry (uploads only what changed)."""
    from ghe_backup.delivery.push.push import push_image

    return render.show(push_image(resolve(c.config).targets(account, sandbox)), views.pushes, json=json)


@dry_run(dry.deploy)
@preflight(checks.deploy)
@replaces_prerequisites("image", "plan")
@task(
    pre=[push],
    iterable=["account"],
    help={
        "account": ACCOUNT_HELP,
        "sandbox": SANDBOX_HELP,
        "json": JSON_HELP,
        "yes": "approve without asking (CI, after its own approval)",
        "force": "replace the running stack even when it is up to date",
        "lock-wait": "wait up to SECONDS for the account's deploy lock (default: 0, refuse at once)",
        "backup-wait": "wait up to SECONDS for a running backup to finish (default: pipeline.backup_wait, 1800)",
        "now": "do not wait for a running backup: replacing the stack stops it",
        "plan": "apply this saved plan (inv plan --out; its accounts unless --account is given): its image, refused if "
        "the account moved on; no test/image/push",
        "image": "deploy this pushed tag, built once: no test, image or push; copied by digest from another "
        "account's registry if this account's lacks it",
    },
)
def deploy(
    c,
    account,
    sandbox=False,
    yes=False,
    force=False,
    lock_wait=None,
    backup_wait=None,
    now=False,
    plan=None,
    image=None,
    json=False,
):
    """Deploy the pushed image to each account (test, image and push run first), a pushed --image, or a saved plan."""
    from ghe_backup.delivery.deploy.run import deploy_accounts, deploy_intents

    found = resolve(c.config)
    options = found.deploy_options(yes, lock_wait, sandbox, backup_wait, now)
    if plan:
        outcome = deploy_intents(found.intents_of(account, sandbox), force=force, **options)
    else:
        targets = found.targets(account, sandbox)
        if image:
            from ghe_backup.delivery.push.promote import promote_image

            promote_image(targets, image, found.all_targets(sandbox))
        outcome = deploy_accounts(targets, force=force, **options)
    render.show(outcome.results, views.deploys, json=json)
    outcome.raise_worst()
    return outcome.results


@dry_run(dry.intents)
@preflight(checks.rollback)
@task(
    help={
        "account": "account name",
        "sandbox": SANDBOX_HELP,
        "json": JSON_HELP,
        "to": "the stack version (or image tag) to go back to (default: the last good one before the running one)",
        "yes": "approve without asking (CI, after its own approval)",
        "lock-wait": "wait up to SECONDS for the account's deploy lock",
        "backup-wait": "wait up to SECONDS for a running backup to finish (default: pipeline.backup_wait, 1800)",
        "now": "do not wait for a running backup: replacing the stack stops it",
    }
)
def rollback(
    c, account=None, to=None, sandbox=False, yes=False, lock_wait=None, backup_wait=None, now=False, json=False
):
    """Redeploy an earlier version exactly: its image digest, AMI and definition (see inv history)."""
    from ghe_backup.delivery.deploy.run import deploy_intents

    found = resolve(c.config)
    outcome = deploy_intents(
        found.intents_of(account, sandbox), **found.deploy_options(yes, lock_wait, sandbox, backup_wait, now)
    )
    render.show(outcome.results, views.deploys, json=json)
    outcome.raise_worst()
    return outcome.results


@dry_run(dry.intents)
@preflight(checks.refresh)
@task(
    iterable=["account"],
    help={
        "account": ALL_ACCOUNTS_HELP,
        "sandbox": SANDBOX_HELP,
        "json": JSON_HELP,
        "yes": "approve without asking (CI, after its own approval)",
        "lock-wait": "wait up to SECONDS for each account's deploy lock",
        "backup-wait": "wait up to SECONDS for a running backup to finish (default: pipeline.backup_wait, 1800)",
        "now": "do not wait for a running backup: replacing the stack stops it",
    },
)
def refresh(c, account, sandbox=False, yes=False, lock_wait=None, backup_wait=None, now=False, json=False):
    """Redeploy the running image on the newest Taupage where the AMI is stale; leave fresh accounts alone."""
    from ghe_backup.delivery.deploy.run import deploy_intents

    found = resolve(c.config)
    outcome = deploy_intents(
        found.intents_of(account, sandbox), **found.deploy_options(yes, lock_wait, sandbox, backup_wait, now)
    )
    render.show(found.skipped + outcome.results, views.deploys, json=json)
    outcome.raise_worst()
    return found.require_refreshable(outcome.results)


@read_only
@preflight(checks.plan)
@task(
    iterable=["account"],
    help={
        "account": ACCOUNT_HELP,
        "sandbox": SANDBOX_HELP,
        "json": JSON_HELP,
        "image": "plan the deploy of this pushed image tag (default: the tag the tree would get; nothing is built)",
        "markdown": "print the plan as Markdown (for CI job summaries)",
        "out": "save the plan to FILE, to apply it later with inv deploy --plan=FILE",
        "exit-code": "exit 5 when a deploy would change anything (like git diff --exit-code)",
    },
)
def plan(c, account, image=None, sandbox=False, json=False, markdown=False, out=None, exit_code=False):
    """Show what a deploy would change in each account; changes and builds nothing."""
    from ghe_backup.delivery.deploy.planning import plan_accounts, require_no_change, save
    from ghe_backup.delivery.push.push import images_for

    targets = resolve(c.config).targets(account, sandbox)
    images = images_for(targets, tag=image)
    found = plan_accounts(targets, lambda target: images[target.name])
    if out:
        save(found, Path(out), revision=next(iter(images.values())).revision)
    render.show(found, views.plans, json=json, markdown=markdown)
    return require_no_change(found) if exit_code else found


@read_only
@preflight(checks.some_accounts)
@task(
    iterable=["account"],
    help={
        "account": ALL_ACCOUNTS_HELP,
        "sandbox": SANDBOX_HELP,
        "json": JSON_HELP,
        "markdown": "print the view as Markdown (for CI job summaries)",
    },
)
def pipeline(c, account, sandbox=False, json=False, markdown=False):
    """Show per account what is deployed, what the tree would deploy now, and which accounts are behind."""
    from ghe_backup.delivery.deploy.pipeline import pipeline as stages_of
    from ghe_backup.delivery.push.push import images_for

    targets = resolve(c.config).some_targets(account, sandbox)
    return render.show(stages_of(targets, images_for(targets)), views.pipeline, json=json, markdown=markdown)


@read_only
@task(help={"json": JSON_HELP})
def accounts(c, json=False):
    """List the configured accounts: name, id, region, deployer, approval."""
    found = [
        views.AccountSummary(s.name, s.account_id, s.region, s.deployer, s.approval)
        for s in (a.settings for a in resolve(c.config).accounts.values())
    ]
    return render.show(found, views.accounts, json=json)


@read_only
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


@read_only
@preflight(checks.some_accounts)
@task(
    iterable=["account"],
    help={
        "account": ALL_ACCOUNTS_HELP,
        "sandbox": SANDBOX_HELP,
        "json": JSON_HELP,
        "check": "exit 5 when an account needs attention (stale AMI or backups, no instance): for monitors",
    },
)
def status(c, account, sandbox=False, check=False, json=False):
    """Show what runs in each account: stacks, image, AMI age and expiry, backups, lock, attention."""
    from ghe_backup.delivery.deploy.status import account_status, require_fresh

    found = [account_status(target) for target in resolve(c.config).some_targets(account, sandbox)]
    render.show(found, views.status, json=json)
    return require_fresh(found) if check else found


@read_only
@preflight(checks.history)
@task(
    help={
        "account": "account name (default: all)",
        "limit": "show only the last N attempts",
        "sandbox": SANDBOX_HELP,
        "json": JSON_HELP,
    }
)
def history(c, account=None, limit=None, sandbox=False, json=False):
    """Show every deploy attempt from the accounts' history: who, when, what, how it ended."""
    from ghe_backup.delivery.deploy.account_state import read_history

    found = resolve(c.config)
    targets = found.targets(account, sandbox) if account else found.all_targets(sandbox)
    entries = read_history(targets, limit=positive_int(limit, "limit"), state_dir=found.state_dir).entries
    return render.show(entries, views.history, json=json)


@read_only
@preflight(checks.targets)
@task(name="status", iterable=["account"], help={"account": ACCOUNT_HELP, "sandbox": SANDBOX_HELP, "json": JSON_HELP})
def lock_status(c, account, sandbox=False, json=False):
    """Show each account's deploy lock: who holds it, since when, what for, whether it is stale."""
    from ghe_backup.delivery.deploy.account_state import lock_statuses

    return render.show(lock_statuses(resolve(c.config).targets(account, sandbox)), views.locks, json=json)


@dry_run(dry.lock)
@preflight(checks.lock_acquire)
@task(
    name="acquire",
    help={
        "account": "account name",
        "reason": "why deploys must wait (shown to everyone who tries)",
        "ttl": "seconds after which the hold counts as stale (default: 86400)",
        "sandbox": SANDBOX_HELP,
        "json": JSON_HELP,
    },
)
def lock_acquire(c, account=None, reason=None, ttl=None, sandbox=False, json=False):
    """Hold an account's deploy lock (e.g. during an appliance upgrade): deploys are refused until released."""
    from ghe_backup.delivery.deploy.account_state import hold
    from ghe_backup.delivery.deploy.lock import check_ttl

    found = resolve(c.config)
    [target] = found.targets(account, sandbox)
    status = hold(target, found.actor, reason=reason, ttl=check_ttl(ttl or 86400))
    return render.show([status], views.locks, json=json)


@dry_run(dry.lock)
@preflight(checks.account_named)
@task(
    name="release",
    help={"account": "account name", "force": "release someone else's (e.g. a stale) lock", "sandbox": SANDBOX_HELP},
)
def lock_release(c, account=None, force=False, sandbox=False, json=False):
    """Release an account's deploy lock: your own, or with --force anyone's (a stale one)."""
    from ghe_backup.delivery.deploy.account_state import let_go

    found = resolve(c.config)
    [target] = found.targets(account, sandbox)
    return render.show([let_go(target, found.actor, force=force)], views.locks, json=json)


@task(name="github")
def ci_github(c):
    """Write the GitHub Actions workflows (.github/workflows/) from config/accounts."""
    from ghe_backup.ci import github_files, write_files

    found = resolve(c.config)
    return render.show(write_files(found.root, github_files(found.accounts)), views.generated)


@task(name="jenkins")
def ci_jenkins(c):
    """Write ci/Jenkinsfile from config/accounts."""
    from ghe_backup.ci import jenkins_files, write_files

    found = resolve(c.config)
    return render.show(write_files(found.root, jenkins_files(found.accounts)), views.generated)


@read_only
@task(name="check", help={"json": JSON_HELP})
def ci_check(c, json=False):
    """Fail (exit 1, diff on stderr) when a committed CI file differs from what the generators write now."""
    from ghe_backup.ci import check_files, github_files, jenkins_files, require_current
    from ghe_backup.plumbing.progress import say

    found = resolve(c.config)
    states = check_files(found.root, github_files(found.accounts) + jenkins_files(found.accounts))
    for state in states:
        for line in state.diff.splitlines():
            say(line)
    render.show(states, views.generated, json=json)
    require_current(states)
    return states


@read_only
@task(name="lint", help={"json": JSON_HELP})
def ci_lint(c, json=False):
    """Lint the CI files: actionlint over .github/workflows, npm-groovy-lint over ci/Jenkinsfile."""
    from ghe_backup.ci.lint import lint_ci_files, require_clean

    results = lint_ci_files(resolve(c.config).root)
    render.show(results, views.lint, json=json)
    require_clean(results)
    return results


@dry_run(dry.sandbox)
@task(name="up")
def sandbox_up(c):
    """Start the local sandbox (engine, registry, emulated AWS accounts, Lizzy agents)."""
    from ghe_backup import sandbox

    return render.show(sandbox.up(resolve(c.config).root), views.sandbox)


@dry_run(dry.sandbox)
@task(name="down")
def sandbox_down(c):
    """Stop what sandbox.up started (recorded pids); data and images are kept."""
    from ghe_backup import sandbox

    return render.show(sandbox.down(resolve(c.config).root), views.sandbox)


@read_only
@task(name="status", help={"json": JSON_HELP})
def sandbox_status(c, json=False):
    """Show the sandbox's endpoints and which components run."""
    from ghe_backup import sandbox

    return render.show(sandbox.status(resolve(c.config).root), views.sandbox, json=json)


@dry_run(dry.sandbox)
@task(name="publish-taupage", help={"date": "AMI date as YYYYMMDD (default: the next staged one)"})
def sandbox_publish_taupage(c, date=None):
    """Publish a newer Taupage AMI in every sandbox account."""
    from ghe_backup.sandbox.aws import publish_taupage

    return render.print_json(publish_taupage(resolve(c.config).root, date=date))


ns = Collection(test, image, push, plan, deploy, rollback, refresh, pipeline, accounts, show_config, status, history)
ns.add_collection(Collection("lock", lock_status, lock_acquire, lock_release))
ns.add_collection(Collection("ci", ci_github, ci_jenkins, ci_check, ci_lint))
ns.add_collection(Collection("sandbox", sandbox_up, sandbox_down, sandbox_status, sandbox_publish_taupage))
ns.configure(DEFAULTS)
