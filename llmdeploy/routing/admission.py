"""Admission: at most `cap` requests in flight per ready replica; the excess waits here, not in an engine."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class Admission:
    """A counting gate whose size follows the fleet: `cap` times the ready replicas."""

    def __init__(self, cap: int, replicas: Callable[[], int]) -> None:
        self._cap = cap
        self._replicas = replicas
        self._in_flight = 0
        self._freed = asyncio.Condition()

    @property
    def in_flight(self) -> int:
        """Requests admitted and not yet finished."""
        return self._in_flight

    def limit(self) -> int:
        """How many requests may be in flight now."""
        return self._cap * self._replicas()

    async def acquire(self, deadline: float) -> bool:
        """Wait for room until `deadline` (monotonic seconds); False when it passed first."""
        async with self._freed:
            while self._in_flight >= self.limit():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                try:
                    await asyncio.wait_for(self._freed.wait(), min(left, 1.0))
                except TimeoutError:
                    continue
            self._in_flight += 1
            return True

    async def release(self) -> None:
        """A request finished: let one waiter in."""
        async with self._freed:
            self._in_flight -= 1
            self._freed.notify()

    async def fleet_changed(self) -> None:
        """The replica count changed: waiters recheck the limit."""
        async with self._freed:
            self._freed.notify_all()
