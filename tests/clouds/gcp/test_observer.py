"""The GCP promotion gate's observer against loopback Google APIs.

Compute Engine (REST) and the Preview alerts API (`projects.alerts.list`, REST) answer from the
HTTP loopback in the Compute Engine v1 and Monitoring v3 reference shapes; Cloud Monitoring's
MetricService answers `ListTimeSeries` from a loopback gRPC server (google-cloud-monitoring speaks
only gRPC), with the API's own message types.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.api import metric_pb2
from google.auth.transport.requests import AuthorizedSession
from google.cloud import monitoring_v3
from google.cloud.monitoring_v3.services.metric_service.transports import MetricServiceGrpcTransport

from llmdeploy.clouds.gcp.observer import REQUEST_COUNT, GcpObserver, GcpObserverClients, OpenAlerts
from llmdeploy.clouds.gcp.resolve import resolve
from llmdeploy.errors import OperationError
from llmdeploy.plan.model import DeploymentPlan
from llmdeploy.release.gates import CloudSample
from llmdeploy.release.observer import OBSERVED_CLOUDS, DeployedStack, observer_for
from tests.clouds.gcp.google_api import (
    PROJECT,
    anonymous,
    backend_health,
    compute_clients,
    google_api,
    google_error,
    managed_group,
)
from tests.status.loopback import GrpcLoopbackApi, LoopbackApi, Seen, serving_grpc

ALERTS = f"/v3/projects/{PROJECT}/alerts"
GREEN = "llmdeploy-demo-prod-translate-fr-green"
POLICY = "llmdeploy-demo-prod translate-fr-green"
LIST_TIME_SERIES = "ListTimeSeries"
#: What each fleet's alert policies watch (their display names end with it).
POLICIES = ("5xx rate", "p99 latency")


@pytest.fixture
def api() -> Iterator[LoopbackApi]:
    with google_api() as running:
        yield running


@pytest.fixture
def monitoring() -> Iterator[GrpcLoopbackApi]:
    service = GrpcLoopbackApi(
        "google.monitoring.v3.MetricService",
        {LIST_TIME_SERIES: (monitoring_v3.ListTimeSeriesRequest, monitoring_v3.ListTimeSeriesResponse)},
    )
    with serving_grpc(service) as running:
        yield running


@pytest.fixture
def observer(
    prod_plan: DeploymentPlan, api: LoopbackApi, monitoring: GrpcLoopbackApi
) -> Iterator[GcpObserver]:
    channel = grpc.insecure_channel(monitoring.address)
    session = AuthorizedSession(anonymous())  # type: ignore[no-untyped-call]
    clients = GcpObserverClients(
        compute=compute_clients(api),
        metrics=monitoring_v3.MetricServiceClient(transport=MetricServiceGrpcTransport(channel=channel)),
        alerts=OpenAlerts(session, api.url),
    )
    yield GcpObserver(_deployed(prod_plan), clients)
    session.close()
    channel.close()


def _deployed(plan: DeploymentPlan) -> DeployedStack:
    """The GCP stack of `plan` after apply: GCP assigns nothing the gates read, so no outputs."""
    return DeployedStack(cloud="gcp", stack=plan.cloud("gcp").stack, plan=plan, outputs={}, environ={})


def _alert(number: int, policy: str, state: str) -> dict[str, Any]:
    """An alert as projects.alerts.list returns it."""
    return {
        "name": f"projects/{PROJECT}/alerts/0.{number}",
        "state": state,
        "openTime": "2026-11-02T10:04:00Z",
        **({"closeTime": "2026-11-02T10:09:00Z"} if state == "CLOSED" else {}),
        "policy": {
            "name": f"projects/{PROJECT}/alertPolicies/{1000 + number}",
            "displayName": policy,
            "severity": "ERROR",
        },
        "resource": {"type": "https_lb_rule", "labels": {"project_id": PROJECT}},
        "metric": {"type": REQUEST_COUNT, "labels": {}},
    }


def _open_alerts(api: LoopbackApi, *pages: list[dict[str, Any]]) -> None:
    """projects.alerts.list answering `pages` in turn, each linked to the next by a page token."""

    def answer(request: Seen) -> dict[str, Any]:
        index = int(request.query.get("pageToken", ["0"])[0])
        more = {"nextPageToken": str(index + 1)} if index + 1 < len(pages) else {}
        return {"alerts": pages[index], **more}

    api.answer("GET", ALERTS, answer)


def _series(code_class: str, counts: list[int]) -> monitoring_v3.TimeSeries:
    """One aligned, reduced request-count series of a response code class."""
    return monitoring_v3.TimeSeries(
        metric={"type": REQUEST_COUNT, "labels": {"response_code_class": code_class}},
        resource={"type": "https_lb_rule", "labels": {"project_id": PROJECT}},
        metric_kind=metric_pb2.MetricDescriptor.DELTA,
        value_type=metric_pb2.MetricDescriptor.INT64,
        points=[{"value": {"int64_value": count}} for count in counts],
    )


def _green(api: LoopbackApi, monitoring: GrpcLoopbackApi, plan: DeploymentPlan) -> None:
    """translate-fr's green slot: 3 of 4 backends healthy, its 5xx alert open, 6 of 100 requests failed."""
    fleet = resolve(plan).fleet("translate-fr-green")
    assert fleet.service == GREEN
    autoscaled, base = fleet.group_names
    managed_group(
        api, autoscaled, 2, [("fg-1", "us-central1-a", "RUNNING"), ("fg-2", "us-central1-b", "RUNNING")]
    )
    managed_group(
        api,
        base,
        2,
        [("fgb-1", "us-central1-c", "RUNNING"), ("fgb-2", "us-central1-a", "RUNNING")],
    )
    backend_health(api, GREEN, {autoscaled: ["HEALTHY", "UNHEALTHY"], base: ["HEALTHY", "HEALTHY"]})
    _open_alerts(
        api,
        [_alert(1, "llmdeploy-demo-prod translate-fr-blue p99 latency", "OPEN")],
        [_alert(2, f"{POLICY} 5xx rate", "OPEN"), _alert(3, f"{POLICY} p99 latency", "CLOSED")],
    )
    monitoring.answer(
        LIST_TIME_SERIES,
        monitoring_v3.ListTimeSeriesResponse(
            time_series=[_series("200", [50, 40]), _series("400", [3, 1]), _series("500", [4, 2])]
        ),
    )


def test_reports_healthy_backends_open_alerts_and_5xx_rate_of_the_slot(
    prod_plan: DeploymentPlan, observer: GcpObserver, api: LoopbackApi, monitoring: GrpcLoopbackApi
) -> None:
    _green(api, monitoring, prod_plan)
    assert observer.sample("translate-fr", "green") == CloudSample(
        cloud="gcp",
        healthy=3,
        firing_alarms=(f"{POLICY} 5xx rate",),
        error_rate_percent=6.0,
    )


def test_asks_for_the_slots_backend_service_over_the_window_and_open_alerts_only(
    observer: GcpObserver, prod_plan: DeploymentPlan, api: LoopbackApi, monitoring: GrpcLoopbackApi
) -> None:
    _green(api, monitoring, prod_plan)
    observer.sample("translate-fr", "green")
    [asked] = monitoring.requests_to(LIST_TIME_SERIES)
    assert asked.name == f"projects/{PROJECT}"
    assert f'resource.label.backend_target_name="{GREEN}"' in asked.filter
    assert f'metric.type="{REQUEST_COUNT}"' in asked.filter
    window = asked.interval.end_time - asked.interval.start_time
    assert window.total_seconds() == 60 * prod_plan.monitoring.alarms.evaluation_minutes
    assert list(asked.aggregation.group_by_fields) == ["metric.label.response_code_class"]
    pages = api.requests_to(ALERTS)
    assert [request.query["filter"] for request in pages] == [['state="OPEN"']] * 2
    assert [request.query.get("pageToken") for request in pages] == [None, ["1"]]
    # Anonymous credentials: no token leaves the process.
    assert all("Authorization" not in request.headers for request in api.seen)


def test_no_requests_means_no_error_rate(
    prod_plan: DeploymentPlan, observer: GcpObserver, api: LoopbackApi, monitoring: GrpcLoopbackApi
) -> None:
    _green(api, monitoring, prod_plan)
    _open_alerts(api, [])
    monitoring.answer(LIST_TIME_SERIES, monitoring_v3.ListTimeSeriesResponse())
    sample = observer.sample("translate-fr", "green")
    assert (sample.firing_alarms, sample.error_rate_percent) == ((), None)


def test_refused_monitoring_names_the_stack_the_api_and_the_credentials(
    prod_plan: DeploymentPlan, observer: GcpObserver, api: LoopbackApi, monitoring: GrpcLoopbackApi
) -> None:
    _green(api, monitoring, prod_plan)
    monitoring.answer(
        LIST_TIME_SERIES, (grpc.StatusCode.PERMISSION_DENIED, "Permission monitoring.timeSeries.list denied")
    )
    with pytest.raises(OperationError) as raised:
        observer.sample("translate-fr", "green")
    message = str(raised.value)
    assert message.startswith(
        f"prod-gcp: reading the Cloud Monitoring request counts of backend service {GREEN}"
    )
    assert "403 Permission monitoring.timeSeries.list denied" in message
    assert "gcloud auth application-default login" in message


def test_refused_alerts_api_fails_the_sample(
    prod_plan: DeploymentPlan, observer: GcpObserver, api: LoopbackApi, monitoring: GrpcLoopbackApi
) -> None:
    _green(api, monitoring, prod_plan)
    api.answer("GET", ALERTS, google_error(403, "Permission monitoring.alerts.list denied"), status=403)
    with pytest.raises(OperationError) as raised:
        observer.sample("translate-fr", "green")
    message = str(raised.value)
    assert (
        "reading the Cloud Monitoring alerts (projects.alerts.list) in GCP project llmdeploy-demo-123"
        in message
    )
    assert "failed: 403" in message and "Permission monitoring.alerts.list denied" in message


def test_a_fleet_the_environment_lacks_is_named(observer: GcpObserver) -> None:
    with pytest.raises(OperationError, match=r"Environment prod has no green fleet of model chat on gcp"):
        observer.sample("chat", "green")


def test_promotion_finds_the_gcp_observer_and_asks_for_a_sign_in_without_credentials(
    prod_plan: DeploymentPlan, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Application Default Credentials are looked up here first: a missing file means none are set up.
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "none.json"))
    assert "gcp" in OBSERVED_CLOUDS
    with pytest.raises(OperationError) as raised:
        observer_for(_deployed(prod_plan))
    message = str(raised.value)
    assert message.startswith("Cannot watch prod-gcp on GCP: no Google credentials")
    assert "gcloud auth application-default login" in message
