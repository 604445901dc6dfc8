"""GitHub Actions workflows: `llmdeploy-pr.yml` (plan on pull requests) and `llmdeploy-deploy.yml`.

Pull request: one job validates, synthesizes, scans with checkov and estimates cost; then one job
per stack runs `terraform validate` and `llmdeploy plan` with the read-only identity; a last job
posts the cost and every plan as one pull request comment, updated in place on each push.
Default branch: one job per environment runs `llmdeploy apply`, then `llmdeploy smoke`, tier
after tier, each in the GitHub environment of the same name, whose protection rules (required
reviewers, wait timers, branch policies) gate it.
"""

from __future__ import annotations

from typing import Any

from llmdeploy.catalog import Cloud
from llmdeploy.ci import versions
from llmdeploy.ci.credentials import Login, Purpose, logins
from llmdeploy.ci.document import Document
from llmdeploy.ci.environments import TIERS, PipelineEnv
from llmdeploy.ci.settings import (
    REPORT_DIR,
    CiSettings,
    checkov_commands,
    install_command,
    names,
    terraform_validate,
)

PR_WORKFLOW = "llmdeploy-pr.yml"
DEPLOY_WORKFLOW = "llmdeploy-deploy.yml"
#: Marks the pull request comment this workflow owns, so a new push edits it instead of adding one.
COMMENT_MARKER = "<!-- llmdeploy:plan -->"
Step = dict[str, Any]
CLOUD_NAMES = {"aws": "AWS", "gcp": "GCP", "azure": "Azure"}
#: Per cloud: the login action, and which of its inputs takes which identity field.
_LOGIN_ACTIONS: dict[Cloud, tuple[str, dict[str, str]]] = {
    "aws": (versions.AWS_CREDENTIALS, {"role-to-assume": "role_arn"}),
    "gcp": (
        versions.GCP_AUTH,
        {"workload_identity_provider": "workload_identity_provider", "service_account": "service_account"},
    ),
    "azure": (
        versions.AZURE_LOGIN,
        {"client-id": "client_id", "tenant-id": "tenant_id", "subscription-id": "subscription_id"},
    ),
}

_COMMENT_SCRIPT = """\
const fs = require('fs');
const dir = '%(dir)s';
const marker = '%(marker)s';
const files = fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
const parts = files.map((f) => fs.readFileSync(`${dir}/${f}`, 'utf8'));
const repo = context.repo;
const run = `${context.serverUrl}/${repo.owner}/${repo.repo}/actions/runs/${context.runId}`;
const body = [marker, '## llmdeploy', ...parts, `Full plans: [run summary](${run})`].join('\\n\\n');
const issue = {...repo, issue_number: context.issue.number};
const comments = await github.paginate(github.rest.issues.listComments, issue);
const mine = comments.find((c) => (c.body || '').startsWith(marker));
if (mine) {
  await github.rest.issues.updateComment({...repo, comment_id: mine.id, body});
} else {
  await github.rest.issues.createComment({...issue, body});
}
"""


def workflows(envs: list[PipelineEnv], settings: CiSettings) -> dict[str, Document]:
    """File name -> workflow document."""
    return {PR_WORKFLOW: pull_request(envs, settings), DEPLOY_WORKFLOW: deploy(envs, settings)}


def pull_request(envs: list[PipelineEnv], settings: CiSettings) -> Document:
    jobs: dict[str, Any] = {"validate": _validate_job(envs)}
    for index, (env, cloud) in enumerate(_planned_stacks(envs), start=1):
        jobs[_job_id("plan", env, cloud)] = _plan_job(env, cloud, index, envs, settings)
    if len(jobs) > 1:
        jobs["comment"] = _comment_job(list(jobs))
    return {
        "name": "llmdeploy plan",
        "on": {"pull_request": {"branches": [settings.branch]}},
        "permissions": {"contents": "read"},
        "concurrency": {
            "group": "llmdeploy-plan-${{ github.event.pull_request.number }}",
            "cancel-in-progress": True,
        },
        "env": _workflow_env(envs, settings),
        "defaults": {"run": {"shell": "bash"}},
        "jobs": jobs,
    }


def deploy(envs: list[PipelineEnv], settings: CiSettings) -> Document:
    jobs: dict[str, Any] = {}
    previous: list[str] = []
    for tier in TIERS:
        current = [env for env in envs if env.tier == tier and env.deployable]
        for env in current:
            jobs[_job_id("deploy", env)] = _deploy_job(env, previous, envs, settings)
        previous = [_job_id("deploy", env) for env in current] or previous
    return {
        "name": "llmdeploy deploy",
        "on": {"push": {"branches": [settings.branch]}, "workflow_dispatch": {}},
        "permissions": {"contents": "read"},
        # Never cancel a running apply: a second merge waits for the first to finish.
        "concurrency": {"group": "llmdeploy-deploy", "cancel-in-progress": False},
        "env": _workflow_env(envs, settings),
        "defaults": {"run": {"shell": "bash"}},
        "jobs": jobs or {"nothing": _nothing_job()},
    }


def _planned_stacks(envs: list[PipelineEnv]) -> list[tuple[PipelineEnv, Cloud | None]]:
    return [(env, unit) for env in envs if env.deployable for unit in env.plan_units]


def _job_id(kind: str, env: PipelineEnv, cloud: Cloud | None = None) -> str:
    return f"{kind}-{env.name}" + (f"-{cloud}" if cloud else "")


def _workflow_env(envs: list[PipelineEnv], settings: CiSettings) -> dict[str, str]:
    variables = sorted({name for env in envs for name in env.variables})
    return {
        "LLMDEPLOY_ENV_DIR": str(settings.env_dir),
        "TF_IN_AUTOMATION": "1",
        "TF_PLUGIN_CACHE_DIR": "${{ github.workspace }}/.terraform-plugin-cache",
        # Lock files are not committed (synth output is generated), so let the cache serve anyway.
        "TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE": "true",
        **{name: f"${{{{ vars.{name} }}}}" for name in variables},
    }


def _setup(envs: list[PipelineEnv], terraform: bool) -> list[Step]:
    steps: list[Step] = [
        {"uses": versions.CHECKOUT},
        {
            "uses": versions.SETUP_PYTHON,
            "with": {
                "python-version": versions.PYTHON,
                "cache": "pip",
                "cache-dependency-path": "pyproject.toml",
            },
        },
        {"uses": versions.SETUP_NODE, "with": {"node-version": versions.NODE}},
    ]
    if terraform:
        steps.append(
            {
                "uses": versions.SETUP_TERRAFORM,
                # The wrapper script would swallow the exit codes and -json streams llmdeploy reads.
                "with": {"terraform_version": versions.TERRAFORM, "terraform_wrapper": False},
            }
        )
        steps.append(
            {
                "name": "Restore Terraform providers",
                "uses": versions.CACHE_RESTORE,
                "with": {
                    "path": "${{ env.TF_PLUGIN_CACHE_DIR }}",
                    "key": "terraform-providers-${{ runner.os }}-",
                    "restore-keys": "terraform-providers-${{ runner.os }}-",
                },
            }
        )
    steps.append({"name": "Install llmdeploy", "run": install_command(envs)})
    return steps


def _save_providers(settings: CiSettings) -> Step:
    """Saved under the hash of the lock files `init` wrote, so new provider versions get a new entry."""
    locks = f"{settings.outdir}/stacks/*/.terraform.lock.hcl"
    return {
        "name": "Save Terraform providers",
        "if": "always()",
        "uses": versions.CACHE_SAVE,
        "with": {
            "path": "${{ env.TF_PLUGIN_CACHE_DIR }}",
            "key": f"terraform-providers-${{{{ runner.os }}}}-${{{{ hashFiles('{locks}') }}}}",
        },
    }


def _validate_job(envs: list[PipelineEnv]) -> dict[str, Any]:
    listed = names(envs)
    cost = (
        f"mkdir -p {REPORT_DIR}\n"
        "{\n"
        '  echo "### Cost estimate"\n'
        f"  for env in {listed}; do\n"
        '    echo "#### $env"\n'
        "    echo '```'\n"
        '    llmdeploy cost "$env"\n'
        "    echo '```'\n"
        "  done\n"
        f"}} > {REPORT_DIR}/00-cost.md\n"
        f'cat {REPORT_DIR}/00-cost.md >> "$GITHUB_STEP_SUMMARY"\n'
    )
    return {
        "name": "validate, synth, checkov, cost",
        "runs-on": versions.RUNNER,
        "steps": [
            *_setup(envs, terraform=False),
            {"name": "Validate environments", "run": f"llmdeploy validate {listed}"},
            {"name": "Synthesize", "run": f"llmdeploy synth {listed}"},
            {"name": "checkov", "run": "\n".join(checkov_commands()) + "\n"},
            {"name": "Cost estimate", "run": cost},
            _upload("llmdeploy-report-cost"),
        ],
    }


def _plan_job(
    env: PipelineEnv, cloud: Cloud | None, index: int, envs: list[PipelineEnv], settings: CiSettings
) -> dict[str, Any]:
    stacks = env.stacks_of(cloud)
    unit = _job_id("plan", env, cloud).removeprefix("plan-")
    report = f"{REPORT_DIR}/{index:02d}-{unit}.md"
    only = f" --cloud {cloud}" if cloud else ""
    return {
        "name": f"plan {unit}",
        "needs": "validate",
        "runs-on": versions.RUNNER,
        "permissions": {"contents": "read", "id-token": "write"},
        **_azure_env(env, "plan", cloud),
        "steps": [
            *_setup(envs, terraform=True),
            {"name": "Synthesize", "run": f'mkdir -p "$TF_PLUGIN_CACHE_DIR"\nllmdeploy synth {env.name}\n'},
            {
                "name": "terraform validate",
                "run": "".join(
                    terraform_validate(settings, stack, f"$PWD/.llmdeploy/validate/{stack}")
                    for stack in stacks
                ),
            },
            *_login_steps(logins(env, "plan", cloud)),
            {"name": "Plan", "id": "plan", "run": f"llmdeploy plan {env.name}{only} 2>&1 | tee plan.txt\n"},
            {
                "name": "Plan summary",
                "if": "always() && steps.plan.outcome != 'skipped'",
                "run": _plan_summary(unit, report, stacks, settings),
            },
            _upload(f"llmdeploy-report-{unit}", condition="always() && steps.plan.outcome != 'skipped'"),
            _save_providers(settings),
        ],
    }


def _plan_summary(unit: str, report: str, stacks: tuple[str, ...], settings: CiSettings) -> str:
    """The plan table for the comment; each saved plan in full for the run summary only."""
    script = (
        f"mkdir -p {REPORT_DIR}\n"
        f"{{ echo '### {unit}'; echo '```'; cat plan.txt; echo '```'; }} > {report}\n"
        f'cat {report} >> "$GITHUB_STEP_SUMMARY"\n'
    )
    for stack in stacks:
        script += (
            f"if [ -f {settings.stack_dir(stack)}/{settings.plan_file} ]; then\n"
            "  {\n"
            f"    echo '<details><summary>terraform show: {stack}</summary>'; echo; echo '```'\n"
            f'    TF_DATA_DIR="$PWD/{settings.data_dir(stack)}" '
            f"terraform -chdir={settings.stack_dir(stack)} show -no-color {settings.plan_file}\n"
            "    echo '```'; echo '</details>'\n"
            '  } >> "$GITHUB_STEP_SUMMARY"\n'
            "fi\n"
        )
    return script


def _deploy_job(
    env: PipelineEnv, needs: list[str], envs: list[PipelineEnv], settings: CiSettings
) -> dict[str, Any]:
    job: dict[str, Any] = {"name": f"deploy {env.name}"}
    if needs:
        job["needs"] = needs
    summary = _step_summary(env.name, "apply.txt")
    return job | {
        "runs-on": versions.RUNNER,
        # The GitHub environment's protection rules (reviewers, wait timer, branches) gate this job.
        "environment": env.name,
        "permissions": {"contents": "read", "id-token": "write"},
        **_azure_env(env, "apply"),
        "steps": [
            *_setup(envs, terraform=True),
            {"name": "Prepare provider cache", "run": 'mkdir -p "$TF_PLUGIN_CACHE_DIR"'},
            *_login_steps(logins(env, "apply")),
            {
                "name": "Apply",
                "id": "apply",
                "run": f"llmdeploy apply {env.name} --auto-approve 2>&1 | tee apply.txt\n",
            },
            {"name": "Apply summary", "if": "always() && steps.apply.outcome != 'skipped'", "run": summary},
            {
                # Every model on every cloud lists its model id and streams tokens (exit 1 otherwise).
                "name": "Smoke test",
                "id": "smoke",
                "run": f"llmdeploy smoke {env.name} 2>&1 | tee smoke.txt\n",
            },
            {
                "name": "Smoke test summary",
                "if": "always() && steps.smoke.outcome != 'skipped'",
                "run": _step_summary(f"{env.name}: smoke", "smoke.txt"),
            },
            _save_providers(settings),
        ],
    }


def _step_summary(title: str, output: str) -> str:
    """A command's saved output under a heading in the job's summary."""
    return f"{{ echo \"### {title}\"; echo '```'; cat {output}; echo '```'; }} >> \"$GITHUB_STEP_SUMMARY\"\n"


def _comment_job(jobs: list[str]) -> dict[str, Any]:
    return {
        "name": "pull request comment",
        "needs": jobs,
        # Pull requests from forks get a read-only token: their report stays in the run summary.
        "if": "always() && github.event.pull_request.head.repo.full_name == github.repository",
        "runs-on": versions.RUNNER,
        "permissions": {"contents": "read", "pull-requests": "write"},
        "steps": [
            {
                "uses": versions.DOWNLOAD_ARTIFACT,
                "with": {"pattern": "llmdeploy-report-*", "merge-multiple": True, "path": REPORT_DIR},
            },
            {
                "uses": versions.GITHUB_SCRIPT,
                "with": {"script": _COMMENT_SCRIPT % {"dir": REPORT_DIR, "marker": COMMENT_MARKER}},
            },
        ],
    }


def _nothing_job() -> dict[str, Any]:
    return {
        "name": "no environment with remote state",
        "runs-on": versions.RUNNER,
        "steps": [
            {
                "run": "echo 'Every environment keeps local Terraform state, which a CI machine would lose: "
                "set state.backend (s3, gcs or azurerm) and regenerate this workflow.'"
            }
        ],
    }


def _upload(name: str, condition: str = "success()") -> Step:
    return {
        "uses": versions.UPLOAD_ARTIFACT,
        "if": condition,
        "with": {"name": name, "path": REPORT_DIR, "if-no-files-found": "ignore", "retention-days": 7},
    }


def _login_steps(entries: tuple[Login, ...]) -> list[Step]:
    return [_login_step(login) for login in entries]


def _login_step(login: Login) -> Step:
    action, inputs = _LOGIN_ACTIONS[login.cloud]
    var = _variables(login)
    given = {name: var[field] for name, field in inputs.items()}
    if login.cloud == "aws":
        given |= {
            "aws-region": login.env.aws_region or "us-east-1",
            "role-session-name": "llmdeploy-${{ github.run_id }}",
        }
    return {
        "name": f"{CLOUD_NAMES[login.cloud]} credentials (OIDC, {login.purpose})",
        "uses": action,
        "with": given,
    }


def _variables(login: Login) -> dict[str, str]:
    """Identity field -> the expression reading its CI variable."""
    return {field: f"${{{{ vars.{name} }}}}" for field, name in login.variables.items()}


def _azure_env(env: PipelineEnv, purpose: Purpose, cloud: Cloud | None = None) -> dict[str, Any]:
    """Terraform's azurerm provider logs in by itself with the job's OIDC token given these."""
    azure = [login for login in logins(env, purpose, cloud) if login.cloud == "azure"]
    if not azure:
        return {}
    var = _variables(azure[0])
    return {
        "env": {
            "ARM_USE_OIDC": "true",
            "ARM_CLIENT_ID": var["client_id"],
            "ARM_TENANT_ID": var["tenant_id"],
            "ARM_SUBSCRIPTION_ID": var["subscription_id"],
        }
    }
