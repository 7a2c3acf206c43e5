"""The sandbox's engine, registry and base-image components (real processes and images)."""

from __future__ import annotations

import urllib.request

import pytest

from ghe_backup.errors import ExitCode, Unreachable
from ghe_backup.sandbox import SandboxState, baseimage, debian, engine, registry
from ghe_backup.sandbox.processes import is_running, recorded_pid


def test_registry_config_listens_on_loopback_only(tmp_path):
    config = registry.registry_config(tmp_path / "data", 5123)
    assert config["http"]["addr"] == "127.0.0.1:5123"
    assert config["storage"]["filesystem"]["rootdirectory"] == str(tmp_path / "data")


def test_base_image_name_follows_the_package_list():
    name = baseimage.image_name()
    assert name.startswith("ghe-backup-base:bookworm-") and name == baseimage.image_name()
    argv = baseimage.mmdebstrap_argv("mmdebstrap", "out.tar")
    assert "--variant=apt" in argv and argv[-2:] == ["bookworm", "out.tar"]
    packages = argv[2].removeprefix("--include=").split(",")
    assert "python3-venv" in packages and not [p for p in packages if p.startswith("python3-") and p != "python3-venv"]


def test_a_missing_tool_that_cannot_be_installed_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setattr(debian, "can_install", lambda: False)
    with pytest.raises(Unreachable) as err:
        debian.ensure_command("no-such-tool-xyz", "some-package", tmp_path / "log")
    assert err.value.exit_code == ExitCode.UNREACHABLE and "apt-get install some-package" in str(err.value)


def test_no_engine_at_a_tcp_docker_host_is_exit_3(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
    with pytest.raises(Unreachable, match="tcp://127.0.0.1:1 is not reachable"):
        engine.start(SandboxState(root=tmp_path))


@pytest.mark.integration
def test_components_are_up_and_start_is_idempotent(sandbox_engine_registry):
    state = sandbox_engine_registry
    assert engine.is_up(state) and registry.is_up(state) and baseimage.is_up(state)
    pid = recorded_pid(state.dir, "registry")
    before = dict(state.endpoints)
    for component in (engine, registry, baseimage):
        component.start(state)
    assert state.endpoints == before and recorded_pid(state.dir, "registry") == pid
    with urllib.request.urlopen(f"http://{state.endpoints['registry']}/v2/", timeout=5) as answer:
        assert answer.status == 200


@pytest.mark.integration
def test_a_registry_in_a_fresh_state_dir_starts_and_stops(tmp_path, sandbox_engine_registry):
    state = SandboxState(root=tmp_path)
    state.endpoints["registry"] = f"127.0.0.1:{registry.free_port(5800)}"
    registry.start(state)
    assert registry.is_up(state) and (tmp_path / ".sandbox" / "registry" / "config.yml").is_file()
    pid = recorded_pid(state.dir, "registry")
    registry.stop(state)
    assert pid is not None and not registry.is_up(state)
    assert not is_running(pid) and not registry.answers(state.endpoints["registry"])


@pytest.mark.integration
def test_a_reused_engine_is_never_stopped(tmp_path, sandbox_engine_registry):
    state = SandboxState(root=tmp_path)  # has not started anything
    engine.start(state)
    assert recorded_pid(state.dir, "engine") is None
    engine.stop(state)
    assert engine.is_up(state)
