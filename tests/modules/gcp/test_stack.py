"""The GCP stack of every example environment naming GCP: provider, backend, outputs, snapshots,
checkov, terraform validate, no secrets."""

from __future__ import annotations

from pathlib import Path

from llmdeploy.boot.context import PROXY_IMAGE
from llmdeploy.clouds.gcp import names
from llmdeploy.clouds.gcp.resolve import resolve
from llmdeploy.engines import ENGINES
from stacks.gcp import PROVIDER_VERSIONS
from tests.conftest import EXAMPLE_NAMES, EXAMPLES
from tests.fixtures_synth import Stack
from tests.modules.cloud_stacks import checkov_report, leaks, validate
from tests.stacks.golden import snapshot_mismatches


def test_every_example_naming_gcp_synthesizes(gcp_stacks: dict[str, Stack]) -> None:
    naming = {
        name for name in EXAMPLE_NAMES if "gcp:" in (EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8")
    }
    assert naming == {"staging", "prod"}
    assert {f"{name}-gcp" for name in naming} <= set(gcp_stacks)
    for stack in gcp_stacks.values():
        assert stack.resources("google_compute_region_instance_group_manager"), stack.name


def test_provider_project_region_labels_and_version(gcp_stacks: dict[str, Stack]) -> None:
    stack = gcp_stacks["prod-gcp"]
    [provider] = stack.doc["provider"]["google"]
    assert (provider["project"], provider["region"]) == ("llmdeploy-demo-123", "us-central1")
    assert provider["default_labels"]["cost-center"] == "inference"
    assert stack.doc["terraform"]["required_providers"]["google"] == {
        "source": "hashicorp/google",
        "version": PROVIDER_VERSIONS,
    }


def test_state_backend_follows_the_environment(gcp_stacks: dict[str, Stack]) -> None:
    assert gcp_stacks["prod-gcp"].doc["terraform"]["backend"]["s3"]["key"] == "llmdeploy/prod-gcp.tfstate"
    assert (
        gcp_stacks["staging-gcp"]
        .doc["terraform"]["backend"]["local"]["path"]
        .endswith("terraform.staging-gcp.tfstate")
    )


def test_outputs_name_what_the_status_command_reads(gcp_stacks: dict[str, Stack]) -> None:
    stack = gcp_stacks["prod-gcp"]
    outputs = stack.doc["output"]
    assert set(outputs) == {"endpoints", "fleets", "url_map", "address", "dns_records", "registry_mirrors"}
    green = outputs["fleets"]["value"]["translate-fr-green"]
    fleet = resolve(stack.plan).fleet("translate-fr-green")
    assert (green["model"], green["slot"], green["weight"]) == ("translate-fr", "green", 5)
    assert green["instance_groups"] == list(fleet.group_names)
    assert green["backend_service"] == "llmdeploy-demo-prod-translate-fr-green"
    assert set(outputs["endpoints"]["value"]) == {"translate-fr", "translate-es"}


def test_registry_mirrors_cache_every_upstream_the_images_come_from(gcp_stacks: dict[str, Stack]) -> None:
    # Docker Hub allows 10 anonymous pulls per hour per IPv4 address and every VM leaves through one
    # NAT address (docker/docs#22134): the VMs pull through Artifact Registry remote repositories.
    stack = gcp_stacks["prod-gcp"]
    images = [PROXY_IMAGE, *(engine.image for engine in ENGINES.values())]
    upstreams = {
        image.split("/")[0] if "/" in image and "." in image.split("/")[0] else "docker.io"
        for image in images
    }
    assert upstreams == set(names.REGISTRY_UPSTREAMS)
    repositories = {
        entry["repository_id"]: entry
        for entry in stack.resources("google_artifact_registry_repository").values()
    }
    prefix = resolve(stack.plan).name
    assert set(repositories) == {names.registry_mirror(prefix, upstream) for upstream in upstreams}
    hub = repositories[names.registry_mirror(prefix, "docker.io")]
    assert (hub["format"], hub["mode"], hub["location"]) == ("DOCKER", "REMOTE_REPOSITORY", "us-central1")
    assert hub["remote_repository_config"]["docker_repository"] == {"public_repository": "DOCKER_HUB"}
    ghcr = repositories[names.registry_mirror(prefix, "ghcr.io")]
    assert ghcr["remote_repository_config"]["docker_repository"] == {
        "custom_repository": {"uri": "https://ghcr.io"}
    }
    mirrors = stack.doc["output"]["registry_mirrors"]["value"]
    assert set(mirrors) == upstreams
    assert all(
        value.startswith("us-central1-docker.pkg.dev/llmdeploy-demo-123/") for value in mirrors.values()
    )


def test_resource_addresses_match_the_golden_snapshots(gcp_stacks: dict[str, Stack]) -> None:
    assert snapshot_mismatches(gcp_stacks.values()) == [], (
        "resource addresses changed: real resources would be replaced. If intended, run "
        "LLMDEPLOY_UPDATE_GOLDEN=1 pytest tests/modules/gcp/test_stack.py and review the diff."
    )


def test_checkov_finds_nothing_unjustified(gcp_stacks: dict[str, Stack]) -> None:
    report = checkov_report(gcp_stacks)
    assert report.passed > 0
    assert [f"{f.file}: {f.check} on {f.resource}" for f in report.failed] == []
    assert all(len(finding.reason) > 20 for finding in report.skipped)
    assert [f"{f.file}: {f.check} on {f.resource}" for f in report.unused] == []


def test_terraform_validates_every_stack(
    gcp_stacks: dict[str, Stack], terraform_binary: str, terraform_cli_env: dict[str, str], tmp_path: Path
) -> None:
    for stack in gcp_stacks.values():
        result = validate(stack, terraform_binary, terraform_cli_env, tmp_path)
        assert result["valid"] is True, (stack.name, result["diagnostics"])


def test_no_secret_value_in_any_synthesized_file(gcp_stacks: dict[str, Stack]) -> None:
    root = next(iter(gcp_stacks.values())).folder.parent.parent
    texts = [path.read_text(encoding="utf-8") for path in root.rglob("*.json")]
    texts += [
        template["metadata"]["user-data"]
        for stack in gcp_stacks.values()
        for template in stack.resources("google_compute_instance_template").values()
    ]
    assert leaks(texts) == []
