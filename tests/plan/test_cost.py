"""Cost estimates: the spot mix, totals, and the budget gate."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmdeploy.config import load
from llmdeploy.config.model import Spot
from llmdeploy.errors import ConfigError
from llmdeploy.plan.build import build_plan
from llmdeploy.plan.cost import HOURS_PER_MONTH, check_budget, cost_report, hourly_usd, on_demand_count
from tests.conftest import EXAMPLES


def test_on_demand_base_then_share_above_it() -> None:
    spot = Spot(on_demand_base=1, on_demand_percent_above_base=20)
    assert [on_demand_count(n, spot) for n in (0, 1, 2, 6, 11)] == [0, 1, 2, 2, 3]


@given(
    replicas=st.integers(0, 500),
    base=st.integers(0, 50),
    percent=st.integers(0, 100),
)
def test_on_demand_count_is_bounded_and_monotonic(replicas: int, base: int, percent: int) -> None:
    spot = Spot(on_demand_base=base, on_demand_percent_above_base=percent)
    count = on_demand_count(replicas, spot)
    assert min(replicas, base) <= count <= replicas
    assert on_demand_count(replicas + 1, spot) >= count
    if percent == 100:
        assert count == replicas


def test_dev_costs_nothing_at_zero_and_spot_price_at_max() -> None:
    plan = build_plan(load("dev", EXAMPLES))
    (cost,) = cost_report(plan).fleets
    g6 = cost.fleet.instance_types[0]
    assert cost.min_usd_hour == 0
    assert cost.max_usd_hour == pytest.approx(2 * g6.on_demand_usd_hour * (1 - g6.spot_discount))
    assert cost.max_on_demand_usd_hour == pytest.approx(2 * g6.on_demand_usd_hour)


@given(replicas=st.integers(0, 100))
def test_spot_mix_never_costs_more_than_all_on_demand(replicas: int) -> None:
    plan = build_plan(load("dev", EXAMPLES))
    fleet = plan.models[0].fleets[0]
    assert hourly_usd(fleet, replicas) <= replicas * fleet.instance_types[0].on_demand_usd_hour + 1e-9


@pytest.mark.usefixtures("example_vars")
def test_prod_total_is_the_sum_of_every_model_cloud_and_slot() -> None:
    report = cost_report(build_plan(load("prod", EXAMPLES)))
    assert len(report.fleets) == 2 * 3 + 3  # translate-fr blue+green on 3 clouds, translate-es blue on 3
    assert report.max_usd_hour == pytest.approx(sum(cost.max_usd_hour for cost in report.fleets))
    assert report.max_usd_hour < report.max_on_demand_usd_hour


@pytest.mark.usefixtures("example_vars")
def test_budget_exceeded_is_a_config_error() -> None:
    plan = build_plan(load("prod", EXAMPLES))
    report = cost_report(plan)
    check_budget(plan, report)
    assert plan.budget is not None
    tight = replace(
        plan, budget=plan.budget.model_copy(update={"monthly_usd": report.max_usd_hour * HOURS_PER_MONTH / 2})
    )
    with pytest.raises(ConfigError) as caught:
        check_budget(tight, report)
    assert "exceeds the budget" in str(caught.value)
