"""Checks of single values: what each key must mean, refused and accepted alike (no false alarms)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ghe_backup.delivery.config import values
from ghe_backup.delivery.config.values import MISSING

SETTINGS = SimpleNamespace(account_id="123456789012", region="eu-central-1", deployer="lizzy", deploy_timeout=1800)


def problem(check, value, **settings):
    found = check(value, SimpleNamespace(**{**vars(SETTINGS), **settings}))
    return None if found is None else f"{found[0]} ({found[1]})"


@pytest.mark.parametrize(
    "check, good",
    [
        (values.account_id, ["123456789012", "000000000000"]),
        (values.region, ["eu-central-1", "us-east-1", "cn-north-1", "us-gov-west-1", "ap-southeast-7"]),
        (
            values.lizzy_url,
            [
                "https://lizzy.example.org",
                "https://lizzy.example.org:8443/base",
                "http://127.0.0.1:5510",
                "http://localhost/",
            ],
        ),
        (values.token_env, ["LIZZY_TOKEN", "_X", MISSING]),
        (values.token_command, ["zign token -n lizzy", "cat '/run/secrets/lizzy token'", MISSING]),
        (values.deploy_role, ["ghe-backup-deployer", "path/to/role", "a+b=c,d.e@f_g-h", MISSING]),
        (
            values.registry,
            ["123456789012.dkr.ecr.eu-central-1.amazonaws.com", "127.0.0.1:5000", "registry.example.org/team"],
        ),
        (values.deploy_timeout, [60, 1800, 21600, MISSING]),
        (values.poll_max_interval, [0.1, 2, 60, MISSING]),
        (values.instance_type, ["t3.medium", "m5.large", "m7i.48xlarge", MISSING]),
        (values.image_source, ["${registry}/${image}:{{Arguments.ImageVersion}}"]),
        (values.kms_ciphertext, ["aws:kms:AQICAHhprodPLACEHOLDERciphertext==", "aws:kms:" + "A" * 300]),
        (
            values.hostname,
            ["github.example.org", "github.example.org:122", "admin@github.example.org", "10.0.0.1", "ghe"],
        ),
        (values.snapshots, [1, 48, 1000, MISSING]),
        (values.schedule, ["0 */2 * * *", "0 1-23/2 * * *", "30 3 * * mon-fri", "0 */2 * * * 30"]),
    ],
)
def test_good_values_pass(check, good):
    for value in good:
        assert problem(check, value) is None, value


@pytest.mark.parametrize(
    "check, value, message",
    [
        (
            values.account_id,
            "１２３４５６７８９０１２",
            "has characters that only look like digits (type the 12 digits in ASCII)",
        ),
        (
            values.account_id,
            "123456789012\n",
            "'123456789012\\n' has spaces or a line break around it (write exactly 12 digits, quoted)",
        ),
        (values.region, "eu-central-9", "'eu-central-9' is not an AWS region (did you mean eu-central-2?)"),
        (values.region, "mars-north-1", "'mars-north-1' is not an AWS region"),
        (values.lizzy_url, MISSING, "missing required key (deployer 'lizzy' needs the agent's https URL)"),
        (
            values.lizzy_url,
            "https://admin:hunter2@lizzy.example.org",
            "carries credentials (user:password@) in the URL (not shown)",
        ),
        (
            values.lizzy_url,
            "https://eyJhbGciOiJIUzI1NiJ9@lizzy.example.org",
            "carries credentials (user:password@) in the URL (not shown)",
        ),
        (values.lizzy_url, "http://lizzy.example.org", "'http://lizzy.example.org' is not an https URL"),
        (values.lizzy_url, "https://lizzy.example.org:99999", "is not a URL (a bad port?) (use https://host[:port])"),
        (values.lizzy_url, "https://lizzy.example.org/?token=x", "has a query, a fragment, spaces or port 0"),
        (values.lizzy_url, "https://lizzy.ex\u0430mple.org", "has non-ASCII letters in its host name"),
        (values.lizzy_url, "lizzy.example.org", "is not an https URL"),
        (values.token_command, "zign token 'x", "cannot be split into words (an unclosed quote?)"),
        (values.token_command, "   ", "is empty (give a command that prints the token, or remove the key)"),
        (
            values.deploy_role,
            "arn:aws:iam::999999999999:role/x",
            "is an ARN of account 999999999999 (give the role's name",
        ),
        (values.deploy_role, "arn:aws:iam::123456789012:role/x", "is an ARN (give the role's name"),
        (values.deploy_role, "deployer role", "'deployer role' is not an IAM role name"),
        (
            values.registry,
            "999999999999.dkr.ecr.eu-central-1.amazonaws.com",
            "is the ECR registry of account 999999999999, not of 123456789012 (use 123456789012.dkr.ecr.eu-central-1.amazonaws.com)",
        ),
        (
            values.registry,
            "123456789012.dkr.ecr.eu-moon-1.amazonaws.com",
            "names the region 'eu-moon-1', which does not exist",
        ),
        (values.deploy_timeout, 5, "5 seconds is too short for a stack (use 60 to 21600)"),
        (values.deploy_timeout, 10**12, "1000000000000 seconds is absurd (use 60 to 21600)"),
        (values.poll_max_interval, float("nan"), "nan is not a number of seconds between 0.1 and 60 (e.g. 2)"),
        (values.poll_max_interval, float("inf"), "inf is not a number of seconds between 0.1 and 60"),
        (values.poll_max_interval, -0.0, "-0.0 is not a number of seconds between 0.1 and 60"),
        (values.instance_type, "m5.lrage", "'m5.lrage' is not an EC2 instance type (did you mean m5.large"),
        (values.instance_type, "x9.huge", "'x9.huge' is not an EC2 instance type"),
        (values.image_source, "docker.io/other:latest", "'docker.io/other:latest' is not the pushed image"),
        (values.image_source, MISSING, "missing: the instance would run no image"),
        (values.kms_ciphertext, "aws:kms:set-in-the-account-overlay", "is not KMS ciphertext (base64 after aws:kms:)"),
        (
            values.kms_ciphertext,
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
            "holds private key, not KMS ciphertext (not shown)",
        ),
        (values.kms_ciphertext, MISSING, "missing: the container could not log in to the appliance"),
        (
            values.hostname,
            "https://github.example.org/",
            "'https://github.example.org/' is a URL, not a host name (give the host only: github.example.org)",
        ),
        (
            values.hostname,
            "github.example.org/api",
            "is a URL, not a host name (give the host only: github.example.org)",
        ),
        (values.hostname, "", "missing or empty: backups need the appliance's host name"),
        (values.hostname, MISSING, "missing or empty"),
        (values.hostname, "git hub", "'git hub' is not a valid host name"),
        (values.hostname, "github.example.org:0", "is not a host backup-utils can reach"),
        (values.hostname, "github.example.org:8443", "only connects to the appliance's administrative SSH port 122"),
        (values.hostname, 42, "42 is not a host name"),
        (values.snapshots, 0, "0 is out of range: no snapshot would be kept (keep 1 to 1000 snapshots)"),
        (values.snapshots, -3, "-3 is out of range: no snapshot would be kept"),
        (values.snapshots, 10**9, "1000000000 is out of range: every snapshot holds a full set of hard links"),
        (values.snapshots, "72", "'72' is not a whole number (give a number from 1 to 1000, unquoted)"),
        (values.snapshots, "many", "'many' is not a whole number"),
        (values.snapshots, 4.5, "4.5 is not a whole number"),
        (values.snapshots, True, "True is not a whole number"),
        (values.schedule, "0 25 * * *", "'0 25 * * *' is not a cron expression the container accepts"),
        (values.schedule, "@hourly", "'@hourly' is not a cron expression the container accepts"),
        (values.schedule, "0 0 31 2 *", "'0 0 31 2 *' never fires within a year (a day that does not exist?)"),
        (values.schedule, "0 0 29 2 *", "'0 0 29 2 *' never fires within a year"),
        (values.schedule, "* * * * * * *", "is not a cron expression the container accepts"),
        (values.schedule, "\uff10 */2 * * *", "has non-ASCII characters (type the cron expression in ASCII"),
        (values.schedule, MISSING, "missing or empty: the container refuses to start without a schedule"),
        (values.schedule, 5, "missing or empty"),
    ],
)
def test_bad_values_are_refused_with_what_and_how_to_fix(check, value, message):
    found = problem(check, value)
    assert found is not None and message in found, found


def test_a_secret_in_a_value_is_never_echoed():
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyMTIzNDUifQ.c2lnbmF0dXJlMTIzNDU2Nzg5"
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----"
    for check, value in [
        (values.token_env, token),
        (values.kms_ciphertext, key),
        (values.lizzy_url, f"https://user:{token}@lizzy.example.org"),
        (values.deploy_role, token),
        (values.hostname, token),
        (values.region, token),
        (values.instance_type, token),
    ]:
        found = problem(check, value)
        assert found is not None and token not in found and "BEGIN" not in found and "b3Bl" not in found, found


def test_senza_deployer_needs_no_agent():
    assert problem(values.lizzy_url, MISSING, deployer="senza") is None
