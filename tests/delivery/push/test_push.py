"""The push stage against real Distribution registries (started per test module in a temp dir)."""

from __future__ import annotations

import base64
import json
import uuid
import warnings

import pytest

from ghe_backup.delivery.image.build import build_image, current_image
from ghe_backup.delivery.push.push import TagConflict, push_image
from ghe_backup.delivery.push.records import PushResult, pushed_image, record_push
from ghe_backup.delivery.push.registry_api import RegistryClient
from ghe_backup.errors import ExitCode, StageFailed, Unreachable
from ghe_backup.sandbox import registry as registry_component
from ghe_backup.sandbox.processes import stop_process
from support.context_repo import make_repo, registry_targets, sandbox_site


def result(account: str, registry: str, digest: str) -> PushResult:
    return PushResult(
        account=account,
        registry=registry,
        repository=f"{registry}/ghe-backup",
        tag="abc",
        digest=digest,
        image_id="sha256:1",
        uploaded_bytes=0,
        skipped=True,
        sandbox=registry.startswith("127."),
        seconds=0.1,
    )


def test_pushed_image_reads_the_latest_push_per_account_and_registry(tmp_path):
    assert pushed_image(tmp_path, "prod") is None
    record_push(tmp_path, result("prod", "1.dkr.ecr.eu-central-1.amazonaws.com", "sha256:real"))
    record_push(tmp_path, result("prod", "127.0.0.1:5000", "sha256:sandbox"))
    assert pushed_image(tmp_path, "prod").digest == "sha256:sandbox"
    assert pushed_image(tmp_path, "prod", registry="1.dkr.ecr.eu-central-1.amazonaws.com").digest == "sha256:real"
    assert pushed_image(tmp_path, "staging") is None
    assert pushed_image(tmp_path, "prod").reference == "127.0.0.1:5000/ghe-backup:abc@sha256:sandbox"


@pytest.fixture(scope="module")
def registries(tmp_path_factory):
    """An open registry and one that wants a password (htpasswd, bcrypt), both on 127.0.0.1."""
    state_dir = tmp_path_factory.mktemp("registries")
    htpasswd = state_dir / "htpasswd"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

        htpasswd.write_text(f"pusher:{crypt.crypt('right-password', crypt.mksalt(crypt.METHOD_BLOWFISH))}\n")
    try:
        yield {
            "open": registry_component.serve(state_dir, "open", registry_component.free_port(5600)),
            "locked": registry_component.serve(
                state_dir, "locked", registry_component.free_port(5700), htpasswd=htpasswd
            ),
            "taken": registry_component.serve(state_dir, "taken", registry_component.free_port(5750)),
        }
    finally:
        for name in ("open", "locked", "taken"):
            stop_process(state_dir, name)


@pytest.mark.integration
class TestAgainstRegistries:
    @pytest.fixture(scope="class")
    @classmethod
    def repo(cls, sandbox_engine_registry, tmp_path_factory):
        root = make_repo(tmp_path_factory.mktemp("push"))
        site = sandbox_site(root, sandbox_engine_registry)
        build_image(site)
        return root, site

    def test_push_records_the_digest_and_a_repush_uploads_nothing(self, repo, registries):
        root, site = repo
        [first] = push_image(registry_targets(site, registries["open"], "prod"))
        assert not first.skipped and first.digest.startswith("sha256:") and first.uploaded_bytes > 0
        assert pushed_image(root / ".state", "prod").digest == first.digest
        again = push_image(registry_targets(site, registries["open"], "prod", "staging"))
        assert [r.skipped for r in again] == [True, True] and {r.digest for r in again} == {first.digest}
        assert sum(r.uploaded_bytes for r in again) == 0
        assert json.loads((root / ".state" / "pushes.json").read_text())["staging"]["latest"] == registries["open"]

    def test_a_code_change_uploads_only_the_app_layer(self, repo, registries):
        root, site = repo
        push_image(registry_targets(site, registries["open"], "prod"))
        module = root / "ghe_backup" / "backup" / "__init__.py"
        module.write_text(module.read_text() + f"# change {uuid.uuid4()}\n")
        image = build_image(site)
        [changed] = push_image(registry_targets(site, registries["open"], "prod"))
        assert changed.tag == image.tag and not changed.skipped
        assert 0 < changed.uploaded_bytes <= 0.05 * image.size

    def test_an_unreachable_registry_is_exit_3(self, repo, registries):
        root, site = repo
        with pytest.raises(Unreachable) as err:
            push_image(registry_targets(site, f"127.0.0.1:{registry_component.free_port(5999)}", "prod"))
        assert err.value.exit_code == ExitCode.UNREACHABLE and "is not reachable" in str(err.value)

    def test_bad_credentials_fail_the_push_without_showing_them(self, repo, registries, tmp_path, monkeypatch, capfd):
        root, site = repo
        auth = base64.b64encode(b"pusher:wrong-password-value").decode()
        (tmp_path / "config.json").write_text(json.dumps({"auths": {registries["locked"]: {"auth": auth}}}))
        monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
        with pytest.raises(StageFailed) as err:
            push_image(registry_targets(site, registries["locked"], "prod"))
        assert err.value.exit_code == ExitCode.FAILED and "refused the credentials" in str(err.value)
        out, errout = capfd.readouterr()
        assert "wrong-password-value" not in str(err.value) + out + errout and auth not in str(err.value) + out + errout

    def test_right_credentials_from_the_docker_config_push(self, repo, registries, tmp_path, monkeypatch):
        root, site = repo
        auth = base64.b64encode(b"pusher:right-password").decode()
        (tmp_path / "config.json").write_text(json.dumps({"auths": {registries["locked"]: {"auth": auth}}}))
        monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
        [pushed] = push_image(registry_targets(site, registries["locked"], "staging"))
        assert pushed.digest.startswith("sha256:")

    def test_a_tag_holding_other_content_is_never_pushed_over(self, repo, registries):
        """Content tags are immutable: refused (exit 1) naming both digests; the registry keeps its image."""
        from support.registries import put_image

        root, site = repo
        image = current_image(site)
        registry = RegistryClient(registries["taken"])
        theirs = put_image(registry, "ghe-backup", image.tag, [{"other.txt": b"not this build"}])
        with pytest.raises(TagConflict) as err:
            push_image(registry_targets(site, registries["taken"], "prod"))
        message = str(err.value)
        assert err.value.exit_code == ExitCode.FAILED
        assert f"manifest {theirs.digest}" in message and f"image {theirs.config.digest}" in message
        assert f"this build is image {image.id}" in message and "content tags are immutable" in message
        assert registry.manifest_digest("ghe-backup", image.tag) == theirs.digest  # unchanged
        assert pushed_image(root / ".state", "prod", registry=registries["taken"]) is None  # nothing recorded
