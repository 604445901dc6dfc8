"""Gates between promotion steps, watched over a fake clock: no test sleeps."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from llmdeploy.release.gates import CloudSample, GatePolicy, Verdict, describe, evaluate, watch

POLICY = GatePolicy(min_healthy=2, max_error_rate_percent=5.0, timeout_s=60, pause_s=30, poll_s=10)


class FakeClock:
    """Time moves only when the watch sleeps."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.sleeps.append(seconds)
        self.t += seconds


def timeline(
    clock: FakeClock, changes: dict[float, Sequence[CloudSample]]
) -> Callable[[], Sequence[CloudSample]]:
    """What the clouds report: the latest change at or before the clock's time."""

    def observe() -> Sequence[CloudSample]:
        return changes[max(at for at in changes if at <= clock.t)]

    return observe


def healthy(count: int = 2, cloud: str = "aws", **extra: object) -> CloudSample:
    return CloudSample(cloud=cloud, healthy=count, **extra)  # type: ignore[arg-type]


def test_a_healthy_slot_passes_after_holding_for_the_pause() -> None:
    clock = FakeClock()
    verdict = watch("green", timeline(clock, {0: [healthy()]}), POLICY, clock)
    assert verdict.passed
    assert clock.t == POLICY.pause_s
    assert clock.sleeps == [10, 10, 10]


def test_a_slot_getting_healthy_within_the_timeout_passes_one_pause_later() -> None:
    clock = FakeClock()
    observe = timeline(clock, {0: [healthy(0)], 20: [healthy(1)], 40: [healthy(2)]})
    verdict = watch("green", observe, POLICY, clock)
    assert verdict.passed
    assert clock.t == 40 + POLICY.pause_s


def test_a_slot_never_healthy_fails_at_the_timeout_with_the_counts() -> None:
    clock = FakeClock()
    verdict = watch("green", timeline(clock, {0: [healthy(1)]}), POLICY, clock)
    assert not verdict.passed
    assert clock.t == POLICY.timeout_s
    assert verdict.reasons == (
        "green on aws: 1 healthy target(s), 2 needed",
        "still so after the 60 s step timeout",
    )


def test_a_firing_alarm_fails_at_once_even_before_the_timeout() -> None:
    clock = FakeClock()
    observe = timeline(clock, {0: [healthy()], 20: [healthy(firing_alarms=("chat-green-5xx-rate",))]})
    verdict = watch("green", observe, POLICY, clock)
    assert (verdict.passed, verdict.final, clock.t) == (False, True, 20)
    assert verdict.reasons == ("green on aws: alarm chat-green-5xx-rate is firing",)


def test_losing_healthy_targets_during_the_pause_fails_without_waiting_for_the_timeout() -> None:
    clock = FakeClock()
    observe = timeline(clock, {0: [healthy()], 10: [healthy(0)]})
    verdict = watch("green", observe, POLICY, clock)
    assert not verdict.passed
    assert clock.t == 10
    assert verdict.reasons[-1] == "during the pause after the gate had passed"


@pytest.mark.parametrize(
    ("rate", "passed"), [(None, True), (0.0, True), (4.9, True), (5.0, False), (40.0, False)]
)
def test_the_error_rate_must_stay_under_the_threshold(rate: float | None, passed: bool) -> None:
    verdict = evaluate("green", [healthy(error_rate_percent=rate)], POLICY)
    assert verdict.passed is passed
    assert verdict.final is not passed
    if not passed:
        assert verdict.reasons == (f"green on aws: {rate:.1f}% of requests failed (5xx), the limit is 5%",)


def test_every_cloud_must_pass() -> None:
    samples = [healthy(cloud="aws"), healthy(1, cloud="gcp")]
    assert evaluate("blue", samples, POLICY) == Verdict(
        passed=False, reasons=("blue on gcp: 1 healthy target(s), 2 needed",), final=False
    )
    assert not evaluate("blue", [], POLICY).passed  # no cloud reporting proves nothing


def test_a_zero_pause_passes_on_the_first_healthy_sample() -> None:
    clock = FakeClock()
    policy = GatePolicy(min_healthy=1, max_error_rate_percent=5, timeout_s=60, pause_s=0, poll_s=10)
    assert watch("green", timeline(clock, {0: [healthy(1)]}), policy, clock).passed
    assert clock.t == 0


def test_every_verdict_is_reported_as_it_is_made() -> None:
    clock = FakeClock()
    seen: list[Verdict] = []
    observe = timeline(clock, {0: [healthy(0)], 10: [healthy()]})
    watch("green", observe, POLICY, clock, lambda samples, verdict: seen.append(verdict))
    assert [verdict.passed for verdict in seen] == [False, True, True, True, True]


@pytest.mark.parametrize(
    ("requests", "final"), [(None, True), (1, False), (19, False), (20, True), (500, True)]
)
def test_an_error_rate_over_too_few_requests_is_noise_not_a_rollback(
    requests: int | None, final: bool
) -> None:
    """One failed request of two is 50 %: a canary on little traffic must not roll back on it."""
    verdict = evaluate("green", [healthy(error_rate_percent=50.0, requests=requests)], POLICY)
    assert (verdict.passed, verdict.final) == (not final, final)


def test_every_round_of_samples_is_shown_with_its_verdict() -> None:
    """promote says what each poll saw (healthy replicas, firing alarms, error rate), not 20 s of silence."""
    clock = FakeClock()
    observe = timeline(
        clock,
        {
            0: [healthy(1, error_rate_percent=None)],
            10: [healthy(2, error_rate_percent=1.5, requests=40), healthy(2, "gcp", firing_alarms=("5xx",))],
        },
    )
    rounds: list[tuple[list[str], Verdict]] = []
    watch(
        "green",
        observe,
        POLICY,
        clock,
        lambda samples, verdict: rounds.append(([describe("green", s, POLICY) for s in samples], verdict)),
    )
    assert rounds[0][0] == ["green on aws: 1 healthy (2 needed), alarms firing: none, no requests yet"]
    assert not rounds[0][1].passed
    assert rounds[1][0] == [
        "green on aws: 2 healthy (2 needed), alarms firing: none, 1.5% 5xx of 40 requests (at most 5%)",
        "green on gcp: 2 healthy (2 needed), alarms firing: 5xx, no requests yet",
    ]
    assert rounds[1][1].final and not rounds[1][1].passed
