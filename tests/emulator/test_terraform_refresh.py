"""Real Terraform and hashicorp/aws: a new launch template version refreshes the group at once.

The provider starts an instance refresh when a group with an `instance_refresh` block
gets a new launch template version; against moto as shipped it retries for minutes
and the apply fails. That is what `llmdeploy release` into an existing slot does.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest

from llmdeploy.terraform import TerraformRunner
from tests.emulator.builders import Clients
from tests.terraform.stacks import Doc, fleet_stack, write_stack

pytestmark = [pytest.mark.terraform]

# Far below the provider's own 15-minute retry for a refresh that will not start.
QUICK_SECONDS = 60


def refresh_stack(name: str, release: str) -> Doc:
    """fleet_stack whose group follows the template's latest version and refreshes on it."""
    document = fleet_stack(name, cidr="10.44")
    resources = document["resource"]
    resources["aws_launch_template"]["gpu"]["user_data"] = base64.b64encode(release.encode()).decode()
    group = resources["aws_autoscaling_group"]["fleet"]
    # A refresh starts only on a concrete version change, never for "$Latest".
    specification = group["mixed_instances_policy"]["launch_template"]["launch_template_specification"]
    specification["version"] = "${aws_launch_template.gpu.latest_version}"
    group["instance_refresh"] = {
        "strategy": "Rolling",
        "preferences": {"min_healthy_percentage": 100, "max_healthy_percentage": 200, "auto_rollback": True},
    }
    return document


def test_new_template_version_refreshes_quickly(
    tmp_path: Path,
    terraform_binary: str,
    terraform_env: dict[str, str],
    corrected: Clients,
    unique_name: str,
) -> None:
    folder = write_stack(tmp_path / "refresh-aws", refresh_stack(unique_name, "release one"))
    runner = TerraformRunner(folder, stack=folder.name, binary=terraform_binary, env=terraform_env)
    runner.init()
    try:
        runner.apply()
        write_stack(folder, refresh_stack(unique_name, "release two"))
        started = time.monotonic()
        runner.apply()
        assert time.monotonic() - started < QUICK_SECONDS
        described = corrected("autoscaling").describe_instance_refreshes(AutoScalingGroupName=unique_name)
        assert [refresh["Status"] for refresh in described["InstanceRefreshes"]] == ["Successful"]
    finally:
        runner.destroy()
