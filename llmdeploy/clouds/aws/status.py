"""Live status of an environment's AWS fleets, read with boto3.

Everything is found by the names the resolved plan gives (llmdeploy/clouds/aws/resolve.py), so no
stack is synthesized and no Terraform output is read: the load balancer by name
(`DescribeLoadBalancers`: its DNS name makes the endpoints), its listeners' rules (`DescribeRules`:
the weighted forward actions give each slot's share of its model's traffic), and per fleet the
group's desired capacity and instances (`DescribeAutoScalingGroups`), each running instance's
market (`DescribeInstances`: `InstanceLifecycle` is "spot" for spot capacity, absent for
on-demand) and the load balancer's view of their health (`DescribeTargetGroups` by name, then
`DescribeTargetHealth`).

Every client honours AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> of the environment it is
given, so the local emulator and any proxy work like the real API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from llmdeploy.aws_session import aws_client
from llmdeploy.clouds.aws.resolve import AwsFleet, AwsPlan
from llmdeploy.errors import OperationError
from llmdeploy.plan.routes import SLOT_HEADER
from llmdeploy.status.model import SlotStatus

#: Group instances that exist and run or boot; terminating, detaching and standby ones do not count.
_RUNNING_STATES = frozenset({"Pending", "Pending:Wait", "Pending:Proceed", "InService"})
_SPOT = "spot"
_HEALTHY = "healthy"
_NOT_FOUND = frozenset({"LoadBalancerNotFound", "TargetGroupNotFound"})


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


def read_status(plan: AwsPlan, clients: AwsClients) -> list[SlotStatus]:
    """The status of every fleet of the resolved AWS plan, in plan order."""
    reader = _Reader(plan, clients)
    return [reader.fleet(fleet) for fleet in plan.fleets]


class _Reader:
    def __init__(self, plan: AwsPlan, clients: AwsClients) -> None:
        self.plan, self.clients = plan, clients
        self.stack = plan.stack
        balancer = self._load_balancer(plan.load_balancer.name)
        self.endpoints = {
            route.model: route.endpoint.url(str(balancer["DNSName"])) for route in plan.load_balancer.routes
        }
        self.weights = self._weights(str(balancer["LoadBalancerArn"]))

    def fleet(self, fleet: AwsFleet) -> SlotStatus:
        group = self._group(fleet.group_name)
        target_group = self._target_group(fleet.target_group.name)
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
            healthy=self._healthy(target_group),
            spot=spot,
            on_demand=len(running) - spot,
            weight=self.weights.get(target_group, 0),
            endpoint=self.endpoints.get(fleet.model),
        )

    def _load_balancer(self, name: str) -> dict[str, Any]:
        found = self._call("load balancer", name, self.clients.elbv2.describe_load_balancers, Names=[name])
        balancer: dict[str, Any] = found["LoadBalancers"][0]
        return balancer

    def _target_group(self, name: str) -> str:
        found = self._call("target group", name, self.clients.elbv2.describe_target_groups, Names=[name])
        return str(found["TargetGroups"][0]["TargetGroupArn"])

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

    def _weights(self, load_balancer_arn: str) -> dict[str, int]:
        """Target group ARN -> percent of its model's requests, from each rule's weighted forward."""
        listeners = self._call(
            "listeners",
            self.plan.load_balancer.name,
            self.clients.elbv2.describe_listeners,
            LoadBalancerArn=load_balancer_arn,
        )["Listeners"]
        percent: dict[str, int] = {}
        for listener in listeners:
            rules = self._call(
                "listener rules",
                self.stack,
                self.clients.elbv2.describe_rules,
                ListenerArn=listener["ListenerArn"],
            )["Rules"]
            for rule in filter(_weighted, rules):
                for action in rule["Actions"]:
                    groups = action.get("ForwardConfig", {}).get("TargetGroups", [])
                    total = sum(int(group.get("Weight", 0)) for group in groups)
                    for group in groups:
                        share = int(group.get("Weight", 0))
                        percent[group["TargetGroupArn"]] = round(100 * share / total) if total else 0
        return percent

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
            if detail.get("Code") in _NOT_FOUND:
                # ELBv2 answers an unknown name with an error, not an empty list.
                raise self._not_applied(f"its {kind} {name} does not exist") from None
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


def _weighted(rule: dict[str, Any]) -> bool:
    """Not a slot's own rule (modules/aws/load_balancer.py): that one sends only pinned requests."""
    return not any(
        condition.get("HttpHeaderConfig", {}).get("HttpHeaderName") == SLOT_HEADER
        for condition in rule.get("Conditions", [])
    )
