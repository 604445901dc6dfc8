"""The engine stand-in behaves like an engine where routing matters: uncached prefill costs time."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest

from llmdeploy.routing.harness.client import complete, words
from llmdeploy.routing.harness.fleet import Fleet, Replica

#: Every test asks the stand-in engine, a process.
pytestmark = pytest.mark.process


@pytest.fixture(scope="module")
def replica() -> Iterator[Replica]:
    fleet = Fleet(time_scale=4.0)
    try:
        yield fleet.scale_up(1)[0]
    finally:
        fleet.stop()


def test_prefill_time_grows_with_uncached_tokens_and_a_repeated_prefix_is_faster(replica: Replica) -> None:
    _, short = complete(replica.url, words("short", 100))
    answer, cold = complete(replica.url, words("long", 3000))
    again, warm = complete(replica.url, words("long", 3000))
    # 2,900 more uncached tokens at 0.0457 ms x4 is about 0.53 s more prefill.
    assert cold > short + 0.3
    assert answer["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    # Every full 16-token block of the repeated prompt is cached; only the partial tail is prefilled.
    assert again["usage"]["prompt_tokens_details"]["cached_tokens"] == 3000 // 16 * 16
    assert warm < cold / 2


def test_it_names_itself_and_exports_vllm_metric_names(replica: Replica) -> None:
    answer, _ = complete(replica.url, words("name", 20))
    assert answer["system_fingerprint"] == replica.name
    with urllib.request.urlopen(f"{replica.url}/metrics", timeout=5) as response:
        metrics = response.read().decode()
    for name in ("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:prefix_cache_hits_total"):
        assert f"\n{name}{{" in f"\n{metrics}"


def test_a_drain_notice_fails_health_but_keeps_serving() -> None:
    fleet = Fleet(time_scale=1.0)
    try:
        (replica,) = fleet.scale_up(1)
        fleet.notice(replica)
        with pytest.raises(urllib.error.HTTPError) as health:
            for _ in range(50):  # the signal is handled asynchronously
                urllib.request.urlopen(f"{replica.url}/health", timeout=5).close()
        assert health.value.code == 503
        assert fleet.ready_urls() == []
        assert fleet.states() == [(replica.url, "draining")]
        answer, _ = complete(replica.url, words("late", 10))
        assert answer["usage"]["completion_tokens"] == 1
    finally:
        fleet.stop()
