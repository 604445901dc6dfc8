"""The ready replicas each slot's router routes to, shared by membership (writer) and the gate (reader)."""

from __future__ import annotations

import asyncio
import contextlib

from llmdeploy.routing.common import SLOTS, Slot


class Fleet:
    """Ready worker URLs per slot; wakes whoever waits as soon as one turns ready."""

    def __init__(self) -> None:
        self._ready: dict[Slot, frozenset[str]] = {slot: frozenset() for slot in SLOTS}
        self._changed = asyncio.Condition()
        #: Counts the times the fleet went from no ready worker to some: one burst at zero per value.
        self.wakes = 0

    def ready(self, slot: Slot) -> frozenset[str]:
        """The slot's ready workers."""
        return self._ready[slot]

    def count(self) -> int:
        """Ready workers over both slots."""
        return sum(len(urls) for urls in self._ready.values())

    async def set_ready(self, slot: Slot, urls: frozenset[str]) -> None:
        """Replace the slot's ready set and wake the waiters."""
        async with self._changed:
            was_empty = self.count() == 0
            self._ready[slot] = urls
            self.wakes += was_empty and self.count() > 0
            self._changed.notify_all()

    async def wait_change(self, timeout_s: float) -> None:
        """Return when the ready sets change, or after `timeout_s`."""
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout_s)
