"""Live status of an environment's AWS fleets, read with boto3.

The stack's Terraform outputs name what to read (stacks/aws.py): `fleets` gives each fleet's Auto
Scaling group and target group, `listener_rule_arns` each model's listener rule, `endpoints` each
model's URL. Per fleet: the group's desired capacity and instances (`DescribeAutoScalingGroups`),
each running instance's market (`DescribeInstances`: `InstanceLifecycle` is "spot" for spot
capacity, absent for on-demand), the load balancer's view of their health
(`DescribeTargetHealth`) and the slot's share of the model's traffic (the weighted forward action
of its listener rule, `DescribeRules`).

Every client honours AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> of the environment it is
given, so the local emulator and any proxy work like the real API.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from llmdeploy.aws_session import aws_client
from llmdeploy.errors import OperationError
from llmdeploy.plan.model import DeploymentPlan, FleetPlan
from llmdeploy.status.model import SlotStatus

#: Group instances that exist and run or boot; terminating, detaching and standby ones do not count.
_RUNNING_STATES = frozenset({"Pending", "Pending:Wait", "Pending:Proceed", "InService"})
_SPOT = "spot"
_HEALTHY = "healthy"


@dataclass(frozen=True)
class AwsClients:
    """The boto3 clients the status reader needs."""

    autoscaling: Any
    ec2: Any
    elbv2: Any

    @classmethod
    def connect(cls, region: str, environ: Mapping[str, str]) -> AwsClients:
        """Clients configured from `environ` alone (credentials, profile, endpoints), not the process's."""
        return cls(*(aws_client(service, region, environ) for service in ("autoscaling", "ec2", "elbv2")))


def read_status(plan: DeploymentPlan, outputs: Mapping[str, Any], clients: AwsClients) -> list[SlotStatus]:
    """The status of every AWS fleet of `plan`, in plan order, from the stack's `outputs`."""
    reader = _Reader(plan, outputs, clients)
    return [reader.fleet(fleet) for fleet in plan.fleets_on("aws")]


class _Reader:
    def __init__(self, plan: DeploymentPlan, outputs: Mapping[str, Any], clients: AwsClients) -> None:
        self.plan, self.clients = plan, clients
        self.stack = plan.cloud("aws").stack
        self.fleets: Mapping[str, Mapping[str, Any]] = self._output(outputs, "fleets")
        self.endpoints: Mapping[str, str] = self._output(outputs, "endpoints")
        rules: Mapping[str, str] = self._output(outputs, "listener_rule_arns")
        self.weights = self._weights(rules.values()) if rules else {}

    def fleet(self, fleet: FleetPlan) -> SlotStatus:
        names = self.fleets.get(fleet.name)
        if names is None:
            raise self._not_applied(f"the fleet {fleet.name} is not in its outputs")
        group = self._group(str(names["asg_name"]))
        running = [
            entry["InstanceId"] for entry in group["Instances"] if entry["LifecycleState"] in _RUNNING_STATES
        ]
        spot = self._spot_count(running)
        return SlotStatus(
            model=fleet.model,
            cloud="aws",
            slot=fleet.slot,
            desired=int(group["DesiredCapacity"]),
            running=len(running),
            healthy=self._healthy(str(names["target_group_arn"])),
            spot=spot,
            on_demand=len(running) - spot,
            weight=self.weights.get(str(names["target_group_arn"]), 0),
            endpoint=self.endpoints.get(fleet.model),
        )

    def _group(self, name: str) -> dict[str, Any]:
        found = self._call(
            "Auto Scaling group",
            name,
            self.clients.autoscaling.describe_auto_scaling_groups,
            AutoScalingGroupNames=[name],
        )["AutoScalingGroups"]
        if not found:
            raise self._not_applied(f"its Auto Scaling group {name} does not exist")
        group: dict[str, Any] = found[0]
        return group

    def _spot_count(self, instance_ids: list[str]) -> int:
        if not instance_ids:
            return 0
        pages = self._call("instances", ", ".join(instance_ids), self._instances, instance_ids)
        return sum(instance.get("InstanceLifecycle") == _SPOT for instance in pages)

    def _instances(self, instance_ids: list[str]) -> list[dict[str, Any]]:
        paginator = self.clients.ec2.get_paginator("describe_instances")
        return [
            instance
            for page in paginator.paginate(InstanceIds=instance_ids)
            for reservation in page["Reservations"]
            for instance in reservation["Instances"]
        ]

    def _healthy(self, target_group_arn: str) -> int:
        health = self._call(
            "target group",
            target_group_arn,
            self.clients.elbv2.describe_target_health,
            TargetGroupArn=target_group_arn,
        )
        return sum(entry["TargetHealth"]["State"] == _HEALTHY for entry in health["TargetHealthDescriptions"])

    def _weights(self, rule_arns: Iterable[str]) -> dict[str, int]:
        """Target group ARN -> percent of its model's requests, from each rule's weighted forward."""
        rules = self._call(
            "listener rules", self.stack, self.clients.elbv2.describe_rules, RuleArns=list(rule_arns)
        )["Rules"]
        percent: dict[str, int] = {}
        for rule in rules:
            for action in rule["Actions"]:
                groups = action.get("ForwardConfig", {}).get("TargetGroups", [])
                total = sum(int(group.get("Weight", 0)) for group in groups)
                for group in groups:
                    share = int(group.get("Weight", 0))
                    percent[group["TargetGroupArn"]] = round(100 * share / total) if total else 0
        return percent

    def _output(self, outputs: Mapping[str, Any], name: str) -> Any:
        if name not in outputs:
            raise self._not_applied(f"its Terraform outputs have no `{name}`")
        return outputs[name]

    def _not_applied(self, what: str) -> OperationError:
        return OperationError(
            f"Cannot read the status of stack '{self.stack}': {what}. Is the stack applied with this "
            f"version of llmdeploy? Run `llmdeploy apply {self.plan.env} --cloud aws`, then retry."
        )

    def _call(self, kind: str, name: str, method: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except ClientError as error:
            detail = error.response.get("Error", {})
            raise OperationError(
                f"{self.stack}: reading the {kind} {name} failed: {detail.get('Code')} "
                f"{detail.get('Message')}. Check the credentials and their access to the account "
                f"(for the local emulator, pass --local), then retry."
            ) from error
        except BotoCoreError as error:
            raise OperationError(
                f"{self.stack}: reading the {kind} {name} failed: {error}. Check the credentials, the "
                "region and AWS_ENDPOINT_URL (for the local emulator, pass --local), then retry."
            ) from error
