"""The AWS stack of every example environment: provider, state backend, outputs, no secrets."""

from __future__ import annotations

import base64
import gzip
import re
from pathlib import Path

from stacks.aws import EMULATOR_VARIABLE, PROVIDER_VERSIONS
from tests.conftest import EXAMPLE_NAMES
from tests.fixtures_synth import Stack

#: Shapes of credentials that must never appear in synthesized output.
SECRET_SHAPES = re.compile(
    r"hf_[A-Za-z0-9]{30,}|AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY|Bearer [A-Za-z0-9]"
)


def test_every_example_environment_synthesizes_for_aws(aws_stacks: dict[str, Stack]) -> None:
    assert {f"{name}-aws" for name in EXAMPLE_NAMES} <= set(aws_stacks)
    for stack in aws_stacks.values():
        assert stack.resources("aws_autoscaling_group"), stack.name


def test_provider_accepts_the_local_mirror_and_6x(aws_stacks: dict[str, Stack]) -> None:
    for stack in aws_stacks.values():
        assert stack.doc["terraform"]["required_providers"]["aws"] == {
            "source": "hashicorp/aws",
            "version": PROVIDER_VERSIONS,
        }


def test_provider_region_tags_and_emulator_switch(aws_stacks: dict[str, Stack]) -> None:
    stack = aws_stacks["prod-aws"]
    [provider] = stack.doc["provider"]["aws"]
    assert provider["region"] == "us-east-1"
    assert provider["default_tags"] == [{"tags": stack.plan.tags}]
    assert provider["allowed_account_ids"] == ["123456789012"]
    switch = f"${{var.{EMULATOR_VARIABLE}}}"
    for flag in ("skip_credentials_validation", "skip_metadata_api_check"):
        assert provider[flag] == switch
    assert "skip_requesting_account_id" not in provider
    assert stack.doc["variable"][EMULATOR_VARIABLE]["default"] is False
    # Endpoints come from AWS_ENDPOINT_URL at run time, never from the synthesized JSON.
    assert "endpoints" not in provider


def test_state_backend_follows_the_environment(aws_stacks: dict[str, Stack]) -> None:
    assert aws_stacks["prod-aws"].doc["terraform"]["backend"] == {
        "s3": {
            "bucket": "llmdeploy-demo-tfstate",
            "key": "llmdeploy/prod-aws.tfstate",
            "region": "us-east-1",
            "encrypt": True,
            "use_lockfile": True,
        }
    }
    # Local state lives in the project folder, outside cdktf.out, referred to from the stack folder.
    for name, relative in (("dev-aws", "terraform.dev-aws.tfstate"), ("edge-aws", "state/edge-aws.tfstate")):
        stack = aws_stacks[name]
        path = stack.doc["terraform"]["backend"]["local"]["path"]
        assert not Path(path).is_absolute()
        project = stack.folder.parent.parent.parent
        assert (stack.folder / path).resolve() == (project / relative).resolve()


def test_outputs_the_cli_reads(aws_stacks: dict[str, Stack]) -> None:
    stack = aws_stacks["prod-aws"]
    outputs = stack.doc["output"]
    assert set(outputs) >= {
        "endpoints",
        "fleets",
        "listener_arn",
        "listener_rule_arns",
        "load_balancer_arn_suffix",
        "alarm_topic_arn",
    }
    fleets = outputs["fleets"]["value"]
    assert set(fleets) == {fleet.name for fleet in stack.plan.fleets_on("aws")}
    green = fleets["translate-fr-green"]
    assert (green["model"], green["slot"], green["weight"]) == ("translate-fr", "green", 5)
    assert green["asg_name"] == "llmdeploy-demo-prod-translate-fr-green"
    alarms = stack.resources("aws_cloudwatch_metric_alarm")
    names = {
        f"${{aws_cloudwatch_metric_alarm.{key}.alarm_name}}": alarm["alarm_name"]
        for key, alarm in alarms.items()
    }
    assert [names[reference] for reference in green["alarm_names"]] == [
        "llmdeploy-demo-prod-translate-fr-green-5xx-rate",
        "llmdeploy-demo-prod-translate-fr-green-unhealthy-hosts",
        "llmdeploy-demo-prod-translate-fr-green-p99-latency",
        "llmdeploy-demo-prod-translate-fr-green-healthy-hosts",
    ]
    assert set(outputs["listener_rule_arns"]["value"]) == {"translate-fr", "translate-es"}


def test_no_secret_value_in_any_synthesized_file(aws_stacks: dict[str, Stack]) -> None:
    root = next(iter(aws_stacks.values())).folder.parent.parent
    texts = [path.read_text(encoding="utf-8") for path in root.rglob("*.json")]
    for stack in aws_stacks.values():
        texts += [
            gzip.decompress(base64.b64decode(template["user_data"])).decode()
            for template in stack.resources("aws_launch_template").values()
        ]
    leaks = [match.group(0)[:12] for text in texts for match in SECRET_SHAPES.finditer(text)]
    assert leaks == []
