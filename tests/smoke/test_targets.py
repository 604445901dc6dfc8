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
    targets = cloud_targets(models, None, statuses)
    assert [(t.cloud, t.url, t.problem, t.slot) for t in targets] == [
        ("aws", URL, None, None),
        ("gcp", URL, None, None),
    ]


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
@pytest.mark.parametrize("weight", [0, 5, 100])
def test_a_slot_is_addressed_by_its_header_at_any_weight(
    prod_plan: DeploymentPlan, cloud: str, weight: int
) -> None:
    models = chosen_models(prod_plan, "translate-fr", "green")
    statuses = [_slot("blue", 100 - weight, cloud), _slot("green", weight, cloud)]
    (target,) = cloud_targets(models, "green", statuses)
    assert (target.url, target.slot, target.problem) == (URL, "green", None)


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_behind_router_groups_a_slot_is_addressed_at_any_weight_too(cloud: str) -> None:
    """GCP's routers sit in the slot's backend service; their gate honours the header (test_hold)."""
    plan = routed_plan("prod")
    models = chosen_models(plan, "translate-fr", "green")
    (target,) = cloud_targets(models, "green", [_slot("blue", 100, cloud), _slot("green", 0, cloud)])
    assert target.slot == "green" and target.problem is None


def test_a_given_endpoint_with_a_slot_is_pinned(prod_plan: DeploymentPlan) -> None:
    models = chosen_models(prod_plan, "translate-fr", "green")
    assert given_target(URL, models, "green").slot == "green"
    assert given_target(URL, chosen_models(prod_plan, "translate-fr", None)[:1], None).slot is None


def test_a_slot_no_model_has_is_bad_input(prod_plan: DeploymentPlan) -> None:
    assert [model.name for model in chosen_models(prod_plan, None, "green")] == ["translate-fr"]
    with pytest.raises(ConfigError, match="model 'translate-es' of 'prod' has no green slot"):
        chosen_models(prod_plan, "translate-es", "green")
