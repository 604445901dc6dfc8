"""The GPU fleet of each model and slot: launch template, Auto Scaling group, scaling policy, IAM."""

from __future__ import annotations

import base64
import gzip
import json

from llmdeploy import metrics
from llmdeploy.boot import boot_files
from llmdeploy.boot.registry import stack_prefix
from llmdeploy.instance import (
    INSTANCE_ROLE_ACTIONS,
    LAUNCH_HOOK_NAME,
    TERMINATION_HOOK_NAME,
    termination_heartbeat_s,
)
from tests.fixtures_synth import Stack


def test_every_fleet_gets_a_template_a_group_and_one_target_tracking_policy(
    aws_stacks: dict[str, Stack],
) -> None:
    for stack in aws_stacks.values():
        fleets = [fleet.name for fleet in stack.plan.fleets_on("aws")]
        for kind in ("aws_launch_template", "aws_autoscaling_group", "aws_autoscaling_policy"):
            paths = sorted(
                path.split("/")[1] for path in _paths(stack, kind) if not path.endswith("/WakeFromZero")
            )
            assert paths == sorted(fleets), (stack.name, kind)


def test_launch_template_requires_imdsv2_and_exposes_tags(aws_stacks: dict[str, Stack]) -> None:
    template = aws_stacks["prod-aws"].at("aws_launch_template", "translate-fr-green/LaunchTemplate")
    assert template["metadata_options"] == {
        "http_endpoint": "enabled",
        "http_tokens": "required",
        "http_put_response_hop_limit": 1,
        "instance_metadata_tags": "enabled",
    }


def test_root_volume_is_encrypted_gp3_sized_by_the_plan(aws_stacks: dict[str, Stack]) -> None:
    for stack in aws_stacks.values():
        for fleet in stack.plan.fleets_on("aws"):
            template = stack.at("aws_launch_template", f"{fleet.name}/LaunchTemplate")
            [root] = template["block_device_mappings"]
            assert root["ebs"] == {
                "volume_size": fleet.disk_gib,
                "volume_type": "gp3",
                "encrypted": "true",
                "delete_on_termination": "true",
            }


def test_ami_is_read_from_ssm_at_plan_time_and_pinned_per_slot(aws_stacks: dict[str, Stack]) -> None:
    stack = aws_stacks["prod-aws"]
    [(name, parameter)] = stack.data("aws_ssm_parameter").items()
    assert parameter["name"] == stack.plan.cloud("aws").settings.ami_parameter  # type: ignore[union-attr]
    for fleet in stack.plan.fleets_on("aws"):
        template = stack.at("aws_launch_template", f"{fleet.name}/LaunchTemplate")
        assert template["image_id"] == f"${{data.aws_ssm_parameter.{name}.insecure_value}}"
        # A newer AMI in the parameter must not change a running slot's template.
        assert template["lifecycle"] == {"ignore_changes": ["image_id"], "create_before_destroy": True}
        assert template["name_prefix"].endswith(f"-{fleet.name}-")


def test_user_data_is_the_fleets_boot_bundle(aws_stacks: dict[str, Stack]) -> None:
    stack = aws_stacks["prod-aws"]
    for fleet in stack.plan.fleets_on("aws"):
        template = stack.at("aws_launch_template", f"{fleet.name}/LaunchTemplate")
        text = gzip.decompress(base64.b64decode(template["user_data"])).decode()
        assert text == boot_files(stack.plan, fleet)["cloud-config"]
        assert fleet.revision in text


def test_group_mixes_on_demand_base_and_spot_across_the_instance_types(aws_stacks: dict[str, Stack]) -> None:
    stack = aws_stacks["prod-aws"]
    fleet = next(f for f in stack.plan.fleets_on("aws") if f.name == "translate-fr-blue")
    group = stack.at("aws_autoscaling_group", "translate-fr-blue/Group")
    policy = group["mixed_instances_policy"]
    assert policy["instances_distribution"] == {
        "on_demand_base_capacity": 1,
        "on_demand_percentage_above_base_capacity": 20,
        "spot_allocation_strategy": "price-capacity-optimized",
    }
    overrides = [entry["instance_type"] for entry in policy["launch_template"]["override"]]
    assert (
        overrides
        == [entry.name for entry in fleet.instance_types]
        == ["g6.xlarge", "g5.xlarge", "g5.2xlarge"]
    )
    template = stack.address("aws_launch_template", "translate-fr-blue/LaunchTemplate")
    assert policy["launch_template"]["launch_template_specification"] == {
        "launch_template_id": f"${{{template}.id}}",
        "version": f"${{{template}.latest_version}}",
    }


def test_spot_price_cap_is_passed_when_configured(aws_stacks: dict[str, Stack]) -> None:
    group = aws_stacks["edge-aws"].at("aws_autoscaling_group", "coder-blue/Group")
    assert group["mixed_instances_policy"]["instances_distribution"]["spot_max_price"] == "0.5"


def test_group_health_sizes_and_draining(aws_stacks: dict[str, Stack]) -> None:
    for stack in aws_stacks.values():
        for fleet in stack.plan.fleets_on("aws"):
            group = stack.at("aws_autoscaling_group", f"{fleet.name}/Group")
            assert (group["min_size"], group["max_size"], group["desired_capacity"]) == (
                fleet.min_size,
                fleet.max_size,
                fleet.desired_size,
            )
            assert group["lifecycle"] == {"ignore_changes": ["desired_capacity"]}
            assert group["health_check_type"] == "ELB"
            assert group["wait_for_capacity_timeout"] == "0"
            assert group["capacity_rebalance"] is True
            refresh = group["instance_refresh"]
            assert refresh["strategy"] == "Rolling"
            assert refresh["preferences"]["min_healthy_percentage"] == 100
            assert refresh["preferences"]["checkpoint_percentages"][-1] == 100
            target_group = stack.address("aws_lb_target_group", f"{fleet.name}/TargetGroup")
            assert group["target_group_arns"] == [f"${{{target_group}.arn}}"]


def test_a_replica_enters_service_only_once_ready_and_is_replaced_if_never(
    aws_stacks: dict[str, Stack],
) -> None:
    """AWS: "If you use lifecycle hooks for instance launch, you can set the health check grace period
    to 0" (autoscaling/ec2/userguide/health-check-grace-period.html); instances in Pending:Wait are
    registered with the load balancer only at the end of the hook (.../lifecycle-hooks.html).
    Heartbeats must lie in 30-7200 s (provider group.go, initial_lifecycle_hook.heartbeat_timeout)."""
    for stack in aws_stacks.values():
        for fleet in stack.plan.fleets_on("aws"):
            group = stack.at("aws_autoscaling_group", f"{fleet.name}/Group")
            hooks = {hook["name"]: hook for hook in group["initial_lifecycle_hook"]}
            assert hooks[LAUNCH_HOOK_NAME] == {
                "name": LAUNCH_HOOK_NAME,
                "lifecycle_transition": "autoscaling:EC2_INSTANCE_LAUNCHING",
                "heartbeat_timeout": fleet.health.readiness_grace_s,
                "default_result": "ABANDON",
            }
            assert hooks[TERMINATION_HOOK_NAME] == {
                "name": TERMINATION_HOOK_NAME,
                "lifecycle_transition": "autoscaling:EC2_INSTANCE_TERMINATING",
                "heartbeat_timeout": termination_heartbeat_s(fleet),
                "default_result": "CONTINUE",
            }
            assert all(30 <= hook["heartbeat_timeout"] <= 7200 for hook in hooks.values())
            assert group["health_check_grace_period"] == 0
            # In service means ready: the warmup covers the healthy threshold and a first metric only.
            warmup = fleet.health.healthy_threshold * fleet.health.interval_s + metrics.PUBLISH_INTERVAL_S
            assert group["default_instance_warmup"] == warmup < fleet.health.readiness_grace_s
            assert group["instance_refresh"]["preferences"]["instance_warmup"] == str(warmup)


def test_refresh_stops_on_the_gate_alarms_and_leaves_rollback_to_terraform(
    aws_stacks: dict[str, Stack],
) -> None:
    """No auto rollback: AWS would restore the previous template version ("RollbackInstanceRefresh
    ... restores your Auto Scaling group to the configuration that it was using before"), which
    Terraform state does not record, so the next apply would refresh forward again."""
    for stack in aws_stacks.values():
        alarms = {alarm["alarm_name"] for alarm in stack.resources("aws_cloudwatch_metric_alarm").values()}
        minutes = stack.plan.monitoring.alarms.evaluation_minutes
        for fleet in stack.plan.fleets_on("aws"):
            refresh = stack.at("aws_autoscaling_group", f"{fleet.name}/Group")["instance_refresh"]
            preferences = refresh["preferences"]
            # Not AWS's default of an hour at each checkpoint: the alarms' window, then judge.
            assert preferences["checkpoint_delay"] == str(minutes * 60)
            assert preferences["auto_rollback"] is False
            watched = preferences["alarm_specification"]["alarms"]
            assert [name.rsplit("-", 2)[-2:] for name in watched] == [["5xx", "rate"], ["unhealthy", "hosts"]]
            assert set(watched) <= alarms, (stack.name, fleet.name, "names alarms the stack does not create")
            assert all(f"-{fleet.name}-" in name for name in watched), "another fleet's alarms"


def test_instances_run_in_private_subnets(aws_stacks: dict[str, Stack]) -> None:
    stack = aws_stacks["dev-aws"]
    group = stack.at("aws_autoscaling_group", "chat-blue/Group")
    private = [
        f"${{{stack.address('aws_subnet', f'{zone}/PrivateSubnet')}.id}}"
        for zone in ("us-east-1a", "us-east-1b")
    ]
    assert group["vpc_zone_identifier"] == private
    assert aws_stacks["edge-aws"].at("aws_autoscaling_group", "coder-blue/Group")["vpc_zone_identifier"] == [
        "subnet-0bbb0001",
        "subnet-0bbb0002",
    ]


def test_request_count_scaling_tracks_the_fleets_target_group(aws_stacks: dict[str, Stack]) -> None:
    stack = aws_stacks["dev-aws"]
    tracking = stack.at("aws_autoscaling_policy", "chat-blue/TargetTracking")["target_tracking_configuration"]
    lb = stack.address("aws_lb", "LoadBalancer/LoadBalancer")
    target_group = stack.address("aws_lb_target_group", "chat-blue/TargetGroup")
    assert tracking == {
        "target_value": 30,
        "predefined_metric_specification": {
            "predefined_metric_type": "ALBRequestCountPerTarget",
            "resource_label": f"${{{lb}.arn_suffix}}/${{{target_group}.arn_suffix}}",
        },
    }


def test_scaling_policies_emit_no_cooldown(aws_stacks: dict[str, Stack]) -> None:
    """Target tracking on a group takes no cooldown (only warmup); the wake-up step policy uses the
    group's warmup too. autoscaling.*_cooldown_s are GCP and Azure settings (review finding #14)."""
    for stack in aws_stacks.values():
        for policy in stack.resources("aws_autoscaling_policy").values():
            assert "cooldown" not in policy
        for group in stack.resources("aws_autoscaling_group").values():
            assert "default_cooldown" not in group


def test_queue_size_scaling_reads_the_relayed_engine_metric(aws_stacks: dict[str, Stack]) -> None:
    stack = aws_stacks["staging-aws"]
    tracking = stack.at("aws_autoscaling_policy", "translate-fr-blue/TargetTracking")[
        "target_tracking_configuration"
    ]
    assert tracking["target_value"] == 4
    assert tracking["customized_metric_specification"] == {
        "namespace": metrics.NAMESPACE,
        "metric_name": metrics.QUEUE_SIZE,
        "statistic": "Average",
        "metric_dimension": [
            {"name": name, "value": value}
            for name, value in metrics.dimension_values(
                "llmdeploy-demo", "staging", "translate-fr", "blue"
            ).items()
        ],
    }


#: Granted for the docker daemon's pulls through the registry cache, not for the agents.
REGISTRY_ACTIONS = {
    "ecr:GetAuthorizationToken",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchImportUpstreamImage",
    "ecr:CreateRepository",
}


#: Granted for the CloudWatch agent that ships the VM's logs (modules/aws/engine_logs.py), when it does.
LOG_SHIPPING_ACTIONS = {"logs:CreateLogStream", "logs:PutLogEvents"}


def _policy(stack: Stack, fleet: str) -> dict[str, object]:
    document = json.loads(stack.at("aws_iam_role_policy", f"{fleet}/InstancePolicy")["policy"])
    return {
        action: statement["Resource"] for statement in document["Statement"] for action in statement["Action"]
    }


def test_instance_role_grants_exactly_what_the_agents_and_pulls_use(aws_stacks: dict[str, Stack]) -> None:
    for stack in aws_stacks.values():
        for fleet in stack.plan.fleets_on("aws"):
            expected = set(INSTANCE_ROLE_ACTIONS["aws"]) | REGISTRY_ACTIONS
            # The agent that completes the launch hook may need more than one heartbeat.
            expected.add("autoscaling:RecordLifecycleActionHeartbeat")
            if fleet.hf_token_secret is None and stack.plan.access.api_key is None:
                expected.discard("secretsmanager:GetSecretValue")
            if stack.plan.monitoring.logs.ship:
                expected |= LOG_SHIPPING_ACTIONS
            assert set(_policy(stack, fleet.name)) == expected, fleet.name


def test_instance_role_reads_exactly_its_token_and_the_api_keys(aws_stacks: dict[str, Stack]) -> None:
    stack = aws_stacks["prod-aws"]
    secrets = _policy(stack, "translate-es-blue")["secretsmanager:GetSecretValue"]
    assert isinstance(secrets, list)
    names = sorted(arn.split(":secret:")[1] for arn in secrets)
    assert names == ["llmdeploy-prod-api-key-??????", "llmdeploy-prod-hf-token-??????"]
    assert all(
        arn.startswith("arn:${data.aws_partition.") and ":secretsmanager:us-east-1:" in arn for arn in secrets
    )
    # Neither a token nor an API key (edge): nothing to read.
    assert "secretsmanager:GetSecretValue" not in _policy(aws_stacks["edge-aws"], "coder-blue")


def test_instance_role_is_scoped_to_its_own_group_target_group_and_cache(
    aws_stacks: dict[str, Stack],
) -> None:
    stack = aws_stacks["prod-aws"]
    resources = _policy(stack, "translate-es-blue")
    own_group = ":autoScalingGroup:*:autoScalingGroupName/llmdeploy-demo-prod-translate-es-blue"
    for action in ("autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"):
        assert str(resources[action]).endswith(own_group)
    target_group = stack.address("aws_lb_target_group", "translate-es-blue/TargetGroup")
    assert resources["elasticloadbalancing:DeregisterTargets"] == f"${{{target_group}.arn}}"
    for action in REGISTRY_ACTIONS - {"ecr:GetAuthorizationToken"}:
        assert str(resources[action]).endswith(f":repository/{stack_prefix('llmdeploy-demo', 'prod')}*")
    document = json.loads(stack.at("aws_iam_role_policy", "translate-es-blue/InstancePolicy")["policy"])
    [publish] = [s for s in document["Statement"] if s["Action"] == ["cloudwatch:PutMetricData"]]
    assert publish["Condition"] == {"StringEquals": {"cloudwatch:namespace": metrics.NAMESPACE}}


def test_instances_are_tagged_with_model_and_slot(aws_stacks: dict[str, Stack]) -> None:
    stack = aws_stacks["dev-aws"]
    tags = {t["key"]: t for t in stack.at("aws_autoscaling_group", "chat-blue/Group")["tag"]}
    assert tags["llmdeploy:model"]["value"] == "chat"
    assert tags["llmdeploy:slot"]["value"] == "blue"
    assert all(tag["propagate_at_launch"] for tag in tags.values())
    assert {key: tags[key]["value"] for key in stack.plan.tags} == stack.plan.tags


def test_a_fleet_at_zero_wakes_on_the_503s_of_its_load_balancer(aws_stacks: dict[str, Stack]) -> None:
    stack = aws_stacks["dev-aws"]
    group = stack.address("aws_autoscaling_group", "chat-blue/Group")
    policy = stack.at("aws_autoscaling_policy", "chat-blue/WakeFromZero")
    assert (policy["policy_type"], policy["adjustment_type"]) == ("StepScaling", "ChangeInCapacity")
    assert policy["step_adjustment"] == [{"scaling_adjustment": 1, "metric_interval_lower_bound": "0"}]
    assert policy["autoscaling_group_name"] == f"${{{group}.name}}"
    alarm = stack.at("aws_cloudwatch_metric_alarm", "chat-blue/WakeFromZeroAlarm")
    assert alarm["alarm_actions"] == [
        f"${{{stack.address('aws_autoscaling_policy', 'chat-blue/WakeFromZero')}.arn}}"
    ]
    assert (alarm["comparison_operator"], alarm["threshold"], alarm["evaluation_periods"]) == (
        "GreaterThanOrEqualToThreshold",
        1,
        1,
    )
    queries = {query["id"]: query for query in alarm["metric_query"]}
    assert queries["waiting"]["expression"] == "IF(desired == 0, unrouted, 0)"
    assert queries["unrouted"]["metric"]["metric_name"] == "HTTPCode_ELB_503_Count"
    assert set(queries["unrouted"]["metric"]["dimensions"]) == {"LoadBalancer"}
    desired = queries["desired"]["metric"]
    assert (desired["namespace"], desired["metric_name"], desired["stat"]) == (
        "AWS/AutoScaling",
        "GroupDesiredCapacity",
        "Maximum",
    )


def test_a_fleet_that_never_reaches_zero_has_no_wake_up(aws_stacks: dict[str, Stack]) -> None:
    for stack in (aws_stacks["prod-aws"], aws_stacks["edge-aws"]):
        assert all(min(fleet.min_size for fleet in stack.plan.fleets_on("aws")) > 0 for _ in [0])
        assert not [
            path for path in _paths(stack, "aws_autoscaling_policy") if path.endswith("/WakeFromZero")
        ]


def _paths(stack: Stack, kind: str) -> list[str]:
    return [resource["//"]["metadata"]["path"] for resource in stack.resources(kind).values()]
