"""A first value of each scale set's queue-size metric, so Azure accepts the autoscale rules reading it.

Azure validates an autoscale rule's custom metric against the metric definitions of its resource when
the setting is created or updated ("for custom metrics ... we are validating the metric metadata does
exist", MicrosoftDocs/azure-docs#16061; error UnsupportedMetric, Azure/azure-cli#25986 and, for an
update, #13908), and azurerm's `metric_trigger` has no option to skip it (unlike a metric alert's
`skip_metric_validation`; internal/services/monitor/monitor_autoscale_setting_resource.go). The
replicas publish the metric once they boot, but a fleet at zero VMs never does, so the first apply
of a stack would fail until some VM ran.

So `llmdeploy apply`, refused for that reason, publishes one value per scale set whose definition is
missing, through Azure Monitor's custom metrics API (`POST https://<region>.monitoring.azure.com
<resource id>/metrics`, token audience `https://monitoring.azure.com/`, data action
Microsoft.Insights/Metrics/Write of "Monitoring Metrics Publisher": "Ingest custom metrics for an
Azure resource using the REST API"), waits until Metric Definitions - List names it, and the apply
runs again. The value lies between the scale-in and scale-out thresholds, so neither rule acts on it,
and it carries the fleet's own dimensions, which the rules filter on. The deploying identity holds
the role on each such scale set (modules/azure/gpu_fleet.py): Owner and Contributor grant no data
actions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core import PipelineClient
from azure.core.exceptions import AzureError, HttpResponseError
from azure.core.pipeline.policies import BearerTokenCredentialPolicy
from azure.core.rest import HttpRequest
from azure.mgmt.monitor import MonitorManagementClient

from llmdeploy.clouds.azure.resolve import AzurePlan, resolve
from llmdeploy.errors import OperationError
from llmdeploy.plan.model import DeploymentPlan

#: The token audience of custom metrics is `https://monitoring.azure.com/`, trailing slash included;
#: as a scope that slash stays before `/.default`.
INGESTION_SCOPE = "https://monitoring.azure.com//.default"
#: How long Azure may take to list a freshly published metric (and a new role assignment to reach the
#: ingestion endpoint) before the apply gives up with a message.
WAIT_S = 600.0
POLL_S = 15.0
#: Azure answers 403 until a new role assignment has propagated; that is worth waiting for.
_NOT_YET = (401, 403)


@dataclass(frozen=True)
class Seed:
    """One metric to publish on one scale set: where, under which name and dimensions, what value."""

    scale_set: str
    scale_set_id: str
    location: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    value: float

    def document(self, now: datetime) -> dict[str, Any]:
        """The ingestion API's body: one series, the value as min, max and sum of one sample."""
        series = {
            "dimValues": [value for _, value in self.dimensions],
            "min": self.value,
            "max": self.value,
            "sum": self.value,
            "count": 1,
        }
        base_data = {
            "metric": self.metric,
            "namespace": self.namespace,
            "dimNames": [name for name, _ in self.dimensions],
            "series": [series],
        }
        return {"time": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "data": {"baseData": base_data}}


def seeds(resolved: AzurePlan, subscription: str) -> list[Seed]:
    """A seed for every fleet whose autoscale rules read a metric of its own scale set."""
    found = []
    for fleet in resolved.fleets:
        signal = fleet.signal
        if signal.resource != "scale_set":
            continue  # Front Door's metrics are Azure's own: always defined
        thresholds = [rule.threshold for rule in signal.rules]
        found.append(
            Seed(
                scale_set=fleet.scale_set,
                scale_set_id=(
                    f"/subscriptions/{subscription}/resourceGroups/{resolved.name}"
                    f"/providers/Microsoft.Compute/virtualMachineScaleSets/{fleet.scale_set}"
                ),
                location=fleet.location,
                namespace=signal.namespace,
                metric=signal.metric,
                dimensions=tuple((name, values[0]) for name, values in signal.dimensions),
                value=(min(thresholds) + max(thresholds)) / 2,
            )
        )
    return found


class MetricSeeder:
    """Publishes seeds and waits until Azure lists them, through one credential.

    `arm_url` and `ingestion_url` replace Azure's endpoints (tests point them at loopback);
    `options` (connection_verify...) go to every request.
    """

    def __init__(
        self,
        credential: Any,
        subscription: str,
        *,
        arm_url: str | None = None,
        ingestion_url: str | None = None,
        wait_s: float = WAIT_S,
        poll_s: float = POLL_S,
        **options: Any,
    ) -> None:
        arm = {"base_url": arm_url} if arm_url else {}
        self._monitor = MonitorManagementClient(credential, subscription, **arm, **options)
        policy = BearerTokenCredentialPolicy(credential, INGESTION_SCOPE)
        self._ingestion: PipelineClient[HttpRequest, Any] = PipelineClient(
            ingestion_url or "https://monitoring.azure.com", policies=[policy], **options
        )
        self._ingestion_url = ingestion_url
        self._wait_s, self._poll_s = wait_s, poll_s

    def settle(self, wanted: list[Seed], say: Callable[[str], None]) -> None:
        """Publish each seed Azure does not list yet, then wait until it lists them all.

        Raises OperationError when publishing is refused or the metrics are not listed within `wait_s`.
        """
        missing = [seed for seed in wanted if not self._defined(seed)]
        if not missing:
            return
        names = ", ".join(seed.scale_set for seed in missing)
        say(
            f"Azure refuses an autoscale rule on a metric nothing has published yet: publishing a first "
            f"{missing[0].namespace}/{missing[0].metric} value on {names} and waiting for Azure to list it "
            f"(up to {self._wait_s / 60:.0f} min)."
        )
        deadline = time.monotonic() + self._wait_s
        for seed in missing:
            self._publish(seed, deadline)
        while missing:
            missing = [seed for seed in missing if not self._defined(seed)]
            if missing and time.monotonic() >= deadline:
                raise OperationError(
                    f"Azure did not list the metric {missing[0].namespace}/{missing[0].metric} of "
                    f"{', '.join(seed.scale_set for seed in missing)} within {self._wait_s / 60:.0f} min of "
                    "publishing its first value. Run the apply again in a few minutes."
                )
            if missing:
                time.sleep(self._poll_s)
        say(f"Azure lists the metric on {names}: applying the rest of the stack.")

    def _defined(self, seed: Seed) -> bool:
        """Whether Metric Definitions - List names the seed's metric in its namespace."""
        try:
            found = self._monitor.metric_definitions.list(seed.scale_set_id, metricnamespace=seed.namespace)
            return any(
                definition.name is not None and definition.name.value == seed.metric for definition in found
            )
        except AzureError as error:
            raise OperationError(
                f"Reading the metric definitions of scale set {seed.scale_set} failed: {_reason(error)}. "
                "Check the credentials (az login) and the network, then run the apply again."
            ) from error

    def _publish(self, seed: Seed, deadline: float) -> None:
        """POST the seed, again while a new role assignment has not reached the endpoint."""
        base = self._ingestion_url or f"https://{seed.location}.monitoring.azure.com"
        while True:
            request = HttpRequest("POST", f"{base}{seed.scale_set_id}/metrics", json=seed.document(_now()))
            try:
                response = self._ingestion.send_request(request)
            except AzureError as error:
                raise OperationError(
                    f"Publishing the first metric value of scale set {seed.scale_set} failed: "
                    f"{_reason(error)}. Check the network and the credentials (az login), then run the "
                    "apply again."
                ) from error
            if 200 <= response.status_code < 300:
                return
            if response.status_code not in _NOT_YET or time.monotonic() >= deadline:
                raise OperationError(
                    f"Azure Monitor refused the first metric value of scale set {seed.scale_set}: HTTP "
                    f"{response.status_code} {response.text()[:300]}. The identity you deploy with needs "
                    "'Monitoring Metrics Publisher' on the scale set (the stack grants it to the identity "
                    "that applies it); then run the apply again."
                )
            time.sleep(self._poll_s)


def settle(plan: DeploymentPlan, say: Callable[[str], None], seeder: MetricSeeder | None = None) -> bool:
    """Publish the first value of every scale set metric of `plan` that Azure does not list yet.

    True once Azure lists them all; False when no rule of `plan` reads a scale set's metric.
    Without `seeder`, one signed in as `llmdeploy status` is (environment, managed identity or az login).
    """
    from llmdeploy.clouds.azure.status import sign_in, subscription

    resolved, account = resolve(plan), subscription(plan)
    wanted = seeds(resolved, account)
    if not wanted:
        return False
    (seeder or MetricSeeder(sign_in(), account)).settle(wanted, say)
    return True


def _now() -> datetime:
    return datetime.now(UTC)


def _reason(error: AzureError) -> str:
    if isinstance(error, HttpResponseError) and error.status_code:
        return f"HTTP {error.status_code} {error.reason}"
    return str(error.message)
