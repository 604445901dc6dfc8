"""Azure Monitor: the action group and the alerts of the environment and of each fleet."""

from __future__ import annotations

import json

from tests.fixtures_synth import Stack


def _alerts(stack: Stack) -> dict[str, dict[str, object]]:
    return {entry["name"]: entry for entry in stack.resources("azurerm_monitor_metric_alert").values()}


def test_alerts_notify_the_configured_emails(azure_stacks: dict[str, Stack]) -> None:
    stack = azure_stacks["prod-azure"]
    group = stack.at("azurerm_monitor_action_group", "Monitoring/ActionGroup")
    assert [receiver["email_address"] for receiver in group["email_receiver"]] == ["oncall@example.com"]
    reference = f"${{{stack.address('azurerm_monitor_action_group', 'Monitoring/ActionGroup')}.id}}"
    for alert in _alerts(stack).values():
        assert alert["action"] == [{"action_group_id": reference}]
        assert alert["window_size"] == "PT5M"


def test_fleet_alerts_watch_its_origin_and_its_replicas(azure_stacks: dict[str, Stack]) -> None:
    stack = azure_stacks["prod-azure"]
    alerts = _alerts(stack)
    assert stack.doc["output"]["fleets"]["value"]["translate-fr-green"]["alert_names"] == [
        "llmdeploy-demo-prod-translate-fr-green-unhealthy-origin",
        "llmdeploy-demo-prod-translate-fr-green-latency",
        "llmdeploy-demo-prod-translate-fr-green-healthy-replicas",
    ]
    address = stack.address("azurerm_public_ip", "LoadBalancer/translate-fr-green/OriginAddress")
    [unhealthy] = alerts["llmdeploy-demo-prod-translate-fr-green-unhealthy-origin"]["criteria"]  # type: ignore[misc]
    # Every edge probes on its own: one edge's failed probe must not fire it, most probes failing must.
    assert (
        unhealthy["metric_name"],
        unhealthy["aggregation"],
        unhealthy["operator"],
        unhealthy["threshold"],
    ) == (
        "OriginHealthPercentage",
        "Average",
        "LessThan",
        50,
    )
    assert unhealthy["dimension"] == [
        {
            "name": "Origin",
            "operator": "Include",
            "values": [f"${{{address}.ip_address}}", f"${{{address}.ip_address}}:80"],
        }
    ]
    [healthy] = alerts["llmdeploy-demo-prod-translate-fr-green-healthy-replicas"]["criteria"]  # type: ignore[misc]
    assert (healthy["metric_namespace"], healthy["metric_name"], healthy["aggregation"]) == (
        "LLMDeploy",
        "QueueSize",
        "Count",
    )
    # One value per VM a minute, over a 5-minute window.
    assert healthy["threshold"] == 5
    assert healthy["skip_metric_validation"] is True


def test_error_rate_is_watched_for_the_whole_endpoint(azure_stacks: dict[str, Stack]) -> None:
    stack = azure_stacks["prod-azure"]
    alert = _alerts(stack)["llmdeploy-demo-prod-5xx-rate"]
    [criteria] = alert["criteria"]  # type: ignore[misc]
    assert (criteria["metric_name"], criteria["threshold"]) == (
        "Percentage5XX",
        stack.plan.monitoring.alarms.error_rate_percent,
    )
    assert alert["scopes"] == [
        f"${{{stack.address('azurerm_cdn_frontdoor_profile', 'LoadBalancer/FrontDoor')}.id}}"
    ]


def test_a_zero_percent_slot_has_no_healthy_replica_alert(azure_stacks: dict[str, Stack]) -> None:
    names = set(_alerts(azure_stacks["edge-azure"]))
    assert "edge-edge-coder-green-healthy-replicas" not in names
    assert "edge-edge-coder-blue-healthy-replicas" in names


def test_the_dashboard_charts_front_door_per_origin_and_each_fleets_engine_metrics(
    azure_stacks: dict[str, Stack],
) -> None:
    stack = azure_stacks["prod-azure"]
    dashboard = stack.at("azurerm_portal_dashboard", "Monitoring/Dashboard")
    assert (dashboard["name"], dashboard["tags"]["hidden-title"]) == (
        "llmdeploy-demo-prod-dashboard",
        "llmdeploy llmdeploy-demo-prod",
    )
    properties = json.loads(dashboard["dashboard_properties"])
    # The provider refuses properties without lenses (validate/dashboard_properties.go).
    parts = properties["lenses"]["0"]["parts"]
    charts = [part["metadata"]["settings"]["content"]["options"]["chart"] for part in parts.values()]
    profile = f"${{{stack.address('azurerm_cdn_frontdoor_profile', 'LoadBalancer/FrontDoor')}.id}}"
    by_title = {chart["title"]: chart for chart in charts}
    requests = by_title["Requests to each slot's origin"]
    assert requests["grouping"] == {"dimension": "Origin"}
    assert [(m["resourceMetadata"]["id"], m["name"]) for m in requests["metrics"]] == [
        (profile, "OriginRequestCount")
    ]
    serving = by_title["Serving replicas"]
    fleets = stack.plan.fleets_on("azure")
    kind = "azurerm_orchestrated_virtual_machine_scale_set"
    assert [(m["resourceMetadata"]["id"], m["namespace"], m["name"]) for m in serving["metrics"]] == [
        (f"${{{stack.address(kind, f'{fleet.name}/ScaleSet')}.id}}", "LLMDeploy", "QueueSize")
        for fleet in fleets
    ]
    # No two parts overlap.
    positions = {(part["position"]["x"], part["position"]["y"]) for part in parts.values()}
    assert len(positions) == len(parts) == 7
    assert (
        azure_stacks["edge-azure"].resources("azurerm_portal_dashboard") == {}
    )  # monitoring.dashboard: false
