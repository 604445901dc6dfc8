"""What both pipeline generators share: where things are, and the commands every job runs."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import PurePosixPath

from llmdeploy.ci.environments import CLOUDS, PipelineEnv
from llmdeploy.plan import endpoints

#: Folder of the Markdown pieces (cost, plans) that make up the pull request report.
REPORT_DIR = "llmdeploy-report"
CHECKOV_VENV = ".venv-checkov"


@dataclass(frozen=True)
class CiSettings:
    """Paths as the pipeline sees them (relative to the repository root) and the default branch.

    Attributes:
        outdir: where `llmdeploy synth` writes (cdktf.out).
        terraform_data: where `llmdeploy plan/apply` keep Terraform's working data per stack.
        plan_file: the saved plan `llmdeploy plan` leaves in each stack folder.
    """

    env_dir: PurePosixPath
    outdir: PurePosixPath
    terraform_data: PurePosixPath
    plan_file: str
    branch: str = "main"

    def stack_dir(self, stack: str) -> str:
        return str(endpoints.stack_dir(self.outdir, stack))

    def data_dir(self, stack: str) -> str:
        return str(self.terraform_data / stack)


def install_command(envs: list[PipelineEnv]) -> str:
    """pip-install this checkout with the extras of every cloud in use."""
    extras = ",".join(cloud for cloud in CLOUDS if any(cloud in env.clouds for env in envs))
    return f'python -m pip install -e ".[{extras}]"'


def checkov_commands() -> list[str]:
    """checkov lives in its own venv (its pins conflict with llmdeploy's), as scripts/setup does it."""
    return [
        f"python -m venv {CHECKOV_VENV}",
        f"{CHECKOV_VENV}/bin/python -m pip install --quiet -r requirements/checkov.txt",
        f"llmdeploy ci checkov --checkov {CHECKOV_VENV}/bin/checkov",
    ]


def names(envs: list[PipelineEnv]) -> str:
    return shlex.join(env.name for env in envs)


def terraform_validate(settings: CiSettings, stack: str, data_dir: str) -> str:
    """Validate a stack without credentials or state: the only place GCP/Azure stacks are checked
    by their real providers (machines without those providers skip it)."""
    folder = settings.stack_dir(stack)
    return (
        f'TF_DATA_DIR="{data_dir}" terraform -chdir={folder} init -backend=false -input=false -no-color\n'
        f'TF_DATA_DIR="{data_dir}" terraform -chdir={folder} validate -no-color\n'
    )
