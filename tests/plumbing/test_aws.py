"""AWS sessions: one parse of botocore's models per process, whatever the account."""

from __future__ import annotations


def test_sessions_share_the_parsed_models_so_a_second_account_parses_no_json(monkeypatch):
    import botocore.loaders

    from ghe_backup.plumbing import aws

    aws.new_session(region_name="eu-central-1").client("cloudformation", endpoint_url="http://127.0.0.1:9")
    parsed = []
    original = botocore.loaders.JSONFileLoader.load_file
    monkeypatch.setattr(
        botocore.loaders.JSONFileLoader, "load_file", lambda self, path: parsed.append(path) or original(self, path)
    )
    second = aws.new_session(region_name="eu-central-1", aws_access_key_id="AKIAOTHER", aws_secret_access_key="s")
    second.client("cloudformation", endpoint_url="http://127.0.0.1:9")
    assert parsed == []
    assert second.get_credentials().access_key == "AKIAOTHER"  # its own credentials all the same
