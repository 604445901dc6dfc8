"""GCP preflight: google-cloud-compute and Secret Manager's REST API against a loopback Google API.

Bodies follow the Compute Engine v1 reference (`regions.get`, `projects.get`: `quotas[]` with
`metric`, `limit`, `usage`) and Secret Manager's `versions.access` (`payload.data`, base64).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmdeploy.config.loader import load_environment
from llmdeploy.doctor.gcp import GcpAccount, checks
from llmdeploy.doctor.model import Check
from llmdeploy.plan.build import build_plan
from llmdeploy.plan.model import DeploymentPlan
from tests.clouds.gcp.google_api import API, PROJECT, REGION, anonymous, google_api, google_error
from tests.conftest import WriteEnv
from tests.status.loopback import LoopbackApi

SECRETS = f"/v1/projects/{PROJECT}/secrets"


@pytest.fixture
def api() -> Iterator[LoopbackApi]:
    with google_api() as running:
        yield running


@pytest.fixture
def plan(write_env: WriteEnv) -> DeploymentPlan:
    path: Path = write_env(
        f"""\
        project: demo
        name: doc
        clouds:
          gcp: {{project_id: {PROJECT}, region: {REGION}, zones: [us-central1-a]}}
        access:
          scheme: internet-facing
          allowed_cidrs: [0.0.0.0/0]
          api_key: {{secret: doc-api-key}}
          tls: {{domain: llm.example.com}}
        models:
          - name: chat
            model_id: Qwen/Qwen2.5-0.5B-Instruct
            revision: 7ae557604adf67be50417f59c2c2f167def9a775
            params_billion: 0.5
            hf_token: {{secret: doc-hf}}
            instance_types: {{gcp: [g2-standard-8]}}
            capacity: {{min: 1, max: 4}}
            spot: {{on_demand_base: 1}}
        """
    )
    return build_plan(load_environment(path))


def _account(api: LoopbackApi) -> GcpAccount:
    return GcpAccount.connect(
        secret_manager_url=api.url, credentials=anonymous(), client_options={"api_endpoint": api.url}
    )


def _quotas(api: LoopbackApi, regional: dict[str, tuple[int, int]], project: tuple[int, int]) -> None:
    listed = [{"metric": name, "limit": limit, "usage": usage} for name, (limit, usage) in regional.items()]
    api.answer("GET", f"{API}/regions/{REGION}", {"name": REGION, "quotas": listed})
    api.answer(
        "GET",
        API,
        {
            "name": PROJECT,
            "quotas": [{"metric": "GPUS_ALL_REGIONS", "limit": project[0], "usage": project[1]}],
        },
    )


def _secret(api: LoopbackApi, name: str, value: str) -> None:
    data = base64.b64encode(value.encode()).decode()
    api.answer("GET", f"{SECRETS}/{name}/versions/latest:access", {"name": name, "payload": {"data": data}})


def _by_name(found: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in found}


def test_spot_uses_preemptible_quota_when_the_region_grants_some(
    api: LoopbackApi, plan: DeploymentPlan
) -> None:
    _quotas(api, {"NVIDIA_L4_GPUS": (4, 2), "PREEMPTIBLE_NVIDIA_L4_GPUS": (2, 0)}, project=(8, 6))
    found = _by_name(checks(plan, _account(api)))
    standard = found[f"quota NVIDIA_L4_GPUS in {REGION}"]
    assert (standard.status, standard.detail) == (
        "ok",
        "needs 1 GPUs at max capacity; 2 of 4 left (2 in use)",
    )
    spot = found[f"quota PREEMPTIBLE_NVIDIA_L4_GPUS in {REGION}"]
    assert spot.status == "fail" and spot.detail.startswith("needs 3 GPUs at max capacity; 2 of 2 left")
    everywhere = found[f"quota GPUS_ALL_REGIONS (project {PROJECT})"]
    assert everywhere.status == "fail" and "needs 4 GPUs" in everywhere.detail


def test_without_preemptible_quota_spot_counts_against_the_standard_one(
    api: LoopbackApi, plan: DeploymentPlan
) -> None:
    _quotas(api, {"NVIDIA_L4_GPUS": (4, 0), "PREEMPTIBLE_NVIDIA_L4_GPUS": (0, 0)}, project=(16, 0))
    found = _by_name(checks(plan, _account(api)))
    standard = found[f"quota NVIDIA_L4_GPUS in {REGION} (standard and Spot VMs)"]
    assert (standard.status, standard.detail) == (
        "ok",
        "needs 4 GPUs at max capacity; 4 of 4 left (0 in use)",
    )
    assert not any(name.startswith("quota PREEMPTIBLE") for name in found)


def test_secrets_missing_json_or_plain(api: LoopbackApi, plan: DeploymentPlan) -> None:
    _quotas(api, {"NVIDIA_L4_GPUS": (8, 0)}, project=(8, 0))
    _secret(api, "doc-hf", "hf_plainValue\n")
    found = _by_name(checks(plan, _account(api)))
    assert found["secret doc-hf (models.chat.hf_token)"].status == "ok"
    missing = found["secret doc-api-key (access.api_key)"]
    assert missing.status == "fail"
    assert f"Secret Manager in project {PROJECT} has no secret doc-api-key" in missing.detail
    _secret(api, "doc-api-key", '{"key": "s3cr3t"}')
    json_key = _by_name(checks(plan, _account(api)))["secret doc-api-key (access.api_key)"]
    assert json_key.status == "fail" and "JSON object" in json_key.detail
    assert "s3cr3t" not in repr(json_key)


def test_refused_access_leaves_quotas_unknown_with_the_reason(api: LoopbackApi, plan: DeploymentPlan) -> None:
    api.answer(
        "GET", f"{API}/regions/{REGION}", google_error(403, "Required 'compute.regions.get'"), status=403
    )
    api.answer("GET", f"{SECRETS}/doc-hf/versions/latest:access", google_error(403, "denied"), status=403)
    found = _by_name(checks(plan, _account(api)))
    quotas = found[f"GPU quotas in {REGION}"]
    assert quotas.status == "unknown" and "compute.regions.get" in quotas.detail
    secret = found["secret doc-hf (models.chat.hf_token)"]
    assert secret.status == "unknown" and "roles/secretmanager.secretAccessor" in secret.detail
