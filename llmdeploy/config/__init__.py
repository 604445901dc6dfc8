"""The environment config: models, loading and diagnostics."""

from llmdeploy.config.environment import EnvironmentConfig
from llmdeploy.config.loader import load, load_environment, resolve_env_path

__all__ = ["EnvironmentConfig", "load", "load_environment", "resolve_env_path"]
