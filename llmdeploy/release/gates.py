"""The gate between promotion steps: health samples of the new slot judged against the policy.

Pure: samples come from an `observe` callable and time from an injected `Clock`, so the whole
watch (wait for health within the timeout, then hold it for the pause) runs in tests without
sleeping. A gate fails at once on a firing alarm or a high error rate (alarms already integrate
over minutes, and errors are what a rollback exists for); too few healthy targets is waited out
until the timeout, but once the gate has passed, losing them during the pause fails it.

An error rate over a handful of requests is noise (one failed request of two is 50 %), and a
gate must not roll back a healthy release on noise: when a cloud reports how many requests the
rate covers, the rate is judged only from `min_requests` on. A cloud's observer that reports no
count has its rate judged as it is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from llmdeploy.catalog import Cloud
from llmdeploy.config.model import Slot


@dataclass(frozen=True)
class CloudSample:
    """What one cloud reports about one model's slot at one moment."""

    cloud: Cloud
    healthy: int
    firing_alarms: tuple[str, ...] = ()
    #: 5xx answers as a percentage of requests over the recent window; None without requests.
    error_rate_percent: float | None = None
    #: How many requests that rate covers; None when the cloud does not say.
    requests: int | None = None


@dataclass(frozen=True)
class GatePolicy:
    """What the new slot must show, and how long to wait and watch."""

    min_healthy: int
    max_error_rate_percent: float
    timeout_s: float
    pause_s: float
    poll_s: float
    #: Fewest requests an error rate is judged on (see the module docstring).
    min_requests: int = 20


@dataclass(frozen=True)
class Verdict:
    """A gate's judgement: `reasons` say what failed; `final` failures are not waited out."""

    passed: bool
    reasons: tuple[str, ...] = ()
    final: bool = False


class Clock(Protocol):
    """Time as the watch sees it: monotonic seconds and a way to wait."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def evaluate(slot: Slot, samples: Sequence[CloudSample], policy: GatePolicy) -> Verdict:
    """Judge one round of samples (one per cloud)."""
    final = [reason for sample in samples for reason in _final_reasons(slot, sample, policy)]
    waiting = [
        f"{slot} on {sample.cloud}: {sample.healthy} healthy target(s), {policy.min_healthy} needed"
        for sample in samples
        if sample.healthy < policy.min_healthy
    ]
    if not samples:
        waiting.append(f"{slot}: no cloud reported its health")
    return Verdict(passed=not final and not waiting, reasons=tuple(final + waiting), final=bool(final))


def _final_reasons(slot: Slot, sample: CloudSample, policy: GatePolicy) -> list[str]:
    reasons = [f"{slot} on {sample.cloud}: alarm {name} is firing" for name in sample.firing_alarms]
    rate = sample.error_rate_percent
    too_few = sample.requests is not None and sample.requests < policy.min_requests
    if rate is not None and not too_few and rate >= policy.max_error_rate_percent:
        reasons.append(
            f"{slot} on {sample.cloud}: {rate:.1f}% of requests failed (5xx), "
            f"the limit is {policy.max_error_rate_percent:g}%"
        )
    return reasons


def watch(
    slot: Slot,
    observe: Callable[[], Sequence[CloudSample]],
    policy: GatePolicy,
    clock: Clock,
    on_round: Callable[[Sequence[CloudSample], Verdict], None] | None = None,
) -> Verdict:
    """Sample until the gate has held for `pause_s`, or fails; the result says why it failed.

    The slot has `timeout_s` to pass the gate first; the pause starts when it first passes.
    """
    deadline = clock.now() + policy.timeout_s
    passed_at: float | None = None
    while True:
        samples = observe()
        verdict = evaluate(slot, samples, policy)
        now = clock.now()
        if on_round is not None:
            on_round(samples, verdict)
        if verdict.final:
            return verdict
        if not verdict.passed:
            if passed_at is not None:
                return _failed(verdict, "during the pause after the gate had passed")
            if now >= deadline:
                return _failed(verdict, f"still so after the {policy.timeout_s:g} s step timeout")
            clock.sleep(min(policy.poll_s, deadline - now))
            continue
        passed_at = now if passed_at is None else passed_at
        if now >= passed_at + policy.pause_s:
            return verdict
        clock.sleep(min(policy.poll_s, passed_at + policy.pause_s - now))


def describe(slot: Slot, sample: CloudSample, policy: GatePolicy) -> str:
    """One cloud's sample as the operator reads it while a gate watches."""
    alarms = ", ".join(sample.firing_alarms) or "none"
    if sample.error_rate_percent is None:
        errors = "no requests yet"
    else:
        counted = "" if sample.requests is None else f" of {sample.requests} requests"
        errors = f"{sample.error_rate_percent:.1f}% 5xx{counted} (at most {policy.max_error_rate_percent:g}%)"
    return (
        f"{slot} on {sample.cloud}: {sample.healthy} healthy ({policy.min_healthy} needed), "
        f"alarms firing: {alarms}, {errors}"
    )


def _failed(verdict: Verdict, when: str) -> Verdict:
    return Verdict(passed=False, reasons=(*verdict.reasons, when), final=True)
