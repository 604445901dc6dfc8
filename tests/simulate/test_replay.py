"""The replay answers what a user choosing a spot policy needs to know, on small synthetic traces."""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise

import pytest

from llmdeploy.plan.cost import fleet_cost, hourly_usd
from llmdeploy.plan.model import FleetPlan
from llmdeploy.simulate.model import Options, ThroughputModel
from llmdeploy.simulate.replay import rates, replay, traffic_scale, wanted
from llmdeploy.simulate.run import type_warnings
from llmdeploy.simulate.traces import ZoneTrace
from tests.simulate.conftest import STEADY, fixed_size, zones

TWO_DAYS = Options(days=2)
SIX_HOURS = 6 * 3600


def test_availability_falls_when_spot_zones_go_dark(fleet: FleetPlan, served: ThroughputModel) -> None:
    always = replay(fleet, STEADY, zones("1"), "plan", TWO_DAYS, served)
    half_dark = replay(fleet, STEADY, zones("10", SIX_HOURS), "plan", TWO_DAYS, served)
    assert always.preemptions == 0
    assert half_dark.preemptions > 0
    assert half_dark.time_available < always.time_available - 0.3
    assert half_dark.requests_within_budget < always.requests_within_budget - 0.3


def test_an_on_demand_base_holds_availability_while_spot_is_gone(
    fleet: FleetPlan, served: ThroughputModel
) -> None:
    sized = fixed_size(fleet, 4)
    dark = zones("0")

    def available(base: int) -> float:
        based = replace(sized, spot=sized.spot.model_copy(update={"on_demand_base": base}))
        return replay(based, STEADY, dark, "plan", TWO_DAYS, served).time_available

    assert available(4) == 1.0
    assert available(0) < 0.5
    assert replay(sized, STEADY, dark, "all-on-demand", TWO_DAYS, served).time_available == 1.0


def test_a_longer_readiness_time_costs_availability(fleet: FleetPlan, served: ThroughputModel) -> None:
    flapping = zones("1101", 3600)

    def with_readiness(seconds: int) -> float:
        slow = replace(fleet, health=replace(fleet.health, readiness_grace_s=seconds))
        return replay(slow, STEADY, flapping, "plan", TWO_DAYS, served).time_available

    assert with_readiness(1800) < with_readiness(300) - 0.05


def test_cost_matches_llmdeploy_cost_when_nothing_is_preempted(
    fleet: FleetPlan, served: ThroughputModel
) -> None:
    sized = fixed_size(fleet, 5)
    plan = replay(sized, STEADY, zones("1"), "plan", TWO_DAYS, served)
    on_demand = replay(sized, STEADY, zones("1"), "all-on-demand", TWO_DAYS, served)
    assert plan.preemptions == 0
    assert abs(plan.usd_hour - hourly_usd(sized, 5)) < 1e-9
    assert abs(on_demand.usd_hour - fleet_cost(sized).max_on_demand_usd_hour) < 1e-9
    assert plan.gpu_hours == 5 * 48 * sized.instance_types[0].gpu_count


def test_fallback_restores_availability_and_hands_on_demand_back(
    fleet: FleetPlan, served: ThroughputModel
) -> None:
    half_dark = zones("10", SIX_HOURS)
    static = replay(fleet, STEADY, half_dark, "plan", TWO_DAYS, served)
    fallback = replay(fleet, STEADY, half_dark, "fallback", TWO_DAYS, served)
    all_on_demand = replay(fleet, STEADY, half_dark, "all-on-demand", TWO_DAYS, served)
    assert fallback.time_available > static.time_available + 0.3
    assert static.cost_usd < fallback.cost_usd < all_on_demand.cost_usd
    assert fallback.spot_hours > 0


def test_same_seed_same_result_and_scale_to_zero_stops_paying(
    fleet: FleetPlan, served: ThroughputModel
) -> None:
    first = replay(fleet, STEADY, zones("10", SIX_HOURS), "plan", Options(days=1, seed=7), served)
    assert replay(fleet, STEADY, zones("10", SIX_HOURS), "plan", Options(days=1, seed=7), served) == first
    idle = replace(STEADY, per_minute=(0,) * 60)
    zero = replace(fleet, min_size=0, desired_size=0)
    assert replay(zero, idle, zones("1"), "plan", Options(days=1), served).cost_usd == 0.0


def test_a_short_reclaim_notice_cuts_long_requests_that_two_minutes_let_finish(
    fleet: FleetPlan, served: ThroughputModel
) -> None:
    # Half the requests generate enough tokens to take 80 s at the replica's decode rate, past GCP's
    # and Azure's 30 s notice, within AWS's two minutes.
    output = round(80 * served.decode_tokens_per_s)
    long = replace(STEADY, tokens=((500, 100), (500, output)))
    half_dark = zones("10", SIX_HOURS)
    aws = replay(fleet, long, half_dark, "plan", TWO_DAYS, served)
    gcp = replay(replace(fleet, cloud="gcp"), long, half_dark, "plan", TWO_DAYS, served)
    assert aws.preemptions == gcp.preemptions > 0
    assert aws.requests_cut == 0
    assert gcp.requests_cut > 0


def test_slower_traffic_swings_let_the_autoscaler_keep_up(fleet: FleetPlan, served: ThroughputModel) -> None:
    ramp = replace(STEADY, per_minute=tuple(100 + 5 * minute for minute in range(60)))

    def available(stretch: int) -> float:
        options = Options(days=2, stretch=stretch)
        return replay(fleet, ramp, zones("1"), "all-on-demand", options, served).time_available

    assert available(24) > available(1) + 0.1


def test_over_provisioned_spot_rides_out_one_zone_going_dark(
    fleet: FleetPlan, served: ThroughputModel
) -> None:
    # One zone of three goes dark for an hour every six: its spot replicas are reclaimed and the
    # replacements take the readiness time. Spare spot replicas in the other zones cover the gap.
    dark_a = {**zones("1"), "us-east-1a": ZoneTrace("us-east-1a", 3600, (True,) * 5 + (False,))}
    sized = fixed_size(fleet, 6)
    plain = replay(sized, STEADY, dark_a, "fallback", TWO_DAYS, served)
    # Zone balancing puts two of the spot replicas in us-east-1a: two spares cover them.
    spare = replay(sized, STEADY, dark_a, "fallback", replace(TWO_DAYS, spot_extra=2), served)
    assert spare.time_available > plain.time_available
    assert spare.requests_within_budget >= plain.requests_within_budget
    assert spare.spot_hours > plain.spot_hours


def test_a_backlog_makes_the_queue_target_scale_out_beyond_what_the_arrivals_need(
    fleet: FleetPlan, served: ThroughputModel
) -> None:
    # Traffic triples in one minute: the two warm replicas saturate while new ones boot, and the
    # engines' queue (the metric target tracking follows) holds the backlog, not only what the
    # arrival rate would queue at steady state.
    surge = replace(STEADY, per_minute=(100,) * 50 + (300,) * 10)
    result = replay(fleet, surge, zones("1"), "all-on-demand", Options(days=1), served)
    service_s = served.service_s(*STEADY.tokens[0])
    scale = traffic_scale(fleet, surge, service_s, served, Options(days=1).peak_share_of_max)
    arrivals_need = wanted(fleet, 300 * scale / 60, service_s, served.concurrency)
    assert arrivals_need < fleet.max_size
    assert max(result.timeline.wanted) == fleet.max_size
    # A request-count target sees arrivals only: a backlog adds nothing to what it asks for.
    by_requests = replace(
        fleet,
        autoscaling=fleet.autoscaling.model_copy(
            update={"target_queue_size": None, "target_requests_per_replica": 60}
        ),
    )
    assert wanted(by_requests, 5.0, service_s, 16, backlog=10_000) == wanted(by_requests, 5.0, service_s, 16)


def test_only_a_trace_of_another_instance_type_is_flagged(fleet: FleetPlan) -> None:
    first = fleet.instance_types[0]
    assert type_warnings(fleet, {f"{first.gpu.lower()}_{first.gpu_count}"}) == ()
    assert [first.name in warning for warning in type_warnings(fleet, {"v100_1", ""})] == [True, True]


def test_stretch_slows_the_trend_but_keeps_minute_bursts_a_minute_long() -> None:
    # A ramp with every third minute 50% busier. Stretched 24 times, the bursts still last one
    # minute: the rate jumps by a third or more at most minutes, not once every 24 minutes.
    per_minute = tuple(round((100 + minute) * (1.5 if minute % 3 == 0 else 1.0)) for minute in range(60))
    traffic = replace(STEADY, per_minute=per_minute)

    def jumps(values: list[float]) -> int:
        return sum(1 for before, now in pairwise(values) if abs(now / before - 1) > 0.3)

    stretched = rates(traffic, Options(days=1, stretch=24), 60.0)
    assert jumps(stretched) > 0.5 * len(stretched)
    # The level moves slowly: the busiest hour is under twice the quietest, as in the trace.
    hours = [sum(stretched[hour * 60 : hour * 60 + 60]) for hour in range(24)]
    assert max(hours) < 2 * min(hours)
    # Not stretched, the replay is the trace's own minutes.
    plain = rates(traffic, Options(days=1), 60.0)
    assert sorted(set(plain)) == pytest.approx(sorted(set(map(float, per_minute))))


def test_a_replica_held_after_a_burst_is_not_counted_as_missing(
    fleet: FleetPlan, served: ThroughputModel
) -> None:
    # One busy minute an hour: the autoscaler asks for more replicas and holds its wish over the
    # scale-in window while they boot, but after that minute the ready ones carry the traffic.
    burst = replace(STEADY, per_minute=(100,) * 59 + (300,))
    result = replay(fleet, burst, zones("1"), "all-on-demand", TWO_DAYS, served)
    short = sum(
        1 for want, ready in zip(result.timeline.wanted, result.timeline.ready, strict=True) if ready < want
    )
    assert short > 0.1 * len(result.timeline.ready)  # below the autoscaler's wish for a good while
    assert result.time_available > 0.95  # but short of what the traffic needs only around the bursts
