"""Which endpoint `smoke` calls per model and cloud, and what --slot can and cannot prove."""

from __future__ import annotations

import pytest

from llmdeploy.errors import ConfigError
from llmdeploy.plan.model import DeploymentPlan
from llmdeploy.smoke.targets import chosen_models, cloud_targets, given_target
from llmdeploy.status.model import SlotStatus
from tests.routing.test_agent_spec import routed_plan

URL = "https://lb.example/translate-fr/"


def _slot(slot: str, weight: int, cloud: str = "aws", model: str = "translate-fr") -> SlotStatus:
    return SlotStatus(model, cloud, slot, 2, 2, 2, 1, 1, weight, URL)  # type: ignore[arg-type]


def test_one_target_per_model_and_cloud_without_a_slot(prod_plan: DeploymentPlan) -> None:
    models = chosen_models(prod_plan, "translate-fr", None)
    statuses = [_slot("blue", 95), _slot("green", 5), _slot("blue", 95, cloud="gcp")]
    targets = cloud_targets(prod_plan, models, None, statuses)
    assert [(t.cloud, t.url, t.problem, t.pinned) for t in targets] == [
        ("aws", URL, None, False),
        ("gcp", URL, None, False),
    ]


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
@pytest.mark.parametrize("weight", [0, 5, 100])
def test_a_slot_is_addressed_by_its_header_at_any_weight(
    prod_plan: DeploymentPlan, cloud: str, weight: int
) -> None:
    models = chosen_models(prod_plan, "translate-fr", "green")
    statuses = [_slot("blue", 100 - weight, cloud), _slot("green", weight, cloud)]
    (target,) = cloud_targets(prod_plan, models, "green", statuses)
    assert (target.url, target.slot, target.pinned, target.problem, target.note) == (
        URL,
        "green",
        True,
        None,
        None,
    )


@pytest.mark.parametrize("cloud", ["aws", "azure"])
def test_router_groups_keep_the_slot_address_where_the_load_balancer_bypasses_them(cloud: str) -> None:
    plan = routed_plan("prod")
    models = chosen_models(plan, "translate-fr", "green")
    (target,) = cloud_targets(plan, models, "green", [_slot("blue", 100, cloud), _slot("green", 0, cloud)])
    assert target.pinned and target.problem is None


@pytest.mark.parametrize(
    ("weight", "problem", "note"),
    [
        (100, None, None),
        (5, None, "green has 5% behind the routers: the other slot may have answered"),
        (0, "the green slot gets 0% of translate-fr's traffic on gcp", None),
    ],
)
def test_behind_gcp_routers_a_slot_is_proven_alone_only_with_all_the_traffic(
    weight: int, problem: str | None, note: str | None
) -> None:
    plan = routed_plan("prod")
    models = chosen_models(plan, "translate-fr", "green")
    statuses = [_slot("blue", 100 - weight, "gcp"), _slot("green", weight, "gcp")]
    (target,) = cloud_targets(plan, models, "green", statuses)
    assert not target.pinned
    assert target.note == note
    assert (target.problem or "").startswith(problem or "")
    assert (target.problem is None) is (problem is None)
    if problem:
        assert "no per-slot address behind a router group" in target.problem  # type: ignore[operator]
        assert not target.failed().passed


def test_a_given_endpoint_with_a_slot_is_pinned(prod_plan: DeploymentPlan) -> None:
    models = chosen_models(prod_plan, "translate-fr", "green")
    assert given_target(URL, models, "green").pinned
    assert not given_target(URL, chosen_models(prod_plan, "translate-fr", None)[:1], None).pinned


def test_a_slot_no_model_has_is_bad_input(prod_plan: DeploymentPlan) -> None:
    assert [model.name for model in chosen_models(prod_plan, None, "green")] == ["translate-fr"]
    with pytest.raises(ConfigError, match="model 'translate-es' of 'prod' has no green slot"):
        chosen_models(prod_plan, "translate-es", "green")
