"""The pipeline view on fake accounts: what runs, what the tree would deploy, who is behind."""

from __future__ import annotations

import dataclasses

from ghe_backup.delivery.deploy.pipeline import pipeline
from ghe_backup.delivery.deploy.run import deploy_account
from ghe_backup.delivery.target import ImageRef
from ghe_backup.edge import render, views
from support.fakes import FakeAccount, FakeClock, FakeDeployer, FakeStore, connector
from support.targets import make_target

TREE = ImageRef(tag="c0ffee123456", digest="sha256:" + "aa" * 32, repository="r/ghe-backup")


def test_after_deploying_staging_only_prod_is_behind(tmp_path, capsys):
    targets = [
        dataclasses.replace(t, build=dataclasses.replace(t.build, root=tmp_path))
        for t in (make_target("staging"), make_target("prod"))
    ]
    accounts = {t.name: FakeAccount(account_id=t.settings.account_id) for t in targets}
    stores = {t.name: FakeStore() for t in targets}
    staging = targets[0]
    clock = FakeClock()
    deploy_account(
        staging,
        TREE,
        connect=connector(accounts["staging"], FakeDeployer(accounts["staging"]), stores["staging"]),
        clock=clock,
        sleep=clock.sleep,
        report=lambda line: None,
    )

    def reader(target):
        return connector(accounts[target.name], None, stores[target.name])(target)

    stages = pipeline(targets, {t.name: TREE for t in targets}, connect=reader)
    by_name = {s.account: s for s in stages}
    assert not by_name["staging"].behind and by_name["staging"].commit == "c0ffee123456"
    assert by_name["staging"].last_result == "succeeded" and by_name["staging"].image_tag == TREE.tag
    assert by_name["prod"].behind and by_name["prod"].changes == ["first deployment"] and by_name["prod"].stack is None
    render.show(stages, views.pipeline, markdown=True)
    out = capsys.readouterr().out
    assert "| staging | c0ffee123456 |" in out and "BEHIND: first deployment" in out and "- behind: prod" in out
