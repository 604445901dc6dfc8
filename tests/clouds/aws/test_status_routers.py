"""`llmdeploy status` on AWS with routing: the router group and its metrics, read back from the emulator.

The router group is made here with boto3 under the resolved names (an Auto Scaling group across two
zones, its target group, its own load balancer); the metrics are put by the routers' own sender
(`publish.aws_sender` on the gate's `GateMetrics`), so status reads exactly what the routers write.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rich.console import Console

from llmdeploy.cli.status_commands import routers_line, routers_table, status_json
from llmdeploy.clouds.aws.resolve import AwsPlan, resolve
from llmdeploy.clouds.aws.status import AwsClients, read_routers
from llmdeploy.config.loader import load_environment
from llmdeploy.emulator import EmulatorHandle
from llmdeploy.plan.build import build_plan
from llmdeploy.plan.model import DeploymentPlan
from llmdeploy.routing.fleet import Fleet
from llmdeploy.routing.metrics import GateMetrics
from llmdeploy.routing.publish import MetricsSpec, Sample, aws_sender, collect
from llmdeploy.status.model import RouterGroupStatus, RouterModelStatus
from tests.clouds.aws.test_status import BLUE_GREEN
from tests.conftest import WriteEnv
from tests.fixtures_aws import AwsClient

ROUTED = BLUE_GREEN + "routing: {enabled: true, min_routers: 2}\n"


def _plan(write_env: WriteEnv) -> DeploymentPlan:
    """A project of its own: the emulator and its metrics are shared by the session."""
    path = write_env(ROUTED.replace("project: demo", f"project: r{uuid.uuid4().hex[:8]}"), name="demo.yaml")
    return build_plan(load_environment(path))


@pytest.fixture
def clients(emulator: EmulatorHandle, aws_env: dict[str, str]) -> AwsClients:
    return AwsClients.connect("us-east-1", aws_env)


def _window(held: int, queue_s: list[float], rejected: int, slot: Any = "blue") -> Sample:
    """One router's publication: `held` waiting now, the queue times sent to `slot`, the 429s."""
    metrics = GateMetrics()
    for seconds in queue_s:
        metrics.observe_queue(seconds, slot)
    for _ in range(rejected):
        metrics.reject()
    return collect(metrics, held, Fleet(), "blue", ("blue", "green"))


def _publish(plan: DeploymentPlan, aws_client: AwsClient, *samples: Sample) -> None:
    send = aws_sender(
        aws_client("cloudwatch"), MetricsSpec(project=plan.project, environment=plan.env, model="chat")
    )
    for sample in samples:
        asyncio.run(send(sample))


def _router_group(aws_client: AwsClient, routers: Any, healthy: int) -> None:
    """`routers`' group with 2 routers in two zones, `healthy` of them registered (the emulator
    reports a registered running instance healthy), and the routers' load balancer."""
    ec2, autoscaling, elbv2 = aws_client("ec2"), aws_client("autoscaling"), aws_client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.32.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.32.{index}.0/24", AvailabilityZone=f"us-east-1{zone}")[
            "Subnet"
        ]["SubnetId"]
        for index, zone in enumerate("ab", start=1)
    ]
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    template = ec2.create_launch_template(
        LaunchTemplateName=routers.group_name,
        LaunchTemplateData={"ImageId": ami, "InstanceType": routers.instance_type},
    )["LaunchTemplate"]["LaunchTemplateId"]
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=routers.group_name,
        MinSize=1,
        MaxSize=2,
        DesiredCapacity=1,
        VPCZoneIdentifier=subnets[0],
        LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
    )
    # The emulator launches into one subnet: the second zone's router is attached (desired 2 then).
    other = ec2.run_instances(
        ImageId=ami, MinCount=1, MaxCount=1, InstanceType=routers.instance_type, SubnetId=subnets[1]
    )["Instances"][0]["InstanceId"]
    autoscaling.attach_instances(InstanceIds=[other], AutoScalingGroupName=routers.group_name)
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[routers.group_name])
    ids = [entry["InstanceId"] for entry in group["AutoScalingGroups"][0]["Instances"]]
    target_group = elbv2.create_target_group(
        Name=routers.target_group.name, Protocol="HTTP", Port=8080, VpcId=vpc
    )["TargetGroups"][0]["TargetGroupArn"]
    if healthy:
        elbv2.register_targets(TargetGroupArn=target_group, Targets=[{"Id": id_} for id_ in ids[:healthy]])
    elbv2.create_load_balancer(Name=routers.load_balancer_name, Subnets=subnets)


def _resolved(plan: DeploymentPlan) -> tuple[AwsPlan, Any]:
    resolved = resolve(plan)
    assert resolved.routers is not None
    return resolved, resolved.routers


def test_reads_the_routers_and_what_they_published(
    write_env: WriteEnv, aws_client: AwsClient, clients: AwsClients
) -> None:
    plan = _plan(write_env)
    resolved, routers = _resolved(plan)
    _router_group(aws_client, routers, healthy=2)
    now = datetime.now(UTC)
    first = _window(held=3, queue_s=[0.2, 0.4], rejected=2)
    # Two routers publish into one series (no router dimension): CloudWatch sums them.
    second = replace(_window(held=1, queue_s=[1.0], rejected=1, slot="green"), time=first.time)
    earlier = replace(_window(held=7, queue_s=[], rejected=4), time=first.time - 180)
    _publish(plan, aws_client, earlier, first, second)

    found = read_routers(resolved, clients, now + timedelta(seconds=30))

    assert found is not None
    assert found.models == (
        # held: the newest minute only (3 + 1); 429s: the whole window (2 + 1 + 4); queue: the
        # weighted mean of 200, 400 and 1000 ms.
        RouterModelStatus("chat", held=4, rejected=7, queue_ms=533.3, queue_max_ms=1000.0),
    )
    assert (found.exists, found.desired, found.running, found.healthy) == (True, 2, 2, 2)
    assert found.zones == {"us-east-1a": 1, "us-east-1b": 1}
    assert found.endpoint is not None and found.endpoint.startswith("http://")
    assert routers_line(found) == "routers on aws: 2 of 2 healthy, 2 running (us-east-1a: 1, us-east-1b: 1)"
    console = Console(width=200, record=True)
    console.print(routers_table(plan, found))
    text = " ".join(console.export_text().split())
    assert "│ chat │ 4 │ 7 │ 533.3 │ 1000.0 │" in text
    report = json.loads(json.dumps(status_json(plan, [], routers=[found])))["routers"][0]
    assert report["models"] == [
        {"model": "chat", "held": 4, "rejected": 7, "queue_ms": 533.3, "queue_max_ms": 1000.0}
    ]
    assert (report["healthy"], report["zones"]) == (2, {"us-east-1a": 1, "us-east-1b": 1})


def test_no_healthy_router_says_the_direct_path_serves(
    write_env: WriteEnv, aws_client: AwsClient, clients: AwsClients
) -> None:
    plan = _plan(write_env)
    resolved, routers = _resolved(plan)
    _router_group(aws_client, routers, healthy=0)

    found = read_routers(resolved, clients, datetime.now(UTC))

    assert found is not None
    assert (found.healthy, found.running) == (0, 2)
    # Nothing published yet: no figure is made up.
    assert found.models == (RouterModelStatus("chat", None, None, None, None),)
    assert routers_line(found).startswith("[red]routers on aws: 0 of 2 healthy, 2 running")
    assert "the fleets' load balancer still serves directly" in routers_line(found)
    console = Console(width=200, record=True)
    console.print(routers_table(plan, found))
    assert "│ chat │ - │ - │ - │ - │" in " ".join(console.export_text().split())


def test_a_stack_applied_without_routing_says_so(write_env: WriteEnv, clients: AwsClients) -> None:
    plan = _plan(write_env)
    resolved, _ = _resolved(plan)

    found = read_routers(resolved, clients, datetime.now(UTC))

    assert found == RouterGroupStatus(
        "aws", False, 0, 0, 0, {}, None, 5, (RouterModelStatus("chat", None, None, None, None),)
    )
    assert "none found (apply the stack with routing enabled)" in routers_line(found)


def test_routing_off_reads_nothing(write_env: WriteEnv, clients: AwsClients) -> None:
    path = write_env(BLUE_GREEN, name="demo.yaml")
    assert read_routers(resolve(build_plan(load_environment(path))), clients, datetime.now(UTC)) is None
