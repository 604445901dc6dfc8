"""`llmdeploy status` on AWS: read back from the emulator what the resolved plan names.

The resources are created here with boto3 under the resolved names, shaped as the AWS stack makes
them (a mixed-instances group per slot, a target group per slot, a weighted listener rule per
model); no Terraform output is read. The real apply is read back in tests/e2e.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace

import pytest
from rich.console import Console
from typer.testing import CliRunner

from llmdeploy.cli import app
from llmdeploy.cli.status_commands import status_json, status_table
from llmdeploy.clouds.aws.resolve import AwsPlan, resolve
from llmdeploy.clouds.aws.status import AwsClients, read_status
from llmdeploy.config.loader import load_environment
from llmdeploy.emulator import EmulatorHandle
from llmdeploy.errors import OperationError
from llmdeploy.plan.build import build_plan
from llmdeploy.plan.model import DeploymentPlan
from llmdeploy.plan.routes import SLOT_HEADER
from llmdeploy.status.model import SlotStatus
from tests.conftest import MINIMAL, WriteEnv
from tests.fixtures_aws import AwsClient

BLUE_GREEN = (
    MINIMAL
    + """\
    capacity: {min: 1, max: 3}
    spot: {on_demand_base: 1}
    slots:
      blue: {weight: 80}
      green: {weight: 20}
"""
)


@dataclass(frozen=True)
class Deployed:
    plan: DeploymentPlan
    resolved: AwsPlan
    endpoint: str


def _plan(tmp_path_factory: pytest.TempPathFactory) -> DeploymentPlan:
    """The blue/green environment of a project of its own: the emulator is shared by the session."""
    path = tmp_path_factory.mktemp("status") / "demo.yaml"
    path.write_text(
        BLUE_GREEN.replace("project: demo", f"project: t{uuid.uuid4().hex[:8]}"), encoding="utf-8"
    )
    return build_plan(load_environment(path))


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> DeploymentPlan:
    return _plan(tmp_path_factory)


def _network(aws_client: AwsClient) -> tuple[str, list[str], str]:
    ec2 = aws_client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.31.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.31.{index}.0/24", AvailabilityZone=f"us-east-1{zone}")[
            "Subnet"
        ]["SubnetId"]
        for index, zone in enumerate("ab", start=1)
    ]
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    return vpc, subnets, ami


def _group(aws_client: AwsClient, name: str, subnets: list[str], ami: str, desired: int) -> list[str]:
    template = aws_client("ec2").create_launch_template(
        LaunchTemplateName=name, LaunchTemplateData={"ImageId": ami, "InstanceType": "g6.xlarge"}
    )["LaunchTemplate"]["LaunchTemplateId"]
    autoscaling = aws_client("autoscaling")
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=0,
        MaxSize=4,
        DesiredCapacity=desired,
        VPCZoneIdentifier=",".join(subnets),
        MixedInstancesPolicy={
            "LaunchTemplate": {
                "LaunchTemplateSpecification": {"LaunchTemplateId": template, "Version": "$Latest"}
            },
            "InstancesDistribution": {"OnDemandBaseCapacity": 1, "OnDemandPercentageAboveBaseCapacity": 0},
        },
    )
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    return [instance["InstanceId"] for instance in group["Instances"]]


@pytest.fixture(scope="module")
def deployed(plan: DeploymentPlan, aws_client: AwsClient) -> Deployed:
    """blue: its on-demand base, one spot instance above it and one attached spot instance, 2 of them
    healthy; green: 1 instance in standby (which the group replaces, as AWS does when the desired
    capacity is kept), none healthy; 80/20."""
    ec2, autoscaling, elbv2 = aws_client("ec2"), aws_client("autoscaling"), aws_client("elbv2")
    resolved = resolve(plan)
    vpc, subnets, ami = _network(aws_client)
    blue, green = (resolved.fleet(f"chat-{slot}").group_name for slot in ("blue", "green"))
    blue_ids = _group(aws_client, blue, subnets, ami, desired=2)
    # Besides the spot instance the group launches above its base, one is attached the way a spot
    # request would have added it.
    spot = ec2.run_instances(
        ImageId=ami, MinCount=1, MaxCount=1, InstanceType="g6.xlarge", SubnetId=subnets[0],
        InstanceMarketOptions={"MarketType": "spot"},
    )["Instances"][0]["InstanceId"]  # fmt: skip
    autoscaling.attach_instances(InstanceIds=[spot], AutoScalingGroupName=blue)
    (green_id,) = _group(aws_client, green, subnets, ami, desired=1)
    autoscaling.enter_standby(
        InstanceIds=[green_id], AutoScalingGroupName=green, ShouldDecrementDesiredCapacity=False
    )
    groups = {
        slot: elbv2.create_target_group(
            Name=resolved.fleet(f"chat-{slot}").target_group.name, Protocol="HTTP", Port=80, VpcId=vpc
        )["TargetGroups"][0]["TargetGroupArn"]
        for slot in ("blue", "green")
    }
    elbv2.register_targets(TargetGroupArn=groups["blue"], Targets=[{"Id": blue_ids[0]}, {"Id": spot}])
    lb = elbv2.create_load_balancer(Name=resolved.load_balancer.name, Subnets=subnets)["LoadBalancers"][0]
    listener = elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}],
    )["Listeners"][0]["ListenerArn"]  # fmt: skip
    elbv2.create_rule(
        ListenerArn=listener,
        Priority=100,
        Conditions=[{"Field": "path-pattern", "Values": ["/chat/*"]}],
        Actions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": groups["blue"], "Weight": 80},
                        {"TargetGroupArn": groups["green"], "Weight": 20},
                    ]
                },
            }
        ],
    )
    # Each slot's own rule (modules/aws/load_balancer.py): it forwards only requests naming the
    # slot, so the shares come from the weighted rule alone.
    for priority, slot in enumerate(("blue", "green"), start=98):
        elbv2.create_rule(
            ListenerArn=listener,
            Priority=priority,
            Conditions=[
                {"Field": "path-pattern", "Values": ["/chat/*"]},
                {
                    "Field": "http-header",
                    "HttpHeaderConfig": {"HttpHeaderName": SLOT_HEADER, "Values": [slot]},
                },
            ],
            Actions=[
                {
                    "Type": "forward",
                    "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": groups[slot], "Weight": 1}]},
                }
            ],
        )
    return Deployed(plan, resolved, f"http://{lb['DNSName']}/chat/")


@pytest.fixture(scope="module")
def clients(emulator: EmulatorHandle, aws_env: dict[str, str]) -> AwsClients:
    return AwsClients.connect("us-east-1", aws_env)


def test_reads_each_slot_by_its_resolved_names(deployed: Deployed, clients: AwsClients) -> None:
    assert read_status(deployed.resolved, clients) == [
        SlotStatus("chat", "aws", "blue", desired=3, running=3, healthy=2, spot=2, on_demand=1, weight=80,
                   endpoint=deployed.endpoint),
        SlotStatus("chat", "aws", "green", desired=1, running=1, healthy=0, spot=0, on_demand=1, weight=20,
                   endpoint=deployed.endpoint),
    ]  # fmt: skip


def test_table_and_json_show_cost_of_what_runs(deployed: Deployed, clients: AwsClients) -> None:
    slots = read_status(deployed.resolved, clients)
    price = deployed.plan.fleets_on("aws")[0].instance_types[0]
    blue = price.on_demand_usd_hour + 2 * price.spot_usd_hour  # as they run, not as configured
    green = price.on_demand_usd_hour
    report = status_json(deployed.plan, slots)
    assert [fleet["usd_hour"] for fleet in report["fleets"]] == [round(blue, 4), round(green, 4)]
    assert report["usd_hour"] == round(round(blue, 4) + round(green, 4), 4)
    assert json.loads(json.dumps(report))["fleets"][0]["spot"] == 2
    console = Console(width=250, record=True)
    console.print(status_table(deployed.plan, slots))
    text = " ".join(console.export_text().split())
    assert "│ chat │ aws │ blue │ 3 │ 3 │ 2 │ 2 │ 1 │ 80% │" in text
    assert f"{blue:.2f}" in text and f"{blue + green:.2f}" in text and deployed.endpoint in text


def test_an_environment_not_applied_says_to_apply(
    tmp_path_factory: pytest.TempPathFactory, clients: AwsClients
) -> None:
    resolved = resolve(_plan(tmp_path_factory))
    with pytest.raises(
        OperationError,
        match=rf"its load balancer {resolved.load_balancer.name} does not exist.*"
        r"Run `llmdeploy apply demo --cloud aws`",
    ):
        read_status(resolved, clients)


def test_a_group_gone_from_the_account_says_to_apply(deployed: Deployed, clients: AwsClients) -> None:
    blue, green = deployed.resolved.fleets
    gone = replace(deployed.resolved, fleets=(blue, replace(green, group_name="deleted-by-hand")))
    with pytest.raises(OperationError, match="its Auto Scaling group deleted-by-hand does not exist"):
        read_status(gone, clients)


def test_local_is_refused_for_other_clouds_before_any_work(write_env: WriteEnv) -> None:
    path = write_env(BLUE_GREEN, name="demo.yaml")
    result = CliRunner().invoke(app, ["status", str(path), "--cloud", "gcp", "--local"])
    assert result.exit_code == 2
    assert "no gcp cloud" in result.stderr
