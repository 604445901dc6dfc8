"""GCP's resolution stage: the names, group split and sizes a user sees in the GCP console and `status`."""

from __future__ import annotations

import re

import pytest
import yaml

from llmdeploy.boot.router import SPEC_DIR
from llmdeploy.clouds import driver
from llmdeploy.clouds.gcp import names
from llmdeploy.clouds.gcp.resolve import GcpFleet, GcpPlan, resolve
from llmdeploy.config.loader import load_environment
from llmdeploy.config.model import Spot
from llmdeploy.plan.build import build_plan
from llmdeploy.plan.cost import on_demand_count
from llmdeploy.routing.agent import AgentSpec
from tests.conftest import WriteEnv

#: Project and environment names at their 20-character limit, two models that differ only at the end.
LONG = """\
project: a-twenty-char-projct
access: {{scheme: internet-facing, allowed_cidrs: [0.0.0.0/0], require_api_key: false}}
clouds:
  gcp: {{project_id: demo-123, region: us-central1, zones: [us-central1-a, us-central1-b]}}
models:
{models}
"""
MODEL = """\
  - name: {name}
    model_id: Qwen/Qwen2.5-0.5B-Instruct
    revision: 7ae557604adf67be50417f59c2c2f167def9a775
    params_billion: 0.5
    instance_types: {{gcp: [g2-standard-8]}}
    capacity: {{min: {low}, max: {high}}}
    spot: {{on_demand_base: {base}, on_demand_percent_above_base: {share}}}
    autoscaling: {{{target}}}
"""


def _resolve(
    write_env: WriteEnv,
    *models: str,
    low: int = 2,
    high: int = 8,
    base: int = 1,
    share: int = 20,
    target: str = "target_queue_size: 4",
    env: str = "a-twenty-char-envirn",
    routing: bool = False,
) -> GcpPlan:
    text = LONG.format(
        models="".join(
            MODEL.format(name=name, low=low, high=high, base=base, share=share, target=target)
            for name in models
        )
    ) + ("routing: {enabled: true}\n" if routing else "")
    return resolve(build_plan(load_environment(write_env(text, f"{env}.yaml"))))


def _names(fleet: GcpFleet) -> list[str]:
    return [
        fleet.service,
        fleet.account_id,
        *fleet.group_names,
        *(template.name_prefix for template in fleet.templates),
    ]


def test_long_names_fit_gcp_limits_and_stay_apart(write_env: WriteEnv) -> None:
    gcp = _resolve(write_env, "a-long-model-name-xx", "a-long-model-name-xy")
    first, second = (fleet for fleet in gcp.fleets if fleet.slot == "blue")
    for fleet in gcp.fleets:
        # Backend services and health checks 63 (RFC 1035), a group's base instance name 58,
        # a service account id 30, an instance template prefix 37.
        assert len(fleet.service) <= 63
        assert all(len(name) <= 58 for name in fleet.group_names)
        assert 6 <= len(fleet.account_id) <= 30
        assert all(len(template.name_prefix) <= 37 for template in fleet.templates)
    # Cut names end in a hash of the full name: two models sharing a long prefix never share a resource.
    assert not set(_names(first)) & set(_names(second))
    groups = [name for fleet in gcp.fleets for name in fleet.group_names]
    assert len(set(groups)) == len(groups)


@pytest.mark.parametrize(
    ("low", "high", "base", "share"),
    [(2, 8, 1, 20), (1, 6, 1, 0), (3, 9, 0, 50), (2, 10, 2, 100), (4, 4, 4, 30), (1, 7, 2, 40)],
)
def test_groups_split_like_the_cost_model(
    write_env: WriteEnv, low: int, high: int, base: int, share: int
) -> None:
    gcp = _resolve(write_env, "chat", low=low, high=high, base=base, share=share, env="dev")
    fleet = gcp.fleet("chat-blue")
    on_demand = [group for group in fleet.groups if not group.spot]
    # At full size the fleet runs exactly its maximum, on-demand as `llmdeploy cost` counts it.
    assert sum(group.maximum for group in fleet.groups) == high
    assert sum(group.maximum for group in on_demand) == on_demand_count(
        high, Spot(on_demand_base=base, on_demand_percent_above_base=share)
    )
    autoscaled = [group for group in fleet.groups if group.autoscaled]
    # GCP's autoscaler reads its signal from a group's own VMs: each autoscaled group keeps one.
    assert all(group.minimum >= 1 for group in autoscaled)
    if low - base >= len(autoscaled):
        assert sum(group.minimum for group in fleet.groups) == low
    # The base is a fixed group of on-demand VMs; only the kinds some group runs get a template.
    assert [(group.minimum, group.maximum) for group in fleet.groups if not group.autoscaled] == (
        [(base, base)] if base else []
    )
    assert {template.spot for template in fleet.templates} == {group.spot for group in fleet.groups}


def test_all_on_demand_above_the_base_takes_the_spot_groups_place(write_env: WriteEnv) -> None:
    fleet = _resolve(write_env, "chat", low=2, high=6, base=1, share=100, env="dev").fleet("chat-blue")
    assert [(group.role, group.spot) for group in fleet.groups] == [
        (names.AUTOSCALED, False),
        (names.BASE, False),
    ]
    assert [template.kind for template in fleet.templates] == ["on-demand"]


def test_scaling_signal_follows_the_configured_target(write_env: WriteEnv) -> None:
    queue = _resolve(write_env, "chat", env="dev").fleet("chat-blue")
    assert queue.scaling.metric == "custom.googleapis.com/llmdeploy/QueueSize"
    assert queue.scaling.target == 4
    # The autoscaler takes only `=` selectors joined by AND.
    assert queue.scaling.metric_filter is not None and " AND " in queue.scaling.metric_filter
    assert (queue.backend.balancing_mode, queue.backend.max_rate_per_instance) == ("UTILIZATION", None)
    rate = _resolve(write_env, "chat", target="target_requests_per_replica: 120", env="dev").fleet(
        "chat-blue"
    )
    # Requests per minute become the backends' RATE capacity per second; full utilisation is the target.
    assert (rate.scaling.metric, rate.scaling.target) == (None, 1.0)
    assert (rate.backend.balancing_mode, rate.backend.max_rate_per_instance) == ("RATE", 2.0)


def test_routes_and_endpoints_without_a_domain(write_env: WriteEnv) -> None:
    gcp = _resolve(write_env, "chat", "coder", env="dev")
    assert [route.endpoint("34.1.2.3") for route in gcp.routes] == [
        "http://34.1.2.3/chat/",
        "http://34.1.2.3/coder/",
    ]
    assert (gcp.hosts, gcp.certificate) == ((), None)
    # Only slots with a share of the requests are in a route's split (green starts at weight 0).
    assert all(weight > 0 for route in gcp.routes for _, weight in route.split)


def test_tags_become_valid_labels() -> None:
    labels = names.labels({"Cost.Center": "Team A/B", "owner": "x" * 70})
    assert labels == {"cost_center": "team_a_b", "owner": "x" * 63}


def test_the_driver_resolves_and_keeps_user_data_as_text(write_env: WriteEnv) -> None:
    model = MODEL.format(name="chat", low=1, high=2, base=0, share=0, target="target_queue_size: 4")
    plan = build_plan(load_environment(write_env(LONG.format(models=model), "dev.yaml")))
    gcp = driver("gcp").resolve(plan)
    assert isinstance(gcp, GcpPlan) and gcp.stack == "dev-gcp"
    # GCE metadata holds text: no gzip, no base64.
    assert driver("gcp").encode_user_data("#cloud-config\n") == "#cloud-config\n"


def test_router_group_names_fit_gcp_limits_and_differ_from_the_fleets(write_env: WriteEnv) -> None:
    gcp = _resolve(write_env, "router", "a-long-model-name-xx", routing=True)
    routers = gcp.routers
    assert routers is not None
    # A group's base instance name 58, a service account id 30, a template prefix 37, a custom role
    # id 3-64 of letters, digits, `_` and `.` (the provider's IAMCustomRoleIDRegex).
    assert len(routers.name) <= 58
    assert 6 <= len(routers.account_id) <= 30
    assert len(routers.template_prefix) <= 37
    assert re.fullmatch(r"[a-zA-Z0-9_.]{3,64}", routers.role_id)
    # Even a model named "router" shares no resource name with the routers.
    fleet_names = {name for fleet in gcp.fleets for name in _names(fleet)}
    assert not {routers.name, routers.account_id, routers.template_prefix} & fleet_names


def test_router_group_follows_the_routing_plan(write_env: WriteEnv) -> None:
    gcp = _resolve(write_env, "chat", "coder", env="dev", routing=True)
    routers = gcp.routers
    assert routers is not None
    # routing.size small on GCP, routing.min_routers (2) VMs over the environment's zones.
    assert (routers.machine_type, routers.count, routers.zones) == (
        "c3-standard-4",
        2,
        ("us-central1-a", "us-central1-b"),
    )
    assert routers.port == 8080  # the port the backend services' named port maps to on the replicas too
    assert routers.permissions == (
        "compute.backendServices.get",
        "compute.instanceGroupManagers.get",
        "compute.instanceGroupManagers.update",
        "compute.regionOperations.get",
    )
    # Every backend service now has the routers PREFERRED and its GPU groups DEFAULT, and waits the
    # hold budget (300 s) on top of the request timeout: a held request is not cut by the balancer.
    for fleet in gcp.fleets:
        assert fleet.backend.preference == "DEFAULT"
        assert fleet.backend.timeout_s == 900 + 300


def test_the_routers_read_every_mig_of_a_slot_and_resize_the_autoscaled_one(write_env: WriteEnv) -> None:
    # A base of one on-demand VM and 20% on-demand above it: three MIGs serve each slot.
    gcp = _resolve(write_env, "chat", env="dev", routing=True)
    assert gcp.routers is not None
    files = {
        entry["path"]: entry["content"] for entry in yaml.safe_load(gcp.routers.user_data)["write_files"]
    }
    spec = AgentSpec.model_validate_json(files[f"{SPEC_DIR}/model-0.json"])
    for fleet in gcp.fleets:
        first = fleet.groups[0]
        read = spec.slots[fleet.slot]
        assert len(fleet.groups) == 3
        assert (read.group, first.autoscaled, first.spot) == (first.name, True, True), "the hook resizes spot"
        assert {read.group, *read.more_groups} == set(fleet.group_names)


def test_without_routing_nothing_changes(write_env: WriteEnv) -> None:
    gcp = _resolve(write_env, "chat", env="dev")
    assert gcp.routers is None
    assert all((fleet.backend.preference, fleet.backend.timeout_s) == (None, 900) for fleet in gcp.fleets)
