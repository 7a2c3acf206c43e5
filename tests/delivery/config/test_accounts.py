"""Loading and validating the config tree: every bad input is one exact line and exit code 2."""

from __future__ import annotations

import pytest

from ghe_backup.delivery.config import load_accounts, select_accounts
from ghe_backup.errors import ConfigError, ExitCode


def edit(root, relpath, old, new):
    path = root / relpath
    text = path.read_text()
    assert old in text, f"{old!r} not in {relpath}"
    path.write_text(text.replace(old, new, 1))


def error_of(root, names=("prod",)):
    with pytest.raises(ConfigError) as info:
        select_accounts(list(names), load_accounts(root), root)
    assert info.value.exit_code == ExitCode.BAD_INPUT == 2
    return str(info.value)


def test_shipped_accounts_load(config_tree):
    accounts = load_accounts(config_tree)
    assert sorted(accounts) == ["prod", "staging"]
    prod, staging = accounts["prod"].settings, accounts["staging"].settings
    assert prod.account_id != staging.account_id
    assert prod.approval is True and staging.approval is False


def test_prod_overlay_values_are_placed_on_the_base(config_tree):
    prod = load_accounts(config_tree)["prod"]
    app = prod.component("AppServer")
    assert app["InstanceType"] == "m5.large"
    assert app["TaupageConfig"]["environment"]["GHE_NUM_SNAPSHOTS"] == 72
    assert app["TaupageConfig"]["environment"]["GHE_HOSTNAME"] == "github.example.org"  # from defaults
    assert (
        app["TaupageConfig"]["source"]
        == "123456789012.dkr.ecr.eu-central-1.amazonaws.com/ghe-backup:{{Arguments.ImageVersion}}"
    )
    assert prod.merged.origin("SenzaComponents", "AppServer", "InstanceType") == "config/accounts/prod.yaml"
    assert prod.merged.origin("SenzaInfo", "StackName") == "senza/ghe-backup.yaml"


def test_the_definition_passes_the_pipelines_state_table_to_the_container(config_tree):
    text = (config_tree / "config/accounts/prod.yaml").read_text()
    (config_tree / "config/accounts/prod.yaml").write_text(
        text.replace("  deploy_timeout: 2400\n", "  deploy_timeout: 2400\n  state_table: prod-backups\n")
    )
    accounts = load_accounts(config_tree)
    prod, staging = accounts["prod"], accounts["staging"]
    assert prod.component("AppServer")["TaupageConfig"]["environment"]["STATE_TABLE"] == "prod-backups"
    assert staging.component("AppServer")["TaupageConfig"]["environment"]["STATE_TABLE"] == "ghe-backup-state"
    assert "STATE_TABLE" not in prod.merged.data["SenzaComponents"][1]["AppServer"]["TaupageConfig"]["environment"]


def test_a_state_table_the_overlay_sets_to_the_pipelines_is_kept(config_tree):
    text = (config_tree / "config/accounts/prod.yaml").read_text()
    text = text.replace("  deploy_timeout: 2400\n", "  deploy_timeout: 2400\n  state_table: prod-backups\n")
    text = text.replace("GHE_NUM_SNAPSHOTS: 72\n", "GHE_NUM_SNAPSHOTS: 72\n            STATE_TABLE: prod-backups\n")
    (config_tree / "config/accounts/prod.yaml").write_text(text)
    prod = load_accounts(config_tree)["prod"]
    assert prod.component("AppServer")["TaupageConfig"]["environment"]["STATE_TABLE"] == "prod-backups"


def test_staging_and_prod_back_up_on_different_hours(config_tree):
    accounts = load_accounts(config_tree)
    schedules = {
        n: a.component("AppServer")["TaupageConfig"]["environment"]["BACKUP_SCHEDULE"] for n, a in accounts.items()
    }
    assert schedules == {"prod": "0 */2 * * *", "staging": "0 1-23/2 * * *"}


def test_the_data_volume_is_never_a_stack_resource(config_tree):
    for account in load_accounts(config_tree).values():
        assert "Resources" not in account.definition
        assert account.component("AppServer")["TaupageConfig"]["volumes"]["ebs"] == {"/dev/sdf": "ghe-backup-data"}


def test_several_accounts_keep_order_and_come_once(config_tree):
    found = select_accounts(["staging", "prod", "staging"], load_accounts(config_tree), config_tree)
    assert [a.name for a in found] == ["staging", "prod"]


# --- every validation case: input -> exact message ---------------------------------------------


def test_unknown_account_lists_the_known_ones(config_tree):
    assert error_of(config_tree, ["dev"]) == (
        "unknown account 'dev' (no config/accounts/dev.yaml) (known accounts: prod, staging)"
    )


def test_no_account_given(config_tree):
    assert error_of(config_tree, []) == "no account given (pass --account=NAME (see: inv accounts))"


def test_misspelled_pipeline_key_suggests_the_closest(config_tree):
    edit(config_tree, "config/accounts/prod.yaml", "  region: eu-central-1", "  regoin: eu-central-1")
    assert error_of(config_tree) == "config/accounts/prod.yaml:4: pipeline.regoin: unknown key (did you mean 'region'?)"


def test_misspelled_senza_key_suggests_the_closest(config_tree):
    edit(config_tree, "config/accounts/staging.yaml", "InstanceType: t3.medium", "InstanceTyp: t3.medium")
    assert error_of(config_tree) == (
        "config/accounts/staging.yaml:13: senza.SenzaComponents.AppServer.InstanceTyp: unknown key "
        "(did you mean 'InstanceType'?)"
    )


def test_unknown_top_level_key_lists_known_keys(config_tree):
    (config_tree / "config/accounts/prod.yaml").write_text(
        (config_tree / "config/accounts/prod.yaml").read_text() + "extras: 1\n"
    )
    assert error_of(config_tree) == "config/accounts/prod.yaml:20: extras: unknown key (known keys: pipeline, senza)"


def test_wrong_type(config_tree):
    edit(config_tree, "config/accounts/prod.yaml", "approval: true", 'approval: "yes"')
    assert (
        error_of(config_tree)
        == "config/accounts/prod.yaml:8: pipeline.approval: expected a boolean, got a string (write true or false)"
    )


def test_unquoted_account_id_is_a_type_error_with_the_fix(config_tree):
    edit(config_tree, "config/accounts/prod.yaml", 'account_id: "123456789012"', "account_id: 123456789012")
    assert error_of(config_tree) == (
        "config/accounts/prod.yaml:3: pipeline.account_id: expected a string, got a whole number "
        '(use the 12-digit AWS account id as a quoted string, e.g. "123456789012")'
    )


def test_account_id_not_12_digits(config_tree):
    edit(config_tree, "config/accounts/prod.yaml", 'account_id: "123456789012"', 'account_id: "12345"')
    assert error_of(config_tree) == (
        "config/accounts/prod.yaml:3: pipeline.account_id: invalid value '12345' "
        '(use the 12-digit AWS account id as a quoted string, e.g. "123456789012")'
    )


def test_enum_value(config_tree):
    edit(config_tree, "config/accounts/prod.yaml", "deployer: lizzy", "deployer: helm")
    assert (
        error_of(config_tree)
        == "config/accounts/prod.yaml:5: pipeline.deployer: 'helm' is not allowed (use one of: lizzy, senza)"
    )


def test_malformed_yaml_names_the_line(config_tree):
    edit(config_tree, "config/accounts/staging.yaml", "  approval: false", "  approval: [false")
    message = error_of(config_tree)
    assert message.startswith("config/accounts/staging.yaml:10: malformed YAML: ")
    assert message.endswith("(fix the YAML syntax)")


def test_missing_required_key(config_tree):
    edit(config_tree, "config/accounts/prod.yaml", '  account_id: "123456789012"\n', "")
    assert error_of(config_tree) == (
        "config/accounts/prod.yaml:2: pipeline.account_id: missing required key "
        "(add 'account_id:' under 'pipeline:' in config/accounts/prod.yaml (or config/defaults.yaml))"
    )


def test_lizzy_deployer_needs_a_url(config_tree):
    edit(config_tree, "config/accounts/prod.yaml", "  lizzy_url: https://lizzy.prod.example.org\n", "")
    assert error_of(config_tree) == (
        "config/accounts/prod.yaml:2: pipeline.lizzy_url: missing required key (deployer 'lizzy' needs the agent's https URL)"
    )


def test_two_overlays_claiming_one_account_id(config_tree):
    edit(config_tree, "config/accounts/staging.yaml", '"210987654321"', '"123456789012"')
    assert error_of(config_tree) == (
        "config/accounts/staging.yaml:3: pipeline.account_id: 123456789012 is already claimed by "
        "config/accounts/prod.yaml (each account overlay must name its own AWS account)"
    )


def test_lizzy_url_must_be_https(config_tree):
    edit(config_tree, "config/accounts/prod.yaml", "https://lizzy.prod.example.org", "http://lizzy.prod.example.org")
    assert error_of(config_tree) == (
        "config/accounts/prod.yaml:6: pipeline.lizzy_url: 'http://lizzy.prod.example.org' is not an https URL "
        "(tokens are only sent over https (plain http is allowed for 127.0.0.1/localhost))"
    )


@pytest.mark.parametrize("url", ["http://127.0.0.1:5510", "http://localhost:8080/", "https://lizzy.example.org"])
def test_https_or_loopback_lizzy_urls_are_accepted(config_tree, url):
    edit(config_tree, "config/accounts/prod.yaml", "https://lizzy.prod.example.org", url)
    assert load_accounts(config_tree)["prod"].settings.lizzy_url == url


def test_object_constructing_yaml_tag_is_refused_and_never_run(config_tree):
    marker = config_tree / "pwned"
    edit(
        config_tree,
        "config/accounts/prod.yaml",
        "  approval: true",
        f'  approval: !!python/object/apply:os.system ["touch {marker}"]',
    )
    assert error_of(config_tree) == (
        "config/accounts/prod.yaml:8: YAML tag tag:yaml.org,2002:python/object/apply:os.system is not allowed "
        "(config may only hold plain mappings, lists, strings, numbers and booleans)"
    )
    assert not marker.exists()


def test_unknown_placeholder_names_its_source(config_tree):
    edit(
        config_tree,
        "config/accounts/prod.yaml",
        "InstanceType: m5.large",
        "InstanceType: m5.large\n        Image: ${ami}",
    )
    assert error_of(config_tree) == (
        "config/accounts/prod.yaml: SenzaComponents.AppServer.Image: unknown placeholder ${ami} "
        "(use one of: ${registry}, ${image}, ${account_id}, ${region})"
    )


def test_errors_in_the_senza_base_name_the_base(config_tree):
    edit(config_tree, "senza/ghe-backup.yaml", "AssociatePublicIpAddress: false", "AssociatePublicIPAddress: false")
    assert error_of(config_tree).startswith(
        "senza/ghe-backup.yaml:27: SenzaComponents.AppServer.AssociatePublicIPAddress: unknown key (did you mean"
    )


def test_errors_in_defaults_name_the_defaults_file(config_tree):
    edit(config_tree, "config/defaults.yaml", "deploy_timeout: 1800", "deploy_timeout: soon")
    assert error_of(config_tree) == (
        "config/defaults.yaml:7: pipeline.deploy_timeout: expected a whole number, got a string (give a whole number)"
    )


def test_a_document_found_valid_is_not_validated_again_and_a_changed_one_is(config_tree, monkeypatch):
    import jsonschema

    from ghe_backup.delivery.config import schema
    from ghe_backup.plumbing.memo import Kept

    checked = []
    validator = jsonschema.Draft7Validator
    monkeypatch.setattr(schema.jsonschema, "Draft7Validator", lambda s: checked.append(s) or validator(s))
    monkeypatch.setattr(schema, "_VALID", Kept(256))
    load_accounts(config_tree)
    first = len(checked)
    load_accounts(config_tree)
    assert first >= 4 and len(checked) == first  # base, defaults, two overlays: once each
    # the same text with a number where a string belongs (a value whose repr differs) is checked again
    edit(config_tree, "config/accounts/prod.yaml", 'account_id: "123456789012"', "account_id: 123456789012")
    assert "pipeline.account_id" in error_of(config_tree) and len(checked) == first + 1
