"""The sandbox's engine, registry and base-image components (real processes and images)."""

from __future__ import annotations

import shutil
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
    pids = {name: recorded_pid(state.dir, registry.process_name(name)) for name in state.endpoints["registries"]}
    before = dict(state.endpoints)
    for component in (engine, registry, baseimage):
        component.start(state)
    assert state.endpoints == before
    assert pids == {name: recorded_pid(state.dir, registry.process_name(name)) for name in pids}
    for address in state.endpoints["registries"].values():
        with urllib.request.urlopen(f"http://{address}/v2/", timeout=5) as answer:
            assert answer.status == 200


def config_root(tmp_path):
    """A root with the fixture tree's accounts (prod, staging) for a sandbox of its own."""
    from support.context_repo import FIXTURE_TREE

    for folder in ("config", "senza"):
        shutil.copytree(FIXTURE_TREE / folder, tmp_path / folder)
    return tmp_path


@pytest.mark.integration
def test_each_account_gets_its_own_registry_that_starts_and_stops(tmp_path, sandbox_engine_registry, monkeypatch):
    monkeypatch.setenv("GHE_SANDBOX_PORT_BASE", str(registry.free_port(6300) + 500))
    state = SandboxState(root=config_root(tmp_path))
    registry.start(state)
    addresses = state.endpoints["registries"]
    assert sorted(addresses) == ["prod", "staging"] and len(set(addresses.values())) == 2
    assert registry.is_up(state) and (tmp_path / ".sandbox" / "registry-prod" / "config.yml").is_file()
    pids = [recorded_pid(state.dir, registry.process_name(name)) for name in addresses]
    registry.stop(state)
    assert None not in pids and not registry.is_up(state)
    assert not any(is_running(pid) for pid in pids)
    assert not any(registry.answers(address) for address in addresses.values())


@pytest.mark.integration
def test_up_replaces_the_one_shared_registry_of_an_older_sandbox(tmp_path, sandbox_engine_registry, monkeypatch):
    monkeypatch.setenv("GHE_SANDBOX_PORT_BASE", str(registry.free_port(6400) + 500))
    state = SandboxState(root=config_root(tmp_path))
    state.endpoints["registry"] = registry.serve(state.dir, registry.LEGACY_NAME, registry.free_port(6950))
    legacy = recorded_pid(state.dir, registry.LEGACY_NAME)
    try:
        registry.start(state)
        assert "registry" not in state.endpoints and sorted(state.endpoints["registries"]) == ["prod", "staging"]
        assert not is_running(legacy)
    finally:
        registry.stop(state)


@pytest.mark.integration
def test_a_reused_engine_is_never_stopped(tmp_path, sandbox_engine_registry):
    state = SandboxState(root=tmp_path)  # has not started anything
    engine.start(state)
    assert recorded_pid(state.dir, "engine") is None
    engine.stop(state)
    assert engine.is_up(state)


@pytest.mark.parametrize("emulator_up", [True, False])
def test_agents_restart_when_the_emulator_had_to_be_started(tmp_path, monkeypatch, emulator_up):
    """A killed moto comes back knowing none of the agents' credentials: they get new ones."""
    import ghe_backup.sandbox as sandbox

    calls: list[str] = []

    class Fake:
        def __init__(self, name):
            self.name = name

        def is_up(self, state):
            return emulator_up if self.name == "aws" else True

        def start(self, state):
            calls.append(f"start {self.name}")

        def stop(self, state):
            calls.append(f"stop {self.name}")

    monkeypatch.setattr(sandbox, "_component", Fake)
    monkeypatch.setattr(sandbox, "status", lambda root: {})
    monkeypatch.setattr(sandbox.SandboxState, "save", lambda self: None)
    sandbox.up(tmp_path)
    restarted = ["stop lizzy", "start lizzy"]
    assert (calls[-2:] == restarted) is not emulator_up and calls[-1] == "start lizzy"
