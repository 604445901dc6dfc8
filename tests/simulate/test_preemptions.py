"""Preemption traces: each preemption in them reclaims a spot replica of that zone at that time."""

from __future__ import annotations

from llmdeploy.plan.cost import hourly_usd
from llmdeploy.plan.model import FleetPlan
from llmdeploy.simulate.model import Options, ThroughputModel
from llmdeploy.simulate.replay import replay
from llmdeploy.simulate.traces import PreemptionTrace
from tests.simulate.conftest import STEADY, fixed_size, preempting, zones

ONE_DAY = Options(days=1)
TWO_DAYS = Options(days=2)


def test_a_preemption_in_the_trace_costs_a_spot_replica_at_that_time(
    fleet: FleetPlan, served: ThroughputModel
) -> None:
    sized = fixed_size(fleet, 3)
    # us-east-1a's instance runs for an hour (six 10-minute ticks), is preempted, and is back 10 min later.
    once = preempting("1" * 6 + "0" + "1" * 200, only="us-east-1a")
    spot = replay(sized, STEADY, zones("1"), "all-spot", ONE_DAY, served, preemptions=once)
    assert spot.preemptions == spot.trace_preemptions == 1
    at, booted = 60, 60 + sized.health.readiness_grace_s // 60  # steps of 60 s
    assert spot.timeline.preempted[at] == 1
    assert spot.timeline.ready[at - 1] == 3
    assert spot.timeline.ready[at] == 2  # a replacement is launched at once but not ready yet
    assert spot.timeline.ready[booted] == 3
    assert spot.time_available < 1.0
    # The same trace takes nothing from on-demand replicas.
    on_demand = replay(sized, STEADY, zones("1"), "all-on-demand", ONE_DAY, served, preemptions=once)
    assert on_demand.preemptions == 0
    assert on_demand.time_available == 1.0


def test_more_preemptions_lower_availability(fleet: FleetPlan, served: ThroughputModel) -> None:
    def run(pattern: str) -> tuple[int, float, float]:
        result = replay(fleet, STEADY, zones("1"), "plan", TWO_DAYS, served, preemptions=preempting(pattern))
        return result.trace_preemptions, result.time_available, result.requests_within_budget

    none, every_six_hours, hourly = run("1"), run("1" * 35 + "0"), run("1" * 5 + "0")
    assert none[0] == 0 < every_six_hours[0] < hourly[0]
    assert none[1] > every_six_hours[1] > hourly[1]
    assert none[2] >= every_six_hours[2] > hourly[2]


def test_the_same_seed_picks_the_same_replicas(fleet: FleetPlan, served: ThroughputModel) -> None:
    traces = preempting("1" * 5 + "0")
    first = replay(fleet, STEADY, zones("1"), "plan", Options(days=1, seed=3), served, preemptions=traces)
    assert (
        replay(fleet, STEADY, zones("1"), "plan", Options(days=1, seed=3), served, preemptions=traces)
        == first
    )


def test_cost_matches_llmdeploy_cost_when_the_trace_has_no_preemption(
    fleet: FleetPlan, served: ThroughputModel
) -> None:
    sized = fixed_size(fleet, 5)
    plan = replay(sized, STEADY, zones("1"), "plan", TWO_DAYS, served, preemptions=preempting("1"))
    assert plan.preemptions == 0
    assert abs(plan.usd_hour - hourly_usd(sized, 5)) < 1e-9


def test_where_spot_can_launch_stays_the_availability_traces_answer(
    fleet: FleetPlan, served: ThroughputModel
) -> None:
    # A preemption trace whose instance never came back adds no preemption and blocks no launch:
    # failed relaunches are availability, which --spot gives.
    down = replay(fleet, STEADY, zones("1"), "all-spot", ONE_DAY, served, preemptions=preempting("0"))
    plain = replay(fleet, STEADY, zones("1"), "all-spot", ONE_DAY, served)
    assert down == plain
    assert down.spot_hours > 0


def test_a_repeated_trace_adds_no_preemption_where_it_wraps_round() -> None:
    # Real traces start down (the instance is launching): that is no preemption, at the start or on
    # each repeat past the end.
    launching = PreemptionTrace("us-east-1a", "v100_1", 60, (False, True, True))
    preempted_last = PreemptionTrace("us-east-1a", "v100_1", 60, (True, True, False))
    assert launching.preemptions_between(-60, 3 * 180) == 0
    assert preempted_last.preemptions_between(-60, 3 * 180) == 3
