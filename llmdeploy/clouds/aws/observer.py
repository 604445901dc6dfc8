"""The AWS health observer: healthy targets, firing alarms and 5xx rate of one slot's target group.

Reads the `fleets` and `load_balancer_arn_suffix` outputs of the `<env>-aws` stack: the target group
ARN and the load balancer's ARN suffix are ids AWS assigns (the CloudWatch dimensions end in them);
the gate alarm names come from there too, because a `DeployedStack` carries no project to name them
from (llmdeploy/clouds/aws/names.py would). Clients honour
the environment the stack was applied with, so `--local` observes the emulator Terraform wrote to.
Imported only when an AWS stack is observed: boto3 takes a while to import.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from llmdeploy.aws_session import aws_client
from llmdeploy.clouds.aws.resolve import resolve
from llmdeploy.config.model import Slot
from llmdeploy.errors import OperationError
from llmdeploy.release.gates import CloudSample
from llmdeploy.release.observer import DeployedStack, fleet_outputs, planned_fleet

ELB_NAMESPACE = "AWS/ApplicationELB"
#: CloudWatch's resolution for load balancer metrics.
PERIOD_S = 60


class AwsObserver:
    """Samples one slot's health through the ELBv2 and CloudWatch APIs."""

    cloud: Final = "aws"

    def __init__(self, stack: DeployedStack) -> None:
        self._stack = stack
        self._resolved = resolve(stack.plan)
        self._region = stack.plan.settings("aws").region
        self._lb = str(stack.outputs.get("load_balancer_arn_suffix", ""))
        self._elbv2 = aws_client("elbv2", self._region, stack.environ)
        self._cloudwatch = aws_client("cloudwatch", self._region, stack.environ)

    def sample(self, model: str, slot: Slot) -> CloudSample:
        # The target group's ARN is AWS's to assign: only it comes from the outputs.
        target_group = str(fleet_outputs(self._stack, model, slot)["target_group_arn"])
        # Only the alarms that judge a release: latency and replica counts page, but would roll back
        # a healthy release (long generations, a spot reclaim).
        alarms = list(planned_fleet(self._stack, self._resolved.fleets, model, slot).gate_alarm_names)
        try:
            errors, requests = self._requests(target_group)
            return CloudSample(
                cloud="aws",
                healthy=self._healthy(target_group),
                firing_alarms=self._firing(alarms),
                error_rate_percent=100 * errors / requests if requests else None,
                requests=requests,
            )
        except (BotoCoreError, ClientError) as error:
            raise OperationError(
                f"Could not read the health of {model}-{slot} on AWS (stack {self._stack.stack}, "
                f"region {self._region}): {error}. Check the credentials and region."
            ) from None

    def _healthy(self, target_group: str) -> int:
        found = self._elbv2.describe_target_health(TargetGroupArn=target_group)
        states = [entry["TargetHealth"]["State"] for entry in found["TargetHealthDescriptions"]]
        return states.count("healthy")

    def _firing(self, alarms: list[str]) -> tuple[str, ...]:
        if not alarms:
            return ()
        # Filtered here rather than with StateValue=ALARM: moto 5.2.5 ignores StateValue when
        # AlarmNames is given, and the answer is the same on AWS.
        found = self._cloudwatch.describe_alarms(AlarmNames=alarms)
        return tuple(alarm["AlarmName"] for alarm in found["MetricAlarms"] if alarm["StateValue"] == "ALARM")

    def _requests(self, target_group: str) -> tuple[int, int]:
        """5xx answers and requests of the target group over the window."""
        end = datetime.now(UTC)
        start = end - timedelta(minutes=self._stack.window_minutes)
        dimensions = [
            {"Name": "LoadBalancer", "Value": self._lb},
            {"Name": "TargetGroup", "Value": target_group.split(":")[-1]},
        ]
        found = self._cloudwatch.get_metric_data(
            MetricDataQueries=[
                _sum_query("errors", "HTTPCode_Target_5XX_Count", dimensions),
                _sum_query("requests", "RequestCount", dimensions),
            ],
            StartTime=start,
            EndTime=end,
        )
        totals = {result["Id"]: sum(result["Values"]) for result in found["MetricDataResults"]}
        return round(totals.get("errors", 0)), round(totals.get("requests", 0))


def observer(stack: DeployedStack) -> AwsObserver:
    """The entry point `llmdeploy.release.observer` looks up."""
    return AwsObserver(stack)


def _sum_query(query_id: str, metric: str, dimensions: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {"Namespace": ELB_NAMESPACE, "MetricName": metric, "Dimensions": dimensions},
            "Period": PERIOD_S,
            "Stat": "Sum",
        },
    }
