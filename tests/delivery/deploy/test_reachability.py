"""Preflight probes against small real servers on loopback (the agent, a registry) and moto (STS)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from ghe_backup.delivery.deploy import reachability
from ghe_backup.delivery.deploy.deployers.lizzy_client import LizzyRefused
from ghe_backup.delivery.target import AwsEndpoint, TokenSource
from ghe_backup.errors import ConfigError, ExitCode, Unreachable
from support.targets import make_target

TOKEN = "good-token-123"
KEYS = {"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key": "not-a-real-secret"}


@pytest.fixture
def server():
    """Answers ``status`` (and the stack list to a good token) after ``delay`` seconds; records requests."""
    state = SimpleNamespace(status=None, delay=0.0, seen=[])
    done = threading.Event()  # the test is over: a delayed answer is not awaited by anyone

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            state.seen.append((self.path, self.headers.get("Authorization")))
            done.wait(state.delay)
            good = self.headers.get("Authorization") == f"Bearer {TOKEN}"
            status = state.status or (200 if good else 401)
            body = json.dumps([] if status == 200 else {"title": "Unauthorized", "detail": "token not valid"}).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the client gave up waiting (what a delay tests): nothing to tell
                pass

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    state.url = f"http://127.0.0.1:{httpd.server_port}"
    state.host = f"127.0.0.1:{httpd.server_port}"
    yield state
    done.set()
    httpd.shutdown()


@pytest.fixture
def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sts():
    from support.motoserver import MotoServer

    moto = MotoServer()
    moto.start()
    yield moto.url
    moto.stop()


def target(monkeypatch, *, lizzy=None, registry="127.0.0.1:1", aws=None, token=TOKEN, **settings):
    monkeypatch.setenv("PROBE_TEST_TOKEN", token)
    return make_target(
        "prod",
        settings=settings or None,
        lizzy_url=lizzy,
        registry=registry,
        aws=aws or AwsEndpoint(),
        token=TokenSource(env="PROBE_TEST_TOKEN", account="prod"),
    )


def failure(fn, *args, **kwargs):
    with pytest.raises((ConfigError, Unreachable)) as info:
        fn(*args, **kwargs)
    return info.value


# --- the agent ---------------------------------------------------------------------------------


def test_the_agent_accepts_the_token(server, monkeypatch):
    assert reachability.probe_lizzy(target(monkeypatch, lizzy=server.url)) == (
        f"Lizzy at {server.url} accepts the token (0 stacks)"
    )
    assert server.seen == [("/api/stacks", f"Bearer {TOKEN}")]  # one request


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_is_bad_input_and_never_shown(server, monkeypatch, status):
    server.status = status
    err = failure(reachability.probe_lizzy, target(monkeypatch, lizzy=server.url))
    assert isinstance(err, LizzyRefused) and err.exit_code == ExitCode.BAD_INPUT
    assert str(err).startswith(f"Lizzy at {server.url} refused the token ({status})")
    assert TOKEN not in str(err)


def test_an_agent_that_is_down_is_unreachable_at_once(monkeypatch, closed_port):
    started = time.monotonic()
    err = failure(reachability.probe_lizzy, target(monkeypatch, lizzy=f"http://127.0.0.1:{closed_port}"))
    assert err.exit_code == ExitCode.UNREACHABLE and "unreachable" in str(err) and "tried 1 times" in str(err)
    assert time.monotonic() - started < 2


def test_an_agent_that_does_not_answer_in_time_is_unreachable(server, monkeypatch):
    server.delay = 2
    started = time.monotonic()
    err = failure(reachability.probe_lizzy, target(monkeypatch, lizzy=server.url), timeout=0.1)
    assert err.exit_code == ExitCode.UNREACHABLE and time.monotonic() - started < 1.5


def test_a_token_with_a_line_break_is_refused_before_it_is_sent(server, monkeypatch):
    err = failure(reachability.probe_lizzy, target(monkeypatch, lizzy=server.url, token=f"{TOKEN}\nX-Evil: 1"))
    assert err.exit_code == ExitCode.BAD_INPUT and TOKEN not in str(err)
    assert "has spaces, line breaks or non-ASCII characters (not shown)" in str(err)
    assert server.seen == []


# --- the registry -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 401, 404])
def test_any_http_answer_from_the_registry_is_an_answer(server, monkeypatch, status):
    server.status = status
    assert reachability.probe_registry(target(monkeypatch, registry=server.host + "/team")) == (
        f"registry {server.host} answers ({status})"
    )
    assert server.seen[0][0] == "/v2/"


def test_a_registry_that_is_down_is_unreachable(monkeypatch, closed_port):
    err = failure(reachability.probe_registry, target(monkeypatch, registry=f"127.0.0.1:{closed_port}"))
    assert err.exit_code == ExitCode.UNREACHABLE
    assert str(err).startswith(f"prod: the registry 127.0.0.1:{closed_port} does not answer (")
    assert "nothing was built or pushed" in str(err)


# --- the deploy role ----------------------------------------------------------------------------


def test_the_deploy_role_is_assumed(sts, monkeypatch):
    aws = AwsEndpoint(url=sts, credentials=KEYS)
    assert reachability.probe_role(target(monkeypatch, aws=aws)) == "assumed role ghe-backup-deployer in 123456789012"


def test_without_a_role_the_credentials_must_act_in_the_account(sts, monkeypatch):
    aws = AwsEndpoint(url=sts, credentials=KEYS)  # moto's default account is 123456789012
    assert reachability.probe_role(target(monkeypatch, aws=aws, deploy_role=None)) == "credentials act in 123456789012"
    other = target(monkeypatch, aws=aws, deploy_role=None, account_id="210987654321")
    err = failure(reachability.probe_role, other)
    assert err.exit_code == ExitCode.BAD_INPUT and "act in account 123456789012, not 210987654321" in str(err)


def test_a_role_that_cannot_be_assumed_says_why(monkeypatch):
    from botocore.exceptions import ClientError

    class Sts:
        def assume_role(self, **_):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized"}}, "AssumeRole")

    class Session:
        def client(self, *a, **k):
            return Sts()

    monkeypatch.setattr("ghe_backup.plumbing.aws.base_session", lambda region, credentials=None: Session())
    err = failure(reachability.probe_role, target(monkeypatch))
    assert err.exit_code == ExitCode.BAD_INPUT
    assert str(err) == (
        "prod: cannot assume arn:aws:iam::123456789012:role/ghe-backup-deployer: AccessDenied: not authorized "
        "(check deploy_role and your credentials)"
    )


def test_no_aws_credentials_at_all_is_bad_input(monkeypatch, tmp_path, sts):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    err = failure(reachability.probe_role, target(monkeypatch, aws=AwsEndpoint(url=sts)))
    assert err.exit_code == ExitCode.BAD_INPUT and "no AWS credentials" in str(err)


def test_an_aws_endpoint_that_is_down_is_unreachable(monkeypatch, closed_port):
    aws = AwsEndpoint(url=f"http://127.0.0.1:{closed_port}", credentials=KEYS)
    started = time.monotonic()
    err = failure(reachability.probe_role, target(monkeypatch, aws=aws))
    assert err.exit_code == ExitCode.UNREACHABLE and time.monotonic() - started < 3


# --- all of them at once ------------------------------------------------------------------------


@pytest.mark.process
def test_every_probe_runs_at_once_and_the_first_failure_in_order_wins(server, monkeypatch, closed_port):
    server.delay = 1.0
    lines = []
    good = target(monkeypatch, lizzy=server.url, registry=server.host)
    started = time.monotonic()
    probes = reachability.check_reachable([good, good], ("lizzy", "registry"), report=lines.append)
    assert time.monotonic() - started < 3.0  # four probes of 1 s each: 4 s one after the other
    assert [(p.account, p.kind) for p in probes] == [("prod", "lizzy"), ("prod", "registry")] * 2
    assert lines[0].startswith(f"prod: preflight: Lizzy at {server.url} accepts the token (0 stacks); registry")
    bad = target(monkeypatch, lizzy=server.url, registry=f"127.0.0.1:{closed_port}", token="wrong")
    err = failure(reachability.check_reachable, [bad], ("lizzy", "registry"), report=lines.append)
    assert isinstance(err, LizzyRefused)  # lizzy comes first in the order asked, though both failed


def test_a_senza_account_has_no_agent_to_probe(monkeypatch, server):
    senza = target(monkeypatch, lizzy=None, registry=server.host, deployer="senza")
    assert [p.kind for p in reachability.check_reachable([senza], ("lizzy", "registry"), report=print)] == ["registry"]


# --- the sandbox's real agents, STS and registry (integration) ----------------------------------

INV = str(Path(sys.executable).parent / "inv")
REPO = Path(__file__).resolve().parents[3]


def run_inv(root, *argv, env=None):
    """The installed inv of this checkout, on the config tree at ``root``."""
    env = {**os.environ, "GHE_BACKUP_ROOT": str(root), **(env or {})}
    return subprocess.run([INV, *argv], cwd=REPO, capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.integration
def test_the_sandbox_agents_role_and_registry_answer(sandbox_engine_registry, sandbox_accounts, shipped_tree):
    from ghe_backup.edge.targets import Resolution

    found = Resolution(shipped_tree).targets(["prod", "staging"], True)
    probes = reachability.check_reachable(found, report=lambda line: None)
    assert sorted((p.account, p.kind) for p in probes) == [
        (name, kind) for name in ("prod", "staging") for kind in ("lizzy", "registry", "role")
    ]
    assert all(p.seconds < 10 for p in probes)


@pytest.mark.integration
def test_a_token_the_agent_rejects_stops_deploy_before_the_tests_run(
    sandbox_engine_registry, sandbox_accounts, shipped_tree
):
    started = time.monotonic()
    result = run_inv(
        shipped_tree, "deploy", "--account=prod", "--sandbox", "--yes", env={"GHE_SANDBOX_LIZZY_TOKEN": "not-valid"}
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[-1].startswith("error: Lizzy at http://127.0.0.1:")
    assert "refused the token (401)" in result.stderr and "not-valid" not in result.stderr
    assert time.monotonic() - started < 10  # was: after test, image and push
    assert "passed" not in result.stdout + result.stderr and not (shipped_tree / ".state").exists()


@pytest.mark.integration
def test_debug_output_shows_no_credential(sandbox_engine_registry, sandbox_accounts, shipped_tree):
    """`inv --debug deploy` (stopped by its preflight) and `inv --debug status`: botocore logs the
    AssumeRole answer and the session token of every later call; nothing secret shows."""
    import re

    from ghe_backup.sandbox import tokeninfo

    bad_token = {"GHE_SANDBOX_LIZZY_TOKEN": "wrong-token-but-a-secret"}
    deploy = run_inv(shipped_tree, "--debug", "deploy", "--account=prod", "--sandbox", "--yes", env=bad_token)
    status = run_inv(shipped_tree, "--debug", "status", "--account=prod", "--sandbox")
    assert (deploy.returncode, status.returncode) == (2, 0), deploy.stderr[-500:] + status.stderr[-500:]
    text = deploy.stdout + deploy.stderr + status.stdout + status.stderr
    assert "<SecretAccessKey><redacted></SecretAccessKey>" in text and "'X-Amz-Security-Token': b'<redacted>'" in text
    for secret in [*tokeninfo.read_tokens(sandbox_accounts), "wrong-token-but-a-secret"]:
        assert secret not in text
    for shape in (
        r"<SecretAccessKey>(?!<redacted>)",
        r"<SessionToken>(?!<redacted>)",
        r"'X-Amz-Security-Token': b'(?!<redacted>)",
        r"x-amz-security-token:(?!<redacted>)",
        r"Signature=(?!<redacted>)[0-9a-f]",
    ):
        assert not re.search(shape, text, re.I), shape
