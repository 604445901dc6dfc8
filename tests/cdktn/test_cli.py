"""The CDK Terrain CLI as users run it (`scripts/cdktn`, installed by scripts/setup): synth, deploy,
diff and destroy of `dev-aws` on the local emulator, sharing state with `llmdeploy`; and the archived
`cdktf` CLI on the same stacks.

One deploy serves the module (the AWS provider waits about a minute after creating a load balancer).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmdeploy.ci.environments import pipeline_envs
from llmdeploy.cli.local_commands import local_environ
from tests.conftest import EXAMPLE_VARIABLES, EXAMPLES, REPO
from tests.e2e.project import CLI_TIMEOUT_S, Project, local_project

pytestmark = [pytest.mark.terraform, pytest.mark.synth]

CDKTN = REPO / "scripts" / "cdktn"
STACK = "dev-aws"
#: cdktn locks providers for other platforms through the registry on a stack's first init; offline, the
#: provider mirror is all there is, so the tests (and the README, for offline machines) skip that step.
OFFLINE = "--skip-provider-lock"
#: The environment of dev with a global DNS stack, which reads the endpoints of its cloud stack.
GLOBAL_DNS = """
access: {scheme: internet-facing, allowed_cidrs: [0.0.0.0/0], require_api_key: false}
global_dns: {zone: example.com, name: api, routing: failover}
"""


def _plain(text: str) -> str:
    """CLI output without colours and spinner redraws."""
    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)


def cdktn(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(CDKTN), *args], cwd=root, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S
    )
    return subprocess.CompletedProcess(done.args, done.returncode, _plain(done.stdout), _plain(done.stderr))


def _project_files(root: Path) -> None:
    """What a checkout gives `cdktn`: cdktf.json and the venv it names."""
    (root / "cdktf.json").write_text((REPO / "cdktf.json").read_text(encoding="utf-8"), encoding="utf-8")
    (root / ".venv").symlink_to(REPO / ".venv")


def _without_example_variables(env: dict[str, str]) -> dict[str, str]:
    """`env` as on a machine where nobody set the ids the examples reference."""
    return {key: value for key, value in env.items() if key not in EXAMPLE_VARIABLES}


def _synthesized(root: Path, outdir: str) -> set[str]:
    return {path.name for path in (root / outdir / "stacks").iterdir()}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, terraform_cli_env: dict[str, str]) -> Iterator[Project]:
    assert CDKTN.exists()
    root = tmp_path_factory.mktemp("cdktn")
    with local_project(root, "cdktncli", terraform_cli_env["LLMDEPLOY_CACHE_DIR"]) as project:
        _project_files(root)
        project.env = _without_example_variables(
            {**project.env, **local_environ(root / ".llmdeploy" / "local")}
        )
        yield project


@pytest.fixture(scope="module")
def deployed(project: Project) -> Project:
    done = cdktn(project.root, project.env, "deploy", STACK, "--auto-approve", OFFLINE)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return project


def test_synth_without_variables_builds_every_example_it_can_and_names_the_rest(project: Project) -> None:
    done = cdktn(project.root, project.env, "synth")
    assert done.returncode == 0, done.stderr
    dev_stacks = next(env for env in pipeline_envs(EXAMPLES) if env.name == "dev").stacks
    assert _synthesized(project.root, "cdktn.out") == set(dev_stacks)
    # cdktn relays what the app prints on stderr among its own log lines on stdout.
    said = done.stdout + done.stderr
    assert "skipped staging: set GCP_PROJECT to synthesize it" in said
    assert "skipped prod: set AWS_ACCOUNT_ID, AZURE_SUBSCRIPTION_ID, GCP_PROJECT" in said


def test_synth_with_the_variables_builds_every_example(project: Project) -> None:
    done = cdktn(project.root, {**project.env, **EXAMPLE_VARIABLES}, "synth")
    assert done.returncode == 0, done.stderr
    expected = {stack for env in pipeline_envs(EXAMPLES) for stack in env.stacks}
    assert _synthesized(project.root, "cdktn.out") == expected
    assert "skipped" not in done.stdout + done.stderr


def test_cdktn_and_llmdeploy_synth_leave_each_other_s_stacks_alone(project: Project) -> None:
    assert project.run("synth", "dev").returncode == 0
    done = cdktn(project.root, {**project.env, "LLMDEPLOY_ENVS": "dev"}, "synth")
    assert done.returncode == 0, done.stderr
    assert STACK in _synthesized(project.root, "cdktf.out")
    assert project.run("synth", "dev", "--force").returncode == 0
    assert STACK in _synthesized(project.root, "cdktn.out")


def test_the_global_stack_is_deployed_after_the_cloud_stacks_it_reads(tmp_path: Path) -> None:
    _project_files(tmp_path)
    envs = tmp_path / "environments"
    envs.mkdir()
    (envs / "base.yaml").write_text((EXAMPLES / "base.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    dev = (EXAMPLES / "dev.yaml").read_text(encoding="utf-8")
    (envs / "dev.yaml").write_text(dev + GLOBAL_DNS, encoding="utf-8")
    env = {
        **_without_example_variables(dict(os.environ)),
        "LLMDEPLOY_ENV_DIR": str(envs),
        "LLMDEPLOY_ENVS": "dev",
    }
    done = cdktn(tmp_path, env, "synth")
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "cdktn.out" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["stacks"]["dev-global"]["dependencies"] == [STACK]


def test_llmdeploy_plan_show_lists_each_resource_and_how_it_would_change(project: Project) -> None:
    """Before anything exists (issue 14: `plan` showed only counts)."""
    done = project.run("plan", "dev", "--cloud", "aws", "--local", "--show")
    assert done.returncode == 0, done.stdout + done.stderr
    listed = [line for line in done.stdout.splitlines() if line.startswith(f"{STACK}: ")]
    assert f"{STACK}: create aws_lb.LoadBalancer_10456B95" in "\n".join(listed)
    assert all(line.split()[1] == "create" for line in listed)
    assert len(listed) > 30


def test_deploy_creates_the_fleet(deployed: Project) -> None:
    groups = deployed.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    assert groups
    assert all(group["AutoScalingGroupName"].startswith("cdktncli-dev-") for group in groups)


def test_diff_after_deploy_changes_nothing(deployed: Project) -> None:
    done = cdktn(deployed.root, deployed.env, "diff", STACK, OFFLINE)
    assert done.returncode == 0, done.stderr
    assert "No changes. Your infrastructure matches the configuration." in done.stdout


def test_the_archived_cdktf_cli_works_on_the_same_stacks(deployed: Project) -> None:
    done = cdktn(deployed.root, {**deployed.env, "LLMDEPLOY_CDK_CLI": "cdktf"}, "diff", STACK, OFFLINE)
    assert done.returncode == 0, done.stderr
    assert "No changes. Your infrastructure matches the configuration." in done.stdout


def test_llmdeploy_plans_against_the_state_cdktn_wrote(deployed: Project) -> None:
    done = deployed.run("plan", "dev", "--cloud", "aws", "--local")
    assert done.returncode == 0, done.stdout + done.stderr
    row = next(line for line in done.stdout.splitlines() if STACK in line)
    assert [int(count) for count in re.findall(r"\b\d+\b", row)][:3] == [0, 0, 0], done.stdout


def test_destroy_leaves_nothing(deployed: Project) -> None:
    done = cdktn(deployed.root, deployed.env, "destroy", STACK, "--auto-approve", OFFLINE)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert deployed.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"] == []
    assert deployed.client("elbv2").describe_load_balancers()["LoadBalancers"] == []
