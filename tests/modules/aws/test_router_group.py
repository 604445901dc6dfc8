"""The router group (`routing.enabled`): CPU routers across zones behind their own load balancer, a
role that reads membership and resizes only the fleets' groups, a security group chain from clients
to the routers to the replicas' proxies, and the router bundle naming each slot's group."""

from __future__ import annotations

import base64
import gzip
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmdeploy.boot.router import ROUTER_PORT, routed_models
from llmdeploy.clouds.aws.resolve import ROUTER_AMI_PARAMETERS, resolve
from llmdeploy.config.loader import load_environment
from llmdeploy.engines import PROXY_PORT
from llmdeploy.plan.build import build_plan
from tests.fixtures_synth import EDGE_ENV, Doc, Stack
from tests.tools import checkov

pytestmark = pytest.mark.synth

#: Two models, one with a green canary: path routing over plain HTTP in a new VPC.
PATHS = """\
project: demo
tier: dev
clouds:
  aws: {region: us-east-1, zones: [us-east-1a, us-east-1b, us-east-1c]}
routing: {enabled: true, min_routers: 3, scale_on_queue_time_ms: 1500}
models:
  - name: chat
    model_id: Qwen/Qwen2.5-0.5B-Instruct
    revision: 7ae557604adf67be50417f59c2c2f167def9a775
    params_billion: 0.5
    instance_types: {aws: [g6.xlarge]}
    slots:
      blue: {weight: 90}
      green: {weight: 10, capacity: {min: 1, max: 2}}
  - name: coder
    engine: vllm
    model_id: Qwen/Qwen2.5-0.5B-Instruct
    revision: 7ae557604adf67be50417f59c2c2f167def9a775
    params_billion: 0.5
    instance_types: {aws: [g6.xlarge]}
"""
#: Host routing over HTTPS in an existing VPC, internal, Graviton routers.
HOSTS = EDGE_ENV.replace("models:\n", "routing: {enabled: true, instance_types: {aws: c7g.large}}\nmodels:\n")
#: Security group and rule descriptions: what the EC2 API accepts (no apostrophe, for one).
EC2_DESCRIPTION = re.compile(r"^[a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]*$")


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Stack]:
    from stacks.app import build_app

    root = tmp_path_factory.mktemp("routing-synth")
    plans = []
    for name, text in (("paths", PATHS), ("hosts", HOSTS)):
        path = root / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        plans.append(build_plan(load_environment(path)))
    outdir = root / "cdktf.out"
    build_app(plans, outdir, clouds=["aws"], project_dir=root).synth()
    found = {}
    for plan in plans:
        folder = outdir / "stacks" / plan.cloud("aws").stack
        found[plan.env] = Stack(
            plan, folder, json.loads((folder / "cdk.tf.json").read_text(encoding="utf-8"))
        )
    return found


def _ref(stack: Stack, kind: str, path: str, attribute: str = "id") -> str:
    return f"${{{stack.address(kind, path)}.{attribute}}}"


def _policy(stack: Stack) -> list[Doc]:
    statements: list[Doc] = json.loads(stack.at("aws_iam_role_policy", "Routers/InstancePolicy")["policy"])[
        "Statement"
    ]
    return statements


def test_the_group_has_the_planned_size_fixed_across_every_zone(stacks: dict[str, Stack]) -> None:
    stack = stacks["paths"]
    group = stack.at("aws_autoscaling_group", "Routers/Group")
    assert (group["min_size"], group["max_size"], group["desired_capacity"]) == (3, 3, 3)
    # One private subnet per zone: three zones, three subnets, none of them public.
    private = {
        f"${{aws_subnet.{name}.id}}": subnet["availability_zone"]
        for name, subnet in stack.resources("aws_subnet").items()
        if subnet["//"]["metadata"]["path"].endswith("/PrivateSubnet")
    }
    assert sorted(group["vpc_zone_identifier"]) == sorted(private)
    assert sorted(private.values()) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert group["health_check_type"] == "ELB"
    assert group["target_group_arns"] == [_ref(stack, "aws_lb_target_group", "Routers/TargetGroup", "arn")]
    existing = stacks["hosts"].at("aws_autoscaling_group", "Routers/Group")
    assert existing["vpc_zone_identifier"] == ["subnet-0bbb0001", "subnet-0bbb0002"]
    assert existing["min_size"] == existing["max_size"] == 2


def test_routers_boot_ubuntu_with_imdsv2_an_encrypted_root_and_no_public_address(
    stacks: dict[str, Stack],
) -> None:
    for stack, architecture in ((stacks["paths"], "x86_64"), (stacks["hosts"], "arm64")):
        template = stack.at("aws_launch_template", "Routers/LaunchTemplate")
        assert template["metadata_options"]["http_tokens"] == "required"
        assert template["metadata_options"]["http_put_response_hop_limit"] == 1
        [root] = template["block_device_mappings"]
        assert root["device_name"] == "/dev/sda1"
        assert root["ebs"]["encrypted"] == "true"
        [interface] = template["network_interfaces"]
        assert interface["associate_public_ip_address"] == "false"
        assert interface["security_groups"] == [_ref(stack, "aws_security_group", "Routers/InstanceGroup")]
        assert "vpc_security_group_ids" not in template
        parameters = {entry["name"] for entry in stack.data("aws_ssm_parameter").values()}
        assert ROUTER_AMI_PARAMETERS[architecture] in parameters
    assert stacks["paths"].at("aws_launch_template", "Routers/LaunchTemplate")["instance_type"] == "c7i.large"
    assert stacks["hosts"].at("aws_launch_template", "Routers/LaunchTemplate")["instance_type"] == "c7g.large"


def test_role_reads_membership_and_resizes_only_the_fleets_groups(stacks: dict[str, Stack]) -> None:
    stack = stacks["paths"]
    statements = {statement["Sid"]: statement for statement in _policy(stack)}
    assert set(statements) == {"ReadMembership", "WakeFleets", "PublishRouterMetrics"}
    publish = statements["PublishRouterMetrics"]
    assert (publish["Action"], publish["Resource"]) == (["cloudwatch:PutMetricData"], "*")
    assert publish["Condition"] == {"StringEquals": {"cloudwatch:namespace": "LLMDeploy"}}
    assert sorted(statements["ReadMembership"]["Action"]) == [
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:DescribeAutoScalingInstances",
        "ec2:DescribeInstances",
        "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeTargetHealth",
    ]
    wake = statements["WakeFleets"]
    assert wake["Action"] == ["autoscaling:SetDesiredCapacity"]
    fleets = resolve(stack.plan).fleets
    assert [resource.rsplit("autoScalingGroupName/", 1)[1] for resource in wake["Resource"]] == [
        fleet.group_name for fleet in fleets
    ]
    assert len(fleets) == 3  # chat blue and green, coder blue
    assert all(resource.startswith("arn:${data.aws_partition.") for resource in wake["Resource"])
    role = stack.at("aws_iam_role", "Routers/InstanceRole")
    [trust] = json.loads(role["assume_role_policy"])["Statement"]
    assert trust["Principal"] == {"Service": "ec2.amazonaws.com"}


def _rules(stack: Stack, kind: str) -> list[Doc]:
    return list(stack.resources(kind).values())


def test_clients_reach_the_routers_and_only_the_routers_reach_on_to_the_replicas(
    stacks: dict[str, Stack],
) -> None:
    stack = stacks["paths"]
    lb = _ref(stack, "aws_security_group", "Routers/LoadBalancerGroup")
    routers = _ref(stack, "aws_security_group", "Routers/InstanceGroup")
    replicas = _ref(stack, "aws_security_group", "Access/InstanceGroup")

    def ports(kind: str, group: str, peer: str) -> list[int]:
        return [
            rule["from_port"]
            for rule in _rules(stack, kind)
            if rule["security_group_id"] == group and rule.get("referenced_security_group_id") == peer
        ]

    assert ports("aws_vpc_security_group_egress_rule", lb, routers) == [ROUTER_PORT]
    assert ports("aws_vpc_security_group_ingress_rule", routers, lb) == [ROUTER_PORT]
    assert ports("aws_vpc_security_group_egress_rule", routers, replicas) == [PROXY_PORT]
    assert ports("aws_vpc_security_group_ingress_rule", replicas, routers) == [PROXY_PORT]
    # Clients reach the routers' load balancer on the listener port only; nothing reaches the routers.
    from_clients = [
        rule for rule in _rules(stack, "aws_vpc_security_group_ingress_rule") if "cidr_ipv4" in rule
    ]
    assert {
        (rule["security_group_id"], rule["from_port"])
        for rule in from_clients
        if rule["security_group_id"] in (lb, routers)
    } == {(lb, 80)}


def test_every_security_group_description_is_one_ec2_accepts(stacks: dict[str, Stack]) -> None:
    for stack in stacks.values():
        for kind in (
            "aws_security_group",
            "aws_vpc_security_group_ingress_rule",
            "aws_vpc_security_group_egress_rule",
        ):
            for resource in stack.resources(kind).values():
                assert EC2_DESCRIPTION.match(resource["description"]), (kind, resource["description"])


def test_routers_load_balancer_forwards_everything_to_the_routers(stacks: dict[str, Stack]) -> None:
    stack = stacks["paths"]
    target = stack.at("aws_lb_target_group", "Routers/TargetGroup")
    assert target["port"] == ROUTER_PORT
    assert target["health_check"]["path"] == "/health"  # TGI's health path (chat, the first model)
    lb = stack.at("aws_lb", "Routers/LoadBalancer")
    assert lb["internal"] is True and lb["drop_invalid_header_fields"] is True
    [listener] = [
        entry
        for entry in stack.resources("aws_lb_listener").values()
        if entry["load_balancer_arn"] == _ref(stack, "aws_lb", "Routers/LoadBalancer", "arn")
    ]
    assert listener["default_action"] == [
        {
            "type": "forward",
            "target_group_arn": _ref(stack, "aws_lb_target_group", "Routers/TargetGroup", "arn"),
        }
    ]
    # The fleets' target groups stay with the fleets' listener rules: their health keeps being checked.
    rules = stack.resources("aws_lb_listener_rule").values()
    forwarded = {group["arn"] for rule in rules for group in rule["action"][0]["forward"]["target_group"]}
    assert len(forwarded) == 3
    dns_name = _ref(stack, "aws_lb", "Routers/LoadBalancer", "dns_name")
    assert stack.doc["output"]["router_endpoint"]["value"] == f"http://{dns_name}"


def test_with_a_certificate_the_routers_listen_on_https_and_redirect_http(stacks: dict[str, Stack]) -> None:
    stack = stacks["hosts"]
    lb_arn = _ref(stack, "aws_lb", "Routers/LoadBalancer", "arn")
    listeners = {
        entry["port"]: entry
        for entry in stack.resources("aws_lb_listener").values()
        if entry["load_balancer_arn"] == lb_arn
    }
    assert listeners[443]["certificate_arn"] == "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
    assert listeners[443]["ssl_policy"].startswith("ELBSecurityPolicy-TLS13")
    assert listeners[80]["default_action"][0]["type"] == "redirect"
    assert stack.doc["output"]["router_endpoint"]["value"].startswith("https://")


def _bundle(stack: Stack) -> str:
    user_data = stack.at("aws_launch_template", "Routers/LaunchTemplate")["user_data"]
    return gzip.decompress(base64.b64decode(user_data)).decode()


def _specs(stack: Stack, bundle: str) -> dict[str, dict[str, Any]]:
    """The agent spec files the cloud-config writes, by model name."""
    group = stack.plan.router_group("aws")
    assert group is not None
    names = {model.spec_path: model.name for model in routed_models(stack.plan, group)}
    files = yaml.safe_load(bundle)["write_files"]
    return {names[entry["path"]]: json.loads(entry["content"]) for entry in files if entry["path"] in names}


def test_user_data_names_each_slots_group_and_target_group(stacks: dict[str, Stack]) -> None:
    stack = stacks["paths"]
    bundle = _bundle(stack)
    assert bundle.startswith("#cloud-config\n")
    specs = _specs(stack, bundle)
    assert set(specs) == {"chat", "coder"}
    resolved = resolve(stack.plan)
    for fleet in resolved.fleets:
        slot = specs[fleet.model]["slots"][fleet.slot]
        assert (slot["group"], slot["target_group"], slot["weight"]) == (
            fleet.group_name,
            fleet.target_group.name,
            fleet.weight,
        )
        # The names the routers look up are the names the stack gives the fleets' resources.
        assert stack.at("aws_autoscaling_group", f"{fleet.name}/Group")["name"] == fleet.group_name
        assert stack.at("aws_lb_target_group", f"{fleet.name}/TargetGroup")["name"] == fleet.target_group.name
    assert set(specs["chat"]["slots"]) == {"blue", "green"}
    assert specs["coder"]["region"] == "us-east-1" and specs["coder"]["cloud"] == "aws"


def test_checkov_finds_no_failed_check(stacks: dict[str, Stack], tmp_path: Path) -> None:
    from llmdeploy.ci.checkov import scan

    binary = checkov()
    if binary is None:
        pytest.skip("checkov is not installed (scripts/setup puts it in .venv-checkov)")
    scanned = tmp_path / "stacks"
    for stack in stacks.values():
        shutil.copytree(stack.folder, scanned / stack.name)
    report = scan(binary, scanned)
    assert report.passed > 0
    assert [f"{f.file}: {f.check} on {f.resource}" for f in report.failed] == []
    assert [f"{f.file}: {f.check} on {f.resource}" for f in report.unused] == []


def test_dashboard_shows_each_fleets_router_series_as_the_routers_publish_them(
    stacks: dict[str, Stack],
) -> None:
    from llmdeploy import metrics
    from llmdeploy.routing.publish import MetricsSpec, dimensions

    stack = stacks["paths"]
    body = json.loads(stack.at("aws_cloudwatch_dashboard", "Monitoring/Dashboard")["dashboard_body"])
    panels = {widget["properties"]["title"]: widget["properties"]["metrics"] for widget in body["widgets"]}
    fleets = stack.plan.fleets_on("aws")
    for title, metric in (
        ("Router: requests held", metrics.ROUTER_HELD),
        ("Router: 429s answered", metrics.ROUTER_REJECTED),
        ("Router: replicas in each router's set", metrics.ROUTER_REPLICAS),
    ):
        rows = panels[title]
        assert [row[:2] for row in rows] == [[metrics.NAMESPACE, metric]] * len(fleets)
        for row, fleet in zip(rows, fleets, strict=True):
            # Exactly the dimensions a router publishes for this model and slot, or the graph is empty.
            spec = MetricsSpec(project=stack.plan.project, environment=stack.plan.env, model=fleet.model)
            published = [part for pair in dimensions(spec, fleet.slot).items() for part in pair]
            assert row[2:-1] == published
    queue = panels["Router: queue time before dispatch (ms, mean / max)"]
    assert [row[-1]["stat"] for row in queue] == ["Average", "Maximum"] * len(fleets)


def test_without_routing_the_dashboard_has_no_router_panels(aws_stacks: dict[str, Stack]) -> None:
    body = json.loads(
        aws_stacks["prod-aws"].at("aws_cloudwatch_dashboard", "Monitoring/Dashboard")["dashboard_body"]
    )
    assert not [widget for widget in body["widgets"] if widget["properties"]["title"].startswith("Router")]


def test_each_fleet_scales_out_on_its_router_queue_time_and_in_on_its_own_target(
    stacks: dict[str, Stack],
) -> None:
    from llmdeploy import metrics
    from llmdeploy.routing.publish import MetricsSpec, dimensions

    stack = stacks["paths"]
    fleets = stack.plan.fleets_on("aws")
    for fleet in fleets:
        policy = stack.at("aws_autoscaling_policy", f"{fleet.name}/RouterQueueTracking")
        tracking = policy["target_tracking_configuration"]
        assert policy["policy_type"] == "TargetTrackingScaling"
        assert (tracking["target_value"], tracking["disable_scale_in"]) == (1500, True)
        metric = tracking["customized_metric_specification"]
        assert (metric["namespace"], metric["metric_name"], metric["statistic"]) == (
            metrics.NAMESPACE,
            metrics.ROUTER_QUEUE_MS,
            "Average",
        )
        spec = MetricsSpec(project=stack.plan.project, environment=stack.plan.env, model=fleet.model)
        published = dimensions(spec, fleet.slot)
        assert {d["name"]: d["value"] for d in metric["metric_dimension"]} == published
        # The fleet's own target tracking policy stays, and scales in.
        own = stack.at("aws_autoscaling_policy", f"{fleet.name}/TargetTracking")[
            "target_tracking_configuration"
        ]
        assert not own.get("disable_scale_in")
    # Without the key no such policy.
    assert not [
        config
        for config in stacks["hosts"].resources("aws_autoscaling_policy").values()
        if config["//"]["metadata"]["path"].endswith("/RouterQueueTracking")
    ]
