"""`llmdeploy init NAME`: a new environment file from a commented template, without questions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, get_args

import typer

from llmdeploy.atomic_write import write_atomically
from llmdeploy.boot.render import render
from llmdeploy.catalog import Cloud
from llmdeploy.cli.app import DEFAULT_ENV_DIR, EnvDir, app, out, reported
from llmdeploy.config.common import env_references
from llmdeploy.config.environment import Tier
from llmdeploy.errors import ConfigError, Problem

TEMPLATE = "init/environment.yaml.j2"
SCHEMA_FILE = "llmdeploy.schema.json"
TIERS: tuple[Tier, ...] = get_args(Tier)
CLOUDS: tuple[Cloud, ...] = get_args(Cloud)
_SLUG = re.compile(r"^[a-z][a-z0-9-]{0,18}[a-z0-9]$")
_DEFAULT_PROJECT = "llmdeploy"


@app.command("init")
@reported
def init(
    name: Annotated[str, typer.Argument(help="Environment name: the file becomes --env-dir/NAME.yaml.")],
    cloud: Annotated[
        list[str] | None, typer.Option("--cloud", help="aws, gcp or azure (repeat it). Default: aws.")
    ] = None,
    project: Annotated[
        str | None, typer.Option("--project", help="Project name. Default: this folder's name.")
    ] = None,
    tier: Annotated[
        Tier | None,
        typer.Option("--tier", help="dev, staging or prod. Default: NAME if it is one, else dev."),
    ] = None,
    env_dir: EnvDir = DEFAULT_ENV_DIR,
) -> None:
    """Write a commented environment file that validates as it is; never overwrites one."""
    path = env_dir / f"{name}.yaml"
    chosen_project = project or _folder_project(Path.cwd())
    _check(name, chosen_project, cloud or [], path)
    clouds = [entry for entry in CLOUDS if entry in (cloud or ["aws"])]
    text = render(
        TEMPLATE,
        {
            "name": name,
            "project": chosen_project,
            "tier": tier or (name if name in TIERS else "dev"),
            "clouds": clouds,
            "schema": (env_dir / SCHEMA_FILE).is_file(),
        },
    )
    write_atomically(path, text)
    out.print(f"wrote {path}: {', '.join(clouds)}; edit it, then run `llmdeploy validate {name}`")
    variables = sorted({ref for line in text.splitlines() for ref in env_references(line.split("#")[0])})
    if variables:
        out.print(f"it reads {', '.join(variables)} from the shell: export them before validating")


def _check(name: str, project: str, clouds: list[str], path: Path) -> None:
    problems = [
        Problem(
            f"{what} {value!r} is not a valid name", hint="2-20 of a-z, 0-9 and -, starting with a letter"
        )
        for what, value in (("environment", name), ("project", project))
        if not _SLUG.match(value)
    ]
    problems += [
        Problem(f"unknown cloud {entry!r}", hint=f"use {', '.join(CLOUDS)}")
        for entry in clouds
        if entry not in CLOUDS
    ]
    if path.exists():
        problems.append(
            Problem(
                f"{path} already exists; not overwriting it",
                hint=f"edit it, delete it first, or choose another name (`llmdeploy init {name}-2`)",
            )
        )
    if problems:
        raise ConfigError(problems)


def _folder_project(folder: Path) -> str:
    """This folder's name as a project name, when it makes one."""
    slug = re.sub(r"[^a-z0-9]+", "-", folder.name.lower()).strip("-")[:20].rstrip("-")
    return slug if _SLUG.match(slug) else _DEFAULT_PROJECT
