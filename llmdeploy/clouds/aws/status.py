"""Live status of an environment's AWS fleets, read with boto3.

Everything is found by the names the resolved plan gives (llmdeploy/clouds/aws/resolve.py), so no
stack is synthesized and no Terraform output is read: the load balancer by name
(`DescribeLoadBalancers`: its DNS name makes the endpoints), its listeners' rules (`DescribeRules`:
the weighted forward actions give each slot's share of its model's traffic), and per fleet the
group's desired capacity and instances (`DescribeAutoScalingGroups`), each running instance's
market (`DescribeInstances`: `InstanceLifecycle` is "spot" for spot capacity, absent for
on-demand) and the load balancer's view of their health (`DescribeTargetGroups` by name, then
`DescribeTargetHealth`).

With routing enabled, the router group the same way (its group, its target group's health, its own
load balancer's DNS name), and each model's router metrics from CloudWatch (`GetMetricData` on the
namespace and dimensions `llmdeploy.routing.publish` writes them with).

Every client honours AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> of the environment it is
given, so the local emulator and any proxy work like the real API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from llmdeploy.aws_session import aws_client
from llmdeploy.clouds.aws.resolve import AwsFleet, AwsPlan, AwsRouterGroup
from llmdeploy.config.model import Slot
from llmdeploy.errors import OperationError
from llmdeploy.plan.routes import SLOT_HEADER
from llmdeploy.routing import publish
from llmdeploy.status.model import RouterGroupStatus, SlotStatus
from llmdeploy.status.routers import READ, WINDOW_MINUTES, RouterPoint, summarize

#: Group instances that exist and run or boot; terminating, detaching and standby ones do not count.
_RUNNING_STATES = frozenset({"Pending", "Pending:Wait", "Pending:Proceed", "InService"})
_SPOT = "spot"
_HEALTHY = "healthy"
_NOT_FOUND = frozenset({"LoadBalancerNotFound", "TargetGroupNotFound"})
#: One router publication per minute (publish.py), so one-minute periods keep each window apart.
_PERIOD_S = 60
#: The statistics read per router metric: a queue time's statistic set is summed up as a mean.
_STATS = {
    publish.HELD: ("Sum",),
    publish.REJECTED: ("Sum",),
    publish.QUEUE_MS: ("Sum", "SampleCount", "Maximum"),
}
#: GetMetricData takes at most 500 queries per request (CloudWatch API reference).
_MAX_QUERIES = 500


@dataclass(frozen=True)
class AwsClients:
    """The boto3 clients the status reader needs."""

    autoscaling: Any
    ec2: Any
    elbv2: Any
    cloudwatch: Any

    @classmethod
    def connect(cls, region: str, environ: Mapping[str, str]) -> AwsClients:
        """Clients configured from `environ` alone (credentials, profile, endpoints), not the process's."""
        services = ("autoscaling", "ec2", "elbv2", "cloudwatch")
        return cls(*(aws_client(service, region, environ) for service in services))


def read_status(plan: AwsPlan, clients: AwsClients) -> list[SlotStatus]:
    """The status of every fleet of the resolved AWS plan, in plan order."""
    reader = _Reader(plan, clients)
    return [reader.fleet(fleet) for fleet in plan.fleets]


def read_routers(plan: AwsPlan, clients: AwsClients, end: datetime) -> RouterGroupStatus | None:
    """The router group and each model's router metrics up to `end`; None when routing is off."""
    if plan.routers is None:
        return None
    return _Routers(plan, clients).read(plan.routers, end)


class _Api:
    """Calls into one account: every failed call becomes one readable error."""

    def __init__(self, plan: AwsPlan, clients: AwsClients) -> None:
        self.plan, self.clients = plan, clients
        self.stack = plan.stack

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

    def _load_balancer(self, name: str) -> dict[str, Any]:
        found = self._call("load balancer", name, self.clients.elbv2.describe_load_balancers, Names=[name])
        balancer: dict[str, Any] = found["LoadBalancers"][0]
        return balancer

    def _target_group(self, name: str) -> str:
        found = self._call("target group", name, self.clients.elbv2.describe_target_groups, Names=[name])
        return str(found["TargetGroups"][0]["TargetGroupArn"])

    def _groups(self, name: str) -> list[dict[str, Any]]:
        """The Auto Scaling group of that name, or none."""
        found: list[dict[str, Any]] = self._call(
            "Auto Scaling group",
            name,
            self.clients.autoscaling.describe_auto_scaling_groups,
            AutoScalingGroupNames=[name],
        )["AutoScalingGroups"]
        return found

    def _healthy_ids(self, target_group_arn: str) -> set[str]:
        """The targets the load balancer's health check passes."""
        health = self._call(
            "target group",
            target_group_arn,
            self.clients.elbv2.describe_target_health,
            TargetGroupArn=target_group_arn,
        )
        return {
            entry["Target"]["Id"]
            for entry in health["TargetHealthDescriptions"]
            if entry["TargetHealth"]["State"] == _HEALTHY
        }


class _Reader(_Api):
    def __init__(self, plan: AwsPlan, clients: AwsClients) -> None:
        super().__init__(plan, clients)
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

    def _group(self, name: str) -> dict[str, Any]:
        found = self._groups(name)
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
        return len(self._healthy_ids(target_group_arn))

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


class _Routers(_Api):
    def read(self, routers: AwsRouterGroup, end: datetime) -> RouterGroupStatus:
        models = tuple(summarize(model, points) for model, points in self._points(end).items())
        found = self._groups(routers.group_name)
        if not found:
            return RouterGroupStatus("aws", False, 0, 0, 0, {}, None, WINDOW_MINUTES, models)
        running = [entry for entry in found[0]["Instances"] if entry["LifecycleState"] in _RUNNING_STATES]
        healthy = self._healthy_ids(self._target_group(routers.target_group.name))
        balancer = self._load_balancer(routers.load_balancer_name)
        zones = sorted({str(entry["AvailabilityZone"]) for entry in running})
        return RouterGroupStatus(
            cloud="aws",
            exists=True,
            desired=int(found[0]["DesiredCapacity"]),
            running=len(running),
            healthy=sum(entry["InstanceId"] in healthy for entry in running),
            zones={zone: sum(entry["AvailabilityZone"] == zone for entry in running) for zone in zones},
            endpoint=f"{routers.scheme}://{balancer['DNSName']}",
            window_minutes=WINDOW_MINUTES,
            models=models,
        )

    def _points(self, end: datetime) -> dict[str, list[RouterPoint]]:
        """Each model's router points of the window, every slot, as CloudWatch sums them over routers."""
        series = [(fleet.model, fleet.slot, name) for fleet in self.plan.fleets for name in READ]
        queries = [
            self._query(f"q{index}_{stat_index}", model, slot, name, stat)
            for index, (model, slot, name) in enumerate(series)
            for stat_index, stat in enumerate(_STATS[name])
        ]
        values = self._metric_data(queries, end - timedelta(minutes=WINDOW_MINUTES), end)
        found: dict[str, list[RouterPoint]] = {model: [] for model, _, _ in series}
        for index, (model, _, name) in enumerate(series):
            stats = [values.get(f"q{index}_{stat_index}", {}) for stat_index in range(len(_STATS[name]))]
            found[model] += [_point(name, minute, stats) for minute in stats[0]]
        return found

    def _query(self, query_id: str, model: str, slot: Slot, name: str, stat: str) -> dict[str, Any]:
        spec = publish.MetricsSpec(project=self.plan.project, environment=self.plan.env, model=model)
        dimensions = [{"Name": k, "Value": v} for k, v in publish.dimensions(spec, slot).items()]
        metric = {"Namespace": publish.NAMESPACE, "MetricName": name, "Dimensions": dimensions}
        return {"Id": query_id, "MetricStat": {"Metric": metric, "Period": _PERIOD_S, "Stat": stat}}

    def _metric_data(
        self, queries: list[dict[str, Any]], start: datetime, end: datetime
    ) -> dict[str, dict[datetime, float]]:
        """Query id -> the value of each minute with data (a query's values may span pages)."""
        values: dict[str, dict[datetime, float]] = {}
        for first in range(0, len(queries), _MAX_QUERIES):
            chunk = queries[first : first + _MAX_QUERIES]
            where = f"{publish.NAMESPACE} ({self.plan.region})"
            for page in self._call("router metrics", where, self._pages, chunk, start, end):
                for result in page["MetricDataResults"]:
                    found = zip(result["Timestamps"], result["Values"], strict=True)
                    values.setdefault(result["Id"], {}).update(found)
        return values

    def _pages(self, queries: list[dict[str, Any]], start: datetime, end: datetime) -> list[dict[str, Any]]:
        # Every page here, so that a failing later page fails inside the error handling.
        paginator = self.clients.cloudwatch.get_paginator("get_metric_data")
        return list(paginator.paginate(MetricDataQueries=queries, StartTime=start, EndTime=end))


def _point(name: str, minute: datetime, stats: list[dict[datetime, float]]) -> RouterPoint:
    """One minute of a series from its statistics (in `_STATS` order)."""
    if name != publish.QUEUE_MS:
        return RouterPoint(name, minute, 1, stats[0][minute])
    total, count, longest = (stat.get(minute, 0.0) for stat in stats)
    return RouterPoint(name, minute, count, total, longest)


def _weighted(rule: dict[str, Any]) -> bool:
    """Not a slot's own rule (modules/aws/load_balancer.py): that one sends only pinned requests."""
    return not any(
        condition.get("HttpHeaderConfig", {}).get("HttpHeaderName") == SLOT_HEADER
        for condition in rule.get("Conditions", [])
    )
