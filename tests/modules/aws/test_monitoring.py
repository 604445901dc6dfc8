"""Alarms per model and slot, the alarm topic and the dashboard."""

from __future__ import annotations

import json

from llmdeploy import metrics
from tests.fixtures_synth import Doc, Stack


def _alarm(stack: Stack, fleet: str, check: str) -> Doc:
    return stack.at("aws_cloudwatch_metric_alarm", f"{fleet}/{check}")


def test_every_fleet_alarms_on_errors_unhealthy_replicas_and_latency(aws_stacks: dict[str, Stack]) -> None:
    for stack in aws_stacks.values():
        alarms = stack.plan.monitoring.alarms
        for fleet in stack.plan.fleets_on("aws"):
            rate = _alarm(stack, fleet.name, "ErrorRate")
            assert rate["threshold"] == alarms.error_rate_percent
            assert rate["treat_missing_data"] == "notBreaching"
            assert rate["evaluation_periods"] == alarms.evaluation_minutes
            latency = _alarm(stack, fleet.name, "P99Latency")
            assert (latency["extended_statistic"], latency["threshold"]) == ("p99", alarms.p99_latency_s)
            unhealthy = _alarm(stack, fleet.name, "UnhealthyHosts")
            assert (unhealthy["metric_name"], unhealthy["threshold"]) == ("UnHealthyHostCount", 0)
            # Unhealthy through whole minutes, not the last seconds of a replica's drain.
            assert unhealthy["statistic"] == "Minimum"


def test_gates_and_refreshes_judge_a_release_by_errors_and_failing_replicas_only(
    aws_stacks: dict[str, Stack],
) -> None:
    """p99 latency covers whole non-streamed generations, and healthy-replica counts drop on spot
    reclaims: both page, neither may roll back a release (review findings #2, #3)."""
    stack = aws_stacks["prod-aws"]
    names = {
        f"${{aws_cloudwatch_metric_alarm.{key}.alarm_name}}": alarm["alarm_name"]
        for key, alarm in stack.resources("aws_cloudwatch_metric_alarm").items()
    }
    fleets = stack.doc["output"]["fleets"]["value"]
    for fleet in stack.plan.fleets_on("aws"):
        gate = [names[reference] for reference in fleets[fleet.name]["gate_alarm_names"]]
        every = [names[reference] for reference in fleets[fleet.name]["alarm_names"]]
        assert [name.removeprefix(f"llmdeploy-demo-prod-{fleet.name}-") for name in gate] == [
            "5xx-rate",
            "unhealthy-hosts",
        ]
        assert set(gate) < set(every)
        assert any(name.endswith("-p99-latency") for name in every)


def test_error_rate_is_metric_math_over_the_fleets_target_group(aws_stacks: dict[str, Stack]) -> None:
    stack = aws_stacks["prod-aws"]
    queries = {
        query["id"]: query for query in _alarm(stack, "translate-fr-green", "ErrorRate")["metric_query"]
    }
    assert queries["rate"]["expression"] == "100 * FILL(errors, 0) / requests"
    assert queries["rate"]["return_data"] is True
    target_group = stack.address("aws_lb_target_group", "translate-fr-green/TargetGroup")
    assert queries["errors"]["metric"]["metric_name"] == "HTTPCode_Target_5XX_Count"
    assert queries["errors"]["metric"]["dimensions"]["TargetGroup"] == f"${{{target_group}.arn_suffix}}"


def test_healthy_replica_alarm_only_where_a_serving_slot_keeps_replicas(aws_stacks: dict[str, Stack]) -> None:
    prod, dev = aws_stacks["prod-aws"], aws_stacks["dev-aws"]
    healthy = _alarm(prod, "translate-es-blue", "HealthyHosts")
    assert (healthy["comparison_operator"], healthy["threshold"]) == ("LessThanThreshold", 1)
    assert healthy["treat_missing_data"] == "breaching"
    # dev scales to zero: no replica is guaranteed, so there is nothing to alarm on.
    assert not [
        a
        for a in dev.resources("aws_cloudwatch_metric_alarm").values()
        if "HealthyHosts" in a["//"]["metadata"]["path"]
    ]


def test_alarms_notify_the_encrypted_topic_and_its_subscribers(aws_stacks: dict[str, Stack]) -> None:
    stack = aws_stacks["prod-aws"]
    topic = stack.at("aws_sns_topic", "Monitoring/AlarmTopic")
    assert topic["kms_master_key_id"] == f"${{{stack.address('aws_kms_key', 'EncryptionKey/Key')}.arn}}"
    [subscription] = stack.resources("aws_sns_topic_subscription").values()
    assert (subscription["protocol"], subscription["endpoint"]) == ("email", "oncall@example.com")
    topic_arn = f"${{{stack.address('aws_sns_topic', 'Monitoring/AlarmTopic')}.arn}}"
    for alarm in stack.resources("aws_cloudwatch_metric_alarm").values():
        assert alarm["alarm_actions"] == alarm["ok_actions"] == [topic_arn]


def test_a_configured_topic_is_used_instead_of_a_new_one(aws_stacks: dict[str, Stack]) -> None:
    stack = aws_stacks["edge-aws"]
    assert not stack.resources("aws_sns_topic")
    for alarm in stack.resources("aws_cloudwatch_metric_alarm").values():
        assert alarm["alarm_actions"] == ["arn:aws:sns:eu-west-1:123456789012:oncall"]
    assert not stack.resources("aws_cloudwatch_dashboard")


def test_dashboard_shows_the_seed_metrics_of_every_fleet(aws_stacks: dict[str, Stack]) -> None:
    stack = aws_stacks["prod-aws"]
    body = json.loads(stack.at("aws_cloudwatch_dashboard", "Monitoring/Dashboard")["dashboard_body"])
    panels = {widget["properties"]["title"]: widget["properties"]["metrics"] for widget in body["widgets"]}
    assert set(panels) >= {
        "Requests per second",
        "Latency p50 / p99 (s)",
        "Generated tokens per second",
        "Healthy replicas",
        "Spot / on-demand replicas (by the group's distribution)",
    }
    tokens = panels["Generated tokens per second"]
    assert [row[:2] for row in tokens] == [[metrics.NAMESPACE, metrics.GENERATED_TOKENS_PER_SECOND]] * 3
    stats = {row[-1]["stat"] for row in panels["Latency p50 / p99 (s)"]}
    assert stats == {"p50", "p99"}
    healthy_labels = [row[-1]["label"] for row in panels["Healthy replicas"]]
    assert healthy_labels == [fleet.name for fleet in stack.plan.fleets_on("aws")]
