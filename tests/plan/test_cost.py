"""Cost estimates: the spot mix, totals, and the budget gate."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from llmdeploy.cli import app
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


def _routed_prod(tmp_path: Path, routing: str) -> Path:
    for name in ("base.yaml", "prod.yaml"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    with (tmp_path / "prod.yaml").open("a") as env:
        env.write(f"\nrouting: {routing}\n")
    return tmp_path


@pytest.mark.usefixtures("example_vars")
def test_router_vms_are_counted_at_every_capacity_and_in_the_budget(tmp_path: Path) -> None:
    plain = cost_report(build_plan(load("prod", EXAMPLES)))
    routed_dir = _routed_prod(tmp_path, "{enabled: true, min_routers: 3}")
    routed = cost_report(build_plan(load("prod", routed_dir)))
    # Three on-demand router VMs per cloud, at the catalog's list prices (c7i.large, c3-standard-4, D2s v5).
    routers = 3 * (0.08925 + 0.201608 + 0.096)
    assert routed.routers_usd_hour == pytest.approx(routers)
    assert routed.min_usd_hour == pytest.approx(plain.min_usd_hour + routers)
    assert routed.max_on_demand_usd_hour == pytest.approx(plain.max_on_demand_usd_hour + routers)
    shown = CliRunner().invoke(app, ["cost", "prod", "--env-dir", str(routed_dir), "--json"])
    assert shown.exit_code == 0, shown.output
    listed = json.loads(shown.stdout)["routers"]
    assert [(entry["cloud"], entry["instance_type"], entry["count"]) for entry in listed] == [
        ("aws", "c7i.large", 3),
        ("gcp", "c3-standard-4", 3),
        ("azure", "Standard_D2s_v5", 3),
    ]


@pytest.mark.usefixtures("example_vars")
def test_a_router_type_the_catalog_does_not_price_is_named_not_guessed(tmp_path: Path) -> None:
    routed_dir = _routed_prod(tmp_path, "{enabled: true, instance_types: {aws: m7g.large}}")
    report = cost_report(build_plan(load("prod", routed_dir)))
    by_cloud = {cost.group.cloud: cost.usd_hour for cost in report.routers}
    assert by_cloud["aws"] is None and by_cloud["gcp"] is not None
    shown = CliRunner().invoke(app, ["cost", "prod", "--env-dir", str(routed_dir)], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    assert "m7g.large" in shown.stdout and "not in the catalog" in shown.stdout
