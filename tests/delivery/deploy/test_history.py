"""The deploy history file: append, filter, survive a torn line."""

from __future__ import annotations

from ghe_backup.delivery.deploy import history


def test_append_and_read(tmp_path):
    history.append(
        tmp_path,
        history.Attempt(
            time="2026-11-27T08:00:00+00:00",
            account="prod",
            deployer="lizzy",
            sandbox=True,
            stack_version="v1",
            result="succeeded",
            duration=3.2,
        ),
    )
    history.append(
        tmp_path,
        history.Attempt(
            time="2026-11-27T09:00:00+00:00",
            account="staging",
            deployer="senza",
            sandbox=False,
            result="refused",
            reason="wrong account",
        ),
    )
    with open(tmp_path / history.HISTORY_FILE, "a") as out:
        out.write('{"account": "prod", "torn\n')
    assert [e["result"] for e in history.read(tmp_path)] == ["succeeded", "refused"]
    [prod] = history.read(tmp_path, "prod")
    assert prod["stack_version"] == "v1" and prod["user"]
    assert history.read(tmp_path, "staging")[0]["reason"] == "wrong account"
    assert history.read(tmp_path, limit=1)[0]["account"] == "staging"
