"""The descriptors of the engine metrics the VMs' relay writes to Cloud Monitoring.

Cloud Monitoring creates a custom metric's descriptor on its first write, which happens minutes
after the first VM has loaded its model; an alert policy on a metric that does not exist yet is
refused ("Cannot find metric(s) that match type", hashicorp/terraform-provider-google#11102), so
the first apply in a fresh project would fail. Declaring the descriptors first, with the kind,
value type and labels the relay writes (GAUGE, DOUBLE, `metrics.DIMENSIONS` in lower case), lets the
alerts and autoscalers depend on them. The metric types are project-wide, shared by every
environment in the GCP project, so destroying one environment abandons them instead of deleting
them (which would delete every environment's data).
"""

from __future__ import annotations

from cdktn_provider_google.monitoring_metric_descriptor import (
    MonitoringMetricDescriptor,
    MonitoringMetricDescriptorLabels,
)
from constructs import Construct

from llmdeploy import metrics


class EngineMetrics(Construct):
    """One metric descriptor per relayed engine metric.

    Attributes:
        descriptors: every descriptor, for `depends_on`.
        by_name: the descriptor of each metric name (`metrics.METRIC_NAMES`).
    """

    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        self.by_name = {
            name: MonitoringMetricDescriptor(
                self,
                name,
                type=f"{metrics.GCP_METRIC_PREFIX}{name}",
                display_name=f"llmdeploy {name}",
                description=f"llmdeploy engine metric {name}, one series per VM (written by its relay).",
                metric_kind="GAUGE",
                value_type="DOUBLE",
                labels=[
                    MonitoringMetricDescriptorLabels(key=key.lower(), value_type="STRING")
                    for key in metrics.DIMENSIONS
                ],
                deletion_policy="ABANDON",
            )
            for name in metrics.METRIC_NAMES
        }
        self.descriptors = list(self.by_name.values())
