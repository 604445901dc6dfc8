"""The AWS health observer against the local emulator: gate alarms only, and the request count its
error rate covers (so the gate can tell noise from a failing release)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from llmdeploy.clouds.aws.observer import AwsObserver
from llmdeploy.config.clouds import AwsCloud
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
    aws_client: AwsClient, aws_env: dict[str, str], unique_name: str
) -> None:
    target_group = _target_group(aws_client, unique_name)
    gate = _alarm(aws_client, f"{unique_name}-5xx-rate", "ALARM")
    page = _alarm(aws_client, f"{unique_name}-p99-latency", "ALARM")
    _requests(aws_client, target_group, errors=1, requests=2)
    stack = DeployedStack(
        cloud="aws",
        env="demo",
        stack="demo-aws",
        settings=AwsCloud(region="us-east-1", zones=["us-east-1a", "us-east-1b"]),
        outputs={
            "load_balancer_arn_suffix": LB,
            "fleets": {
                "chat-green": {
                    "target_group_arn": target_group,
                    "alarm_names": [gate, page],
                    "gate_alarm_names": [gate],
                }
            },
        },
        environ=aws_env,
        window_minutes=5,
    )
    sample = AwsObserver(stack).sample("chat", "green")
    assert sample.firing_alarms == (gate,)
    assert (sample.error_rate_percent, sample.requests) == (50.0, 2)
