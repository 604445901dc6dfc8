"""Which endpoint `smoke` calls per model and cloud, and what --slot can and cannot prove."""

from __future__ import annotations

import pytest

from llmdeploy.errors import ConfigError
from llmdeploy.plan.model import DeploymentPlan
from llmdeploy.smoke.targets import chosen_models, cloud_targets
from llmdeploy.status.model import SlotStatus

URL = "https://lb.example/translate-fr/"


def _slot(slot: str, weight: int, cloud: str = "aws", model: str = "translate-fr") -> SlotStatus:
    return SlotStatus(model, cloud, slot, 2, 2, 2, 1, 1, weight, URL)  # type: ignore[arg-type]


def test_one_target_per_model_and_cloud_without_a_slot(prod_plan: DeploymentPlan) -> None:
    models = chosen_models(prod_plan, "translate-fr", None)
    statuses = [_slot("blue", 95), _slot("green", 5), _slot("blue", 95, cloud="gcp")]
    targets = cloud_targets(models, None, statuses)
    assert [(t.cloud, t.url, t.problem) for t in targets] == [("aws", URL, None), ("gcp", URL, None)]


@pytest.mark.parametrize(
    ("weight", "problem", "note"),
    [
        (100, None, None),
        (5, None, "green has 5%: the other slot may have answered"),
        (0, "the green slot gets 0% of translate-fr's traffic on aws", None),
    ],
)
def test_a_slot_is_proven_alone_only_with_all_the_traffic(
    prod_plan: DeploymentPlan, weight: int, problem: str | None, note: str | None
) -> None:
    models = chosen_models(prod_plan, "translate-fr", "green")
    (target,) = cloud_targets(models, "green", [_slot("blue", 100 - weight), _slot("green", weight)])
    assert target.note == note
    assert (target.problem or "").startswith(problem or "")
    assert (target.problem is None) is (problem is None)
    if problem:
        assert "no per-slot address" in target.problem  # type: ignore[operator]
        assert not target.failed().passed


def test_a_slot_no_model_has_is_bad_input(prod_plan: DeploymentPlan) -> None:
    assert [model.name for model in chosen_models(prod_plan, None, "green")] == ["translate-fr"]
    with pytest.raises(ConfigError, match="model 'translate-es' of 'prod' has no green slot"):
        chosen_models(prod_plan, "translate-es", "green")
