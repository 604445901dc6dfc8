"""The example environments are documentation: they must load and say what they claim."""

from __future__ import annotations

import pytest

from llmdeploy.config import load
from llmdeploy.plan.build import build_plan
from tests.conftest import EXAMPLE_NAMES, EXAMPLES

pytestmark = pytest.mark.usefixtures("example_vars")


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_loads_and_plans(name: str) -> None:
    plan = build_plan(load(name, EXAMPLES))
    assert plan.env == name
    assert all(model.fleets for model in plan.models)


def test_dev_is_aws_only_all_spot_and_may_scale_to_zero() -> None:
    config = load("dev", EXAMPLES)
    assert config.clouds.names() == ["aws"]
    (model,) = config.models
    assert model.spot.on_demand_base == 0 and model.spot.on_demand_percent_above_base == 0
    assert model.capacity.min == 0 and model.autoscaling.scale_to_zero


def test_staging_spans_aws_and_gcp() -> None:
    assert load("staging", EXAMPLES).clouds.names() == ["aws", "gcp"]


def test_prod_has_three_clouds_two_models_and_a_green_canary() -> None:
    config = load("prod", EXAMPLES)
    assert config.clouds.names() == ["aws", "gcp", "azure"]
    assert [model.name for model in config.models] == ["translate-fr", "translate-es"]
    canary = config.models[0].slots
    assert 0 < canary["green"].weight < canary["blue"].weight
    assert all(model.spot.on_demand_base >= 1 for model in config.models)
    plan = build_plan(config)
    fr, es = plan.models
    assert {fleet.max_size for fleet in fr.fleets_on("aws")} != {
        fleet.max_size for fleet in es.fleets_on("aws")
    }


def test_every_example_declares_the_schema_for_editors() -> None:
    for path in (EXAMPLES / f"{name}.yaml" for name in EXAMPLE_NAMES):
        assert path.read_text().startswith("# yaml-language-server: $schema=./llmdeploy.schema.json"), path
