"""A Target: the account's config plus its endpoints; the definition follows the endpoints only."""

from __future__ import annotations

import dataclasses

from support.targets import make_target


def app(definition):
    return next(c["AppServer"] for c in definition["SenzaComponents"] if "AppServer" in c)


def test_the_definition_uses_the_targets_registry_and_key_and_nothing_else():
    real = make_target("prod")
    sandboxed = dataclasses.replace(
        real, registry="127.0.0.1:5000", kms_private_ssh_key="aws:kms:SANDBOX", sandbox=True
    )
    assert app(real.definition)["TaupageConfig"]["source"].startswith(
        "123456789012.dkr.ecr.eu-central-1.amazonaws.com/ghe-backup:"
    )
    assert (
        app(sandboxed.definition)["TaupageConfig"]["source"] == "127.0.0.1:5000/ghe-backup:{{Arguments.ImageVersion}}"
    )
    assert app(sandboxed.definition)["TaupageConfig"]["kms_private_ssh_key"] == "aws:kms:SANDBOX"
    assert app(real.definition)["TaupageConfig"]["kms_private_ssh_key"].startswith("aws:kms:AQICAHhprod")

    def strip(d):
        endpoints = ("source", "kms_private_ssh_key")
        return {**app(d), "TaupageConfig": {k: v for k, v in app(d)["TaupageConfig"].items() if k not in endpoints}}

    assert strip(real.definition) == strip(sandboxed.definition)


def test_each_definition_is_a_fresh_copy():
    target = make_target("staging")
    app(target.definition)["InstanceType"] = "changed"
    assert app(target.definition)["InstanceType"] == "t3.medium"
    assert target.repository == "210987654321.dkr.ecr.eu-central-1.amazonaws.com/ghe-backup"
    assert target.stack_base == "ghe-backup"


def test_a_target_hands_out_its_access_for_a_few_minutes(monkeypatch):
    from ghe_backup.delivery import target as target_module
    from ghe_backup.plumbing import aws

    made = []
    monkeypatch.setattr(aws, "account_access", lambda **options: made.append(options) or object())
    prod = make_target("prod")
    first = prod.access(config="quick")
    assert prod.access() is first and len(made) == 1 and made[0]["config"] == "quick"
    assert dataclasses.replace(prod).access() is not first  # another target: its own
    assert prod.access(base="a session of the caller's") is not first and len(made) == 3
    monkeypatch.setattr(target_module, "ACCESS_REUSE_SECONDS", 0.0)
    assert prod.access() is not first
