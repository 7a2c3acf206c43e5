"""The Lizzy client against a small real HTTP server on loopback: tokens, refusals, retries."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from ghe_backup.delivery.deploy.deployers.lizzy_client import LizzyClient, LizzyProblem, LizzyRefused, check_url
from ghe_backup.delivery.target import TokenSource
from ghe_backup.errors import ConfigError, Unreachable

TOKEN = "s3cr3t-token-value"


@pytest.fixture
def agent():
    """A stand-in agent answering from ``answers`` (path -> list of (status, body)), last one repeats."""
    answers, seen = {}, []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            seen.append((self.command, self.path, self.headers.get("Authorization")))
            queue = answers.get((self.command, self.path), [(404, {"title": "Not Found"})])
            status, body = queue.pop(0) if len(queue) > 1 else queue[0]
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _answer

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # a short poll interval: shutdown() waits for one (0.5 s by default, at every teardown)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_port}", answers=answers, seen=seen)
    server.shutdown()


def client(url, attempts=3):
    return LizzyClient(url, TOKEN, attempts=attempts, max_wait=0.05)


def test_sends_the_bearer_token_and_reads_stacks(agent):
    agent.answers[("GET", "/api/stacks")] = [
        (200, [{"stack_name": "ghe-backup", "version": "v1", "status": "CREATE_COMPLETE"}])
    ]
    [stack] = client(agent.url).list_stacks()
    assert stack.id == "ghe-backup-v1" and agent.seen[0][2] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("status", [401, 403])
def test_refusals_are_bad_input_without_the_token(agent, status):
    agent.answers[("GET", "/api/stacks")] = [(status, {"title": "no", "detail": f"token {TOKEN} is not valid"})]
    with pytest.raises(LizzyRefused) as excinfo:
        client(agent.url).list_stacks()
    assert f"({status})" in str(excinfo.value) and TOKEN not in str(excinfo.value)


def test_transient_answers_are_retried(agent):
    ok = (200, [{"stack_name": "ghe-backup", "version": "v1", "status": "CREATE_IN_PROGRESS"}])
    agent.answers[("GET", "/api/stacks")] = [(503, {"title": "busy"}), (429, {"title": "slow down"}), ok]
    assert client(agent.url).list_stacks()[0].status == "CREATE_IN_PROGRESS"
    assert len(agent.seen) == 3


def test_a_senza_failure_is_an_answer_with_its_first_line(agent):
    output = 'Generating Cloud Formation template.. OK\nTraceback (most recent call last):\n  File "x"\nValueError: bad thing\n'
    agent.answers[("POST", "/api/stacks")] = [(500, {"title": "Execution Error", "detail": output})]
    with pytest.raises(LizzyProblem) as excinfo:
        client(agent.url).create_stack("SenzaInfo: {}", "v1", ["ImageVersion=t"])
    assert str(excinfo.value) == "Lizzy answered 500: ValueError: bad thing" and len(agent.seen) == 1


def test_an_unreachable_agent_is_exit_3_after_the_attempts():
    with pytest.raises(Unreachable, match="tried 2 times"):
        client("http://127.0.0.1:9", attempts=2).list_stacks()


def test_tokens_only_go_over_https_or_loopback():
    check_url("https://lizzy.example.org")
    check_url("http://127.0.0.1:5510")
    with pytest.raises(ConfigError):
        check_url("http://lizzy.example.org")


def test_token_from_env_command_or_file(monkeypatch, tmp_path):
    monkeypatch.setenv("TEST_LIZZY_TOKEN", "from-env")
    assert TokenSource(env="TEST_LIZZY_TOKEN", account="prod").read() == "from-env"
    monkeypatch.delenv("TEST_LIZZY_TOKEN")
    assert TokenSource(env="TEST_LIZZY_TOKEN", command="echo from-command", account="prod").read() == "from-command"
    with pytest.raises(ConfigError, match=r"prod: no Lizzy token: \$TEST_LIZZY_TOKEN is empty"):
        TokenSource(env="TEST_LIZZY_TOKEN", account="prod").read()
    (tmp_path / "token").write_text("from-file\n")
    assert TokenSource(env="TEST_SANDBOX_TOKEN", file=tmp_path / "token", account="prod").read() == "from-file"
    with pytest.raises(ConfigError, match="lizzy_token_command failed"):
        TokenSource(env="TEST_LIZZY_TOKEN", command="false", account="prod").read()


def test_aws_unreachable_from_the_agent_is_a_fault_not_a_verdict(agent):
    output = (
        "Creating Cloud Formation stack ghe-backup-v1\n"
        "Traceback (most recent call last):\n"
        'botocore.exceptions.EndpointConnectionError: Could not connect to the endpoint URL: "http://127.0.0.1:5501/"\n'
    )
    agent.answers[("POST", "/api/stacks")] = [(500, {"title": "Execution Error", "detail": output})]
    with pytest.raises(Unreachable) as excinfo:
        client(agent.url).create_stack("SenzaInfo: {}", "v1", ["ImageVersion=t"])
    message = str(excinfo.value)
    assert "AWS unreachable from the Lizzy agent" in message and "Could not connect to the endpoint URL" in message
    assert excinfo.value.exit_code == 3
