"""Blue/green weights honoured exactly: one router per slot, and the gate picks the slot per request."""

from __future__ import annotations

import hashlib

from llmdeploy.routing.common import SLOTS, Slot


class SlotPicker:
    """Smooth weighted round robin (nginx's): over any 100 requests the shares equal the weights.

    A request carrying a session id goes to the slot its hash falls in, so a chat stays on one slot
    while the weights stand. A slot with no ready replica is skipped: its share goes to the other
    slot rather than failing, the only way the shares then differ from the weights.
    """

    def __init__(self, weights: dict[Slot, int]) -> None:
        self._weights: dict[Slot, int] = {}
        self._current: dict[Slot, int] = {}
        self.set_weights(weights)

    def set_weights(self, weights: dict[Slot, int]) -> None:
        """New weights (a promotion step): the round starts over, so the next 100 picks match them."""
        self._weights = {slot: weights.get(slot, 0) for slot in SLOTS}
        self._current = dict.fromkeys(SLOTS, 0)

    def pick(self, ready: set[Slot], session: str | None = None) -> Slot | None:
        """The slot for the next request, among those with ready replicas; None when neither has one."""
        live = {slot: weight for slot, weight in self._weights.items() if weight > 0 and slot in ready}
        if not live:
            return None
        if session is not None:
            return _by_hash(live, session)
        total = sum(live.values())
        for slot, weight in live.items():
            self._current[slot] += weight
        chosen = max(live, key=lambda slot: self._current[slot])
        self._current[chosen] -= total
        return chosen


def _by_hash(live: dict[Slot, int], session: str) -> Slot:
    point = int.from_bytes(hashlib.sha256(session.encode()).digest()[:8], "big") % sum(live.values())
    *first, last = live
    for slot in first:
        if point < live[slot]:
            return slot
        point -= live[slot]
    return last
