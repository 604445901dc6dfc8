"""`dev` deployed for real: the CLI synthesizes it, Terraform applies it to the local AWS emulator, and
boto3 finds what the config asked for; a second plan is empty; destroy leaves nothing.

One apply serves the whole module (the AWS provider waits ~60 s after creating a load balancer).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from llmdeploy.boot.registry import ecr_prefix
from llmdeploy.instance import LAUNCH_HOOK_NAME, TERMINATION_HOOK_NAME
from tests.e2e.project import Project, local_project

pytestmark = pytest.mark.terraform

STACK = "dev-aws"


@dataclass
class Deployment:
    """The applied `dev` project and its stack's Terraform outputs."""

    project: Project
    outputs: dict[str, Any]

    def client(self, service: str) -> Any:
        return self.project.client(service)

    def fleet(self, name: str) -> dict[str, Any]:
        fleets: dict[str, dict[str, Any]] = self.outputs["fleets"]
        return fleets[name]

    def llmdeploy(self, *args: str, answer: str = "") -> Any:
        return self.project.run(*args, answer=answer)


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, terraform_binary: str, terraform_cli_env: dict[str, str]
) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("project")
    with local_project(root, "llmdeploy-demo", terraform_cli_env["LLMDEPLOY_CACHE_DIR"]) as project:
        assert project.emulator.host == "127.0.0.1"
        try:
            applied = project.run("apply", "dev", "--cloud", "aws", "--local", "--auto-approve")
            assert applied.returncode == 0, applied.stdout + applied.stderr
            yield Deployment(project, project.outputs(STACK))
        finally:
            project.run("destroy", "dev", "--cloud", "aws", "--local", "--auto-approve")


def test_fleet_is_a_mixed_spot_group_spread_over_the_configured_types(deployment: Deployment) -> None:
    name = deployment.fleet("chat-blue")["asg_name"]
    (group,) = deployment.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"
    ]
    assert (group["MinSize"], group["MaxSize"]) == (0, 2)
    assert group["HealthCheckType"] == "ELB"
    assert group["HealthCheckGracePeriod"] == 0  # replicas enter service ready: the launch hook
    assert group["CapacityRebalance"] is True
    policy = group["MixedInstancesPolicy"]
    distribution = policy["InstancesDistribution"]
    assert distribution["OnDemandBaseCapacity"] == 0
    assert distribution["OnDemandPercentageAboveBaseCapacity"] == 0
    assert distribution["SpotAllocationStrategy"] == "price-capacity-optimized"
    overrides = [entry["InstanceType"] for entry in policy["LaunchTemplate"]["Overrides"]]
    assert overrides == ["g6.xlarge", "g5.xlarge"]
    assert set(group.get("TargetGroupARNs", [])) == {deployment.fleet("chat-blue")["target_group_arn"]}


def test_group_holds_replicas_until_ready_drains_them_and_scales_on_requests(deployment: Deployment) -> None:
    autoscaling = deployment.client("autoscaling")
    name = deployment.fleet("chat-blue")["asg_name"]
    hooks = autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=name)["LifecycleHooks"]
    assert {hook["LifecycleHookName"]: hook["LifecycleTransition"] for hook in hooks} == {
        LAUNCH_HOOK_NAME: "autoscaling:EC2_INSTANCE_LAUNCHING",
        TERMINATION_HOOK_NAME: "autoscaling:EC2_INSTANCE_TERMINATING",
    }
    launch = next(hook for hook in hooks if hook["LifecycleHookName"] == LAUNCH_HOOK_NAME)
    assert (launch["DefaultResult"], launch["HeartbeatTimeout"]) == ("ABANDON", 900)
    policies = autoscaling.describe_policies(AutoScalingGroupName=name)["ScalingPolicies"]
    by_type = {policy["PolicyType"]: policy for policy in policies}
    assert len(by_type) == len(policies) == 2
    tracking = by_type["TargetTrackingScaling"]["TargetTrackingConfiguration"]
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == "ALBRequestCountPerTarget"
    assert tracking["TargetValue"] == 30


def test_a_group_at_zero_wakes_when_its_load_balancer_answers_503(deployment: Deployment) -> None:
    """dev may scale to zero: one replica comes back when requests meet a fleet without any."""
    name = deployment.fleet("chat-blue")["asg_name"]
    policies = deployment.client("autoscaling").describe_policies(AutoScalingGroupName=name)[
        "ScalingPolicies"
    ]
    (wake,) = [policy for policy in policies if policy["PolicyType"] == "StepScaling"]
    assert wake["AdjustmentType"] == "ChangeInCapacity"
    assert [step["ScalingAdjustment"] for step in wake["StepAdjustments"]] == [1]
    alarms = deployment.client("cloudwatch").describe_alarms()["MetricAlarms"]
    (alarm,) = [alarm for alarm in alarms if alarm["AlarmActions"] == [wake["PolicyARN"]]]
    metrics = {query["Id"]: query for query in alarm["Metrics"]}
    assert metrics["waiting"]["Expression"] == "IF(desired == 0, unrouted, 0)"
    assert metrics["unrouted"]["MetricStat"]["Metric"]["MetricName"] == "HTTPCode_ELB_503_Count"


def test_target_group_checks_engine_health_and_balances_least_outstanding(deployment: Deployment) -> None:
    elbv2 = deployment.client("elbv2")
    arn = deployment.fleet("chat-blue")["target_group_arn"]
    (group,) = elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"]
    assert group["HealthCheckPath"] == "/health"
    assert group["HealthCheckIntervalSeconds"] == 10
    assert group["UnhealthyThresholdCount"] == 3
    attributes = {
        item["Key"]: item["Value"]
        for item in elbv2.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
    }
    assert attributes["load_balancing.algorithm.type"] == "least_outstanding_requests"
    # The drain covers the longest request (request_timeout_s 900), not only the configured 120 s.
    assert attributes["deregistration_delay.timeout_seconds"] == "900"


def test_listener_routes_the_model_path_with_slot_weights(deployment: Deployment) -> None:
    elbv2 = deployment.client("elbv2")
    rules = elbv2.describe_rules(ListenerArn=deployment.outputs["listener_arn"])["Rules"]
    routed = [rule for rule in rules if not rule["IsDefault"]]
    assert routed, rules
    paths = [
        value
        for rule in routed
        for cond in rule["Conditions"]
        if cond["Field"] == "path-pattern"
        for value in cond.get("PathPatternConfig", {}).get("Values", cond.get("Values", []))
    ]
    assert "/chat/*" in paths
    # The slot rules (X-LLMDeploy-Slot) come first; the weighted rule is the one without a header match.
    (weighted,) = [
        rule for rule in routed if all(cond["Field"] != "http-header" for cond in rule["Conditions"])
    ]
    forward = next(action for action in weighted["Actions"] if action["Type"] == "forward")
    weights = {tg["TargetGroupArn"]: tg["Weight"] for tg in forward["ForwardConfig"]["TargetGroups"]}
    assert weights == {deployment.fleet("chat-blue")["target_group_arn"]: 100}
    pinned = {
        value
        for rule in routed
        for cond in rule["Conditions"]
        if cond["Field"] == "http-header"
        for value in cond["HttpHeaderConfig"]["Values"]
    }
    assert pinned == {"blue"}


def test_alarms_exist_for_the_fleet(deployment: Deployment) -> None:
    names = deployment.fleet("chat-blue")["alarm_names"]
    assert names
    alarms = deployment.client("cloudwatch").describe_alarms(AlarmNames=list(names))["MetricAlarms"]
    assert {alarm["AlarmName"] for alarm in alarms} == set(names)
    assert all(
        alarm["TreatMissingData"] in {"notBreaching", "missing", "ignore", "breaching"} for alarm in alarms
    )
    assert all(alarm["AlarmActions"] for alarm in alarms)


def test_images_are_cached_under_the_stacks_own_prefix(deployment: Deployment) -> None:
    rules = deployment.client("ecr").describe_pull_through_cache_rules()["pullThroughCacheRules"]
    assert [(rule["ecrRepositoryPrefix"], rule["upstreamRegistryUrl"]) for rule in rules] == [
        (ecr_prefix("public.ecr.aws", "llmdeploy-demo", "dev"), "public.ecr.aws")
    ]


def test_endpoint_output_names_the_model_route(deployment: Deployment) -> None:
    endpoints = deployment.outputs["endpoints"]
    assert set(endpoints) == {"chat"}
    assert endpoints["chat"].startswith("http://") and endpoints["chat"].endswith("/chat/")


def test_status_and_drift_read_the_applied_stack(deployment: Deployment) -> None:
    shown = deployment.llmdeploy("status", "dev", "--local", "--json")
    assert shown.returncode == 0, shown.stderr
    (fleet,) = json.loads(shown.stdout)["fleets"]
    assert (fleet["model"], fleet["slot"], fleet["desired"], fleet["running"], fleet["weight"]) == (
        "chat",
        "blue",
        1,
        1,
        100,
    )
    assert fleet["endpoint"] == deployment.outputs["endpoints"]["chat"]
    drift = deployment.llmdeploy("drift", "dev", "--local")
    assert drift.returncode == 0, drift.stdout + drift.stderr
    assert "in sync" in drift.stdout


def test_second_plan_reports_no_changes(deployment: Deployment) -> None:
    result = deployment.llmdeploy("plan", "dev", "--cloud", "aws", "--local", "--detailed-exitcode")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dev-aws" in result.stdout


def test_synthesized_stack_holds_no_secret_values(deployment: Deployment) -> None:
    text = (deployment.project.root / "cdktf.out" / "stacks" / STACK / "cdk.tf.json").read_text()
    assert "llmdeploy/dev/hf-token" in text or "hf-token" in text
    assert "hf_" not in json.dumps(json.loads(text)).replace("hf_token", "")


def test_a_declined_destroy_changes_nothing(deployment: Deployment) -> None:
    name = deployment.fleet("chat-blue")["asg_name"]
    result = deployment.llmdeploy("destroy", "dev", "--cloud", "aws", "--local", answer="n\n")
    # A deliberate "no" is not an error (issue 14): exit 0, and say what was left alone.
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dev-aws:" in result.stderr and "to destroy. Destroy?" in result.stderr
    assert "Not destroyed: stack 'dev-aws'" in result.stderr and "was left as it is" in result.stderr
    autoscaling = deployment.client("autoscaling")
    assert autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"] != []


def test_destroy_leaves_nothing(deployment: Deployment) -> None:
    name = deployment.fleet("chat-blue")["asg_name"]
    result = deployment.llmdeploy("destroy", "dev", "--cloud", "aws", "--local", "--auto-approve")
    assert result.returncode == 0, result.stdout + result.stderr
    autoscaling = deployment.client("autoscaling")
    assert autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"] == []
    assert deployment.client("elbv2").describe_load_balancers()["LoadBalancers"] == []
    assert deployment.client("elbv2").describe_target_groups()["TargetGroups"] == []
