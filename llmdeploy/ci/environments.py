"""The environments a pipeline deploys, read from the environment folder.

Pipelines are generated on a workstation that may lack the variables the files reference
(`${GCP_PROJECT}`...), so this reads the merged files without validating them: the generated
pipeline's first job validates them, with the variables CI provides.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import yaml

from llmdeploy.catalog import Cloud
from llmdeploy.config.common import env_references
from llmdeploy.config.environment import Tier
from llmdeploy.config.loader import resolve_env_path
from llmdeploy.config.source import read_source
from llmdeploy.errors import ConfigError, Problem
from llmdeploy.plan.global_dns import DNS_PROVIDER

#: Deployment order: every environment of a tier is applied before any of the next.
TIERS: tuple[Tier, ...] = get_args(Tier)
CLOUDS: tuple[Cloud, ...] = get_args(Cloud)
#: The cloud whose credentials each remote state backend needs.
_STATE_CLOUDS: dict[str, Cloud] = {"s3": "aws", "gcs": "gcp", "azurerm": "azure"}
#: With `global_dns`, an environment has one more stack, `<env>-global`, on the DNS provider.
GLOBAL_STACK_SUFFIX = "global"


@dataclass(frozen=True)
class PipelineEnv:
    """What a pipeline needs to know of one environment.

    Attributes:
        state_cloud: the cloud holding its Terraform state; None for local state, which a CI
            machine would lose after every run, so such environments are validated only.
        aws_region: the region AWS credentials are issued for (the AWS cloud's, else the S3 state's).
        variables: environment variables the files reference, which CI must provide.
        global_dns: whether it has the `<env>-global` stack, planned only with the whole environment.
    """

    name: str
    tier: Tier
    clouds: tuple[Cloud, ...]
    state_cloud: Cloud | None
    aws_region: str | None
    variables: tuple[str, ...]
    global_dns: bool = False

    @property
    def stacks(self) -> tuple[str, ...]:
        suffixes = (*self.clouds, *((GLOBAL_STACK_SUFFIX,) if self.global_dns else ()))
        return tuple(f"{self.name}-{suffix}" for suffix in suffixes)

    @property
    def plan_units(self) -> tuple[Cloud | None, ...]:
        """What each plan job covers: one cloud, or (None) the whole environment when it has a
        global stack, which `llmdeploy plan` covers only with all the others."""
        return (None,) if self.global_dns else self.clouds

    def stacks_of(self, cloud: Cloud | None) -> tuple[str, ...]:
        return self.stacks if cloud is None else (f"{self.name}-{cloud}",)

    @property
    def deployable(self) -> bool:
        return self.state_cloud is not None

    def credential_clouds(self, cloud: Cloud | None = None) -> tuple[Cloud, ...]:
        """Clouds to log in to for one stack (or, without `cloud`, the whole environment)."""
        wanted = {*(self.clouds if cloud is None else (cloud,)), self.state_cloud}
        if cloud is None and self.global_dns:
            wanted.add(DNS_PROVIDER)
        return tuple(entry for entry in CLOUDS if entry in wanted)


def pipeline_envs(env_dir: Path, names: Sequence[str] = ()) -> list[PipelineEnv]:
    """`names` (default: every environment file in `env_dir` that no other file extends), in
    deployment order: by tier, then by name."""
    paths = [resolve_env_path(name, env_dir) for name in names] or _environment_files(env_dir)
    envs = [_read(path) for path in paths]
    return sorted(envs, key=lambda env: (TIERS.index(env.tier), env.name))


def _environment_files(env_dir: Path) -> list[Path]:
    # Hidden files are not environments: `release` validates its edits in a `.<env>.*.check.yaml`
    # beside the file, which a killed run can leave behind.
    files = sorted(
        path
        for path in env_dir.glob("*.y*ml")
        if path.suffix in {".yaml", ".yml"} and not path.name.startswith(".")
    )
    bases = {(path.parent / name).resolve() for path in files if (name := _extends(path))}
    found = [path for path in files if path.resolve() not in bases]
    if not found:
        raise ConfigError(
            [
                Problem(
                    f"no environment files in {env_dir}",
                    hint="create one with `llmdeploy init NAME`, or pass --env-dir",
                )
            ]
        )
    return found


def _extends(path: Path) -> str | None:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None  # reported with its line when the file is read as an environment
    parent = data.get("extends") if isinstance(data, dict) else None
    return parent if isinstance(parent, str) else None


def _read(path: Path) -> PipelineEnv:
    data = read_source(path).data
    name = str(data.get("name") or path.stem)
    clouds = data.get("clouds")
    if not isinstance(clouds, dict) or not set(clouds) & set(CLOUDS):
        raise ConfigError([Problem("no clouds configured", path="clouds", file=str(path))])
    tier = data.get("tier", "dev")
    if tier not in TIERS:
        raise ConfigError(
            [Problem(f"tier must be one of {', '.join(TIERS)}, not {tier!r}", path="tier", file=str(path))]
        )
    state = data.get("state") or {}
    backend = state.get("backend", "local") if isinstance(state, dict) else "local"
    return PipelineEnv(
        name=name,
        tier=tier,
        clouds=tuple(cloud for cloud in CLOUDS if cloud in clouds),
        state_cloud=_STATE_CLOUDS.get(str(backend)),
        aws_region=_aws_region(clouds, state),
        variables=tuple(sorted({ref for text in _strings(data) for ref in env_references(text)})),
        global_dns=data.get("global_dns") is not None,
    )


def _aws_region(clouds: dict[str, Any], state: Any) -> str | None:
    for section in (clouds.get("aws"), state):
        if isinstance(section, dict) and isinstance(section.get("region"), str):
            return str(section["region"])
    return None


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
