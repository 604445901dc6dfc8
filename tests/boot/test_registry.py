"""Images come through the VM's own cloud's registry cache, named in one place for both sides."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest

from llmdeploy.boot import boot_files
from llmdeploy.boot.registry import (
    CACHE_NAMES,
    Mirror,
    ecr_prefix,
    mirror,
    split_image,
)
from llmdeploy.clouds.gcp import names as gcp_names
from llmdeploy.plan.endpoints import stack_prefix
from tests.boot.bundles import first_fleet, plan


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("nginx:1.30.6-alpine", ("docker.io", "library/nginx:1.30.6-alpine")),
        ("vllm/vllm-openai:v0.30.0", ("docker.io", "vllm/vllm-openai:v0.30.0")),
        (
            "ghcr.io/huggingface/text-generation-inference:3.3.7",
            ("ghcr.io", "huggingface/text-generation-inference:3.3.7"),
        ),
        ("localhost:5000/x:1", ("localhost:5000", "x:1")),
    ],
)
def test_image_references_split_the_way_docker_reads_them(image: str, expected: tuple[str, str]) -> None:
    assert split_image(image) == expected


def test_each_cloud_names_its_cache_path_and_keeps_a_digest() -> None:
    acme = dataclasses.replace(plan("prod"), project="acme")
    digest = "vllm/vllm-openai:v0.31.0@sha256:" + "0" * 64
    assert mirror(acme, "aws", digest).path == f"{ecr_prefix('docker.io', 'acme', 'prod')}/{digest}"
    # The repository the GCP construct creates (modules/gcp/registry.py) under the same name.
    assert mirror(acme, "gcp", "ghcr.io/a/b:1").path == "acme-prod-ghcr/a/b:1"
    # The repository of the Azure construct's cache rule (azure_names.cached_image), digest kept.
    assert mirror(acme, "azure", "nginx:1").path == "library/nginx:1"
    assert mirror(acme, "azure", digest).path == digest
    # Docker Hub's official images come from ECR Public's copy on AWS: that cache needs no credential.
    nginx = mirror(acme, "aws", "nginx:1").path
    assert nginx == f"{ecr_prefix('public.ecr.aws', 'acme', 'prod')}/docker/library/nginx:1"
    for cloud in ("aws", "gcp", "azure"):
        assert mirror(acme, cloud, "registry.example.com/x:1") == Mirror("registry.example.com/x:1", "")


def test_ecr_prefixes_are_valid_and_differ_per_environment() -> None:
    # ECR: 2-30 characters, lowercase letters and digits separated by . _ or -.
    prefixes = {
        ecr_prefix(upstream, "a-long-project-name", env)
        for upstream in CACHE_NAMES
        for env in ("dev", "prod")
    }
    assert len(prefixes) == 2 * len(CACHE_NAMES)
    assert all(
        re.fullmatch(r"[a-z0-9]+(?:[._-][a-z0-9]+)*", prefix) and 2 <= len(prefix) <= 30
        for prefix in prefixes
    )


def _pull(
    tmp_path: Path, cloud: str, docker: str, environ: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run the rendered llmdeploy-pull-image ENGINE with stand-ins for curl, docker and logger."""
    files = boot_files(plan("prod"), first_fleet("prod", cloud))  # type: ignore[arg-type]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stubs = {
        "curl": 'echo \'{"access_token": "token", "refresh_token": "refresh", "accountId": "1"}\'',
        "docker": docker,
        "logger": "",
    }
    for name, body in stubs.items():
        (bin_dir / name).write_text(f'#!/bin/bash\necho "{name} $*" >> {tmp_path / "calls"}\n{body}\n')
        (bin_dir / name).chmod(0o755)
    (tmp_path / "images.env").write_text(files["/etc/llmdeploy/images.env"])
    script = files["/usr/local/sbin/llmdeploy-pull-image"].replace(
        "/etc/llmdeploy/images.env", str(tmp_path / "images.env")
    )
    script = script.replace("/run/llmdeploy", str(tmp_path / "run"))
    # python3 is this interpreter (it has boto3, as the Deep Learning AMI's python3 does).
    path = f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin"
    result = subprocess.run(
        ["bash", "-c", script, "pull", "ENGINE"],
        env={**(environ or {}), "PATH": path},
        capture_output=True,
        text=True,
    )
    return result, (tmp_path / "calls").read_text()


@pytest.mark.process
def test_gcp_pulls_the_engine_through_artifact_registry_with_the_vm_token(tmp_path: Path) -> None:
    result, calls = _pull(tmp_path, "gcp", "")
    assert result.returncode == 0, result.stderr
    host = "us-central1-docker.pkg.dev"
    repository = gcp_names.registry_mirror(stack_prefix(plan("prod")), "ghcr.io")
    cached = f"{host}/llmdeploy-demo-123/{repository}/huggingface/text-generation-inference:3.3.6"
    assert f"docker login --username oauth2accesstoken --password-stdin https://{host}" in calls
    assert f"docker pull --quiet {cached}" in calls
    assert (tmp_path / "run" / "engine-image.env").read_text() == f"ENGINE_IMAGE={cached}\n"


@pytest.mark.process
def test_a_failing_cache_falls_back_to_the_upstream_registry_and_says_so(tmp_path: Path) -> None:
    result, calls = _pull(tmp_path, "azure", '[[ "$1 $3" != "pull "*azurecr.io* ]]')
    assert result.returncode == 0, result.stderr
    upstream = next(
        line for line in calls.splitlines() if line.startswith("docker pull") and "azurecr" not in line
    )
    assert "could not pull" in result.stderr and "logger --tag llmdeploy" in calls
    image = upstream.removeprefix("docker pull --quiet ")
    assert (tmp_path / "run" / "engine-image.env").read_text() == f"ENGINE_IMAGE={image}\n"


def test_aws_pulls_through_ecr_with_a_token_from_the_instance_role(
    tmp_path: Path, aws_env: dict[str, str]
) -> None:
    result, calls = _pull(tmp_path, "aws", "cat > /dev/null", aws_env)
    assert result.returncode == 0, result.stderr
    host = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    assert f"docker login --username AWS --password-stdin {host}" in calls
    fleet = first_fleet("prod", "aws")
    cached = f"{host}/{mirror(plan('prod'), 'aws', fleet.engine_image).path}"
    assert f"docker pull --quiet {cached}" in calls and "could not pull" not in result.stderr
    assert (tmp_path / "run" / "engine-image.env").read_text() == f"ENGINE_IMAGE={cached}\n"
