"""The real vllm-router and nginx over stand-ins: prefix affinity, cache hits against least_conn,
a killed replica's requests moving to another one, and a stream under way when its replica dies."""

from __future__ import annotations

import http.client
import json
import shutil
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmdeploy.routing.harness import loadgen
from llmdeploy.routing.harness.client import complete, token_ids, words
from llmdeploy.routing.harness.fleet import Fleet
from llmdeploy.routing.harness.front import BALANCE_GUARD, router_binary, start_nginx, start_router, stop_all
from llmdeploy.routing.harness.measure import succeeded, summarize
from llmdeploy.routing.harness.trace import SharedPrefixShape, shared_prefix

pytestmark = [
    pytest.mark.process,
    pytest.mark.skipif(router_binary() is None, reason="no vllm-router (pip install -e '.[dev]')"),
    pytest.mark.skipif(shutil.which("nginx") is None, reason="no nginx binary (apt-get install nginx-light)"),
]


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    replicas = Fleet(time_scale=2.0)
    try:
        replicas.scale_up(4)
        yield replicas
    finally:
        replicas.stop()


def test_the_router_sends_the_same_prefix_to_the_same_replica(fleet: Fleet) -> None:
    router = start_router(fleet.ready_urls(), "cache_aware")
    try:
        for p in range(4):
            system = words(f"sys{p}_", 400)
            chosen = {
                complete(router.url, token_ids(f"{system} {words(f'q{i}_', 10)}"))[0]["system_fingerprint"]
                for i in range(3)
            }
            assert len(chosen) == 1, f"prefix {p} went to {chosen}"
    finally:
        stop_all(router.process)


def _small_trace() -> SharedPrefixShape:
    # Eight 1,200-token prefixes are 600 blocks: more than one replica's 512, so where requests go matters.
    return SharedPrefixShape(
        prefixes=8,
        prefix_tokens=1200,
        sessions=16,
        turns=2,
        reply_tokens=8,
        session_rate_per_s=6,
        think_s=0.6,
    )


def test_cache_aware_routing_hits_the_prefix_cache_more_than_least_conn(tmp_path: Path) -> None:
    requests = shared_prefix(_small_trace())
    rates = {}
    for label in ("layer", "baseline"):
        fleet = Fleet(time_scale=2.0)
        try:
            fleet.scale_up(4)
            if label == "layer":
                router = start_router(fleet.ready_urls(), "cache_aware", *BALANCE_GUARD)
                processes = [router.process]
                nginx = start_nginx([router.url], tmp_path / label)
            else:
                processes = []
                nginx = start_nginx(fleet.ready_urls(), tmp_path / label, "least_conn")
            processes.append(nginx.process)
            try:
                results = loadgen.run(nginx.url, requests, tmp_path / f"load-{label}", users=16)
            finally:
                stop_all(*processes)
        finally:
            fleet.stop()
        assert [r["i"] for r in results] == list(range(len(requests)))  # Locust replayed every request
        summary = summarize(results)
        assert summary.failed == 0
        rates[label] = summary.prefix_hit_rate
    assert rates["layer"] > rates["baseline"] + 0.15, rates


def test_requests_to_a_killed_replica_succeed_on_another(fleet: Fleet) -> None:
    router = start_router(fleet.ready_urls(), "round_robin")
    try:
        fleet.replicas[0].process.kill()
        fleet.replicas[0].process.wait()
        served = [complete(router.url, words(f"k{i}_", 50))[0]["system_fingerprint"] for i in range(8)]
        assert "r1" not in served and len(served) == 8
    finally:
        stop_all(router.process)


def test_a_stream_under_way_is_cut_when_its_replica_dies(fleet: Fleet) -> None:
    """Measured, not wished away: bytes already sent cannot be replayed, so the client sees the cut."""
    router = start_router(fleet.ready_urls(), "round_robin")
    try:
        connection = http.client.HTTPConnection(urllib.parse.urlsplit(router.url).netloc, timeout=30)
        body = {"model": "m", "prompt": words("s", 50), "max_tokens": 400, "stream": True}
        connection.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
        answer = connection.getresponse()
        first = json.loads(answer.readline().decode().removeprefix("data: "))
        victim = next(r for r in fleet.replicas if r.name == first["system_fingerprint"])
        victim.process.kill()
        rest = b""
        try:
            rest = answer.read()
        except http.client.IncompleteRead as cut:
            rest = cut.partial
        assert answer.status == 200
        assert b"[DONE]" not in rest
        assert rest.count(b"data: ") < 399
    finally:
        stop_all(router.process)


def test_replay_records_each_request_and_its_outcome(fleet: Fleet, tmp_path: Path) -> None:
    requests = shared_prefix(SharedPrefixShape(prefixes=1, prefix_tokens=50, sessions=3, turns=1))
    results = loadgen.run(fleet.replicas[0].url, requests, tmp_path, users=4)
    assert all(succeeded(r) for r in results)
    assert [r["completion_tokens"] for r in results] == [r.max_tokens for r in requests]
