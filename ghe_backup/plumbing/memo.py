"""A few results kept for the life of the process, by key.

For what a run computes again from the same input (the same config files read, checked and
written out more than once) and the tests compute hundreds of times from the same fixtures.
Emptied when full, so it never grows past ``most`` entries.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Kept(Generic[K, V]):
    def __init__(self, most: int):
        self.most = most
        self._found: dict[K, V] = {}

    def get(self, key: K) -> V | None:
        return self._found.get(key)

    def keep(self, key: K, value: V) -> V:
        if len(self._found) >= self.most:
            self._found.clear()
        self._found[key] = value
        return value

    def made(self, key: K, make: Callable[[], V]) -> V:
        """The value kept for ``key``, or ``make()`` kept."""
        found = self._found.get(key)
        return self.keep(key, make()) if found is None else found

    def __len__(self) -> int:
        return len(self._found)
