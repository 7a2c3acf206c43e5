"""The image stage on the real Docker engine (the sandbox's), building the real Dockerfile.

Builds run in a temporary git copy of the build context (so edits elsewhere in the checkout
do not move tags mid-test), on the sandbox's offline base image with the stand-in backup-utils.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from ghe_backup import __version__
from ghe_backup.delivery.image.args import build_args
from ghe_backup.delivery.image.build import PIP_CA_MEMBER, build_image, current_image, with_member
from ghe_backup.delivery.image.context import context_archive
from ghe_backup.delivery.image.records import image_records
from ghe_backup.delivery.target import BuildSite
from ghe_backup.edge.settings import pip_cert
from ghe_backup.errors import ExitCode, StageFailed, Unreachable, UsageError
from ghe_backup.plumbing import engine as docker_engine
from support.context_repo import commit_all, make_repo, sandbox_site

REPO = Path(__file__).resolve().parents[3]


def _image_requirements():
    spec = importlib.util.spec_from_file_location("image_requirements", REPO / "scripts" / "image_requirements.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pins(text: str) -> dict[str, str]:
    pairs = (line.split("==", 1) for line in text.splitlines() if "==" in line and not line.startswith((" ", "#")))
    return {name.strip().lower(): version.strip() for name, version in pairs}


def test_image_requirements_are_the_locks_pins_and_up_to_date():
    module = _image_requirements()
    lock = (REPO / "requirements.lock").read_text()
    image = (REPO / "requirements-image.txt").read_text()
    assert image == module.render(lock), "run: .venv/bin/python scripts/image_requirements.py"
    pins, locked = _pins(image), _pins(lock)
    assert {"boto3", "botocore", "pyyaml", "croniter", "python-dateutil"} <= set(pins)
    assert {name: locked[name] for name in pins} == pins
    assert not {"docker", "invoke", "rich", "stups-senza", "moto", "pytest"} & set(pins)  # pipeline tools stay out


def test_the_requirements_closure_follows_via_annotations():
    module = _image_requirements()
    lock = "a==1\n    # via ghe-backup (pyproject.toml)\nb==2\n    # via\n    #   a\n    #   x\nc==3\n    # via b\nx==9\n    # via moto\n"
    assert module.image_pins(lock, ("a",)) == {"a": "1", "b": "2", "c": "3"}


def test_the_hosts_pip_ca_bundle_goes_into_the_context_only(tmp_path, monkeypatch):
    for name in ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    assert pip_cert(None, system_bundle=tmp_path / "none.crt") is None
    system = tmp_path / "system.crt"
    system.write_text("-----BEGIN CERTIFICATE-----\n")
    assert pip_cert(None, system_bundle=system) == system  # the host's own trust, when nothing is named
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert pip_cert(None, system_bundle=system) == bundle
    monkeypatch.delenv("SSL_CERT_FILE")
    monkeypatch.setenv("PIP_CERT", str(bundle))
    assert pip_cert(None) == bundle
    monkeypatch.setenv("PIP_CERT", str(tmp_path / "missing.pem"))
    with pytest.raises(UsageError, match="is not a file"):
        pip_cert(None)
    root = make_repo(tmp_path / "repo")
    archive = with_member(context_archive(root), PIP_CA_MEMBER, bundle.read_bytes())
    with tarfile.open(fileobj=io.BytesIO(archive.read())) as tar:
        names = tar.getnames()
        assert "Dockerfile" in names and names[-1] == PIP_CA_MEMBER
        assert tar.extractfile(PIP_CA_MEMBER).read() == bundle.read_bytes()


def test_an_unreachable_engine_is_exit_3(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    with pytest.raises(Unreachable) as err:
        build_image(BuildSite(root=make_repo(tmp_path / "repo"), docker_host=None, build_args=build_args({})))
    assert err.value.exit_code == ExitCode.UNREACHABLE and "no-docker.sock is not reachable" in str(err.value)


@pytest.mark.integration
class TestOnTheEngine:
    @pytest.fixture(scope="class")
    @classmethod
    def built(cls, sandbox_engine_registry, tmp_path_factory):
        root = make_repo(tmp_path_factory.mktemp("image"))
        site = sandbox_site(root, sandbox_engine_registry)
        return root, site, build_image(site)

    def test_builds_smoke_tests_and_records_the_image(self, built):
        root, site, result = built
        assert result.smoke == f"ghe-backup-service {__version__}"
        assert result.tag.startswith(
            subprocess.check_output(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, text=True).strip()
        )
        assert image_records(root / ".state")[result.tag].id == result.id
        assert result.app_size is not None and 0 < result.app_size <= 40_000_000

    def test_metadata_labels_healthcheck_and_backup_utils(self, built, sandbox_engine_registry):
        root, site, result = built
        client = docker_engine.connect(site.docker_host)
        info = client.inspect_image(result.id)["Config"]
        revision = subprocess.check_output(["git", "rev-parse", "HEAD"], cwd=root, text=True).strip()
        assert info["Labels"]["org.opencontainers.image.revision"] == revision
        assert info["Labels"]["org.opencontainers.image.version"] == __version__
        assert info["Labels"]["org.opencontainers.image.source"]
        assert info["Entrypoint"] == ["tini", "--", "ghe-backup-service"] and info["Cmd"] == ["run"]
        assert info["Healthcheck"]["Test"][1].startswith("ghe-backup-service health")
        script = "ghe-backup-service --version && ghe-backup --version && python3 -c 'import boto3, botocore, yaml, croniter; print(boto3.__version__, botocore.__version__, yaml.__version__)' && ls /tmp"
        container = client.create_container(result.id, entrypoint=["sh", "-c"], command=[script], network_disabled=True)
        client.start(container)
        status = client.wait(container, timeout=60)
        logs = client.logs(container).decode()
        client.remove_container(container, force=True)
        assert status["StatusCode"] == 0, logs
        assert "backup-utils" in logs
        pins = _pins((REPO / "requirements-image.txt").read_text())  # the lock's versions, not Debian's
        assert f"{pins['boto3']} {pins['botocore']} {pins['pyyaml']}" in logs
        assert "pip-ca.pem" not in logs and "deps" not in logs  # the pip stage's files stay there

    def test_nothing_changed_means_nothing_built(self, built):
        root, site, result = built
        again = build_image(site)
        assert (again.built, again.id, again.tag) == (False, result.id, result.tag)
        assert current_image(site).id == result.id

    def test_a_code_change_rebuilds_only_the_last_layers(self, built):
        root, site, result = built
        module = root / "ghe_backup" / "backup" / "__init__.py"
        module.write_text(module.read_text() + f"# a one-line change {uuid.uuid4()}\n")  # new to the engine's cache
        changed = build_image(site)
        assert changed.tag != result.tag and changed.built
        # the code stage (its COPY, its ARG and the RUN fixing its directories' mtimes), the image's last COPY
        assert changed.rebuilt_steps == 4, "only the code's steps may run"
        commit_all(root, "one line")
        committed = build_image(site)
        assert (
            committed.tag != changed.tag and committed.rebuilt_steps == 2
        )  # new revision: LABEL and the COPY after it

    def test_a_failing_step_is_named(self, built, tmp_path):
        root = make_repo(tmp_path / "repo")
        dockerfile = root / "Dockerfile"
        dockerfile.write_text(
            dockerfile.read_text().replace("# Our program last", "RUN echo about to fail && false\n# Our program last")
        )
        with pytest.raises(StageFailed) as err:
            build_image(dataclasses.replace(built[1], root=root))
        assert err.value.exit_code == ExitCode.FAILED
        assert (
            "RUN echo about to fail && false: The command '/bin/sh -c echo about to fail && false' returned a non-zero code: 1"
            in str(err.value)
        )
        assert "last output: about to fail" in str(err.value)

    def test_a_dockerfile_syntax_error_is_reported(self, built, tmp_path):
        root = make_repo(tmp_path / "repo")
        (root / "Dockerfile").write_text("FROM scratch\nFROBNICATE now\n")
        with pytest.raises(
            StageFailed, match="Dockerfile error: dockerfile parse error line 2: unknown instruction: FROBNICATE"
        ):
            build_image(dataclasses.replace(built[1], root=root))

    def test_an_image_whose_entrypoint_fails_fails_the_smoke_test(self, built, tmp_path):
        root = make_repo(tmp_path / "repo")
        (root / "ghe_backup" / "__main__.py").write_text("import sys\nsys.exit('broken on purpose')\n")
        with pytest.raises(
            StageFailed, match=r"smoke test of ghe-backup:\S+ failed: '--version' exited 1: broken on purpose"
        ):
            build_image(dataclasses.replace(built[1], root=root))
