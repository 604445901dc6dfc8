"""Loading an environment: find its file, read and merge it, validate it into `EnvironmentConfig`."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from llmdeploy.config.environment import EnvironmentConfig
from llmdeploy.config.layers import every_problem
from llmdeploy.config.source import misplaced_env_references, read_source
from llmdeploy.errors import ConfigError, Problem

ENVIRONMENTS_DIR = Path("environments")


def resolve_env_path(env: str, env_dir: Path = ENVIRONMENTS_DIR) -> Path:
    """An environment given as a name in `env_dir` (`dev`) or as a path (`envs/dev.yaml`)."""
    as_path = Path(env)
    candidates = [as_path] if as_path.suffix in {".yaml", ".yml"} else []
    candidates += [env_dir / f"{env}.yaml", env_dir / f"{env}.yml"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    known = sorted(path.stem for path in env_dir.glob("*.y*ml")) if env_dir.is_dir() else []
    raise ConfigError(
        [
            Problem(
                f"no environment {env!r}: looked for {', '.join(str(c) for c in candidates)}",
                hint=f"known environments: {', '.join(known)}" if known else f"create {env_dir}/{env}.yaml",
            )
        ]
    )


def load_environment(path: Path) -> EnvironmentConfig:
    """Validate the environment file at `path` (and what it extends); all problems at once."""
    source = read_source(path)
    source.data.setdefault("name", path.stem)
    problems = misplaced_env_references(source)
    try:
        config = EnvironmentConfig.model_validate(source.data)
    except ValidationError as error:
        # A misplaced `${...}` also fails its value's grammar: report it once, as the reference it is.
        referenced = {problem.path for problem in problems}
        problems += [p for p in every_problem(error, source, EnvironmentConfig) if p.path not in referenced]
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    return config


def load(env: str, env_dir: Path = ENVIRONMENTS_DIR) -> EnvironmentConfig:
    """`load_environment` of an environment name or path."""
    return load_environment(resolve_env_path(env, env_dir))
