"""GitLab CI: one `.gitlab-ci.yml` with validate, plan (merge requests) and deploy (default branch).

Merge request: `validate` checks, synthesizes, scans with checkov and estimates cost (exposed in the
merge request as an artifact); one `plan:<stack>` job per stack runs `terraform validate` and
`llmdeploy plan` and reports the counts as a Terraform report, which GitLab shows in the merge
request. Default branch: one `deploy:<env>` job per environment (apply, then smoke), tier after
tier, each in the GitLab environment of the same name (protect it and add approval rules in the
project settings); prod-tier jobs also wait for a person to start them. Clouds are reached with
`id_tokens` (OIDC).
"""

from __future__ import annotations

import json
from typing import Any

from llmdeploy.catalog import Cloud
from llmdeploy.ci import versions
from llmdeploy.ci.credentials import Login, logins
from llmdeploy.ci.document import Document
from llmdeploy.ci.environments import TIERS, PipelineEnv
from llmdeploy.ci.settings import CiSettings, checkov_commands, install_command, names, terraform_validate
from llmdeploy.config.environment import Tier

FILE = ".gitlab-ci.yml"
TOOLS = ".llmdeploy-tools"
_DEPLOYMENT_TIERS: dict[Tier, str] = {"dev": "development", "staging": "staging", "prod": "production"}
_ON_MERGE_REQUEST = {"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}
#: GitLab's own conversion of a plan into the counts its merge request widget shows.
_REPORT_FILTER = (
    "([.resource_changes[]?.change.actions?] | flatten) | "
    '{"create": (map(select(. == "create")) | length), '
    '"update": (map(select(. == "update")) | length), '
    '"delete": (map(select(. == "delete")) | length)}'
)
_INSTALL_TERRAFORM = """\
cd /tmp
base="https://releases.hashicorp.com/terraform/${TERRAFORM_VERSION}"
curl -fsSLO "${base}/terraform_${TERRAFORM_VERSION}_SHA256SUMS"
curl -fsSLO "${base}/terraform_${TERRAFORM_VERSION}_linux_amd64.zip"
grep "_linux_amd64.zip" "terraform_${TERRAFORM_VERSION}_SHA256SUMS" | sha256sum -c -
unzip -o -q "terraform_${TERRAFORM_VERSION}_linux_amd64.zip" -d /usr/local/bin
cd "$CI_PROJECT_DIR"
"""
#: Workload Identity Federation credentials for Google's SDKs and Terraform provider: the job's
#: token, exchanged by Google's STS, then used to impersonate the service account.
_GCP_CREDENTIALS = {
    "type": "external_account",
    "audience": "//iam.googleapis.com/${%(provider)s}",
    "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
    "token_url": "https://sts.googleapis.com/v1/token",
    "credential_source": {"file": "/tmp/gcp-id-token"},
    "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/"
    "serviceAccounts/${%(account)s}:generateAccessToken",
}


def pipeline(envs: list[PipelineEnv], settings: CiSettings) -> Document:
    on_branch = {"if": f'$CI_COMMIT_BRANCH == "{settings.branch}" && $CI_PIPELINE_SOURCE == "push"'}
    document: Document = {
        "workflow": {"rules": [_ON_MERGE_REQUEST, on_branch]},
        "stages": ["validate", "plan", "deploy"],
        "variables": _variables(settings),
        "default": {"image": versions.GITLAB_IMAGE},
        TOOLS: _tools(envs),
        "validate": _validate_job(envs),
    }
    for env in envs:
        if env.deployable:
            for cloud in env.plan_units:
                document[f"plan:{env.name}" + (f"-{cloud}" if cloud else "")] = _plan_job(
                    env, cloud, settings
                )
    document.update(_deploy_jobs(envs, on_branch))
    return document


def _variables(settings: CiSettings) -> dict[str, str]:
    return {
        "LLMDEPLOY_ENV_DIR": str(settings.env_dir),
        "TERRAFORM_VERSION": versions.TERRAFORM,
        "TF_IN_AUTOMATION": "1",
        "TF_PLUGIN_CACHE_DIR": "$CI_PROJECT_DIR/.terraform-plugin-cache",
        # Lock files are not committed (synth output is generated), so let the cache serve anyway.
        "TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE": "true",
        "PIP_CACHE_DIR": "$CI_PROJECT_DIR/.cache/pip",
    }


def _tools(envs: list[PipelineEnv]) -> dict[str, Any]:
    """Hidden job every job extends: Python, Terraform, llmdeploy, and the caches."""
    return {
        "before_script": [
            "apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-venv unzip jq",
            _INSTALL_TERRAFORM,
            "python3 -m venv .venv",
            ". .venv/bin/activate",
            install_command(envs),
            'mkdir -p "$TF_PLUGIN_CACHE_DIR"',
        ],
        # pyproject.toml pins the provider bindings, whose constraints decide the provider versions.
        "cache": [
            {"key": {"files": ["pyproject.toml"], "prefix": "pip"}, "paths": [".cache/pip"]},
            {
                "key": {"files": ["pyproject.toml"], "prefix": "terraform-providers"},
                "paths": [".terraform-plugin-cache"],
            },
        ],
    }


def _validate_job(envs: list[PipelineEnv]) -> dict[str, Any]:
    listed = names(envs)
    return {
        "stage": "validate",
        "extends": TOOLS,
        "interruptible": True,
        "script": [
            f"llmdeploy validate {listed}",
            f"llmdeploy synth {listed}",
            *checkov_commands(),
            f"set -o pipefail\nfor env in {listed}; do\n"
            '  llmdeploy cost "$env"\n'
            "done | tee llmdeploy-cost.txt\n",
        ],
        "artifacts": {
            "expose_as": "cost estimate",
            "paths": ["llmdeploy-cost.txt"],
            "expire_in": "1 week",
            "when": "always",
        },
    }


def _plan_job(env: PipelineEnv, cloud: Cloud | None, settings: CiSettings) -> dict[str, Any]:
    stacks = env.stacks_of(cloud)
    entries = logins(env, "plan", cloud)
    only = f" --cloud {cloud}" if cloud else ""
    return {
        "stage": "plan",
        "extends": TOOLS,
        "needs": ["validate"],
        "interruptible": True,
        "rules": [_ON_MERGE_REQUEST],
        **_identity(entries),
        "script": [
            f"llmdeploy synth {env.name}",
            *(terraform_validate(settings, stack, f"$PWD/.llmdeploy/validate/{stack}") for stack in stacks),
            *_login_scripts(entries),
            f"llmdeploy plan {env.name}{only}",
            *(_terraform_report(stack, settings) for stack in stacks),
        ],
        "artifacts": {
            "reports": {"terraform": [f"plan-{stack}.json" for stack in stacks]},
            "expire_in": "1 week",
        },
    }


def _terraform_report(stack: str, settings: CiSettings) -> str:
    return (
        f'TF_DATA_DIR="$PWD/{settings.data_dir(stack)}" terraform -chdir={settings.stack_dir(stack)} '
        f"show -json {settings.plan_file} \\\n  | jq -r '{_REPORT_FILTER}' > plan-{stack}.json\n"
    )


def _deploy_jobs(envs: list[PipelineEnv], on_branch: dict[str, str]) -> dict[str, Any]:
    jobs: dict[str, Any] = {}
    previous = ["validate"]
    for tier in TIERS:
        current = [env for env in envs if env.tier == tier and env.deployable]
        for env in current:
            jobs[f"deploy:{env.name}"] = _deploy_job(env, previous, on_branch)
        previous = [f"deploy:{env.name}" for env in current] or previous
    return jobs


def _deploy_job(env: PipelineEnv, needs: list[str], on_branch: dict[str, str]) -> dict[str, Any]:
    entries = logins(env, "apply")
    rule: dict[str, str] = dict(on_branch)
    if env.tier == "prod":
        rule["when"] = "manual"
    return {
        "stage": "deploy",
        "extends": TOOLS,
        "needs": needs,
        # One apply at a time per environment; a deploy is never interrupted by a newer pipeline.
        "resource_group": f"llmdeploy-{env.name}",
        "interruptible": False,
        "environment": {"name": env.name, "deployment_tier": _DEPLOYMENT_TIERS[env.tier]},
        "rules": [rule],
        **_identity(entries),
        # The smoke test proves every model serves: a failure fails the deployment.
        "script": [
            *_login_scripts(entries),
            f"llmdeploy apply {env.name} --auto-approve",
            f"llmdeploy smoke {env.name}",
        ],
    }


def _identity(entries: tuple[Login, ...]) -> dict[str, Any]:
    """The job's OIDC tokens, and the variables that point each cloud's SDK and provider at them."""
    tokens: dict[str, Any] = {}
    variables: dict[str, str] = {}
    for login in entries:
        var = {field: f"${name}" for field, name in login.variables.items()}
        if login.cloud == "aws":
            tokens["AWS_ID_TOKEN"] = {"aud": "sts.amazonaws.com"}
            variables |= {
                "AWS_ROLE_ARN": var["role_arn"],
                "AWS_WEB_IDENTITY_TOKEN_FILE": "/tmp/aws-web-identity-token",
                "AWS_ROLE_SESSION_NAME": "llmdeploy-$CI_JOB_ID",
                "AWS_REGION": login.env.aws_region or "us-east-1",
            }
        elif login.cloud == "gcp":
            provider = login.variables["workload_identity_provider"]
            tokens["GCP_ID_TOKEN"] = {"aud": f"https://iam.googleapis.com/${provider}"}
            variables["GOOGLE_APPLICATION_CREDENTIALS"] = "/tmp/gcp-credentials.json"
        else:
            tokens["AZURE_ID_TOKEN"] = {"aud": "api://AzureADTokenExchange"}
            variables |= {
                "ARM_USE_OIDC": "true",
                "ARM_CLIENT_ID": var["client_id"],
                "ARM_TENANT_ID": var["tenant_id"],
                "ARM_SUBSCRIPTION_ID": var["subscription_id"],
            }
    return {"id_tokens": tokens, "variables": variables} if entries else {}


def _login_scripts(entries: tuple[Login, ...]) -> list[str]:
    scripts = []
    for login in entries:
        if login.cloud == "aws":
            scripts.append('printf \'%s\' "$AWS_ID_TOKEN" > "$AWS_WEB_IDENTITY_TOKEN_FILE"')
        elif login.cloud == "gcp":
            fields = login.variables
            names = {"provider": fields["workload_identity_provider"], "account": fields["service_account"]}
            config = json.dumps(_GCP_CREDENTIALS) % names
            scripts.append(
                "printf '%s' \"$GCP_ID_TOKEN\" > /tmp/gcp-id-token\n"
                f'cat > "$GOOGLE_APPLICATION_CREDENTIALS" <<EOF\n{config}\nEOF\n'
            )
        else:
            scripts.append('export ARM_OIDC_TOKEN="$AZURE_ID_TOKEN"')
    return scripts
