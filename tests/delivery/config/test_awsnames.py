"""AWS names from botocore's data, offline and lazily."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ghe_backup.delivery.config import awsnames


def test_regions_of_every_partition():
    regions = awsnames.regions()
    assert {"eu-central-1", "us-east-1", "cn-north-1", "us-gov-west-1"} <= regions
    assert "eu-central-9" not in regions


def test_instance_types_of_the_ec2_model():
    types = awsnames.instance_types()
    assert {"t3.medium", "m5.large", "c7g.16xlarge"} <= types
    assert "m5.lrage" not in types and len(types) > 500


def test_the_shape_is_found_without_decoding_the_whole_model(tmp_path):
    import gzip

    compact = '{"shapes":{"Other":{"type":"string"},"InstanceType":{"type":"string","enum":["a.b","c.d"]},"X":1}}'
    (tmp_path / "compact.json").write_text(compact)
    assert awsnames.shape_enum(tmp_path / "compact.json", "InstanceType") == ["a.b", "c.d"]
    pretty = '{"shapes": {"InstanceType": {\n  "type": "string",\n  "enum": [\n    "e.f"\n  ]}}}'
    (tmp_path / "pretty.json.gz").write_bytes(gzip.compress(pretty.encode()))
    assert awsnames.shape_enum(tmp_path / "pretty.json.gz", "InstanceType") == ["e.f"]
    other = '{"shapes": {"InstanceType": {"enum": ["g.h"], "type": "string"}}}'  # another layout: full decode
    (tmp_path / "other.json.gz").write_bytes(gzip.compress(other.encode()))
    assert awsnames.shape_enum(tmp_path / "other.json.gz", "InstanceType") == ["g.h"]


def test_no_data_means_no_check_not_a_refusal(monkeypatch, tmp_path):
    awsnames.regions.cache_clear()
    awsnames.instance_types.cache_clear()
    monkeypatch.setattr(awsnames, "_data_dir", lambda: tmp_path)
    try:
        assert awsnames.regions() is None and awsnames.instance_types() is None
    finally:
        awsnames.regions.cache_clear()
        awsnames.instance_types.cache_clear()


@pytest.mark.process
def test_loading_does_not_import_botocore():
    code = (
        "import sys; from ghe_backup.delivery.config import awsnames;"
        "awsnames.regions(); awsnames.instance_types(); print('botocore' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
