"""init -> apply -> empty re-plan -> destroy against the emulator, plus apply failures."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from llmdeploy.errors import OperationError
from llmdeploy.terraform import TerraformRunner
from tests.fixtures_aws import AwsClient
from tests.terraform.stacks import broken_subnet_stack, fleet_stack, vpc_only_stack, write_stack

pytestmark = [pytest.mark.terraform]

FLEET_CREATES = 6  # vpc, 2 subnets, launch template, asg, policy (the AMI data source is only read)


def _runner(folder: Path, binary: str, env: dict[str, str]) -> TerraformRunner:
    return TerraformRunner(folder, stack=folder.name, binary=binary, env=env)


def _timed(label: str, timings: dict[str, float], action: Any) -> Any:
    started = time.monotonic()
    result = action()
    timings[label] = round(time.monotonic() - started, 1)
    return result


def _vpcs_named(aws_client: AwsClient, name: str) -> list[dict[str, Any]]:
    found = aws_client("ec2").describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [name]}])
    vpcs: list[dict[str, Any]] = found["Vpcs"]
    return vpcs


def _assert_fleet_exists(aws_client: AwsClient, name: str) -> None:
    """What the emulator holds after apply, read back through the AWS API."""
    groups = aws_client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])
    group = groups["AutoScalingGroups"][0]
    assert group["MixedInstancesPolicy"]["InstancesDistribution"]["OnDemandBaseCapacity"] == 1
    assert group["CapacityRebalance"] is True
    assert len(group["Instances"]) == 1
    hooks = aws_client("autoscaling").describe_lifecycle_hooks(AutoScalingGroupName=name)
    assert [h["LifecycleTransition"] for h in hooks["LifecycleHooks"]] == [
        "autoscaling:EC2_INSTANCE_TERMINATING"
    ]
    policies = aws_client("autoscaling").describe_policies(AutoScalingGroupName=name)["ScalingPolicies"]
    assert [(p["PolicyType"], p["Enabled"]) for p in policies] == [("TargetTrackingScaling", True)]


def _assert_fleet_gone(aws_client: AwsClient, name: str) -> None:
    autoscaling, ec2 = aws_client("autoscaling"), aws_client("ec2")
    assert autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"] == []
    assert autoscaling.describe_policies(AutoScalingGroupName=name)["ScalingPolicies"] == []
    templates = ec2.describe_launch_templates(Filters=[{"Name": "tag:llmdeploy-test", "Values": [name]}])
    assert templates["LaunchTemplates"] == []
    assert _vpcs_named(aws_client, name) == []
    subnets = ec2.describe_subnets(Filters=[{"Name": "tag:llmdeploy-test", "Values": [name]}])
    assert subnets["Subnets"] == []
    running = ec2.describe_instances(
        Filters=[
            {"Name": "tag:llmdeploy-test", "Values": [name]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ]
    )
    assert running["Reservations"] == []


def test_fleet_applies_replans_clean_and_destroys(
    tmp_path: Path,
    terraform_binary: str,
    terraform_env: dict[str, str],
    aws_client: AwsClient,
    unique_name: str,
    record_property: Any,
) -> None:
    folder = write_stack(tmp_path / "dev-aws", fleet_stack(unique_name))
    runner = _runner(folder, terraform_binary, terraform_env)
    timings: dict[str, float] = {}
    _timed("init", timings, runner.init)

    planned = _timed("plan", timings, runner.plan)
    assert planned.add == FLEET_CREATES
    applied = _timed("apply", timings, lambda: runner.apply_plan(planned))
    assert applied.add == planned.add
    _assert_fleet_exists(aws_client, unique_name)
    assert runner.output()["asg_name"] == unique_name

    again = _timed("replan", timings, lambda: runner.plan(detailed=True))
    assert not again.has_changes, f"second plan is not empty: {again.resources}"

    destroyed = _timed("destroy", timings, lambda: runner.destroy())
    assert destroyed.destroy == applied.add
    _assert_fleet_gone(aws_client, unique_name)
    assert (folder / "terraform.tfstate").exists(), "state files are never deleted"
    record_property("terraform_timings_s", timings)
    print(f"terraform timings (s): {timings}")


def test_apply_failing_half_way_says_state_keeps_what_was_created(
    tmp_path: Path,
    terraform_binary: str,
    terraform_env: dict[str, str],
    aws_client: AwsClient,
    unique_name: str,
) -> None:
    folder = write_stack(tmp_path / "half-aws", broken_subnet_stack(unique_name))
    runner = _runner(folder, terraform_binary, terraform_env)
    runner.init()
    with pytest.raises(OperationError) as caught:
        runner.apply()
    message = str(caught.value)
    assert "'half-aws'" in message
    assert "InvalidSubnet.Range" in message
    assert "state keeps what was created" in message
    assert "run apply again" in message
    assert "\n" not in message and "Traceback" not in message
    assert len(_vpcs_named(aws_client, unique_name)) == 1  # the VPC was created and kept

    runner.destroy()  # the state knew about the VPC: it is removed
    assert _vpcs_named(aws_client, unique_name) == []


def test_missing_credentials_are_explained(
    tmp_path: Path, terraform_binary: str, terraform_env: dict[str, str], unique_name: str
) -> None:
    env = {k: v for k, v in terraform_env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    folder = write_stack(tmp_path / "nocreds-aws", vpc_only_stack(unique_name))
    runner = _runner(folder, terraform_binary, env)
    runner.init()
    with pytest.raises(OperationError) as caught:
        runner.plan()
    message = str(caught.value)
    assert "'nocreds-aws'" in message
    assert "No valid credential sources found" in message
    assert "no usable cloud credentials" in message
    assert "llmdeploy local up" in message
