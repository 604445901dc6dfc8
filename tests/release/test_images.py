"""Which resources `release --new-image` replaces: exactly the released slot's image-pinning templates."""

from __future__ import annotations

import pytest

from llmdeploy.release.images import image_pins
from tests.fixtures_synth import Stack

pytestmark = pytest.mark.synth


def test_aws_replaces_the_slots_launch_template_only(aws_stacks: dict[str, Stack]) -> None:
    stack = aws_stacks["prod-aws"]
    assert image_pins(stack.doc, "prod-aws", "translate-fr-green", "aws") == [
        stack.address("aws_launch_template", "translate-fr-green/LaunchTemplate")
    ]


def test_gcp_replaces_the_slots_spot_and_on_demand_templates(gcp_stacks: dict[str, Stack]) -> None:
    stack = gcp_stacks["prod-gcp"]
    assert image_pins(stack.doc, "prod-gcp", "translate-fr-blue", "gcp") == sorted(
        stack.address("google_compute_instance_template", f"translate-fr-blue/Templates/{kind}Template")
        for kind in ("OnDemand", "Spot")
    )


def test_azure_and_unknown_fleets_replace_nothing(
    azure_stacks: dict[str, Stack], aws_stacks: dict[str, Stack]
) -> None:
    assert image_pins(azure_stacks["prod-azure"].doc, "prod-azure", "translate-fr-green", "azure") == []
    assert image_pins(aws_stacks["prod-aws"].doc, "prod-aws", "translate-fr", "aws") == []
