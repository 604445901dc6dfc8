"""The hold gate: nginx -> this -> vllm-router. Holds requests while the fleet is at zero.

While no replica is ready a request waits here (a stream gets SSE keep-alive comments), the first of
a burst calls the scale-up hook, and all are sent on as soon as a replica turns ready. Past the hold
budget or the queue limit the answer is 429 with Retry-After, never a 5xx: a 502/503/504 or a refused
connection from the router before the first byte is retried while the budget lasts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from llmdeploy.routing.admission import Admission
from llmdeploy.routing.common import HEALTH_PATH, SLOT_HEADER, SLOTS, Slot
from llmdeploy.routing.fleet import Fleet
from llmdeploy.routing.metrics import GateMetrics
from llmdeploy.routing.scaleup import BurstTrigger
from llmdeploy.routing.slots import SlotPicker

METRICS_PATH = "/llmdeploy/router/metrics"
KEEPALIVE = b": keep-alive\n\n"
#: Answers from the router that mean "no replica could take it": held and retried, never passed on.
_RETRYABLE = frozenset({502, 503, 504})
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host", "content-length"}
)
#: Pause between retries while the fleet reports ready replicas the router refused.
_RETRY_PAUSE_S = 0.2


@dataclass(frozen=True)
class GateSettings:
    """What the gate is started with (from the routing plan)."""

    budget_s: float
    queue_limit: int
    keepalive_s: float
    retry_after_s: int
    weights: dict[Slot, int]
    session_header: str | None = None


@dataclass
class _Exchange:
    """One request on its way: its body, its deadline and, once a held stream answered, that stream."""

    request: web.Request
    body: bytes
    deadline: float
    session: str | None
    #: The slot the request names in the slot header: it alone may answer, whatever its weight.
    pinned: Slot | None = None
    stream: web.StreamResponse | None = None

    def left(self) -> float:
        """Seconds of the hold budget left."""
        return self.deadline - time.monotonic()


class Rejected(Exception):
    """Past the hold budget or the queue limit."""


class Gate:
    """The aiohttp application holding, admitting and forwarding requests to each slot's router."""

    def __init__(
        self,
        settings: GateSettings,
        fleet: Fleet,
        routers: dict[Slot, str],
        admission: Admission,
        trigger: BurstTrigger,
        metrics: GateMetrics,
    ) -> None:
        self._settings = settings
        self._fleet = fleet
        self._routers = routers
        self._admission = admission
        self._trigger = trigger
        self._metrics = metrics
        self._picker = SlotPicker(settings.weights)
        self._waiting = 0
        self._session: aiohttp.ClientSession | None = None

    @property
    def waiting(self) -> int:
        """Requests waiting in the gate now: held at zero or over the admission cap."""
        return self._waiting

    def set_weights(self, weights: dict[Slot, int]) -> None:
        """Apply a promotion step's slot weights from the next request on."""
        self._picker.set_weights(weights)

    def app(self) -> web.Application:
        """The web application: metrics, health, and every other path forwarded."""
        app = web.Application()
        app.router.add_get(METRICS_PATH, self._metrics_page)
        app.router.add_get(HEALTH_PATH, self._health)
        app.router.add_route("*", "/{tail:.*}", self._proxy)
        app.on_startup.append(self._open)
        app.on_cleanup.append(self._close)
        return app

    async def _open(self, _: web.Application) -> None:
        # No total timeout: a generation may stream for many minutes. No decompression: bytes pass as sent.
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=5)
        self._session = aiohttp.ClientSession(timeout=timeout, auto_decompress=False)

    async def _close(self, _: web.Application) -> None:
        if self._session is not None:
            await self._session.close()

    async def _metrics_page(self, _: web.Request) -> web.Response:
        text = self._metrics.render(holding=self._waiting)
        return web.Response(text=text, content_type="text/plain", charset="utf-8")

    async def _health(self, _: web.Request) -> web.Response:
        # Healthy at zero too: holding requests while the fleet boots is this tier's job.
        return web.Response(text="ok")

    async def _proxy(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        header = self._settings.session_header
        named = request.headers.get(SLOT_HEADER)
        pinned = next((slot for slot in self._routers if slot == named), None)
        if named is not None and pinned is None:
            return _unknown_slot(sorted(self._routers))
        exchange = _Exchange(
            request=request,
            body=await request.read(),
            deadline=arrived + self._settings.budget_s,
            session=request.headers.get(header) if header else None,
            pinned=pinned,
        )
        try:
            if self._must_wait() and self._waiting >= self._settings.queue_limit:
                raise Rejected
            while True:
                slot = await self._wait_ready(exchange)
                if not await self._admit(exchange):
                    raise Rejected
                self._metrics.observe_queue(time.monotonic() - arrived, slot)
                try:
                    answered = await self._forward(slot, exchange)
                finally:
                    await self._admission.release()
                if answered is not None:
                    return answered
                self._metrics.retries += 1
                if exchange.left() <= 0:
                    raise Rejected
                await self._fleet.wait_change(min(_RETRY_PAUSE_S, exchange.left()))
        except Rejected:
            return await self._reject(exchange)

    async def _wait_ready(self, exchange: _Exchange) -> Slot:
        slot = self._pick(exchange)
        if slot is not None:
            return slot
        self._metrics.held += 1
        self._waiting += 1
        try:
            while slot is None:
                self._trigger.fire(self._fleet.wakes)
                if exchange.left() <= 0:
                    raise Rejected
                if exchange.stream is None and _wants_stream(exchange.request, exchange.body):
                    exchange.stream = await _start_sse(exchange.request)
                await self._fleet.wait_change(min(exchange.left(), self._settings.keepalive_s))
                slot = self._pick(exchange)
                if slot is None and exchange.stream is not None:
                    await exchange.stream.write(KEEPALIVE)
            return slot
        finally:
            self._waiting -= 1

    async def _admit(self, exchange: _Exchange) -> bool:
        """Wait for room under the per-replica cap; a waiter counts against the queue limit too."""
        self._waiting += 1
        try:
            return await self._admission.acquire(exchange.deadline)
        finally:
            self._waiting -= 1

    def _must_wait(self) -> bool:
        return self._fleet.count() == 0 or self._admission.in_flight >= self._admission.limit()

    def _pick(self, exchange: _Exchange) -> Slot | None:
        """The slot to send to now: a pinned slot once it has a ready replica (never the other one,
        which would prove the wrong slot), else by weight among the slots with ready replicas."""
        if exchange.pinned is not None:
            return exchange.pinned if self._fleet.ready(exchange.pinned) else None
        ready = {slot for slot in SLOTS if self._fleet.ready(slot)}
        return self._picker.pick(ready, exchange.session)

    async def _forward(self, slot: Slot, exchange: _Exchange) -> web.StreamResponse | None:
        """Send the request to the slot's router; None when it should be retried (nothing sent yet)."""
        assert self._session is not None, "the application's startup opens the session"
        request, body, stream = exchange.request, exchange.body, exchange.stream
        url = self._routers[slot] + request.rel_url.path_qs
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        try:
            upstream = await self._session.request(request.method, url, headers=headers, data=body)
        except (aiohttp.ClientConnectionError, TimeoutError):
            return None
        async with upstream:
            if upstream.status in _RETRYABLE:
                return None
            if stream is None:
                stream = web.StreamResponse(status=upstream.status, headers=_copyable(upstream.headers))
                await stream.prepare(request)
            elif upstream.status != 200:
                await stream.write(_sse_error(upstream.status, await upstream.text(), None))
                await stream.write_eof()
                return stream
            try:
                async for chunk in upstream.content.iter_any():
                    await stream.write(chunk)
            except aiohttp.ClientPayloadError:
                # The replica died mid-answer: bytes already went out, so it cannot be retried.
                return stream
            await stream.write_eof()
            return stream

    async def _reject(self, exchange: _Exchange) -> web.StreamResponse:
        self._metrics.reject()
        stream = exchange.stream
        after = self._settings.retry_after_s
        message = "no replica became ready within the hold budget, or the router queue is full"
        if stream is not None:  # a held stream already answered 200: end it with an error event
            await stream.write(_sse_error(429, message, after))
            await stream.write_eof()
            return stream
        payload = {"error": {"code": 429, "type": "rate_limit_exceeded", "message": message}}
        return web.json_response(payload, status=429, headers={"Retry-After": str(after)})


def _unknown_slot(slots: list[str]) -> web.Response:
    """A slot header naming no slot of this model: refused, never sent to another slot."""
    message = f"{SLOT_HEADER} names no slot of this model: expected one of {', '.join(slots)}"
    payload = {"error": {"code": 400, "type": "invalid_request_error", "message": message}}
    return web.json_response(payload, status=400)


def _wants_stream(request: web.Request, body: bytes) -> bool:
    if "text/event-stream" in request.headers.get("Accept", ""):
        return True
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        return False
    return isinstance(parsed, dict) and parsed.get("stream") is True


async def _start_sse(request: web.Request) -> web.StreamResponse:
    stream = web.StreamResponse(
        status=200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await stream.prepare(request)
    await stream.write(KEEPALIVE)
    return stream


def _copyable(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}


def _sse_error(code: int, message: str, retry_after_s: int | None) -> bytes:
    error: dict[str, object] = {"code": code, "message": message}
    if retry_after_s is not None:
        error["retry_after"] = retry_after_s
    return b"event: error\ndata: " + json.dumps({"error": error}).encode() + b"\n\n"
