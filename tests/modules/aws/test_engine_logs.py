"""The VM log group: encrypted, kept as configured, written only by the fleets' own instances."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import yaml

from llmdeploy.boot import logs
from tests.fixtures_synth import Stack

GROUP = "VmLogs/LogGroup"


def _policy(stack: Stack, fleet: str) -> list[dict[str, Any]]:
    document = json.loads(stack.at("aws_iam_role_policy", f"{fleet}/InstancePolicy")["policy"])
    statements: list[dict[str, Any]] = document["Statement"]
    return statements


def _agent_config(stack: Stack, fleet: str) -> dict[str, Any]:
    """The CloudWatch agent config inside the launch template's user data, as the VM writes it."""
    user_data = stack.at("aws_launch_template", f"{fleet}/LaunchTemplate")["user_data"]
    cloud_config = yaml.safe_load(gzip.decompress(base64.b64decode(user_data)))
    (content,) = [
        f["content"] for f in cloud_config["write_files"] if f["path"] == logs.CLOUDWATCH_AGENT_CONFIG
    ]
    config: dict[str, Any] = json.loads(content)
    return config


def test_the_group_is_encrypted_with_the_stack_key_and_kept_as_configured(
    aws_stacks: dict[str, Stack],
) -> None:
    stack = aws_stacks["prod-aws"]
    group = stack.at("aws_cloudwatch_log_group", GROUP)
    key = stack.address("aws_kms_key", "EncryptionKey/Key")
    assert group["name"] == "/llmdeploy/llmdeploy-demo-prod/vm-logs"
    assert group["kms_key_id"] == f"${{{key}.arn}}"
    assert group["retention_in_days"] == stack.plan.monitoring.logs.retention_days == 30
    # Under a year by choice: checkov's one-year check is skipped with the reason.
    (skip,) = group["//"]["checkov"]["skip"]
    assert skip["id"] == "CKV_AWS_338" and "retention_days" in skip["comment"]


def test_each_fleet_writes_only_its_streams_of_this_group(aws_stacks: dict[str, Stack]) -> None:
    stack = aws_stacks["prod-aws"]
    arn = "${" + stack.address("aws_cloudwatch_log_group", GROUP) + ".arn}"
    for fleet in stack.plan.fleets_on("aws"):
        statements = _policy(stack, fleet.name)
        writes = [s for s in statements if any(action.startswith("logs:") for action in s["Action"])]
        assert writes == [
            {
                "Sid": "ShipOwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [arn, f"{arn}:log-stream:*"],
            }
        ]
        (entry,) = _agent_config(stack, fleet.name)["logs"]["logs_collected"]["journald"]["collect_list"]
        assert entry["log_group_name"] == stack.at("aws_cloudwatch_log_group", GROUP)["name"]


def test_shipping_off_creates_no_group_and_grants_nothing(aws_stacks: dict[str, Stack]) -> None:
    stack = aws_stacks["edge-aws"]
    paths = [
        group["//"]["metadata"]["path"] for group in stack.resources("aws_cloudwatch_log_group").values()
    ]
    assert not any(path.endswith(GROUP) for path in paths)
    for fleet in stack.plan.fleets_on("aws"):
        actions = [action for statement in _policy(stack, fleet.name) for action in statement["Action"]]
        assert not any(action.startswith("logs:") for action in actions)
