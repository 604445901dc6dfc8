"""Membership: each slot's vllm-router routes to exactly the replicas that are ready now.

The cloud says which replicas exist and which it is draining (sources.py); a probe of each replica's
proxy health path says which are ready (the proxy answers 503 from the moment a drain starts). The
loop removes a replica that is no longer ready at once, and adds one only after it answered healthy:
vllm-router's `POST /add_worker` itself waits for the worker's health, so adding a booting replica
would stall the loop (see plan/routing.py WORKER_STARTUP_TIMEOUT_S).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import aiohttp

from llmdeploy.routing.common import Slot
from llmdeploy.routing.fleet import Fleet

#: What the cloud says of a replica: booting (not yet healthy), ready, or draining (leaving).
State = Literal["booting", "ready", "draining"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Replica:
    """One GPU VM as its cloud reports it: its proxy's base URL, slot and state."""

    url: str
    slot: Slot
    state: State


#: A cloud reader: the replicas of one model's fleets now (blocking SDK calls; run in a thread).
Source = Callable[[], list[Replica]]


class RouterAdmin:
    """vllm-router's worker API: `GET /list_workers`, `POST /add_worker?url=`, `POST /remove_worker?url=`."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self._session = session
        self._base = base_url.rstrip("/")

    async def workers(self) -> set[str]:
        """The workers the router routes to."""
        async with self._session.get(f"{self._base}/list_workers") as response:
            response.raise_for_status()
            urls: list[str] = (await response.json())["urls"]
            return set(urls)

    async def add(self, url: str) -> bool:
        """Add a worker; False when the router refused it (it found the worker unhealthy)."""
        async with self._session.post(f"{self._base}/add_worker", params={"url": url}) as response:
            return response.status == 200

    async def remove(self, url: str) -> None:
        """Remove a worker (the router answers 200 even when it did not have it)."""
        async with self._session.post(f"{self._base}/remove_worker", params={"url": url}) as response:
            response.raise_for_status()


@dataclass
class Membership:
    """Keeps one slot's router equal to the slot's ready replicas, and tells the gate."""

    slot: Slot
    source: Source
    router: RouterAdmin
    fleet: Fleet
    session: aiohttp.ClientSession
    health_path: str
    probe_timeout_s: float = 2.0

    async def sync_once(self) -> set[str]:
        """One pass: remove what is not ready, add what became ready; the router's workers after it."""
        replicas = [r for r in await asyncio.to_thread(self.source) if r.slot == self.slot]
        candidates = [r.url for r in replicas if r.state == "ready"]
        healthy = await asyncio.gather(*(self._healthy(url) for url in candidates))
        ready = {url for url, ok in zip(candidates, healthy, strict=True) if ok}
        current = await self.router.workers()
        for url in current - ready:
            await self.router.remove(url)
        kept = current & ready
        await self.fleet.set_ready(self.slot, frozenset(kept))
        new = sorted(ready - current)
        added = await asyncio.gather(*(self.router.add(url) for url in new))
        kept |= {url for url, ok in zip(new, added, strict=True) if ok}
        await self.fleet.set_ready(self.slot, frozenset(kept))
        return kept

    async def run(self, interval_s: float) -> None:
        """Sync forever; a failed pass is logged and the next one tries again."""
        while True:
            try:
                await self.sync_once()
            except (aiohttp.ClientError, TimeoutError, OSError):
                log.exception("membership sync of slot %s failed", self.slot)
            await asyncio.sleep(interval_s)

    async def _healthy(self, url: str) -> bool:
        timeout = aiohttp.ClientTimeout(total=self.probe_timeout_s)
        try:
            async with self.session.get(url + self.health_path, timeout=timeout) as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False
