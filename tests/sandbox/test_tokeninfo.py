"""The sandbox token-info endpoint: grants, refusals, and no token in its log."""

from __future__ import annotations

import io
import json
import threading
import urllib.error
import urllib.request
from http.server import ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from ghe_backup.sandbox import tokeninfo


def test_tokens_are_private_files(tmp_path):
    state = SimpleNamespace(dir=tmp_path)
    tokeninfo._ensure_tokens(tmp_path / "tokeninfo")
    grants = tokeninfo.read_tokens(state)
    assert sorted(g["uid"] for g in grants.values()) == [tokeninfo.DEPLOYER_UID, tokeninfo.OTHER_UID]
    for name in ("token", "tokens.json"):
        assert (tmp_path / "tokeninfo" / name).stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "tokeninfo" / "token").read_text().strip() in grants


def test_answers_like_an_identity_provider(monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), tokeninfo.make_handler({"good": {"uid": "u", "scope": ["deployer"]}})
    )
    # shutdown() waits for the poll loop: a short interval, not the default half second
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}{tokeninfo.PATH}?access_token="
    try:
        with urllib.request.urlopen(url + "good") as answer:
            assert json.load(answer)["scope"] == ["deployer"]
        with pytest.raises(urllib.error.HTTPError) as excinfo:
            urllib.request.urlopen(url + "bad")
        assert excinfo.value.code == 401
    finally:
        server.shutdown()
    assert "good" not in log.getvalue() and tokeninfo.PATH in log.getvalue()
