"""The request layer's gate and membership over harness stand-ins and the real router: at zero, a
request is held while the fleet scales up once, then answered; a draining replica leaves the router."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable

import pytest

from llmdeploy.routing.harness.client import complete, token_ids
from llmdeploy.routing.harness.fleet import Fleet
from llmdeploy.routing.harness.front import router_binary, start_router, stop_all
from llmdeploy.routing.harness.layer import Layer

pytestmark = [
    pytest.mark.process,
    pytest.mark.skipif(
        router_binary() is None or shutil.which("nginx") is None, reason="no vllm-router or nginx"
    ),
]


def test_a_request_at_zero_is_held_through_one_scale_up_and_answered() -> None:
    fleet = Fleet(time_scale=1.0)
    router = start_router([], "cache_aware")
    layer = Layer(fleet, router.url, budget_s=60).start()
    try:
        answer, _ = complete(layer.url, token_ids("hello at zero"))
        assert answer["system_fingerprint"] == "r1"
        assert len(fleet.replicas) == 1
        assert layer.metrics.scale_ups == 1
    finally:
        layer.stop()
        stop_all(router.process)
        fleet.stop()


def test_membership_takes_a_draining_replica_out_of_the_router() -> None:
    fleet = Fleet(time_scale=1.0)
    router = start_router([], "cache_aware")
    layer = Layer(fleet, router.url, sync_s=0.2).start()
    try:
        first, second = fleet.scale_up(2)
        _wait(lambda: set(router.workers()) == {first.url, second.url})
        fleet.notice(first)
        _wait(lambda: router.workers() == [second.url])
    finally:
        layer.stop()
        stop_all(router.process)
        fleet.stop()


def _wait(condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the router's workers never matched"
        time.sleep(0.1)
