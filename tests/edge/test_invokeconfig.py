"""Invoke's config files, read safely and checked against the known settings."""

from __future__ import annotations

import os

import pytest

from ghe_backup.edge.invokeconfig import PipelineConfig
from ghe_backup.errors import ConfigError, ExitCode


def load(folder, content=None, name="invoke.yaml"):
    if content is not None:
        (folder / name).write_text(content)
    config = PipelineConfig(project_location=str(folder))
    config.load_project()
    return config


def error_of(folder, content=None, name="invoke.yaml") -> str:
    with pytest.raises(ConfigError) as info:
        load(folder, content, name)
    assert info.value.exit_code == ExitCode.BAD_INPUT
    return str(info.value)


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_project_invoke_yaml_loads(here):
    config = load(here, "tasks:\n  executor_class: ghe_backup.edge.executor.PipelineExecutor\nghe:\n  sandbox: true\n")
    assert config.tasks.executor_class == "ghe_backup.edge.executor.PipelineExecutor"
    assert config.ghe.sandbox is True


def test_no_file_and_an_empty_file_are_fine(here):
    assert load(here).tasks.dedupe is True
    assert load(here, "# nothing\n").tasks.dedupe is True


@pytest.mark.parametrize(
    "content, message",
    [
        (
            "tasks: [\n",
            "invoke.yaml:2: malformed YAML: expected the node content, but found '<stream end>' (fix the YAML syntax)",
        ),
        ("- a\n", "invoke.yaml: (top level): is not a mapping (Invoke config is a mapping of sections)"),
        (
            "tasks: 5\n",
            "invoke.yaml:1: tasks: expected a mapping, got 5 (write it as 'tasks:' with indented settings under it)",
        ),
        (
            "ghe: [1]\n",
            "invoke.yaml:1: ghe: expected a mapping, got [1] (write it as 'ghe:' with indented settings under it)",
        ),
        ("ghe:\n  image: debian:12\n", "invoke.yaml:2: ghe.image: expected a mapping, got 'debian:12'"),
        ("ghe:\n  sandbx: true\n", "invoke.yaml:2: ghe.sandbx: unknown setting (did you mean 'sandbox'?)"),
        (
            "ghe:\n  image:\n    base: x\n",
            "invoke.yaml:3: ghe.image.base: unknown setting (known: backup_utils_source, ",
        ),
        (
            "tasks:\n  dedupe: false\n  dedupe: true\n",
            "invoke.yaml:3: tasks.dedupe: duplicate key (first given on line 2)",
        ),
        ("true: 1\n", "invoke.yaml:1: key true is a boolean, not a name"),
        ("tasks:\n  executor_class: 5\n", "invoke.yaml: tasks.executor_class: expected a dotted class name"),
    ],
)
def test_bad_invoke_yaml(here, content, message):
    assert error_of(here, content).startswith(message)


def test_invoke_json_is_read_safely_too(here):
    assert error_of(here, '{"tasks": 5}', name="invoke.json").startswith("invoke.json: tasks: expected a mapping")
    os.remove(here / "invoke.json")
    assert error_of(here, "{", name="invoke.json").startswith("invoke.json: malformed JSON:")


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory"])
def test_what_is_not_a_file_is_refused_without_reading(here, kind):
    target = here / "invoke.yaml"
    {"fifo": lambda: os.mkfifo(target), "dev-zero": lambda: target.symlink_to("/dev/zero"), "directory": target.mkdir}[
        kind
    ]()
    assert error_of(here).startswith("invoke.yaml: is ")


def test_a_runtime_config_file_that_does_not_exist_is_an_error(here):
    config = PipelineConfig(runtime_path=str(here / "nope.yaml"))
    with pytest.raises(ConfigError, match=r"-f .*nope.yaml: file not found \(give an existing Invoke config file"):
        config.load_runtime()
    (here / "yes.yaml").write_text("ghe:\n  sandbox: true\n")
    config = PipelineConfig(runtime_path=str(here / "yes.yaml"))
    config.load_runtime()
    assert config.ghe.sandbox is True
