"""The GCP fleet of each model and slot: templates, managed groups, autoscaler, health check, identity."""

from __future__ import annotations

from llmdeploy.boot import user_data
from llmdeploy.plan.model import FleetPlan
from llmdeploy.status import names
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
                "user-data": user_data(stack.plan, fleet),
                "block-project-ssh-keys": "true",
            }
            # Templates are immutable: a new one before the old goes, and a newer image never
            # replaces a running slot's template.
            assert template["lifecycle"] == {
                "create_before_destroy": True,
                "ignore_changes": ["disk[0].source_image"],
            }
            assert (
                template["name_prefix"].startswith(f"prod-{fleet.name}-")
                and len(template["name_prefix"]) <= 37
            )
            assert template["shielded_instance_config"]["enable_integrity_monitoring"] is True, path


def test_on_demand_share_above_the_base_is_a_percentage_version(gcp_stacks: dict[str, Stack]) -> None:
    stack = gcp_stacks["prod-gcp"]
    group = stack.at("google_compute_region_instance_group_manager", "translate-fr-blue/Group")
    assert group["version"] == [
        {
            "name": "spot",
            "instance_template": _template_ref(stack, "translate-fr-blue/Templates/SpotTemplate"),
        },
        {
            "name": "on-demand",
            "instance_template": _template_ref(stack, "translate-fr-blue/Templates/OnDemandTemplate"),
            "target_size": {"percent": 20},
        },
    ]
    assert group["lifecycle"] == {"ignore_changes": ["target_size"]}


def test_on_demand_base_is_a_fixed_second_group(gcp_stacks: dict[str, Stack]) -> None:
    stack = gcp_stacks["prod-gcp"]
    base = stack.at("google_compute_region_instance_group_manager", "translate-es-blue/OnDemandBase")
    assert base["name"] == "prod-translate-es-blue-base"
    assert base["target_size"] == 1
    assert base["version"] == [
        {
            "name": "on-demand",
            "instance_template": _template_ref(stack, "translate-es-blue/Templates/OnDemandTemplate"),
        }
    ]
    assert "lifecycle" not in base
    # Without a base (edge), only the autoscaled group exists.
    edge = gcp_stacks["edge-gcp"]
    groups = [
        entry["name"] for entry in edge.resources("google_compute_region_instance_group_manager").values()
    ]
    assert sorted(groups) == ["edge-coder-blue", "edge-coder-green"]


def test_groups_spread_over_zones_with_autohealing_after_the_readiness_grace(
    gcp_stacks: dict[str, Stack],
) -> None:
    for stack in gcp_stacks.values():
        settings = stack.plan.cloud("gcp").settings
        for fleet in stack.plan.fleets_on("gcp"):
            health = stack.address("google_compute_health_check", f"{fleet.name}/HealthCheck")
            for group_name in names.gcp_groups(stack.plan, fleet):
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
    # The autoscaled group holds the fleet minus its on-demand base.
    assert (policy["min_replicas"], policy["max_replicas"]) == (fleet.min_size - 1, fleet.max_size - 1)
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


def test_identity_reads_only_its_own_token_and_writes_logs_and_metrics(gcp_stacks: dict[str, Stack]) -> None:
    stack = gcp_stacks["prod-gcp"]
    account = stack.address("google_service_account", "translate-fr-green/ServiceAccount")
    member = f"serviceAccount:${{{account}.email}}"
    secret = stack.at("google_secret_manager_secret_iam_member", "translate-fr-green/ReadsToken")
    assert (secret["secret_id"], secret["role"], secret["member"]) == (
        "llmdeploy-prod-hf-token",
        "roles/secretmanager.secretAccessor",
        member,
    )
    roles = sorted(
        entry["role"]
        for entry in stack.resources("google_project_iam_member").values()
        if entry["member"] == member
    )
    assert roles == ["roles/logging.logWriter", "roles/monitoring.metricWriter"]
    template = stack.at("google_compute_instance_template", "translate-fr-green/Templates/SpotTemplate")
    assert template["service_account"] == {"email": f"${{{account}.email}}", "scopes": ["cloud-platform"]}
    # No token configured, no secret access at all.
    assert gcp_stacks["edge-gcp"].resources("google_secret_manager_secret_iam_member") == {}
