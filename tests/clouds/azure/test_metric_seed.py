"""The first value of each scale set's queue metric, published so that Azure accepts the autoscale rules.

Azure Resource Manager (Metric Definitions - List) and the custom metrics ingestion endpoint are one
HTTPS loopback API: the definitions list the metric only once its first value was posted, as Azure
lists a custom metric only once something published it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from llmdeploy.clouds.azure.metric_seed import MetricSeeder, Seed, seeds, settle
from llmdeploy.clouds.azure.resolve import resolve
from llmdeploy.errors import OperationError
from llmdeploy.plan.model import DeploymentPlan
from tests.clouds.azure.azure_api import SUBSCRIPTION, TOKEN, FakeCredential, arm_api, trusted
from tests.status.loopback import LoopbackApi, Seen

DEFINITIONS = "/providers/Microsoft.Insights/metricDefinitions"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[LoopbackApi]:
    with arm_api(tmp_path) as running:
        yield running


def _seeder(api: LoopbackApi, tmp_path: Path, credential: Any = None, wait_s: float = 5.0) -> MetricSeeder:
    return MetricSeeder(
        credential or FakeCredential(),
        SUBSCRIPTION,
        arm_url=api.url,
        ingestion_url=api.url,
        wait_s=wait_s,
        poll_s=0.05,
        connection_verify=trusted(tmp_path),
    )


def _definitions(metric: str, namespace: str) -> dict[str, Any]:
    """Metric Definitions - List naming one custom metric (the fields the REST reference marks)."""
    return {
        "value": [
            {
                "namespace": namespace,
                "name": {"value": metric, "localizedValue": metric},
                "primaryAggregationType": "Average",
                "metricAvailabilities": [{"timeGrain": "PT1M", "retention": "P93D"}],
            }
        ]
    }


def _azure_monitor(api: LoopbackApi, seed: Seed, listed: bool = False) -> None:
    """One scale set whose definitions list the seed's metric once `listed` or once a value was posted."""
    posted: list[Seen] = []

    def definitions(request: Seen) -> dict[str, Any]:
        assert request.query["metricnamespace"] == [seed.namespace]
        return _definitions(seed.metric, seed.namespace) if listed or posted else {"value": []}

    def ingest(request: Seen) -> dict[str, Any]:
        posted.append(request)
        return {}

    api.answer("GET", f"{seed.scale_set_id}{DEFINITIONS}", definitions)
    api.answer("POST", f"{seed.scale_set_id}/metrics", ingest)


def test_each_queue_fleet_gets_a_neutral_value_in_its_own_dimensions(prod_plan: DeploymentPlan) -> None:
    resolved = resolve(prod_plan)
    found = {seed.scale_set: seed for seed in seeds(resolved, SUBSCRIPTION)}
    queue_fleets = [fleet for fleet in resolved.fleets if fleet.signal.resource == "scale_set"]
    # Front Door's requests are Azure's own metric: those fleets need nothing.
    assert sorted(found) == sorted(fleet.scale_set for fleet in queue_fleets)
    assert len(found) < len(resolved.fleets)
    for fleet in queue_fleets:
        seed = found[fleet.scale_set]
        # The scale set as `llmdeploy status` reads it: the stack's resource group, named like the plan.
        assert seed.scale_set_id == (
            f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{resolved.name}"
            f"/providers/Microsoft.Compute/virtualMachineScaleSets/{fleet.scale_set}"
        )
        assert (seed.namespace, seed.metric) == (fleet.signal.namespace, fleet.signal.metric)
        # The rules filter on these dimensions: the value is the fleet's own.
        assert [(name, (value,)) for name, value in seed.dimensions] == list(fleet.signal.dimensions)
        # Strictly between the scale-in and the scale-out threshold: neither rule acts on it.
        scale_in, scale_out = sorted(rule.threshold for rule in fleet.signal.rules)
        assert scale_in < seed.value < scale_out


def test_unlisted_metrics_are_published_once_and_waited_for(
    api: LoopbackApi, tmp_path: Path, prod_plan: DeploymentPlan
) -> None:
    first, second = seeds(resolve(prod_plan), SUBSCRIPTION)[:2]
    _azure_monitor(api, first)
    _azure_monitor(api, second, listed=True)  # its VMs published already
    credential, said = FakeCredential(), []
    before = datetime.now(UTC)
    _seeder(api, tmp_path, credential).settle([first, second], said.append)

    [posted] = [seen for seen in api.seen if seen.method == "POST"]
    assert posted.path == f"{first.scale_set_id}/metrics"
    assert posted.headers["Authorization"] == f"Bearer {TOKEN}"
    # The custom metrics API takes tokens for https://monitoring.azure.com/ (trailing slash kept).
    assert ("https://monitoring.azure.com//.default",) in credential.scopes
    stamp = datetime.strptime(posted.body["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before - timedelta(seconds=1) <= stamp <= datetime.now(UTC)
    assert posted.body["data"]["baseData"] == {
        "metric": first.metric,
        "namespace": first.namespace,
        "dimNames": [name for name, _ in first.dimensions],
        "series": [
            {
                "dimValues": [value for _, value in first.dimensions],
                "min": first.value,
                "max": first.value,
                "sum": first.value,
                "count": 1,
            }
        ],
    }
    assert len(said) == 2 and first.scale_set in said[0] and second.scale_set not in said[0]
    assert "applying the rest" in said[1]


def test_a_role_assignment_still_propagating_is_waited_for(
    api: LoopbackApi, tmp_path: Path, prod_plan: DeploymentPlan
) -> None:
    seed = seeds(resolve(prod_plan), SUBSCRIPTION)[0]
    attempts: list[Seen] = []

    def ingest(request: Seen) -> dict[str, Any]:
        attempts.append(request)
        return {}

    forbidden = {"error": {"code": "AuthorizationFailed", "message": "no Microsoft.Insights/Metrics/Write"}}
    api.answer("GET", f"{seed.scale_set_id}{DEFINITIONS}", lambda _: {"value": []})
    api.answer("POST", f"{seed.scale_set_id}/metrics", forbidden, status=403)
    seeder = _seeder(api, tmp_path, wait_s=0.3)
    with pytest.raises(OperationError) as refused:
        seeder.settle([seed], lambda _: None)
    # Asked again until the wait ran out, then told which role the deploying identity needs.
    assert len(api.requests_to(f"{seed.scale_set_id}/metrics")) > 1
    assert "HTTP 403" in str(refused.value) and "'Monitoring Metrics Publisher'" in str(refused.value)

    # Once the assignment arrives, the same seeder publishes and waits for the listing.
    api.answer("POST", f"{seed.scale_set_id}/metrics", ingest)
    api.answer(
        "GET",
        f"{seed.scale_set_id}{DEFINITIONS}",
        lambda _: _definitions(seed.metric, seed.namespace) if attempts else {"value": []},
    )
    _seeder(api, tmp_path).settle([seed], lambda _: None)
    assert len(attempts) == 1


def test_a_metric_azure_never_lists_fails_after_the_wait_with_what_to_do(
    api: LoopbackApi, tmp_path: Path, prod_plan: DeploymentPlan
) -> None:
    seed = seeds(resolve(prod_plan), SUBSCRIPTION)[0]
    api.answer("GET", f"{seed.scale_set_id}{DEFINITIONS}", {"value": []})
    api.answer("POST", f"{seed.scale_set_id}/metrics", {})
    with pytest.raises(OperationError) as late:
        _seeder(api, tmp_path, wait_s=0.3).settle([seed], lambda _: None)
    message = str(late.value)
    assert f"{seed.namespace}/{seed.metric}" in message and seed.scale_set in message
    assert "Run the apply again in a few minutes" in message
    assert len(api.requests_to(f"{seed.scale_set_id}/metrics")) == 1  # published once, then polled


def test_refused_reads_say_what_to_check(api: LoopbackApi, tmp_path: Path, prod_plan: DeploymentPlan) -> None:
    seed = seeds(resolve(prod_plan), SUBSCRIPTION)[0]
    denied = {
        "error": {"code": "AuthorizationFailed", "message": "no Microsoft.Insights/metricDefinitions/read"}
    }
    api.answer("GET", f"{seed.scale_set_id}{DEFINITIONS}", denied, status=403)
    with pytest.raises(OperationError) as refused:
        _seeder(api, tmp_path).settle([seed], lambda _: None)
    assert f"scale set {seed.scale_set} failed: HTTP 403" in str(refused.value)
    assert not [seen for seen in api.seen if seen.method == "POST"]


def test_an_apply_publishes_every_queue_fleet_of_the_plan_it_applies(
    api: LoopbackApi, tmp_path: Path, prod_plan: DeploymentPlan
) -> None:
    """The driver's entry point: the plan's subscription and resource group name the scale sets."""
    wanted = seeds(resolve(prod_plan), prod_plan.settings("azure").subscription_id)
    for seed in wanted:
        _azure_monitor(api, seed)
    assert settle(prod_plan, lambda _: None, _seeder(api, tmp_path)) is True
    posted = sorted(seen.path for seen in api.seen if seen.method == "POST")
    assert posted == sorted(f"{seed.scale_set_id}/metrics" for seed in wanted) and len(posted) == 2
