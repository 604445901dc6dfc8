"""The GCP health observer: healthy backends, open alerts and 5xx rate of one slot's backend service.

Healthy backends are what the load balancer itself reports (`backendServices.getHealth` per instance
group, read exactly as `llmdeploy status` reads them), because that is what decides where traffic goes.
The error rate comes from Cloud Monitoring's `loadbalancing.googleapis.com/https/request_count`,
split by `response_code_class`: the load balancer counts every answer, its own 502s for a slot without
healthy backends included. google-cloud-monitoring has no REST transport, so it speaks gRPC.

Firing alerts: an alert policy carries no state (`projects.alertPolicies`); only the alerts API
(`projects.alerts.list`, in Preview) tells which policies have an open alert, and no client library
has it yet, so it is called through google-auth's authorized session. Should Google change that
Preview API, the gate fails with the API's answer rather than passing without alerts.

Reads the `fleets` output of the `<env>-gcp` stack. Imported only when a GCP stack is observed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import google.auth
from google.api_core import exceptions as google_errors
from google.auth.exceptions import DefaultCredentialsError
from google.auth.transport.requests import AuthorizedSession
from google.cloud import monitoring_v3

from llmdeploy.clouds.gcp.resolve import resolve
from llmdeploy.clouds.gcp.status import GcpClients, GcpProject
from llmdeploy.config.model import Slot
from llmdeploy.errors import OperationError
from llmdeploy.release.gates import CloudSample
from llmdeploy.release.observer import DeployedStack, planned_fleet

MONITORING_ENDPOINT = "https://monitoring.googleapis.com"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
REQUEST_COUNT = "loadbalancing.googleapis.com/https/request_count"
#: The external Application Load Balancer's monitored resource: one series set per backend service.
LB_RESOURCE = "https_lb_rule"
CODE_CLASS = "response_code_class"
#: `response_code_class` of 5xx answers.
SERVER_ERRORS = "500"
#: Cloud Monitoring's resolution for load balancer metrics.
PERIOD_S = 60
#: The alerts API's largest page.
PAGE_SIZE = 1000
_OPEN = "OPEN"
_TIMEOUT_S = 30


class OpenAlerts:
    """`projects.alerts.list` (Preview), which no Google client library covers yet."""

    def __init__(self, session: AuthorizedSession, endpoint: str = MONITORING_ENDPOINT) -> None:
        self._session, self._endpoint = session, endpoint

    def policies(self, project: str) -> set[str]:
        """Display names of the policies with an open alert in `project`.

        Raises:
            GoogleAPICallError: the API refused or failed, as the SDKs' REST transports raise it.
        """
        names: set[str] = set()
        token = ""
        while True:
            page = self._page(project, token)
            names |= {alert["policy"]["displayName"] for alert in page.get("alerts", []) if _is_open(alert)}
            token = page.get("nextPageToken", "")
            if not token:
                return names

    def _page(self, project: str, token: str) -> dict[str, Any]:
        params: dict[str, str | int] = {"filter": f'state="{_OPEN}"', "pageSize": PAGE_SIZE}
        if token:
            params["pageToken"] = token
        url = f"{self._endpoint}/v3/projects/{project}/alerts"
        response = self._session.get(url, params=params, timeout=_TIMEOUT_S)
        if not response.ok:
            raise google_errors.from_http_response(response)  # type: ignore[no-untyped-call]
        page: dict[str, Any] = response.json()
        return page


@dataclass(frozen=True)
class GcpObserverClients:
    """The clients a GCP observer reads through: Compute Engine (REST), Cloud Monitoring, alerts."""

    compute: GcpClients
    metrics: monitoring_v3.MetricServiceClient
    alerts: OpenAlerts

    @classmethod
    def connect(cls) -> GcpObserverClients:
        """Clients signed in once with Application Default Credentials, on the public endpoints.

        Raises:
            DefaultCredentialsError: no Application Default Credentials are set up.
        """
        credentials, _ = google.auth.default(scopes=[SCOPE])
        return cls(
            compute=GcpClients.connect(credentials=credentials),
            metrics=monitoring_v3.MetricServiceClient(credentials=credentials),
            alerts=OpenAlerts(AuthorizedSession(credentials)),  # type: ignore[no-untyped-call]
        )


class GcpObserver:
    """Samples one slot's health through Compute Engine and Cloud Monitoring."""

    cloud: Final = "gcp"

    def __init__(self, stack: DeployedStack, clients: GcpObserverClients) -> None:
        settings = stack.plan.settings("gcp")
        self._stack, self._clients = stack, clients
        self._resolved = resolve(stack.plan)
        self._gcp = GcpProject(clients.compute, stack.stack, stack.env, settings.project_id, settings.region)

    def sample(self, model: str, slot: Slot) -> CloudSample:
        fleet = planned_fleet(self._stack, self._resolved.fleets, model, slot)
        return CloudSample(
            cloud="gcp",
            healthy=self._healthy(fleet.service, list(fleet.group_names)),
            firing_alarms=self._firing(list(fleet.alerts.values())),
            error_rate_percent=self._error_rate(fleet.service),
        )

    def _healthy(self, service: str, groups: list[str]) -> int:
        return sum(
            self._gcp.healthy(service, self._gcp.instance_group(name).instance_group) for name in groups
        )

    def _firing(self, policies: list[str]) -> tuple[str, ...]:
        if not policies:
            return ()
        project = self._gcp.project
        open_ = self._gcp.call(
            "Cloud Monitoring",
            "alerts (projects.alerts.list)",
            self._clients.alerts.policies,
            project=project,
        )
        return tuple(name for name in policies if name in open_)

    def _error_rate(self, service: str) -> float | None:
        request = request_counts(self._gcp.project, service, self._stack.window_minutes, datetime.now(UTC))
        series = self._gcp.call(
            "Cloud Monitoring",
            f"request counts of backend service {service} (timeSeries.list)",
            _all_series,
            client=self._clients.metrics,
            request=request,
        )
        totals = _by_code_class(series)
        requests = sum(totals.values())
        return 100 * totals.get(SERVER_ERRORS, 0) / requests if requests else None


def observer(stack: DeployedStack) -> GcpObserver:
    """The entry point `llmdeploy.release.observer` looks up.

    Raises:
        OperationError: no Application Default Credentials to read the project with.
    """
    try:
        clients = GcpObserverClients.connect()
    except DefaultCredentialsError as error:
        raise OperationError(
            f"Cannot watch {stack.stack} on GCP: no Google credentials to read Compute Engine and "
            f"Cloud Monitoring with ({error}). Run `gcloud auth application-default login`, then retry."
        ) from error
    return GcpObserver(stack, clients)


def request_counts(
    project: str, service: str, minutes: int, end: datetime
) -> monitoring_v3.ListTimeSeriesRequest:
    """The load balancer's request counts of `service` over the last `minutes`, summed per code class."""
    start = end - timedelta(minutes=minutes)
    return monitoring_v3.ListTimeSeriesRequest(
        name=f"projects/{project}",
        filter=(
            f'metric.type="{REQUEST_COUNT}" AND resource.type="{LB_RESOURCE}" '
            f'AND resource.label.backend_target_name="{service}"'
        ),
        interval=monitoring_v3.TimeInterval(start_time=start, end_time=end),
        aggregation=monitoring_v3.Aggregation(
            alignment_period=timedelta(seconds=PERIOD_S),
            per_series_aligner=monitoring_v3.Aggregation.Aligner.ALIGN_SUM,
            cross_series_reducer=monitoring_v3.Aggregation.Reducer.REDUCE_SUM,
            group_by_fields=[f"metric.label.{CODE_CLASS}"],
        ),
        view=monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
    )


def _all_series(
    client: monitoring_v3.MetricServiceClient, request: monitoring_v3.ListTimeSeriesRequest
) -> list[monitoring_v3.TimeSeries]:
    # Every page here, so that a failing later page fails inside the error handling.
    return list(client.list_time_series(request=request))


def _by_code_class(series: Iterable[monitoring_v3.TimeSeries]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for entry in series:
        code_class = entry.metric.labels.get(CODE_CLASS, "")
        totals[code_class] = totals.get(code_class, 0) + sum(
            point.value.int64_value for point in entry.points
        )
    return totals


def _is_open(alert: dict[str, Any]) -> bool:
    return bool(alert.get("state") == _OPEN)
