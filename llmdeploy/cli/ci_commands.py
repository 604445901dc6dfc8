"""`llmdeploy ci github|gitlab|checkov`: write CI/CD pipelines, and the checkov gate they run."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Annotated

import typer

from llmdeploy.ci.checkov import find_checkov, scan
from llmdeploy.ci.environments import pipeline_envs
from llmdeploy.ci.generate import Platform, render, write
from llmdeploy.ci.settings import CiSettings
from llmdeploy.cli.app import DEFAULT_ENV_DIR, EnvDir, FlagsTakeNoValue, app, err, out, reported
from llmdeploy.cli.deploy_commands import DEFAULT_OUTDIR, TERRAFORM_DATA
from llmdeploy.errors import ConfigError, OperationError, Problem
from llmdeploy.plan.endpoints import stacks_dir
from llmdeploy.terraform.runner import PLAN_FILE

ci = typer.Typer(
    cls=FlagsTakeNoValue, help="CI/CD pipelines for this repository of environments.", no_args_is_help=True
)
app.add_typer(ci, name="ci")

Envs = Annotated[
    list[str] | None,
    typer.Argument(help="Environments to deploy (default: every file in --env-dir that none extends)."),
]


def _pipeline_command(platform: Platform, default_output: Path, summary: str) -> None:
    """Register `llmdeploy ci <platform>`: the two differ only in where their files go."""

    @ci.command(platform, help=summary)
    @reported
    def command(
        envs: Envs = None,
        env_dir: EnvDir = DEFAULT_ENV_DIR,
        output: Annotated[Path, typer.Option("--output", help="Folder to write to.")] = default_output,
        branch: Annotated[str, typer.Option("--branch", help="The branch whose merges deploy.")] = "main",
        force: Annotated[
            bool, typer.Option("--force", help="Replace files llmdeploy did not write.")
        ] = False,
    ) -> None:
        _generate(platform, envs or [], env_dir, output, branch, force)


_pipeline_command(
    "github",
    Path(".github/workflows"),
    "Write GitHub Actions workflows: plan on pull requests, deploy dev -> staging -> prod on merge.",
)
_pipeline_command(
    "gitlab",
    Path("."),
    "Write .gitlab-ci.yml: plan on merge requests, deploy dev -> staging -> prod on merge.",
)


DEFAULT_STACKS = stacks_dir(DEFAULT_OUTDIR)


@ci.command("checkov")
@reported
def checkov_command(
    root: Annotated[Path, typer.Argument(help="Folder of synthesized stacks.")] = DEFAULT_STACKS,
    checkov: Annotated[str | None, typer.Option("--checkov", help="The checkov binary.")] = None,
) -> None:
    """Scan synthesized stacks with checkov, honouring the skips recorded in code; exit 1 on a failure."""
    binary = checkov or find_checkov(Path.cwd())
    if binary is None:
        raise OperationError(
            "checkov is not installed. Run scripts/setup (it installs checkov into .venv-checkov), "
            "or pass --checkov PATH."
        )
    if not root.is_dir():
        raise OperationError(f"No synthesized stacks in {root}. Run `llmdeploy synth ENV...` first.")
    result = scan(binary, root)
    for finding in result.skipped:
        out.print(f"skipped {finding.check} on {finding.resource}: {finding.reason}", markup=False)
    for finding in result.failed:
        err.print(f"FAILED {finding.check} on {finding.resource} ({finding.file})", markup=False)
    out.print(f"checkov: {result.passed} passed, {len(result.failed)} failed, {len(result.skipped)} skipped")
    if result.failed:
        raise OperationError(
            f"checkov found {len(result.failed)} failed check(s) in {root}. Fix the resource, or, where a "
            "check does not fit, skip it in code next to the resource with a one-line reason."
        )


def _generate(
    platform: Platform, names: list[str], env_dir: Path, output: Path, branch: str, force: bool
) -> None:
    envs = pipeline_envs(env_dir, names)
    settings = CiSettings(
        env_dir=_repository_path(env_dir),
        outdir=_repository_path(DEFAULT_OUTDIR),
        terraform_data=_repository_path(TERRAFORM_DATA),
        plan_file=PLAN_FILE,
        branch=branch,
    )
    files = render(platform, envs, settings, output)
    write(files, force)
    for entry in files:
        out.print(f"wrote {entry.path}")
    local = [env.name for env in envs if not env.deployable]
    if local:
        err.print(
            f"note: {', '.join(local)} keep local Terraform state, so CI validates them but does not "
            "plan or deploy them; set state.backend (s3, gcs or azurerm) to change that.",
            highlight=False,
        )


def _repository_path(path: Path) -> PurePosixPath:
    """`path` as the pipeline sees it: relative to the repository root (the current folder)."""
    if path.is_absolute():
        try:
            path = path.relative_to(Path.cwd())
        except ValueError:
            raise ConfigError(
                [Problem(f"{path} is outside the repository", hint="run from the repository root")]
            ) from None
    return PurePosixPath(path.as_posix())
