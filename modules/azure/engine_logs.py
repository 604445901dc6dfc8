"""Where the GPU VMs' logs go: a Log Analytics workspace, and the rule the Azure Monitor Agent follows.

Each scale set runs the Azure Monitor Agent VM extension (pinned, never upgraded behind our back)
with the fleet's user-assigned identity, and is associated with the environment's data collection
rule: syslog of the `user` facility (the containers through docker's journald driver, the scripts'
`logger`) and `daemon` (the llmdeploy units), Info and above, which rsyslog on the image receives
from the journal. The rule's transformation keeps only llmdeploy's identifiers (every llmdeploy
unit sets `SyslogIdentifier=llmdeploy-*`; the containers log as llmdeploy-engine and
llmdeploy-proxy), into the workspace's Syslog table, kept `monitoring.logs.retention_days`.
"""

from __future__ import annotations

import json

from cdktn_provider_azurerm.log_analytics_workspace import LogAnalyticsWorkspace
from cdktn_provider_azurerm.monitor_data_collection_rule import (
    MonitorDataCollectionRule,
    MonitorDataCollectionRuleDataFlow,
    MonitorDataCollectionRuleDataSources,
    MonitorDataCollectionRuleDataSourcesSyslog,
    MonitorDataCollectionRuleDestinations,
    MonitorDataCollectionRuleDestinationsLogAnalytics,
)
from cdktn_provider_azurerm.orchestrated_virtual_machine_scale_set import (
    OrchestratedVirtualMachineScaleSetExtension,
)
from constructs import Construct

from llmdeploy.clouds.azure.resolve import AzureVmLogs

SYSLOG_STREAM = "Microsoft-Syslog"
#: azurerm `data_sources.syslog` values (provider docs): the facilities and levels llmdeploy logs at.
FACILITIES = ("daemon", "user")
LEVELS = ("Info", "Notice", "Warning", "Error", "Critical", "Alert", "Emergency")
#: Only llmdeploy's entries reach the workspace (an ingestion-time transformation of the Syslog stream).
KEEP_LLMDEPLOY = 'source | where ProcessName startswith "llmdeploy"'
_DESTINATION = "workspace"
#: The Azure Monitor Agent for Linux, pinned: no minor or automatic upgrade.
AGENT_PUBLISHER = "Microsoft.Azure.Monitor"
AGENT_TYPE = "AzureMonitorLinuxAgent"
AGENT_VERSION = "1.33"


class EngineLogs(Construct):
    """The environment's VM log workspace and data collection rule.

    Attributes:
        rule_id: the data collection rule each scale set is associated with.
    """

    _WORKSPACE_ID = "Workspace"
    _RULE_ID = "Rule"

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        logs: AzureVmLogs,
        location: str,
        resource_group: str,
        tags: dict[str, str],
    ) -> None:
        super().__init__(scope, id)
        workspace = LogAnalyticsWorkspace(
            self,
            self._WORKSPACE_ID,
            name=logs.name,
            location=location,
            resource_group_name=resource_group,
            sku="PerGB2018",
            retention_in_days=logs.retention_days,
            tags=tags,
        )
        rule = MonitorDataCollectionRule(
            self,
            self._RULE_ID,
            name=logs.name,
            location=location,
            resource_group_name=resource_group,
            kind="Linux",
            description="llmdeploy: the GPU VMs' engine, proxy and agent logs",
            data_sources=MonitorDataCollectionRuleDataSources(
                syslog=[
                    MonitorDataCollectionRuleDataSourcesSyslog(
                        name="llmdeploy-syslog",
                        facility_names=list(FACILITIES),
                        log_levels=list(LEVELS),
                        streams=[SYSLOG_STREAM],
                    )
                ]
            ),
            destinations=MonitorDataCollectionRuleDestinations(
                log_analytics=[
                    MonitorDataCollectionRuleDestinationsLogAnalytics(
                        name=_DESTINATION, workspace_resource_id=workspace.id
                    )
                ]
            ),
            data_flow=[
                MonitorDataCollectionRuleDataFlow(
                    streams=[SYSLOG_STREAM],
                    destinations=[_DESTINATION],
                    transform_kql=KEEP_LLMDEPLOY,
                    output_stream=SYSLOG_STREAM,
                )
            ],
            tags=tags,
        )
        self.rule_id: str = rule.id


def monitor_agent(identity_id: str) -> OrchestratedVirtualMachineScaleSetExtension:
    """The Azure Monitor Agent extension, authenticating with the fleet's user-assigned identity
    (Azure Monitor Agent docs: settings.authentication.managedIdentity, identifier-name mi_res_id)."""
    settings = {
        "authentication": {
            "managedIdentity": {"identifier-name": "mi_res_id", "identifier-value": identity_id}
        }
    }
    return OrchestratedVirtualMachineScaleSetExtension(
        name=AGENT_TYPE,
        publisher=AGENT_PUBLISHER,
        type=AGENT_TYPE,
        type_handler_version=AGENT_VERSION,
        auto_upgrade_minor_version_enabled=False,
        settings=json.dumps(settings),
    )
