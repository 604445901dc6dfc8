"""What an environment asks of a cloud at max capacity, from the plan alone, and how secrets are judged."""

from __future__ import annotations

import pytest

from llmdeploy.doctor.aws import bucket
from llmdeploy.doctor.gcp import GPU_METRICS
from llmdeploy.doctor.needs import Need, capacity_needs, gpus, secrets_on, vcpus
from llmdeploy.doctor.secrets import value_problem
from llmdeploy.plan.model import DeploymentPlan


def test_prod_needs_every_slot_at_max_split_into_on_demand_and_spot(prod_plan: DeploymentPlan) -> None:
    # translate-fr: blue max 8 (base 1 + 20% of 7 -> 3 on-demand, 5 spot), green max 2 (base 1 + 20% of 1
    # -> 2 on-demand); translate-es: max 6, base 1 -> 1 on-demand, 5 spot. Largest AWS G type of each
    # fleet: g5.2xlarge (8 vCPUs) for translate-fr, g5.2xlarge (8) for translate-es.
    needs = capacity_needs(prod_plan.fleets_on("aws"), lambda kind: bucket(kind.name), vcpus)
    assert needs == {"G": Need(on_demand=(3 + 2 + 1) * 8, spot=(5 + 0 + 5) * 8)}


def test_gcp_gpus_are_counted_per_gpu_model(prod_plan: DeploymentPlan) -> None:
    needs = capacity_needs(prod_plan.fleets_on("gcp"), lambda kind: GPU_METRICS.get(kind.gpu), gpus)
    assert needs == {"NVIDIA_L4_GPUS": Need(on_demand=6, spot=10)}


def test_each_secret_is_checked_once_with_every_key_that_names_it(prod_plan: DeploymentPlan) -> None:
    found = {use.name: use.keys for use in secrets_on(prod_plan, "azure")}
    assert found == {
        "llmdeploy-prod-hf-token": ("models.translate-fr.hf_token", "models.translate-es.hf_token"),
        "llmdeploy-prod-api-key": ("access.api_key",),
    }


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("hf_abcDEF123", None),
        ("hf_abcDEF123\n", None),
        ("12345", None),
        ("{not json", None),
        ('{"HF_TOKEN": "hf_abc"}', "it holds a JSON object (key/value pairs), not a plain string"),
        ('["a"]', "it holds a JSON list, not a plain string"),
        ('"quoted"', "it holds a quoted JSON string, not a plain string"),
        ("  \n", "it is empty"),
    ],
)
def test_a_secret_must_hold_the_plain_value(value: str, problem: str | None) -> None:
    assert value_problem(value) == problem
