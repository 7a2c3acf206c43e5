"""The deploy stage: the pushed image as a new senza stack in each account, the previous one replaced.

Entry points: ``run.deploy_accounts(targets, ask=...)``, ``run.deploy_account(target, image)``,
``status.account_status(target)``, ``history.read(state_dir, account)``. This ``__init__`` stays
light (boto3 loads with the steps).

Modules: ``steps`` (guard, settle, plan, approve, release the volume, create, restore: functions
over explicit data), ``run`` (one deployment, recorded in the history), ``deployers/`` (Lizzy and
senza behind one interface), ``guard`` (the right account), ``wait`` (polling a stack to an end),
``versions`` (stack versions), ``definition`` (pinned AMIs, what each stack was deployed with),
``approval`` (who needs it), ``history`` (every attempt), ``status`` (what runs now).
"""
