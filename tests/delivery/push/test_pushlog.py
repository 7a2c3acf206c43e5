"""Reading the engine's push stream (records as the engine sends them)."""

from __future__ import annotations

import pytest

from ghe_backup.delivery.push.pushlog import PushLog
from ghe_backup.errors import StageFailed, Unreachable


def push_records(layer_bytes: int) -> list[dict]:
    return [
        {"status": "The push refers to repository [127.0.0.1:5000/ghe-backup]"},
        {"status": "Preparing", "progressDetail": {}, "id": "aaaaaaaaaaaa"},
        {"status": "Preparing", "progressDetail": {}, "id": "bbbbbbbbbbbb"},
        {
            "status": "Pushing",
            "progressDetail": {"current": layer_bytes // 2, "total": layer_bytes},
            "id": "aaaaaaaaaaaa",
        },
        {"status": "Layer already exists", "progressDetail": {}, "id": "bbbbbbbbbbbb"},
        {"status": "Pushing", "progressDetail": {"current": layer_bytes, "total": layer_bytes}, "id": "aaaaaaaaaaaa"},
        {"status": "Pushed", "progressDetail": {}, "id": "aaaaaaaaaaaa"},
        {"status": "abc: digest: sha256:d1 size: 1234"},
        {"progressDetail": {}, "aux": {"Tag": "abc", "Digest": "sha256:d1", "Size": 1234}},
    ]


def test_push_log_sums_uploaded_layers_and_reads_the_digest():
    said: list[str] = []
    log = PushLog(registry="r", say=said.append)
    for record in push_records(80_000):
        log.feed(record)
    assert log.uploaded_bytes == 80_000 and log.result_digest() == "sha256:d1"
    assert {k: v.status for k, v in log.layers.items()} == {"aaaaaaaaaaaa": "pushed", "bbbbbbbbbbbb": "exists"}
    assert "layer aaaaaaaaaaaa: pushed 80.0 kB" in said and "layer bbbbbbbbbbbb: already in the registry" in said


def test_a_push_stream_without_a_digest_fails():
    log = PushLog(registry="r")
    with pytest.raises(StageFailed, match="without a digest"):
        log.result_digest()


@pytest.mark.parametrize(
    ("message", "error", "code", "fragment"),
    [
        (
            'Get "http://127.0.0.1:5999/v2/": dial tcp 127.0.0.1:5999: connect: connection refused',
            Unreachable,
            3,
            "not reachable",
        ),
        ("unauthorized: authentication required", StageFailed, 1, "refused the credentials"),
        ("denied: requested access to the resource is denied", StageFailed, 1, "refused the credentials"),
        ("write /data/docker/registry/v2/blobs/x: no space left on device", StageFailed, 1, "out of disk space"),
        ("blob upload invalid", StageFailed, 1, "push to reg.example failed"),
    ],
)
def test_errors_inside_the_push_stream_are_raised_typed(message, error, code, fragment):
    log = PushLog(registry="reg.example")
    with pytest.raises(error) as raised:
        log.feed({"errorDetail": {"message": message}, "error": message})
    assert raised.value.exit_code == code and fragment in str(raised.value)


def test_credentials_in_a_push_error_are_redacted():
    log = PushLog(registry="reg.example", secrets=("s3cr3t-token-value",))
    with pytest.raises(StageFailed) as raised:
        log.feed({"error": "unauthorized: token s3cr3t-token-value rejected"})
    assert "s3cr3t-token-value" not in str(raised.value) and "<redacted>" in str(raised.value)
