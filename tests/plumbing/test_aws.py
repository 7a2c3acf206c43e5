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


class FakeSts:
    """Grants numbered role sessions, the first expiring ``lasting`` from now, the others in an hour."""

    def __init__(self, lasting):
        self.lasting, self.granted = lasting, 0

    def assume_role(self, RoleArn, RoleSessionName):
        import datetime as dt

        self.granted += 1
        return {
            "Credentials": {
                "AccessKeyId": f"ASIA{self.granted}",
                "SecretAccessKey": f"secret-{self.granted}",
                "SessionToken": f"token-{self.granted}",
                "Expiration": dt.datetime.now(dt.UTC) + (self.lasting if self.granted == 1 else dt.timedelta(hours=1)),
            }
        }


class FakeBase:
    def __init__(self, sts):
        self.sts = sts

    def client(self, service, **options):
        assert service == "sts"
        return self.sts


def assumed(sts):
    from ghe_backup.plumbing import aws

    return aws.account_access(
        name="prod", account_id="123456789012", region="eu-central-1", deploy_role="deployer",
        endpoint_url=None, base=FakeBase(sts),
    )  # fmt: skip


def test_role_credentials_refresh_themselves_before_they_expire():
    import datetime as dt

    sts = FakeSts(dt.timedelta(minutes=5))  # inside botocore's refresh window: the next use refreshes
    access = assumed(sts)
    assert sts.granted == 1
    assert access.session.get_credentials().get_frozen_credentials().access_key == "ASIA2"
    assert access.environment()["AWS_SECRET_ACCESS_KEY"] == "secret-2" and sts.granted == 2  # then kept


def test_role_credentials_far_from_expiry_are_used_as_they_are():
    import datetime as dt

    sts = FakeSts(dt.timedelta(hours=1))
    access = assumed(sts)
    assert access.secrets() == ["secret-1", "token-1"] and sts.granted == 1


def test_one_client_per_service_and_config():
    from botocore.config import Config

    from ghe_backup.plumbing import aws

    access = aws.AccountAccess(aws.new_session(region_name="eu-central-1"), "eu-central-1", "http://127.0.0.1:9")
    assert access.client("sts") is access.client("sts") and access.client("sts") is not access.client("ec2")
    quick = Config(connect_timeout=1)
    assert access.client("sts", config=quick) is access.client("sts", config=quick) is not access.client("sts")


class NamingSts(FakeSts):
    """As STS answers: the assumed role's ARN names the account the credentials act in."""

    def __init__(self, account):
        import datetime as dt

        super().__init__(dt.timedelta(hours=1))
        self.account = account

    def assume_role(self, RoleArn, RoleSessionName):
        answer = super().assume_role(RoleArn, RoleSessionName)
        answer["AssumedRoleUser"] = {"Arn": f"arn:aws:sts::{self.account}:assumed-role/deployer/{RoleSessionName}"}
        return answer


def test_the_account_sts_named_with_the_role_is_the_guards_answer_without_asking_again():
    from ghe_backup.plumbing import aws

    access = assumed(NamingSts("210987654321"))  # a role that lands elsewhere is not taken for the target
    assert access.acts_in == "210987654321"
    assert aws.caller_account(access, "prod") == "210987654321"  # no client made, no call sent
    assert access._clients == {}
    assert assumed(FakeSts(__import__("datetime").timedelta(hours=1))).acts_in is None  # then STS is asked


def test_accounts_assuming_roles_from_the_same_credentials_share_one_base_session_and_sts_client(monkeypatch):
    from ghe_backup.plumbing import aws

    made, sts = [], NamingSts("123456789012")
    monkeypatch.setattr(aws, "base_session", lambda region, credentials=None: made.append(credentials) or FakeBase(sts))
    aws.forget_sessions()
    try:
        dummy = {"aws_access_key_id": "AKIADUMMY", "aws_secret_access_key": "x"}
        for name in ("prod", "staging"):
            aws.account_access(
                name=name, account_id="123456789012", region="eu-central-1", deploy_role="deployer",
                endpoint_url="http://127.0.0.1:9", credentials=dummy,
            )  # fmt: skip
        assert made == [dummy] and sts.granted == 2
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAOTHERKEY")  # the credential chain changed: another base
        for _ in range(2):
            aws.account_access(
                name="prod", account_id="123456789012", region="eu-central-1", deploy_role="deployer",
                endpoint_url=None,
            )  # fmt: skip
        assert made == [dummy, None]
        aws.forget_sessions()  # a new run starts afresh
        aws.account_access(
            name="prod", account_id="123456789012", region="eu-central-1", deploy_role="deployer",
            endpoint_url=None,
        )  # fmt: skip
        assert made == [dummy, None, None]
    finally:
        aws.forget_sessions()


def test_accounts_made_in_parallel_threads_parse_each_model_file_once(monkeypatch):
    import threading

    import botocore.loaders

    from ghe_backup.plumbing import aws

    monkeypatch.setattr(aws, "_LOADER", [])  # a process that has parsed nothing yet
    parsed, original = [], botocore.loaders.JSONFileLoader.load_file
    monkeypatch.setattr(
        botocore.loaders.JSONFileLoader, "load_file", lambda self, path: parsed.append(path) or original(self, path)
    )
    start = threading.Barrier(3)

    def account(key):
        session = aws.new_session(region_name="eu-central-1", aws_access_key_id=key, aws_secret_access_key="s")
        start.wait(5)
        for service in ("sts", "cloudformation", "dynamodb"):
            session.client(service, endpoint_url="http://127.0.0.1:9")

    threads = [threading.Thread(target=account, args=(f"AKIA{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert parsed and len(parsed) == len(set(parsed)), sorted(parsed)
