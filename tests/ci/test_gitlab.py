"""`llmdeploy ci gitlab`: a .gitlab-ci.yml that GitLab's schema accepts, using only documented keywords."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.ci.conftest import Invoke, load_yaml
from tests.tools import venv_tool

FILE = Path(".gitlab-ci.yml")
PLANNED = ["dev-aws", "staging-aws", "staging-gcp", "prod-aws", "prod-gcp", "prod-azure"]
#: The keyword lists of GitLab's "CI/CD YAML syntax reference" (docs.gitlab.com/ci/yaml/).
GLOBAL_KEYWORDS = {"default", "include", "stages", "variables", "workflow"}
DEFAULT_KEYWORDS = {
    "after_script", "artifacts", "before_script", "cache", "hooks", "id_tokens", "image",
    "interruptible", "retry", "services", "tags", "timeout",
}  # fmt: skip
JOB_KEYWORDS = {
    "after_script", "allow_failure", "artifacts", "before_script", "cache", "coverage",
    "dast_configuration", "dependencies", "environment", "extends", "hooks", "identity", "id_tokens",
    "image", "inherit", "interruptible", "manual_confirmation", "needs", "pages", "parallel", "release",
    "resource_group", "retry", "rules", "run", "script", "secrets", "services", "stage", "tags",
    "timeout", "trigger", "variables", "when",
}  # fmt: skip


@pytest.fixture
def pipeline(invoke: Invoke) -> dict[str, Any]:
    result = invoke("ci", "gitlab")
    assert result.exit_code == 0, result.stderr
    assert f"wrote {FILE}" in result.stdout
    document: dict[str, Any] = load_yaml(FILE)
    return document


def _jobs(pipeline: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: job for name, job in pipeline.items() if name not in GLOBAL_KEYWORDS}


def _script(job: dict[str, Any]) -> str:
    return "\n".join(job["script"])


@pytest.mark.process
@pytest.mark.usefixtures("pipeline")
def test_gitlab_schema_accepts_it() -> None:
    """GitLab's own JSON schema of .gitlab-ci.yml, as vendored by check-jsonschema (offline)."""
    binary = venv_tool("check-jsonschema")
    if binary is None:
        pytest.skip("check-jsonschema is not installed (the dev extras install it)")
    checked = subprocess.run(
        [binary, "--builtin-schema", "vendor.gitlab-ci", str(FILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_only_documented_keywords(pipeline: dict[str, Any]) -> None:
    assert set(pipeline["default"]) <= DEFAULT_KEYWORDS
    for name, job in _jobs(pipeline).items():
        assert set(job) <= JOB_KEYWORDS, name


def test_needs_and_extends_name_existing_jobs_of_earlier_stages(pipeline: dict[str, Any]) -> None:
    jobs = _jobs(pipeline)
    stages = pipeline["stages"]
    for name, job in jobs.items():
        if name.startswith("."):
            continue
        assert job["extends"] in jobs
        for need in job.get("needs", []):
            assert stages.index(jobs[need]["stage"]) <= stages.index(job["stage"]), (name, need)


def test_merge_requests_plan_each_remote_state_stack(pipeline: dict[str, Any]) -> None:
    jobs = _jobs(pipeline)
    plans = [name for name in jobs if name.startswith("plan:")]
    assert plans == [f"plan:{stack}" for stack in PLANNED]
    for name in plans:
        job = jobs[name]
        env, cloud = name.removeprefix("plan:").rsplit("-", 1)
        assert job["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
        assert f"llmdeploy plan {env} --cloud {cloud}" in _script(job)
        assert f"terraform -chdir=cdktf.out/stacks/{env}-{cloud} validate" in _script(job)
        assert job["artifacts"]["reports"]["terraform"] == [f"plan-{env}-{cloud}.json"]
        assert all("APPLY" not in value for value in job["variables"].values())


def test_validate_job_exposes_the_cost_estimate(pipeline: dict[str, Any]) -> None:
    job = pipeline["validate"]
    assert "llmdeploy validate dev sandbox staging prod" in _script(job)
    assert "llmdeploy ci checkov" in _script(job)
    assert job["artifacts"]["expose_as"] == "cost estimate"


def test_default_branch_deploys_tier_by_tier_behind_environments(pipeline: dict[str, Any]) -> None:
    jobs = _jobs(pipeline)
    deploys = {name: job for name, job in jobs.items() if name.startswith("deploy:")}
    assert list(deploys) == ["deploy:dev", "deploy:staging", "deploy:prod"]
    assert deploys["deploy:dev"]["needs"] == ["validate"]
    assert deploys["deploy:staging"]["needs"] == ["deploy:dev"]
    assert deploys["deploy:prod"]["needs"] == ["deploy:staging"]
    tiers = {"dev": "development", "staging": "staging", "prod": "production"}
    for env, tier in tiers.items():
        job = deploys[f"deploy:{env}"]
        assert job["environment"] == {"name": env, "deployment_tier": tier}
        assert job["resource_group"] == f"llmdeploy-{env}" and job["interruptible"] is False
        # The smoke test runs last, after the apply: a model that does not serve fails the job.
        assert _script(job).endswith(f"llmdeploy apply {env} --auto-approve\nllmdeploy smoke {env}")
        assert ("when" in job["rules"][0]) is (env == "prod")  # prod also starts by hand


def test_clouds_are_reached_with_id_tokens(pipeline: dict[str, Any]) -> None:
    job = _jobs(pipeline)["deploy:prod"]
    assert job["id_tokens"] == {
        "AWS_ID_TOKEN": {"aud": "sts.amazonaws.com"},
        "GCP_ID_TOKEN": {"aud": "https://iam.googleapis.com/$PROD_GCP_WORKLOAD_IDENTITY_PROVIDER"},
        "AZURE_ID_TOKEN": {"aud": "api://AzureADTokenExchange"},
    }
    assert job["variables"]["AWS_ROLE_ARN"] == "$PROD_AWS_APPLY_ROLE_ARN"
    assert job["variables"]["ARM_USE_OIDC"] == "true"
    script = _script(job)
    assert '"type": "external_account"' in script and "${PROD_GCP_APPLY_SERVICE_ACCOUNT}" in script
    text = FILE.read_text(encoding="utf-8")
    assert "AWS_SECRET_ACCESS_KEY" not in text and "ARM_CLIENT_SECRET" not in text


def test_caches_pip_and_terraform_providers(pipeline: dict[str, Any]) -> None:
    assert pipeline["variables"]["TF_PLUGIN_CACHE_DIR"] == "$CI_PROJECT_DIR/.terraform-plugin-cache"
    caches = pipeline[".llmdeploy-tools"]["cache"]
    assert [cache["paths"] for cache in caches] == [[".cache/pip"], [".terraform-plugin-cache"]]


def test_header_lists_every_variable_to_set(pipeline: dict[str, Any]) -> None:
    header = FILE.read_text(encoding="utf-8").split("\n\n", 1)[0]
    for name in ("PROD_AWS_APPLY_ROLE_ARN", "STAGING_GCP_PLAN_SERVICE_ACCOUNT", "PROD_AZURE_TENANT_ID"):
        assert f"#   {name}: " in header
