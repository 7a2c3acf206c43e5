"""delivery.deploy.freshness: how ages read."""

from __future__ import annotations


def test_ages_read_as_whole_days_in_good_english():
    from ghe_backup.delivery.deploy.freshness import days_old

    assert [days_old(d) for d in (0.2, 0.69, 1.4, 12.6)] == ["0 days old", "1 day old", "1 day old", "13 days old"]
