"""AWS: Secrets Manager, CloudWatch custom metrics, and the notices of EC2 and the Auto Scaling group."""

from __future__ import annotations

import os
import time
from datetime import datetime
from typing import Any

from .metadata import Metadata, aws_client, log
from .notice import Notice


def fetch_secret(name: str, metadata: Metadata) -> str:
    return str(aws_client("secretsmanager").get_secret_value(SecretId=name)["SecretString"])


def publish_metrics(values: dict[str, float], dimensions: dict[str, str], metadata: Metadata) -> None:
    dims = [{"Name": name, "Value": value} for name, value in dimensions.items()]
    aws_client("cloudwatch").put_metric_data(
        Namespace=os.environ["METRIC_NAMESPACE"],
        MetricData=[
            {"MetricName": name, "Dimensions": dims, "Value": value} for name, value in values.items()
        ],
    )


def identity(metadata: Metadata) -> tuple[str, str]:
    """This instance's id and its Auto Scaling group's name."""
    instance = metadata.get("latest/meta-data/instance-id") or ""
    group = metadata.get("latest/meta-data/tags/instance/aws:autoscaling:groupName") or ""
    return instance, group


class Watcher:
    """EC2: spot/instance-action, the ASG's target lifecycle state, and the rebalance hint."""

    def __init__(self, metadata: Metadata) -> None:
        self.metadata = metadata
        self.rebalance_seen = False

    def poll(self) -> Notice | None:
        action = self.metadata.get_json("latest/meta-data/spot/instance-action")
        if action:
            when = datetime.fromisoformat(action["time"].replace("Z", "+00:00")).timestamp()
            return Notice(f"spot {action['action']}", when, deregister=True)
        if self.metadata.get("latest/meta-data/autoscaling/target-lifecycle-state") == "Terminated":
            # The group deregistered this instance and waited out the deregistration delay before
            # the termination hook runs: only streams outlasting it remain.
            return Notice("scale-in", time.time() + 2 * float(os.environ["STOP_SECONDS"]))
        if not self.rebalance_seen and self.metadata.get("latest/meta-data/events/recommendations/rebalance"):
            # With capacity rebalancing the group starts a replacement first, then terminates this
            # instance through the lifecycle hook: keep serving until then.
            self.rebalance_seen = True
            log("rebalance recommended: serving on until the group terminates this instance")
        return None

    def detach(self, notice: Notice) -> None:
        if not notice.deregister:
            return
        instance, group = identity(self.metadata)
        found = aws_client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group])
        groups: list[dict[str, Any]] = found["AutoScalingGroups"]
        arns = {arn for entry in groups for arn in entry.get("TargetGroupARNs", [])}
        arns |= {
            source["Identifier"]
            for entry in groups
            for source in entry.get("TrafficSources", [])
            if source.get("Type") == "elbv2"
        }
        for arn in sorted(arns):
            aws_client("elbv2").deregister_targets(TargetGroupArn=arn, Targets=[{"Id": instance}])
            log(f"deregistered {instance} from {arn}")

    def finish(self, notice: Notice) -> None:
        instance, group = identity(self.metadata)
        while True:
            try:
                aws_client("autoscaling").complete_lifecycle_action(
                    LifecycleHookName=os.environ["LIFECYCLE_HOOK"],
                    AutoScalingGroupName=group,
                    LifecycleActionResult="CONTINUE",
                    InstanceId=instance,
                )
                log("lifecycle action completed")
                return
            except Exception as error:  # no action pending yet: the group may not have reacted
                if time.time() + 5 > notice.deadline:
                    log(f"lifecycle action not completed: {error}")
                    return
                time.sleep(5)

    def resumed(self) -> bool:
        return False
