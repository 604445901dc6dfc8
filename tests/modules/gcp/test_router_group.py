"""The GCP router group (routing.enabled): its VMs across zones, identity, firewall, the backend services
that prefer it, and the bundle each router VM boots with."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
import yaml

from llmdeploy.boot.router import routed_models
from llmdeploy.clouds.gcp.resolve import GcpRouterGroup, resolve
from llmdeploy.config.loader import load_environment
from llmdeploy.plan.build import build_plan
from modules.common import terraform_literal
from modules.gcp.access import GOOGLE_FRONT_ENDS
from tests.conftest import REPO
from tests.fixtures_clouds import synth_environment
from tests.fixtures_synth import Stack

pytestmark = pytest.mark.synth

#: Two models, one with blue/green slots and an on-demand base (two groups behind one backend service),
#: over three zones.
ROUTED_ENV = """\
project: demo
clouds:
  gcp:
    project_id: demo-123
    region: us-central1
    zones: [us-central1-a, us-central1-b, us-central1-c]
access: {scheme: internet-facing, allowed_cidrs: [0.0.0.0/0], require_api_key: false}
routing: {enabled: true}
models:
  - name: chat
    model_id: Qwen/Qwen2.5-0.5B-Instruct
    revision: 7ae557604adf67be50417f59c2c2f167def9a775
    params_billion: 0.5
    instance_types: {gcp: [g2-standard-8]}
    capacity: {min: 1, max: 4}
    spot: {on_demand_base: 1, on_demand_percent_above_base: 0}
    autoscaling: {target_queue_size: 4}
    slots: {blue: {weight: 90}, green: {weight: 10}}
  - name: code
    model_id: Qwen/Qwen2.5-0.5B-Instruct
    revision: 7ae557604adf67be50417f59c2c2f167def9a775
    params_billion: 0.5
    instance_types: {gcp: [g2-standard-8]}
    capacity: {min: 1, max: 2}
    autoscaling: {target_queue_size: 2}
"""
ROUTERS = "Routers"


@pytest.fixture(scope="module")
def routed(tmp_path_factory: pytest.TempPathFactory) -> Stack:
    """The GCP stack of ROUTED_ENV, synthesized by `python -m stacks` in its own process."""
    root = tmp_path_factory.mktemp("routed-gcp")
    env = root / "routed.yaml"
    env.write_text(ROUTED_ENV, encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "stacks"],
        cwd=REPO,
        env={
            **synth_environment(),
            "LLMDEPLOY_ENVS": str(env),
            "LLMDEPLOY_CLOUDS": "gcp",
            "CDKTF_OUTDIR": str(root / "out"),
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    folder = root / "out" / "stacks" / "routed-gcp"
    doc = json.loads((folder / "cdk.tf.json").read_text(encoding="utf-8"))
    return Stack(build_plan(load_environment(env)), folder, doc)


def _routers(stack: Stack) -> GcpRouterGroup:
    routers = resolve(stack.plan).routers
    assert routers is not None
    return routers


def _ref(stack: Stack, kind: str, path: str, attribute: str) -> str:
    return f"${{{stack.address(kind, path)}.{attribute}}}"


def test_router_group_spans_the_zones_and_heals_on_the_fleets_health_check(routed: Stack) -> None:
    group = routed.at("google_compute_region_instance_group_manager", f"{ROUTERS}/Group")
    assert group["distribution_policy_zones"] == ["us-central1-a", "us-central1-b", "us-central1-c"]
    assert group["distribution_policy_target_shape"] == "EVEN"
    assert group["target_size"] == 2  # routing.min_routers: no single router
    assert group["name"] == _routers(routed).name
    # The backend services send to the port named "http": the routers' nginx, as on the replicas.
    assert group["named_port"] == [{"name": "http", "port": 8080}]
    assert group["auto_healing_policies"] == {
        "health_check": _ref(routed, "google_compute_health_check", "chat-blue/HealthCheck", "id"),
        "initial_delay_sec": 300,
    }
    assert group["version"] == [
        {
            "name": "router",
            "instance_template": _ref(
                routed, "google_compute_instance_template", f"{ROUTERS}/Template", "self_link_unique"
            ),
        }
    ]
    # Never below two routers while a new template rolls out.
    assert group["update_policy"]["max_unavailable_fixed"] == 0
    # `status` finds the routers by the stack's output.
    assert routed.doc["output"]["routers"]["value"] == {
        "instance_group": group["name"],
        "region": "us-central1",
    }


def test_router_template_is_a_shielded_cpu_vm_without_an_external_address(routed: Stack) -> None:
    template = routed.at("google_compute_instance_template", f"{ROUTERS}/Template")
    assert template["machine_type"] == "c3-standard-4"
    assert "guest_accelerator" not in template
    [interface] = template["network_interface"]
    assert "access_config" not in interface
    assert template["shielded_instance_config"] == {
        "enable_secure_boot": True,
        "enable_vtpm": True,
        "enable_integrity_monitoring": True,
    }
    [image_config] = [
        config
        for config in routed.data("google_compute_image").values()
        if config["//"]["metadata"]["path"].endswith(f"/{ROUTERS}/Image")
    ]
    assert (image_config["family"], image_config["project"]) == ("debian-12", "debian-cloud")
    [disk] = template["disk"]
    [image_name] = [
        name for name, config in routed.data("google_compute_image").items() if config is image_config
    ]
    assert disk["source_image"] == f"${{data.google_compute_image.{image_name}.self_link}}"
    assert template["tags"] == ["demo-routed-router"]
    assert template["metadata"] == {
        "user-data": terraform_literal(_routers(routed).user_data),
        "block-project-ssh-keys": "true",
    }


def test_router_account_holds_only_the_agents_permissions(routed: Stack) -> None:
    account = _ref(routed, "google_service_account", f"{ROUTERS}/ServiceAccount", "email")
    member = f"serviceAccount:{account}"
    role = routed.at("google_project_iam_custom_role", f"{ROUTERS}/Role")
    assert role["permissions"] == [
        "compute.backendServices.get",
        "compute.instanceGroupManagers.get",
        "compute.instanceGroupManagers.update",
        "compute.regionOperations.get",
    ]
    assert role["project"] == "demo-123"
    granted = sorted(
        config["role"]
        for kind in (
            "google_project_iam_member",
            "google_secret_manager_secret_iam_member",
            "google_artifact_registry_repository_iam_member",
        )
        for config in routed.resources(kind).values()
        if config["member"] == member
    )
    assert granted == sorted(
        [
            _ref(routed, "google_project_iam_custom_role", f"{ROUTERS}/Role", "name"),
            "roles/logging.logWriter",
            "roles/monitoring.metricWriter",
        ]
    )


def test_firewall_admits_the_balancer_to_routers_and_routers_to_replicas(routed: Stack) -> None:
    from_lb = routed.at("google_compute_firewall", f"{ROUTERS}/FromLoadBalancer")
    assert (from_lb["direction"], from_lb["source_ranges"], from_lb["target_tags"]) == (
        "INGRESS",
        list(GOOGLE_FRONT_ENDS),
        ["demo-routed-router"],
    )
    assert from_lb["allow"] == [{"protocol": "tcp", "ports": ["8080"]}]
    to_gpu = routed.at("google_compute_firewall", f"{ROUTERS}/ToReplicas")
    assert (to_gpu["direction"], to_gpu["source_tags"], to_gpu["target_tags"]) == (
        "INGRESS",
        ["demo-routed-router"],
        ["demo-routed-gpu"],
    )
    assert to_gpu["allow"] == [{"protocol": "tcp", "ports": ["8080"]}]


def test_every_backend_service_prefers_the_routers_and_falls_back_to_its_groups(routed: Stack) -> None:
    routers = _ref(
        routed, "google_compute_region_instance_group_manager", f"{ROUTERS}/Group", "instance_group"
    )
    for fleet in resolve(routed.plan).fleets:
        service = routed.at("google_compute_backend_service", f"{fleet.name}/BackendService")
        assert "service_lb_policy" not in service  # google-beta only; preference works without it
        preferred = [backend for backend in service["backend"] if backend["group"] == routers]
        assert preferred == [
            {
                "group": routers,
                "balancing_mode": "RATE",
                "max_rate_per_instance": 10000,
                "capacity_scaler": 1,
                "preference": "PREFERRED",
            }
        ]
        direct = [backend for backend in service["backend"] if backend["group"] != routers]
        assert len(direct) == len(fleet.groups)
        assert {backend["preference"] for backend in direct} == {"DEFAULT"}
        # A request held at zero (hold budget 300 s) still gets its full request timeout.
        assert service["timeout_sec"] == 900 + 300


def test_user_data_gives_each_model_an_agent_spec_naming_its_groups_and_backend_services(
    routed: Stack,
) -> None:
    gcp = resolve(routed.plan)
    escaped = routed.at("google_compute_instance_template", f"{ROUTERS}/Template")["metadata"]["user-data"]
    cloud_config = escaped.replace("$${", "${").replace("%%{", "%{")
    assert cloud_config.startswith("#cloud-config\n")
    parsed: dict[str, Any] = yaml.safe_load(cloud_config)
    files = {entry["path"]: entry["content"] for entry in parsed["write_files"]}
    group_plan = routed.plan.router_group("gcp")
    assert group_plan is not None
    specs = {
        model.name: json.loads(files[model.spec_path]) for model in routed_models(routed.plan, group_plan)
    }
    assert set(specs) == {"chat", "code"}
    groups = {
        config["name"]: path
        for path, config in routed.resources("google_compute_region_instance_group_manager").items()
    }
    services = {
        config["name"]: config for config in routed.resources("google_compute_backend_service").values()
    }
    for model, spec in specs.items():
        assert (spec["cloud"], spec["project"], spec["region"]) == ("gcp", "demo-123", "us-central1")
        assert set(spec["slots"]) == {fleet.slot for fleet in gcp.fleets if fleet.model == model}
        for slot, entry in spec["slots"].items():
            fleet = gcp.fleet(f"{model}-{slot}")
            # The group the hold gate resizes is the fleet's first (autoscaled) group ...
            assert entry["group"] == fleet.groups[0].name and entry["group"] in groups
            # ... and the backend service whose health the membership reads holds that group.
            service = services[entry["backend_service"]]
            group_ref = (
                f"${{google_compute_region_instance_group_manager.{groups[entry['group']]}.instance_group}}"
            )
            assert group_ref in {backend["group"] for backend in service["backend"]}


def test_dashboard_shows_each_fleets_router_series_as_the_routers_write_them(routed: Stack) -> None:
    from llmdeploy import metrics
    from llmdeploy.routing.publish import MetricsSpec, dimensions

    board = json.loads(routed.at("google_monitoring_dashboard", "Monitoring/Dashboard")["dashboard_json"])
    tiles = {
        tile["widget"]["title"]: tile["widget"]["xyChart"]["dataSets"]
        for tile in board["mosaicLayout"]["tiles"]
    }
    held = tiles["Router: requests held"]
    fleets = routed.plan.fleets_on("gcp")
    assert [data["legendTemplate"] for data in held] == [fleet.name for fleet in fleets]
    for data, fleet in zip(held, fleets, strict=True):
        query = data["timeSeriesQuery"]["timeSeriesFilter"]
        assert f'metric.type="custom.googleapis.com/llmdeploy/{metrics.ROUTER_HELD}"' in query["filter"]
        # The labels a router writes for this model and slot (publish.GcpSender), on its own VM.
        spec = MetricsSpec(project=routed.plan.project, environment=routed.plan.env, model=fleet.model)
        for key, value in dimensions(spec, fleet.slot).items():
            assert f'metric.label.{key.lower()}="{value}"' in query["filter"]
        assert 'resource.type="gce_instance"' in query["filter"]
        assert query["aggregation"]["crossSeriesReducer"] == "REDUCE_SUM"
    assert {"Router: 429s answered per minute", "Router: replicas in each router's set"} <= set(tiles)
