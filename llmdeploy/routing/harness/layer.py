"""The request layer's own agent parts (llmdeploy.routing) in front of a harness fleet: the hold gate and
membership, run in a background thread with their own event loop.

The fleet plays the cloud: `Fleet.states` is the membership's replica source (the group and target
health), and `Fleet.scale_up` is the gate's scale-up hook (SetDesiredCapacity, MIG resize, ...).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from llmdeploy.config.model import Slot
from llmdeploy.routing.admission import Admission
from llmdeploy.routing.fleet import Fleet as ReadySet
from llmdeploy.routing.harness.fleet import Fleet
from llmdeploy.routing.harness.procs import free_port
from llmdeploy.routing.hold import Gate, GateSettings
from llmdeploy.routing.membership import Membership, Replica, RouterAdmin, State
from llmdeploy.routing.metrics import GateMetrics
from llmdeploy.routing.scaleup import BurstTrigger

SLOT: Slot = "blue"
_STATES: dict[str, State] = {"booting": "booting", "ready": "ready", "draining": "draining"}


@dataclass
class Layer:
    """A running gate (at `url`) over one router, with membership syncing every `sync_s`."""

    fleet: Fleet
    router_url: str
    budget_s: float = 300.0
    per_replica_concurrency: int = 16
    sync_s: float = 0.5
    port: int = field(default_factory=free_port)
    metrics: GateMetrics = field(default_factory=GateMetrics)
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    _thread: threading.Thread | None = None
    _started: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Layer:
        self._thread = threading.Thread(
            target=self._loop.run_until_complete, args=(self._serve(),), daemon=True
        )
        self._thread.start()
        if not self._started.wait(20):
            raise RuntimeError("the hold gate did not start")
        return self

    def stop(self) -> None:
        for task in asyncio.all_tasks(self._loop):
            self._loop.call_soon_threadsafe(task.cancel)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _source(self) -> list[Replica]:
        return [Replica(url, SLOT, _STATES[state]) for url, state in self.fleet.states()]

    def _hook(self) -> None:
        self.fleet.scale_up(1)

    async def _serve(self) -> None:
        ready = ReadySet()
        settings = GateSettings(
            budget_s=self.budget_s, queue_limit=4096, keepalive_s=5.0, retry_after_s=5, weights={SLOT: 100}
        )
        trigger = BurstTrigger(self._hook, self.budget_s, self.metrics)
        admission = Admission(self.per_replica_concurrency, ready.count)
        gate = Gate(settings, ready, {SLOT: self.router_url}, admission, trigger, self.metrics)
        runner = web.AppRunner(gate.app())
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        async with aiohttp.ClientSession() as session:
            members = Membership(
                SLOT, self._source, RouterAdmin(session, self.router_url), ready, session, "/health"
            )
            self._started.set()
            try:
                await members.run(self.sync_s)
            except asyncio.CancelledError:
                pass
            finally:
                await runner.cleanup()
