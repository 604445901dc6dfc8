"""Each emulator correction, proven needed and proven effective through the real API.

For every correction there are two tests: the corrected emulator behaves like AWS,
and a plain moto (started with the correction skipped) still shows the bug. If moto
fixes a bug upstream the second test fails: drop the correction, and its tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmdeploy.emulator import EmulatorHandle
from llmdeploy.emulator.seeds import SEED_AMI_ID, SEEDED_PARAMETERS
from tests.emulator.builders import Clients, clients_for, described_group, subnet_and_template


def _mixed_group(clients: Clients, name: str) -> None:
    """An empty group with a mixed instances policy (on-demand base 1, rest spot)."""
    subnet, template = subnet_and_template(clients, name)
    clients("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=0,
        MaxSize=3,
        DesiredCapacity=0,
        VPCZoneIdentifier=subnet,
        MixedInstancesPolicy={
            "LaunchTemplate": {
                "LaunchTemplateSpecification": {"LaunchTemplateId": template, "Version": "$Latest"},
                "Overrides": [{"InstanceType": "g5.xlarge"}, {"InstanceType": "g6.xlarge"}],
            },
            "InstancesDistribution": {
                "OnDemandBaseCapacity": 1,
                "OnDemandPercentageAboveBaseCapacity": 0,
                "SpotAllocationStrategy": "price-capacity-optimized",
            },
        },
    )


def _resize_and_describe(clients: Clients, name: str) -> dict[str, Any]:
    """What the Terraform provider does after adding initial lifecycle hooks."""
    autoscaling = clients("autoscaling")
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=name, MinSize=1, DesiredCapacity=2)
    return described_group(clients, name)


def test_update_without_policy_keeps_mixed_instances_policy(corrected: Clients, unique_name: str) -> None:
    _mixed_group(corrected, unique_name)
    group = _resize_and_describe(corrected, unique_name)
    policy = group.get("MixedInstancesPolicy")
    assert policy is not None, "UpdateAutoScalingGroup without the policy must keep it"
    assert [o["InstanceType"] for o in policy["LaunchTemplate"]["Overrides"]] == ["g5.xlarge", "g6.xlarge"]
    assert policy["InstancesDistribution"]["OnDemandBaseCapacity"] == 1
    assert group["DesiredCapacity"] == len(group["Instances"]) == 2


def test_update_with_launch_template_still_replaces_policy(corrected: Clients, unique_name: str) -> None:
    """Switching a group to a plain launch template drops the policy, as on AWS."""
    _mixed_group(corrected, unique_name)
    autoscaling = corrected("autoscaling")
    autoscaling.update_auto_scaling_group(
        AutoScalingGroupName=unique_name,
        LaunchTemplate={"LaunchTemplateName": f"{unique_name}-lt", "Version": "$Latest"},
    )
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[unique_name])
    assert "MixedInstancesPolicy" not in group["AutoScalingGroups"][0]


def test_plain_moto_still_wipes_mixed_instances_policy(plain: Clients, unique_name: str) -> None:
    _mixed_group(plain, unique_name)
    group = _resize_and_describe(plain, unique_name)
    assert group.get("MixedInstancesPolicy") is None, (
        "moto now keeps the policy: remove keep_mixed_instances_policy and its tests"
    )


def _policies(clients: Clients, name: str) -> dict[str, dict[str, Any]]:
    """A target-tracking policy (enabled by default) and a disabled simple one."""
    autoscaling = clients("autoscaling")
    autoscaling.put_scaling_policy(
        AutoScalingGroupName=name,
        PolicyName=f"{name}-cpu",
        PolicyType="TargetTrackingScaling",
        TargetTrackingConfiguration={
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
            "TargetValue": 60.0,
        },
    )
    autoscaling.put_scaling_policy(
        AutoScalingGroupName=name,
        PolicyName=f"{name}-step",
        PolicyType="SimpleScaling",
        AdjustmentType="ChangeInCapacity",
        ScalingAdjustment=1,
        Enabled=False,
    )
    found = autoscaling.describe_policies(AutoScalingGroupName=name)["ScalingPolicies"]
    return {p["PolicyName"].removeprefix(f"{name}-"): p for p in found}


def test_policies_report_enabled(corrected: Clients, unique_name: str) -> None:
    _mixed_group(corrected, unique_name)
    policies = _policies(corrected, unique_name)
    assert policies["cpu"].get("Enabled") is True
    assert policies["step"].get("Enabled") is False


def test_plain_moto_still_omits_enabled(plain: Clients, unique_name: str) -> None:
    _mixed_group(plain, unique_name)
    policies = _policies(plain, unique_name)
    assert "Enabled" not in policies["cpu"], "moto now returns Enabled: remove report_policy_enabled"


def test_target_tracking_policy_has_no_predictive_config(corrected: Clients, unique_name: str) -> None:
    _mixed_group(corrected, unique_name)
    policies = _policies(corrected, unique_name)
    assert "PredictiveScalingConfiguration" not in policies["cpu"]
    assert "PredictiveScalingConfiguration" not in policies["step"]


def test_plain_moto_still_returns_empty_predictive_config(plain: Clients, unique_name: str) -> None:
    _mixed_group(plain, unique_name)
    policies = _policies(plain, unique_name)
    assert policies["cpu"].get("PredictiveScalingConfiguration") == {}, (
        "moto now omits it: remove omit_unset_predictive_config"
    )


def _tagged_template_data(clients: Clients, name: str) -> dict[str, Any]:
    """Create a template tagged the way the provider does it; return its version-1 data."""
    ec2 = clients("ec2")
    ec2.create_launch_template(
        LaunchTemplateName=f"{name}-tagged",
        LaunchTemplateData={
            "ImageId": SEED_AMI_ID,
            "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "role", "Value": "gpu"}]}],
        },
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": [{"Key": "team", "Value": "ml"}]}],
    )
    versions = ec2.describe_launch_template_versions(LaunchTemplateName=f"{name}-tagged")
    data: dict[str, Any] = versions["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    return data


def test_template_tags_stay_out_of_template_data(corrected: Clients, unique_name: str) -> None:
    data = _tagged_template_data(corrected, unique_name)
    assert [s["ResourceType"] for s in data["TagSpecifications"]] == ["instance"]
    templates = corrected("ec2").describe_launch_templates(LaunchTemplateNames=[f"{unique_name}-tagged"])
    assert templates["LaunchTemplates"][0]["Tags"] == [{"Key": "team", "Value": "ml"}]


def test_plain_moto_still_copies_template_tags_into_data(plain: Clients, unique_name: str) -> None:
    data = _tagged_template_data(plain, unique_name)
    assert "launch-template" in [s["ResourceType"] for s in data["TagSpecifications"]], (
        "moto now keeps them apart: remove keep_template_tags_out_of_data"
    )


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-3"])
@pytest.mark.parametrize("name", SEEDED_PARAMETERS)
def test_dlami_parameter_resolves_to_a_known_image(emulator: EmulatorHandle, region: str, name: str) -> None:
    clients = clients_for(emulator, region)
    value = clients("ssm").get_parameter(Name=name)["Parameter"]["Value"]
    images = clients("ec2").describe_images(ImageIds=[value])["Images"]
    assert [image["ImageId"] for image in images] == [value]


def test_dlami_parameters_are_listed_by_path(corrected: Clients) -> None:
    found = corrected("ssm").get_parameters_by_path(Path="/aws/service/deeplearning", Recursive=True)
    assert {p["Name"] for p in found["Parameters"]} >= {
        name for name in SEEDED_PARAMETERS if name.startswith("/aws/service/deeplearning/")
    }


def test_plain_moto_lacks_dlami_parameter(plain: Clients) -> None:
    ssm = plain("ssm")
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=SEEDED_PARAMETERS[0])


def test_unknown_correction_name_is_rejected(tmp_path: Path) -> None:
    from llmdeploy.emulator.corrections import apply_corrections

    with pytest.raises(ValueError, match="no-such-fix"):
        apply_corrections(skip=["no-such-fix"])
