"""The approval question on a terminal: the plan (with its diff) is shown, anything but 'yes' refuses."""

from __future__ import annotations

import pytest

from ghe_backup.edge.prompt import approve_all, ask_approval
from ghe_backup.errors import ConfigError, ExitCode
from support.plans import OLD_AMI, a_plan


def plan(no_op=False):
    return a_plan(
        image_tag="abc123",
        image_digest="sha256:feed",
        ami=OLD_AMI,  # the running one: only the image and the definition change
        changes=[] if no_op else ["image", "definition"],
        diff="--- ghe-backup-old1 (as deployed)\n+++ to deploy\n-  InstanceType: t3.medium\n+  InstanceType: m5.large\n",
        no_op=no_op,
    )


def test_yes_approves_after_showing_the_plan_and_its_diff(capsys):
    prompts = []
    ask_approval(plan(), read=lambda prompt: prompts.append(prompt) or "yes")
    err = capsys.readouterr().err
    assert "About to deploy prod (123456789012):" in err
    assert "old1 -> abc123" in err and "sha256:old -> sha256:feed" in err and "ghe-backup-old1" in err
    assert "-  InstanceType: t3.medium\n+  InstanceType: m5.large" in err
    assert prompts == ["Deploy prod? Type 'yes' to continue: "]


@pytest.mark.parametrize("answer", ["", "y", "no", "YES please"])
def test_anything_but_yes_refuses_and_changes_nothing(answer):
    with pytest.raises(ConfigError) as info:
        ask_approval(plan(), read=lambda prompt: answer)
    assert info.value.exit_code == ExitCode.BAD_INPUT
    assert str(info.value) == "prod: deploy not approved (nothing was changed)"


def test_end_of_input_refuses():
    def closed(prompt):
        raise EOFError

    with pytest.raises(ConfigError, match="not approved"):
        ask_approval(plan(), read=closed)


def test_every_question_comes_first_and_an_up_to_date_account_is_not_asked(capsys):
    asked = []
    approved = approve_all([plan(no_op=True), plan()], read=lambda prompt: asked.append(prompt) or "yes")
    assert len(asked) == 1 and set(approved) == {"prod"}
    assert "prod: up to date, nothing to approve" in capsys.readouterr().err
