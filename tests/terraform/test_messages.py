"""Reading Terraform's -json stream and explaining failures, from recorded messages."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from llmdeploy.terraform.diagnose import Failure, UnpublishedMetric, explain
from llmdeploy.terraform.messages import Diagnostic, ResourceChange, parse_stream, resources_from_plan_json

PLAN_STREAM: list[dict[str, Any]] = [
    {"type": "version", "terraform": "1.11.4"},
    {"type": "planned_change", "change": {"resource": {"addr": "aws_vpc.main"}, "action": "create"}},
    {"type": "planned_change", "change": {"resource": {"addr": "aws_subnet.a"}, "action": "replace"}},
    {
        "type": "change_summary",
        "changes": {"add": 2, "change": 0, "import": 0, "remove": 1, "operation": "plan"},
    },
    {"type": "outputs", "outputs": {"asg": {"sensitive": False, "action": "create"}}},
]


def _lines(messages: Sequence[Mapping[str, Any]]) -> list[str]:
    return [json.dumps(m) for m in messages] + ["not json", "[1, 2]"]


def test_plan_stream_gives_counts_and_resources() -> None:
    summary = parse_stream(_lines(PLAN_STREAM)).summary()
    assert (summary.add, summary.change, summary.destroy, summary.outputs_changed) == (2, 0, 1, 1)
    assert summary.resources == (
        ResourceChange("aws_vpc.main", "create"),
        ResourceChange("aws_subnet.a", "replace"),
    )
    assert summary.has_changes


def test_empty_plan_has_no_changes() -> None:
    stream = [
        {"type": "change_summary", "changes": {"add": 0, "change": 0, "remove": 0, "operation": "plan"}}
    ]
    assert not parse_stream(_lines(stream)).summary().has_changes


def test_plan_document_actions_use_stream_words() -> None:
    document = {
        "resource_changes": [
            {"address": "a.x", "change": {"actions": ["no-op"]}},
            {"address": "a.y", "change": {"actions": ["delete", "create"]}},
            {"address": "a.z", "change": {"actions": ["update"]}},
            {"address": "data.b", "change": {"actions": ["read"]}},
        ]
    }
    assert resources_from_plan_json(document) == (
        ResourceChange("a.y", "replace"),
        ResourceChange("a.z", "update"),
    )


def _failure(command: str, *errors: Diagnostic, started: int = 0, completed: int = 0) -> str:
    failure = Failure(
        stack="dev-aws",
        stack_dir=Path("/x/dev-aws"),
        command=command,
        binary="tofu",
        returncode=1,
        errors=errors,
        started=started,
        completed=completed,
    )
    return str(explain(failure))


def test_credentials_failure_gets_login_advice() -> None:
    diagnostic = Diagnostic(
        "error", "No valid credential sources found", "Please see https://...\n\nError: x"
    )
    message = _failure("plan", diagnostic)
    assert message.startswith("`tofu plan` failed for stack 'dev-aws' (/x/dev-aws): No valid credential")
    assert "AWS_PROFILE" in message and "llmdeploy local up" in message


def test_apply_failing_after_changes_keeps_state() -> None:
    diagnostic = Diagnostic("error", "creating EC2 Subnet", "InvalidSubnet.Range", address="aws_subnet.a")
    message = _failure("apply", diagnostic, started=2, completed=1)
    assert "aws_subnet.a: creating EC2 Subnet: InvalidSubnet.Range" in message
    assert "The state keeps what was created (1 resource operation finished first)" in message
    assert "run apply again to continue" in message


def test_apply_failing_before_any_change_is_a_plain_failure() -> None:
    message = _failure("apply", Diagnostic("error", "Unsupported argument", "bogus"))
    assert "state keeps" not in message
    assert "run apply again" in message


def test_destroy_failing_half_way_says_what_is_left() -> None:
    message = _failure("destroy", Diagnostic("error", "deleting VPC", "DependencyViolation"), started=1)
    assert "The state keeps what is left" in message and "run destroy again" in message


def test_many_errors_are_trimmed_to_one_paragraph() -> None:
    errors = [Diagnostic("error", f"Problem {i}", "line one\n│ line two\n" + "x" * 300) for i in range(5)]
    message = _failure("plan", *errors)
    assert "\n" not in message and "│" not in message
    assert "Problem 0" in message and "Problem 4" not in message
    assert len(message) < 900


def test_stderr_is_used_when_there_are_no_diagnostics() -> None:
    failure = Failure(
        stack="s",
        stack_dir=Path("/s"),
        command="output",
        binary="terraform",
        returncode=1,
        stderr="Warning: something\n\n\x1b[31mError: \x1b[0mNo outputs found\n",
    )
    message = str(explain(failure))
    assert "Error: No outputs found" in message
    assert "Warning" not in message and "\x1b" not in message


def test_an_autoscale_rule_on_a_metric_not_yet_published_is_its_own_error_naming_the_publisher_role() -> None:
    # Azure's answer when a scale set's custom metric has no data yet (Azure/azure-cli#25986): an apply
    # catches this type to publish the metric and apply again; the message is for when it could not.
    diagnostic = Diagnostic(
        "error",
        "creating Autoscale Setting",
        "AutoscaleSettingsClient#CreateOrUpdate: (UnsupportedMetric) resource: /subscriptions/"
        "0/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/vmss, metricnamespace: "
        "LLMDeploy, metricname: QueueSize",
        address="azurerm_monitor_autoscale_setting.chat_blue_Autoscale",
    )
    failure = Failure(
        stack="dev-azure",
        stack_dir=Path("/x/dev-azure"),
        command="apply",
        binary="tofu",
        returncode=1,
        errors=(diagnostic,),
        started=3,
        completed=2,
    )
    error = explain(failure)
    assert isinstance(error, UnpublishedMetric) and error.failure is failure
    message = str(error)
    assert "UnsupportedMetric" in message and "publishes one neutral value itself" in message
    assert "'Monitoring Metrics Publisher'" in message and message.endswith("then run apply again.")
    # Any other failure keeps the plain type: nothing to publish there.
    other = Diagnostic("error", "creating Autoscale Setting", "(AuthorizationFailed) no access")
    assert not isinstance(
        explain(Failure("dev-azure", Path("/x"), "apply", "tofu", 1, (other,))), UnpublishedMetric
    )
