"""The VM log workspace: the Azure Monitor Agent on every scale set, following one rule into it."""

from __future__ import annotations

import json

from modules.azure.engine_logs import AGENT_VERSION, FACILITIES
from tests.fixtures_synth import Stack


def test_the_rule_collects_llmdeploy_syslog_into_the_workspace(azure_stacks: dict[str, Stack]) -> None:
    stack = azure_stacks["prod-azure"]
    workspace = stack.at("azurerm_log_analytics_workspace", "VmLogs/Workspace")
    rule = stack.at("azurerm_monitor_data_collection_rule", "VmLogs/Rule")
    assert workspace["name"] == rule["name"] == "llmdeploy-demo-prod-vm-logs"
    assert (workspace["sku"], workspace["retention_in_days"]) == ("PerGB2018", 30)
    (syslog,) = rule["data_sources"]["syslog"]
    assert sorted(syslog["facility_names"]) == sorted(FACILITIES) and "Debug" not in syslog["log_levels"]
    (destination,) = rule["destinations"]["log_analytics"]
    address = stack.address("azurerm_log_analytics_workspace", "VmLogs/Workspace")
    assert destination["workspace_resource_id"] == f"${{{address}.id}}"
    (flow,) = rule["data_flow"]
    assert flow["destinations"] == [destination["name"]] and flow["streams"] == syslog["streams"]
    assert flow["transform_kql"] == 'source | where ProcessName startswith "llmdeploy"'


def test_retention_follows_the_config(azure_stacks: dict[str, Stack]) -> None:
    workspace = azure_stacks["edge-azure"].at("azurerm_log_analytics_workspace", "VmLogs/Workspace")
    assert workspace["retention_in_days"] == 400


def test_every_scale_set_runs_the_pinned_agent_with_its_identity_and_follows_the_rule(
    azure_stacks: dict[str, Stack],
) -> None:
    stack = azure_stacks["prod-azure"]
    rule = stack.address("azurerm_monitor_data_collection_rule", "VmLogs/Rule")
    for fleet in stack.plan.fleets_on("azure"):
        scale_set = stack.at("azurerm_orchestrated_virtual_machine_scale_set", f"{fleet.name}/ScaleSet")
        (agent,) = [e for e in scale_set["extension"] if e["type"] == "AzureMonitorLinuxAgent"]
        assert (agent["type_handler_version"], agent["auto_upgrade_minor_version_enabled"]) == (
            AGENT_VERSION,
            False,
        )
        identity = stack.address("azurerm_user_assigned_identity", f"{fleet.name}/Identity")
        settings = json.loads(agent["settings"])
        assert settings["authentication"]["managedIdentity"] == {
            "identifier-name": "mi_res_id",
            "identifier-value": f"${{{identity}.id}}",
        }
        association = stack.at("azurerm_monitor_data_collection_rule_association", f"{fleet.name}/ShipsLogs")
        address = stack.address("azurerm_orchestrated_virtual_machine_scale_set", f"{fleet.name}/ScaleSet")
        assert association["target_resource_id"] == f"${{{address}.id}}"
        assert association["data_collection_rule_id"] == f"${{{rule}.id}}"


def test_the_workspace_provider_is_registered(azure_stacks: dict[str, Stack]) -> None:
    provider = azure_stacks["prod-azure"].doc["provider"]["azurerm"][0]
    assert "Microsoft.OperationalInsights" in provider["resource_providers_to_register"]
