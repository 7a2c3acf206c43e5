"""The process-wide memory of results: kept by key, made once, emptied when full."""

from __future__ import annotations

from ghe_backup.plumbing.memo import Kept


def test_a_value_is_made_once_per_key():
    made = []
    kept: Kept[str, int] = Kept(4)
    assert kept.made("a", lambda: made.append("a") or 1) == 1
    assert kept.made("a", lambda: made.append("a") or 2) == 1
    assert kept.made("b", lambda: made.append("b") or 3) == 3
    assert made == ["a", "b"] and kept.get("a") == 1 and kept.get("c") is None


def test_it_never_holds_more_than_it_may():
    kept: Kept[int, int] = Kept(3)
    for n in range(10):
        kept.keep(n, n)
        assert len(kept) <= 3
    assert kept.get(9) == 9  # the newest is always there
