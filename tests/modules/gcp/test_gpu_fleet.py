"""The GCP fleet of each model and slot: templates, managed groups, autoscaler, health check, identity."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from llmdeploy.boot import user_data
from llmdeploy.clouds.gcp.resolve import resolve
from llmdeploy.plan.model import FleetPlan
from modules.common import terraform_literal
from tests.fixtures_synth import Stack


def _fleet(stack: Stack, name: str) -> FleetPlan:
    return next(fleet for fleet in stack.plan.fleets_on("gcp") if fleet.name == name)


def _template_ref(stack: Stack, path: str) -> str:
    return f"${{{stack.address('google_compute_instance_template', path)}.self_link_unique}}"


def test_spot_template_is_preemptible_and_deleted_on_reclaim(gcp_stacks: dict[str, Stack]) -> None:
    template = gcp_stacks["prod-gcp"].at(
        "google_compute_instance_template", "translate-fr-blue/Templates/SpotTemplate"
    )
    assert template["scheduling"] == {
        "provisioning_model": "SPOT",
        "preemptible": True,
        "automatic_restart": False,
        "on_host_maintenance": "TERMINATE",
        "instance_termination_action": "DELETE",
    }


def test_on_demand_template_is_standard_and_stops_for_maintenance(gcp_stacks: dict[str, Stack]) -> None:
    template = gcp_stacks["prod-gcp"].at(
        "google_compute_instance_template", "translate-fr-blue/Templates/OnDemandTemplate"
    )
    assert template["scheduling"] == {
        "provisioning_model": "STANDARD",
        "automatic_restart": True,
        "on_host_maintenance": "TERMINATE",
    }


def test_templates_run_the_boot_bundle_on_the_pinned_deep_learning_image(
    gcp_stacks: dict[str, Stack],
) -> None:
    stack = gcp_stacks["prod-gcp"]
    [(image_name, image)] = stack.data("google_compute_image").items()
    assert image == {
        **image,
        "family": "common-cu128-ubuntu-2204-nvidia-570",
        "project": "deeplearning-platform-release",
    }
    for fleet in stack.plan.fleets_on("gcp"):
        for path, template in stack.resources("google_compute_instance_template").items():
            if f"/{fleet.name}/" not in template["//"]["metadata"]["path"]:
                continue
            assert template["machine_type"] == fleet.instance_types[0].name
            assert "guest_accelerator" not in template  # G2/A2/A3 bring their GPUs
            [disk] = template["disk"]
            assert disk["source_image"] == f"${{data.google_compute_image.{image_name}.self_link}}"
            assert (disk["boot"], disk["disk_size_gb"]) == (True, fleet.disk_gib)
            assert template["metadata"] == {
                "user-data": terraform_literal(user_data(stack.plan, fleet)),
                "block-project-ssh-keys": "true",
            }
            # Templates are immutable: a new one before the old goes, and a newer image never
            # replaces a running slot's template.
            assert template["lifecycle"] == {
                "create_before_destroy": True,
                "ignore_changes": ["disk[0].source_image"],
            }
            assert (
                template["name_prefix"].startswith(f"llmdeploy-demo-prod-{fleet.name}-"[:30])
                and len(template["name_prefix"]) <= 37
            )
            assert template["shielded_instance_config"]["enable_integrity_monitoring"] is True, path


def test_user_data_reaches_the_vm_byte_for_byte_through_terraform(
    gcp_stacks: dict[str, Stack], terraform_binary: str, terraform_cli_env: dict[str, str], tmp_path: Path
) -> None:
    # The boot script's "${args[@]}" is an interpolation to Terraform ("Invalid character") unless
    # escaped; a config of locals and outputs needs no provider, so real Terraform decides here.
    stack = gcp_stacks["prod-gcp"]
    fleet = _fleet(stack, "translate-fr-blue")
    raw = user_data(stack.plan, fleet)
    assert "${" in raw
    synthesized = stack.at("google_compute_instance_template", "translate-fr-blue/Templates/SpotTemplate")[
        "metadata"
    ]["user-data"]
    outputs = _terraform_output(terraform_binary, terraform_cli_env, tmp_path / "escaped", synthesized)
    assert outputs["user_data"]["value"] == raw
    with pytest.raises(AssertionError, match=r"Invalid character|Invalid reference|Extra characters"):
        _terraform_output(terraform_binary, terraform_cli_env, tmp_path / "raw", raw)


def _terraform_output(
    binary: str, env: dict[str, str], folder: Path, value: str
) -> dict[str, dict[str, str]]:
    folder.mkdir()
    config = {"locals": {"user_data": value}, "output": {"user_data": {"value": "${local.user_data}"}}}
    (folder / "main.tf.json").write_text(json.dumps(config), encoding="utf-8")
    for command in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        done = subprocess.run(
            [binary, *command, "-no-color"], cwd=folder, env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
    shown = subprocess.run(
        [binary, "output", "-json"], cwd=folder, env=env, capture_output=True, text=True, check=True
    )
    found: dict[str, dict[str, str]] = json.loads(shown.stdout)
    return found


def _groups(stack: Stack, fleet: str) -> dict[str, dict[str, object]]:
    """The fleet's groups by construct id (Group, OnDemandGroup, OnDemandBase)."""
    return {
        entry["//"]["metadata"]["path"].rsplit("/", 1)[1]: entry
        for entry in stack.resources("google_compute_region_instance_group_manager").values()
        if f"/{fleet}/" in entry["//"]["metadata"]["path"]
    }


def test_every_group_has_one_version(gcp_stacks: dict[str, Stack]) -> None:
    # A BALANCED regional group does not support two versions (canary updates): Limitations of
    # https://cloud.google.com/compute/docs/instance-groups/regional-mig-set-target-distribution-shape
    for stack in gcp_stacks.values():
        for group in stack.resources("google_compute_region_instance_group_manager").values():
            assert group["distribution_policy_target_shape"] == "BALANCED"
            [version] = group["version"]
            assert "target_size" not in version, group["name"]


def test_on_demand_share_above_the_base_is_its_own_autoscaled_group(gcp_stacks: dict[str, Stack]) -> None:
    stack = gcp_stacks["prod-gcp"]
    fleet = _fleet(stack, "translate-fr-blue")  # min 2, max 8, base 1, 20 % on-demand above it
    groups = _groups(stack, "translate-fr-blue")
    assert set(groups) == {"Group", "OnDemandGroup", "OnDemandBase"}
    assert groups["Group"]["version"] == [
        {
            "name": "spot",
            "instance_template": _template_ref(stack, "translate-fr-blue/Templates/SpotTemplate"),
        }
    ]
    on_demand = _template_ref(stack, "translate-fr-blue/Templates/OnDemandTemplate")
    assert groups["OnDemandGroup"]["version"] == [{"name": "on-demand", "instance_template": on_demand}]
    bounds = {
        path: (scaler["autoscaling_policy"]["min_replicas"], scaler["autoscaling_policy"]["max_replicas"])
        for path in ("Autoscaler", "OnDemandAutoscaler")
        for scaler in [stack.at("google_compute_region_autoscaler", f"translate-fr-blue/{path}")]
    }
    # Above the base 1..7 VMs: on-demand ceil(20 % of 1)..ceil(20 % of 7), spot the rest (at least 1).
    assert bounds == {"Autoscaler": (1, 5), "OnDemandAutoscaler": (1, 2)}
    assert fleet.max_size == 1 + 5 + 2
    for path in ("Group", "OnDemandGroup"):
        assert groups[path]["lifecycle"] == {"create_before_destroy": True, "ignore_changes": ["target_size"]}
    # The idle green slot (1..2 VMs, base 1): its one VM above the base is on-demand (20 % rounds up).
    green = _groups(stack, "translate-fr-green")
    assert set(green) == {"Group", "OnDemandBase"}
    assert green["Group"]["version"][0]["name"] == "on-demand"


def test_on_demand_base_is_a_fixed_group(gcp_stacks: dict[str, Stack]) -> None:
    stack = gcp_stacks["prod-gcp"]
    base = stack.at("google_compute_region_instance_group_manager", "translate-es-blue/OnDemandBase")
    assert base["name"] == resolve(stack.plan).fleet("translate-es-blue").groups[-1].name
    assert base["target_size"] == 1
    assert base["version"] == [
        {
            "name": "on-demand",
            "instance_template": _template_ref(stack, "translate-es-blue/Templates/OnDemandTemplate"),
        }
    ]
    assert base["lifecycle"] == {"create_before_destroy": True}
    # Without a base (edge, 50 % on-demand): blue's 1..3 VMs are 1..2 on-demand and 1 spot; green's
    # single VM is on-demand (50 % of 1 rounds up), so green has no spot group.
    edge = gcp_stacks["edge-gcp"]
    groups = {
        entry["name"]: entry["version"][0]["name"]
        for entry in edge.resources("google_compute_region_instance_group_manager").values()
    }
    assert groups == {
        "edge-edge-coder-blue-bb57d1": "spot",
        "edge-edge-coder-blue-od-bb57d1": "on-demand",
        "edge-edge-coder-green-bb57d1": "on-demand",
    }


def test_group_names_follow_the_zones_and_replace_without_a_gap(gcp_stacks: dict[str, Stack]) -> None:
    # Zones are ForceNew and a backend service still uses the old group: the new group needs another
    # name and must exist first (hashicorp/terraform-provider-google#6376).
    stack = gcp_stacks["prod-gcp"]
    plan = stack.plan
    settings = plan.cloud("gcp").settings
    moved = replace(
        plan,
        clouds=tuple(
            replace(cloud, settings=settings.model_copy(update={"zones": ["us-central1-a"]}))
            if cloud.cloud == "gcp"
            else cloud
            for cloud in plan.clouds
        ),
    )
    blue = "translate-fr-blue"
    assert set(resolve(moved).fleet(blue).group_names).isdisjoint(resolve(plan).fleet(blue).group_names)
    for group in stack.resources("google_compute_region_instance_group_manager").values():
        assert group["lifecycle"]["create_before_destroy"] is True
        assert len(group["name"]) <= 58 and group["base_instance_name"] == group["name"]
    for scaler in stack.resources("google_compute_region_autoscaler").values():
        assert scaler["lifecycle"] == {"create_before_destroy": True}


def test_per_fleet_names_carry_the_project(gcp_stacks: dict[str, Stack]) -> None:
    # Two llmdeploy projects with the same environment and model names share a GCP project safely.
    stack = gcp_stacks["prod-gcp"]
    for kind in (
        "google_compute_region_instance_group_manager",
        "google_compute_region_autoscaler",
        "google_compute_health_check",
        "google_compute_backend_service",
    ):
        for entry in stack.resources(kind).values():
            assert entry["name"].startswith("llmdeploy-demo-prod-"), (kind, entry["name"])
    for account in stack.resources("google_service_account").values():
        assert account["account_id"].startswith("llmdeploy-demo-"), account["account_id"]
        assert len(account["account_id"]) <= 30


def test_groups_spread_over_zones_with_autohealing_after_the_readiness_grace(
    gcp_stacks: dict[str, Stack],
) -> None:
    for stack in gcp_stacks.values():
        settings = stack.plan.cloud("gcp").settings
        for fleet in stack.plan.fleets_on("gcp"):
            health = stack.address("google_compute_health_check", f"{fleet.name}/HealthCheck")
            for group_name in resolve(stack.plan).fleet(fleet.name).group_names:
                group = next(
                    entry
                    for entry in stack.resources("google_compute_region_instance_group_manager").values()
                    if entry["name"] == group_name
                )
                assert group["distribution_policy_zones"] == settings.zones  # type: ignore[union-attr]
                assert group["named_port"] == [{"name": "http", "port": fleet.health.port}]
                assert group["auto_healing_policies"] == {
                    "health_check": f"${{{health}.id}}",
                    "initial_delay_sec": fleet.health.readiness_grace_s,
                }
                assert group["update_policy"]["max_unavailable_fixed"] == 0
                assert group["wait_for_instances"] is False


def test_several_machine_types_become_a_ranked_flexibility_policy(gcp_stacks: dict[str, Stack]) -> None:
    group = gcp_stacks["prod-gcp"].at(
        "google_compute_region_instance_group_manager", "translate-fr-blue/Group"
    )
    assert group["instance_flexibility_policy"] == {
        "instance_selections": [
            {"name": "rank-0", "machine_types": ["g2-standard-8"], "rank": 0},
            {"name": "rank-1", "machine_types": ["g2-standard-12"], "rank": 1},
        ]
    }
    single = gcp_stacks["prod-gcp"].at(
        "google_compute_region_instance_group_manager", "translate-es-blue/Group"
    )
    assert "instance_flexibility_policy" not in single


def test_queue_size_autoscaling_reads_the_relayed_per_vm_metric(gcp_stacks: dict[str, Stack]) -> None:
    stack = gcp_stacks["prod-gcp"]
    fleet = _fleet(stack, "translate-fr-blue")
    scaler = stack.at("google_compute_region_autoscaler", "translate-fr-blue/Autoscaler")
    policy = scaler["autoscaling_policy"]
    assert policy["metric"] == [
        {
            "name": "custom.googleapis.com/llmdeploy/QueueSize",
            "filter": " AND ".join(
                [
                    'metric.type="custom.googleapis.com/llmdeploy/QueueSize"',
                    'resource.type="gce_instance"',
                    'metric.label.project="llmdeploy-demo"',
                    'metric.label.environment="prod"',
                    'metric.label.model="translate-fr"',
                    'metric.label.slot="blue"',
                ]
            ),
            "target": 4,
            "type": "GAUGE",
        }
    ]
    # The spot group holds the fleet minus its on-demand base and the on-demand share above it.
    assert (policy["min_replicas"], policy["max_replicas"]) == (1, fleet.max_size - 1 - 2)
    # The custom metric is declared before the autoscaler reads it.
    descriptor = stack.address("google_monitoring_metric_descriptor", "EngineMetrics/QueueSize")
    assert scaler["depends_on"] == [descriptor]
    assert policy["cooldown_period"] == fleet.health.readiness_grace_s
    assert policy["scale_in_control"] == {
        "max_scaled_in_replicas": {"fixed": 1},
        "time_window_sec": fleet.autoscaling.scale_in_cooldown_s,
    }
    group = stack.address("google_compute_region_instance_group_manager", "translate-fr-blue/Group")
    assert scaler["target"] == f"${{{group}.id}}"


def test_request_autoscaling_tracks_full_load_balancer_capacity(gcp_stacks: dict[str, Stack]) -> None:
    stack = gcp_stacks["prod-gcp"]
    policy = stack.at("google_compute_region_autoscaler", "translate-es-blue/Autoscaler")[
        "autoscaling_policy"
    ]
    assert policy["load_balancing_utilization"] == {"target": 1}
    assert "metric" not in policy
    assert "depends_on" not in stack.at("google_compute_region_autoscaler", "translate-es-blue/Autoscaler")
    # A group whose minimum equals its base still keeps one autoscaled VM (GCP needs one to measure).
    assert policy["min_replicas"] == 1


def test_health_check_probes_the_engine(gcp_stacks: dict[str, Stack]) -> None:
    stack = gcp_stacks["prod-gcp"]
    health = _fleet(stack, "translate-fr-green").health
    check = stack.at("google_compute_health_check", "translate-fr-green/HealthCheck")
    assert check["http_health_check"] == {"port": health.port, "request_path": health.path}
    assert (check["check_interval_sec"], check["timeout_sec"]) == (health.interval_s, health.timeout_s)
    assert (check["healthy_threshold"], check["unhealthy_threshold"]) == (
        health.healthy_threshold,
        health.unhealthy_threshold,
    )


def test_identity_reads_exactly_its_secrets_pulls_the_mirrors_and_writes_logs_and_metrics(
    gcp_stacks: dict[str, Stack],
) -> None:
    stack = gcp_stacks["prod-gcp"]
    account = stack.address("google_service_account", "translate-fr-green/ServiceAccount")
    member = f"serviceAccount:${{{account}.email}}"
    secrets = {
        (entry["secret_id"], entry["role"])
        for entry in stack.resources("google_secret_manager_secret_iam_member").values()
        if entry["member"] == member
    }
    # The hf token and the API key (the VM's proxy checks it), each by name; prod has no next key.
    assert secrets == {
        ("llmdeploy-prod-hf-token", "roles/secretmanager.secretAccessor"),
        ("llmdeploy-prod-api-key", "roles/secretmanager.secretAccessor"),
    }
    roles = sorted(
        entry["role"]
        for entry in stack.resources("google_project_iam_member").values()
        if entry["member"] == member
    )
    assert roles == ["roles/logging.logWriter", "roles/monitoring.metricWriter"]
    pulls = {
        (entry["repository"], entry["role"], entry["location"])
        for entry in stack.resources("google_artifact_registry_repository_iam_member").values()
        if entry["member"] == member
    }
    mirrors = stack.resources("google_artifact_registry_repository")
    assert pulls == {
        (
            f"${{google_artifact_registry_repository.{name}.repository_id}}",
            "roles/artifactregistry.reader",
            "us-central1",
        )
        for name in mirrors
    }
    template = stack.at("google_compute_instance_template", "translate-fr-green/Templates/OnDemandTemplate")
    assert template["service_account"] == {"email": f"${{{account}.email}}", "scopes": ["cloud-platform"]}
    # No token and no key configured, no secret access at all.
    assert gcp_stacks["edge-gcp"].resources("google_secret_manager_secret_iam_member") == {}
