"""Cloud Monitoring: alert policies per fleet, e-mail channels, the dashboard."""

from __future__ import annotations

import json

from llmdeploy import metrics
from llmdeploy.clouds.gcp.resolve import resolve
from tests.fixtures_synth import Stack


def _policies(stack: Stack, fleet: str) -> dict[str, dict[str, object]]:
    return {
        entry["//"]["metadata"]["path"].rsplit("/", 1)[-1]: entry
        for entry in stack.resources("google_monitoring_alert_policy").values()
        if f"/Monitoring/{fleet}/" in entry["//"]["metadata"]["path"]
    }


def test_error_rate_is_the_5xx_share_of_the_fleets_backend_service(gcp_stacks: dict[str, Stack]) -> None:
    stack = gcp_stacks["prod-gcp"]
    alarms = stack.plan.monitoring.alarms
    policy = _policies(stack, "translate-fr-green")["ErrorRate"]
    [condition] = policy["conditions"]  # type: ignore[misc]
    threshold = condition["condition_threshold"]
    service = 'resource.label.backend_target_name="llmdeploy-demo-prod-translate-fr-green"'
    assert service in threshold["filter"] and "response_code_class=500" in threshold["filter"]
    assert (
        service in threshold["denominator_filter"]
        and "response_code_class" not in threshold["denominator_filter"]
    )
    assert threshold["threshold_value"] == alarms.error_rate_percent / 100
    assert threshold["duration"] == f"{alarms.evaluation_minutes * 60}s"
    # Idle load balancers publish nothing: no data is no alarm.
    assert threshold["evaluation_missing_data"] == "EVALUATION_MISSING_DATA_INACTIVE"


def test_latency_alert_uses_the_99th_percentile(gcp_stacks: dict[str, Stack]) -> None:
    stack = gcp_stacks["prod-gcp"]
    [condition] = _policies(stack, "translate-es-blue")["P99Latency"]["conditions"]  # type: ignore[misc]
    threshold = condition["condition_threshold"]
    assert threshold["aggregations"][0]["per_series_aligner"] == "ALIGN_PERCENTILE_99"
    assert threshold["threshold_value"] == stack.plan.monitoring.alarms.p99_latency_s * 1000


def test_serving_slots_alert_on_too_few_healthy_replicas(gcp_stacks: dict[str, Stack]) -> None:
    stack = gcp_stacks["prod-gcp"]
    [condition] = _policies(stack, "translate-fr-blue")["HealthyReplicas"]["conditions"]  # type: ignore[misc]
    threshold = condition["condition_threshold"]
    assert 'metric.type="custom.googleapis.com/llmdeploy/QueueSize"' in threshold["filter"]
    assert threshold["aggregations"][0]["cross_series_reducer"] == "REDUCE_COUNT"
    assert (threshold["comparison"], threshold["threshold_value"]) == ("COMPARISON_LT", 1)
    # No replica publishing is the worst case, not "no data".
    assert threshold["evaluation_missing_data"] == "EVALUATION_MISSING_DATA_ACTIVE"
    # Cloud Monitoring refuses a policy on a metric that does not exist yet: it is declared first
    # (hashicorp/terraform-provider-google#11102), GAUGE/DOUBLE with the labels the relay writes.
    descriptor = stack.address("google_monitoring_metric_descriptor", "EngineMetrics/QueueSize")
    assert _policies(stack, "translate-fr-blue")["HealthyReplicas"]["depends_on"] == [descriptor]
    queue = stack.at("google_monitoring_metric_descriptor", "EngineMetrics/QueueSize")
    assert (queue["type"], queue["metric_kind"], queue["value_type"]) == (
        "custom.googleapis.com/llmdeploy/QueueSize",
        "GAUGE",
        "DOUBLE",
    )
    assert [label["key"] for label in queue["labels"]] == [key.lower() for key in metrics.DIMENSIONS]
    # Shared by every environment of the GCP project: destroying one must not delete the others' data.
    assert queue["deletion_policy"] == "ABANDON"
    assert len(stack.resources("google_monitoring_metric_descriptor")) == len(metrics.METRIC_NAMES)
    # A 0% slot serves nothing and has no such alert.
    assert set(_policies(gcp_stacks["edge-gcp"], "coder-green")) == {"ErrorRate", "P99Latency"}


def test_alerts_notify_the_configured_emails(gcp_stacks: dict[str, Stack]) -> None:
    stack = gcp_stacks["prod-gcp"]
    [(name, channel)] = stack.resources("google_monitoring_notification_channel").items()
    assert (channel["type"], channel["labels"]) == ("email", {"email_address": "oncall@example.com"})
    for policy in stack.resources("google_monitoring_alert_policy").values():
        assert policy["notification_channels"] == [f"${{google_monitoring_notification_channel.{name}.id}}"]
    fleets = stack.doc["output"]["fleets"]["value"]
    assert fleets["translate-fr-green"]["alert_names"] == [
        "llmdeploy-demo-prod translate-fr-green 5xx rate",
        "llmdeploy-demo-prod translate-fr-green p99 latency",
        "llmdeploy-demo-prod translate-fr-green healthy replicas",
    ]


def test_dashboard_shows_the_seed_metrics_per_fleet(gcp_stacks: dict[str, Stack]) -> None:
    stack = gcp_stacks["prod-gcp"]
    dashboard = json.loads(stack.at("google_monitoring_dashboard", "Monitoring/Dashboard")["dashboard_json"])
    titles = [tile["widget"]["title"] for tile in dashboard["mosaicLayout"]["tiles"]]
    assert titles == [
        "Requests per second",
        "Latency p50 / p99 (ms)",
        "Generated tokens per second",
        "Queued requests per replica",
        "Healthy (serving) replicas",
        "Replicas per group (spot / on-demand base)",
    ]
    groups = dashboard["mosaicLayout"]["tiles"][-1]["widget"]["xyChart"]["dataSets"]
    fleet = resolve(stack.plan).fleet("translate-fr-blue")
    assert [entry["legendTemplate"] for entry in groups][:3] == list(fleet.group_names)
    assert gcp_stacks["edge-gcp"].resources("google_monitoring_dashboard") == {}
