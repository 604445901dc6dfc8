"""The AWS health observer against the local emulator: gate alarms only, and the request count its
error rate covers (so the gate can tell noise from a failing release)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from llmdeploy.clouds.aws.observer import AwsObserver
from llmdeploy.clouds.aws.resolve import resolve
from llmdeploy.plan.model import DeploymentPlan
from llmdeploy.release.observer import DeployedStack
from tests.fixtures_aws import AwsClient

pytestmark = pytest.mark.terraform

LB = "app/demo/0123456789abcdef"


def _target_group(aws_client: AwsClient, name: str) -> str:
    vpc = aws_client("ec2").create_vpc(CidrBlock="10.31.0.0/16")["Vpc"]["VpcId"]
    group = aws_client("elbv2").create_target_group(Name=name, Protocol="HTTP", Port=8080, VpcId=vpc)
    arn: str = group["TargetGroups"][0]["TargetGroupArn"]
    return arn


def _alarm(aws_client: AwsClient, name: str, state: str) -> str:
    cloudwatch = aws_client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        MetricName="UnHealthyHostCount",
        Namespace="AWS/ApplicationELB",
        Statistic="Minimum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason="test")
    return name


def _requests(aws_client: AwsClient, target_group: str, errors: int, requests: int) -> None:
    dimensions = [
        {"Name": "LoadBalancer", "Value": LB},
        {"Name": "TargetGroup", "Value": target_group.split(":")[-1]},
    ]
    # Two minutes back: a datapoint in the still-open last period of the window may not be summed yet
    # (the emulator buckets periods from the window's start), as on AWS, where metrics arrive late.
    now = datetime.now(UTC) - timedelta(minutes=2)
    aws_client("cloudwatch").put_metric_data(
        Namespace="AWS/ApplicationELB",
        MetricData=[
            {"MetricName": "RequestCount", "Dimensions": dimensions, "Timestamp": now, "Value": requests},
            {
                "MetricName": "HTTPCode_Target_5XX_Count",
                "Dimensions": dimensions,
                "Timestamp": now,
                "Value": errors,
            },
        ],
    )


def test_only_gate_alarms_fail_a_gate_and_the_rate_comes_with_its_request_count(
    aws_client: AwsClient, aws_env: dict[str, str], prod_plan: DeploymentPlan, unique_name: str
) -> None:
    plan = replace(prod_plan, project=unique_name)  # alarm names unique in the shared emulator
    fleet = resolve(plan).fleet("translate-fr-green")
    target_group = _target_group(aws_client, unique_name)
    gate = _alarm(aws_client, fleet.alarms.error_rate.name, "ALARM")
    page = _alarm(aws_client, fleet.alarms.latency.name, "ALARM")
    _requests(aws_client, target_group, errors=1, requests=2)
    # Only what AWS assigns comes from the outputs: the alarms are found by their resolved names.
    outputs = {"load_balancer_arn_suffix": LB, "fleets": {fleet.name: {"target_group_arn": target_group}}}
    stack = DeployedStack(cloud="aws", stack="prod-aws", plan=plan, outputs=outputs, environ=aws_env)
    sample = AwsObserver(stack).sample("translate-fr", "green")
    assert gate in fleet.gate_alarm_names and page not in fleet.gate_alarm_names
    assert sample.firing_alarms == (gate,)
    assert (sample.error_rate_percent, sample.requests) == (50.0, 2)
