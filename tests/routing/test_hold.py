"""The hold gate on loopback: a fleet at zero holds, wakes once per burst, releases, and never 5xx."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import aiohttp
import boto3  # type: ignore[import-untyped]
import pytest
from aiohttp import web

from llmdeploy.config.model import EngineLimits, Slot
from llmdeploy.plan.routing import replica_cap
from llmdeploy.routing.admission import Admission
from llmdeploy.routing.fleet import Fleet
from llmdeploy.routing.hold import KEEPALIVE, METRICS_PATH, Gate, GateSettings
from llmdeploy.routing.metrics import GateMetrics
from llmdeploy.routing.scaleup import BurstTrigger, ScaleUpHook, aws_set_desired_capacity
from llmdeploy.routing.slots import SlotPicker

ASG_NS = "http://autoscaling.amazonaws.com/doc/2011-01-01/"


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Run `app` on a free loopback port; yield its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@dataclass
class Engine:
    """A tiny engine stand-in: OpenAI completions (JSON or SSE), /health, optional first failures."""

    fail_first: int = 0
    delay_s: float = 0.0
    healthy: bool = True
    served: int = 0
    running: int = 0
    most_running: int = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/health", self._health)
        app.router.add_post("/v1/completions", self._complete)
        app.router.add_post("/v1/chat/completions", self._complete)
        return app

    async def _health(self, _: web.Request) -> web.Response:
        return web.Response(text="ok", status=200 if self.healthy else 503)

    async def _complete(self, request: web.Request) -> web.StreamResponse:
        if self.fail_first > 0:
            self.fail_first -= 1
            return web.Response(status=503, text="draining")
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await asyncio.sleep(self.delay_s)
            self.served += 1
            if (await request.json()).get("stream"):
                stream = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
                await stream.prepare(request)
                for token in ("Hel", "lo"):
                    await stream.write(f'data: {{"text": "{token}"}}\n\n'.encode())
                await stream.write(b"data: [DONE]\n\n")
                return stream
            return web.json_response({"choices": [{"text": "Hello"}]})
        finally:
            self.running -= 1


@dataclass
class AutoScalingStandIn:
    """The EC2 Auto Scaling query API on loopback: records SetDesiredCapacity, calls `on_scale`."""

    on_scale: Callable[[int], Awaitable[None]]
    desired: int = 0
    calls: list[int] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/", self._action)
        return app

    async def _action(self, request: web.Request) -> web.Response:
        form = parse_qs(await request.text())
        action = form["Action"][0]
        if action == "DescribeAutoScalingGroups":
            result = (
                "<DescribeAutoScalingGroupsResult><AutoScalingGroups><member>"
                f"<AutoScalingGroupName>{form['AutoScalingGroupNames.member.1'][0]}</AutoScalingGroupName>"
                f"<DesiredCapacity>{self.desired}</DesiredCapacity><MinSize>0</MinSize><MaxSize>4</MaxSize>"
                "</member></AutoScalingGroups></DescribeAutoScalingGroupsResult>"
            )
        else:
            assert action == "SetDesiredCapacity", action
            self.desired = int(form["DesiredCapacity"][0])
            self.calls.append(self.desired)
            asyncio.get_running_loop().create_task(self.on_scale(self.desired))
            result = ""
        body = (
            f'<{action}Response xmlns="{ASG_NS}">{result}'
            f"<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></{action}Response>"
        )
        return web.Response(text=body, content_type="text/xml")


def aws_hook(endpoint: str) -> ScaleUpHook:
    client = boto3.client(
        "autoscaling",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    return lambda: aws_set_desired_capacity(client, "demo-chat-blue", 1)


@dataclass
class Setup:
    gate: str
    fleet: Fleet
    metrics: GateMetrics
    engine: Engine
    engine_url: str


@asynccontextmanager
async def gate_over(
    engine: Engine,
    hook: ScaleUpHook,
    *,
    budget_s: float = 20.0,
    queue_limit: int = 100,
    cap: int = 8,
    router: str | None = None,
) -> AsyncIterator[Setup]:
    """The gate in front of `router`, else of `engine` standing in for the router; the fleet empty."""
    fleet, metrics = Fleet(), GateMetrics()
    settings = GateSettings(
        budget_s=budget_s, queue_limit=queue_limit, keepalive_s=0.2, retry_after_s=30, weights={"blue": 100}
    )
    admission = Admission(cap, fleet.count)
    trigger = BurstTrigger(hook, budget_s, metrics)
    async with serve(engine.app()) as engine_url:
        upstream = router or engine_url
        gate = Gate(settings, fleet, {"blue": upstream, "green": upstream}, admission, trigger, metrics)
        async with serve(gate.app()) as gate_url:
            yield Setup(gate_url, fleet, metrics, engine, engine_url)


async def ask(client: aiohttp.ClientSession, url: str, stream: bool) -> tuple[int, dict[str, str], bytes]:
    body = {"model": "m", "prompt": "hi", "stream": stream}
    async with client.post(url + "/v1/completions", json=body) as response:
        return response.status, dict(response.headers), await response.read()


def run(coroutine: Awaitable[None]) -> None:
    asyncio.run(asyncio.wait_for(coroutine, 15))  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)


def test_a_burst_at_zero_is_held_woken_once_and_released_when_a_replica_is_ready() -> None:
    async def scenario() -> None:
        ready_at: list[float] = []
        setup_box: list[Setup] = []

        async def boot(_: int) -> None:  # the new VM boots, then membership marks it ready
            await asyncio.sleep(1.0)
            ready_at.append(time.monotonic())
            await setup_box[0].fleet.set_ready("blue", frozenset({setup_box[0].engine_url}))

        cloud = AutoScalingStandIn(boot)
        async with serve(cloud.app()) as cloud_url, gate_over(Engine(), aws_hook(cloud_url)) as setup:
            setup_box.append(setup)
            async with aiohttp.ClientSession() as client:
                started = time.monotonic()
                answers = await asyncio.gather(
                    *(ask(client, setup.gate, stream=index % 2 == 0) for index in range(6))
                )
                done = time.monotonic()
                metrics = await (await client.get(setup.gate + METRICS_PATH)).text()
        assert cloud.calls == [1], "exactly one SetDesiredCapacity for the burst"
        assert [status for status, _, _ in answers] == [200] * 6
        for index, (_, headers, body) in enumerate(answers):
            if index % 2 == 0:
                assert body.startswith(KEEPALIVE) and body.count(KEEPALIVE) >= 3, body
                assert body.endswith(b"data: [DONE]\n\n")
            else:
                assert headers["Content-Type"].startswith("application/json") and b"Hello" in body
        assert done - ready_at[0] < 0.5, "released as soon as the replica turned ready"
        assert done - started >= 1.0
        assert "llmdeploy_router_held_total 6" in metrics and "llmdeploy_router_scale_ups_total 1" in metrics

    run(scenario())


def test_past_the_budget_a_request_gets_429_with_retry_after_never_a_5xx() -> None:
    async def scenario() -> None:
        async def never(_: int) -> None:  # no capacity: the VM never comes
            return None

        cloud = AutoScalingStandIn(never)
        async with (
            serve(cloud.app()) as cloud_url,
            gate_over(Engine(), aws_hook(cloud_url), budget_s=1.0) as setup,
            aiohttp.ClientSession() as client,
        ):
            (plain, _, _), (streamed, _, events) = await asyncio.gather(
                ask(client, setup.gate, stream=False), ask(client, setup.gate, stream=True)
            )
            status, headers, _ = await ask(client, setup.gate, stream=False)
        assert plain == 429 and status == 429 and headers["Retry-After"] == "30"
        assert streamed == 200, "a held stream already answered 200 with keep-alives"
        assert events.startswith(KEEPALIVE) and b"event: error" in events and b'"code": 429' in events
        assert cloud.calls == [1]

    run(scenario())


def test_past_the_queue_limit_the_answer_is_429_at_once() -> None:
    async def scenario() -> None:
        async with (
            gate_over(Engine(), lambda: None, queue_limit=2) as setup,
            aiohttp.ClientSession() as client,
        ):
            held = [asyncio.ensure_future(ask(client, setup.gate, stream=False)) for _ in range(2)]
            await asyncio.sleep(0.3)
            started = time.monotonic()
            status, headers, _ = await ask(client, setup.gate, stream=False)
            assert (status, headers["Retry-After"]) == (429, "30")
            assert time.monotonic() - started < 0.5
            await setup.fleet.set_ready("blue", frozenset({setup.engine_url}))
            assert [answer[0] for answer in await asyncio.gather(*held)] == [200, 200]

    run(scenario())


def test_a_503_before_the_first_byte_is_retried_not_passed_on() -> None:
    async def scenario() -> None:
        engine = Engine(fail_first=2)
        async with gate_over(engine, lambda: None) as setup, aiohttp.ClientSession() as client:
            await setup.fleet.set_ready("blue", frozenset({setup.engine_url}))
            status, _, body = await ask(client, setup.gate, stream=True)
        assert status == 200 and body.endswith(b"data: [DONE]\n\n")
        assert setup.metrics.retries == 2

    run(scenario())


def test_a_router_that_keeps_answering_503_gives_429_at_the_budget_not_a_5xx() -> None:
    async def scenario() -> None:
        engine = Engine(fail_first=10**6)  # every replica draining, and membership not yet told
        async with gate_over(engine, lambda: None, budget_s=1.0) as setup, aiohttp.ClientSession() as client:
            await setup.fleet.set_ready("blue", frozenset({setup.engine_url}))
            started = time.monotonic()
            status, headers, _ = await ask(client, setup.gate, stream=False)
        assert (status, headers["Retry-After"]) == (429, "30")
        assert 1.0 <= time.monotonic() - started < 2.0 and setup.metrics.retries >= 3

    run(scenario())


def test_admission_keeps_the_excess_in_the_router_not_in_the_engine() -> None:
    async def scenario() -> None:
        engine = Engine(delay_s=0.2)
        cap = replica_cap(EngineLimits(max_concurrent_requests=2), None)
        async with gate_over(engine, lambda: None, cap=cap) as setup, aiohttp.ClientSession() as client:
            await setup.fleet.set_ready("blue", frozenset({setup.engine_url}))
            answers = await asyncio.gather(*(ask(client, setup.gate, stream=False) for _ in range(6)))
        assert [answer[0] for answer in answers] == [200] * 6
        assert engine.most_running == 2, "never more than the cap in the engine"
        assert setup.metrics.queue_count == 6 and setup.metrics.buckets[-1] == 6

    run(scenario())


def test_requests_waiting_for_admission_count_against_the_queue_limit() -> None:
    async def scenario() -> None:
        engine = Engine(delay_s=1.0)
        async with (
            gate_over(engine, lambda: None, cap=1, queue_limit=2) as setup,
            aiohttp.ClientSession() as client,
        ):
            await setup.fleet.set_ready("blue", frozenset({setup.engine_url}))
            first = [asyncio.ensure_future(ask(client, setup.gate, stream=False)) for _ in range(3)]
            await asyncio.sleep(0.3)  # one in the engine, two waiting in the router
            status, headers, _ = await ask(client, setup.gate, stream=False)
            assert (status, headers["Retry-After"]) == (429, "30")
            assert [answer[0] for answer in await asyncio.gather(*first)] == [200, 200, 200]
        assert engine.most_running == 1

    run(scenario())


def test_slot_weights_are_honoured_exactly_and_a_session_stays_on_its_slot() -> None:
    picker = SlotPicker({"blue": 90, "green": 10})
    picks: list[Slot | None] = [picker.pick({"blue", "green"}) for _ in range(100)]
    assert picks.count("green") == 10 and picks.count("blue") == 90
    assert {picker.pick({"blue", "green"}, session="chat-42") for _ in range(20)} == {
        picker.pick({"blue", "green"}, session="chat-42")
    }
    assert picker.pick({"green"}) == "green", "a slot with no ready replica gives its share away"
    assert picker.pick(set()) is None


def test_a_request_naming_a_slot_goes_to_that_slot_alone_at_any_weight() -> None:
    """The per-slot address (smoke --slot, promotion's smoke check) holds behind the routers too."""

    async def scenario() -> None:
        blue, green = Engine(), Engine()
        fleet, metrics = Fleet(), GateMetrics()
        settings = GateSettings(
            budget_s=1.0, queue_limit=10, keepalive_s=0.2, retry_after_s=30, weights={"blue": 100, "green": 0}
        )
        async with serve(blue.app()) as blue_url, serve(green.app()) as green_url:
            await fleet.set_ready("blue", frozenset({blue_url}))
            gate = Gate(
                settings,
                fleet,
                {"blue": blue_url, "green": green_url},
                Admission(8, fleet.count),
                BurstTrigger(lambda: None, 1.0, metrics),
                metrics,
            )
            async with serve(gate.app()) as gate_url, aiohttp.ClientSession() as client:

                async def named(slot: str) -> tuple[int, str]:
                    body = {"model": "m", "prompt": "hi"}
                    headers = {"X-LLMDeploy-Slot": slot}
                    async with client.post(
                        gate_url + "/v1/completions", json=body, headers=headers
                    ) as answer:
                        return answer.status, await answer.text()

                # green has no ready replica: held to the budget, then 429, never sent to blue
                assert (await named("green"))[0] == 429 and blue.served == 0
                await fleet.set_ready("green", frozenset({green_url}))
                assert [(await named("green"))[0] for _ in range(3)] == [200] * 3
                assert (green.served, blue.served) == (3, 0), "green at 0% answered alone"
                assert (await ask(client, gate_url, stream=False))[0] == 200 and blue.served == 1
                status, text = await named("purple")
                assert status == 400 and "X-LLMDeploy-Slot names no slot" in text and "blue, green" in text
                assert (green.served, blue.served) == (3, 1)

    run(scenario())
