"""The boot bundles of the example environments, and running the bundled agents as the VM would."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from llmdeploy.boot import boot_files
from llmdeploy.boot.bundle import AGENTS_DIR
from llmdeploy.boot.golden import with_engine
from llmdeploy.catalog import Cloud
from llmdeploy.config import load
from llmdeploy.engines import ENGINES, EngineName
from llmdeploy.plan.build import build_plan
from llmdeploy.plan.model import DeploymentPlan, FleetPlan
from tests.conftest import EXAMPLE_NAMES, EXAMPLE_VARIABLES, REPO


@contextmanager
def _example_variables() -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in EXAMPLE_VARIABLES}
    os.environ.update(EXAMPLE_VARIABLES)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@cache
def plan(env: str) -> DeploymentPlan:
    with _example_variables():
        return build_plan(load(str(REPO / "environments" / f"{env}.yaml")))


def every_fleet() -> list[tuple[str, FleetPlan]]:
    """(env, fleet) for every fleet of every example environment, with each engine."""
    return [
        (env, with_engine(fleet, engine))
        for env in EXAMPLE_NAMES
        for model in plan(env).models
        for fleet in model.fleets
        for engine in ENGINES
    ]


def fleet_id(case: tuple[str, FleetPlan]) -> str:
    env, fleet = case
    return f"{env}-{fleet.cloud}-{fleet.name}-{fleet.engine.name}"


def first_fleet(env: str, cloud: Cloud, engine: EngineName = "tgi") -> FleetPlan:
    return with_engine(plan(env).fleets_on(cloud)[0], engine)


def agents_env(files: dict[str, str]) -> dict[str, str]:
    """The rendered /etc/llmdeploy/agents.env as a dict, parsed the way systemd reads it."""
    settings = {}
    for line in files["/etc/llmdeploy/agents.env"].splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            settings[name] = " ".join(shlex.split(value))
    return settings


def install_agents(root: Path, files: dict[str, str]) -> Path:
    """Write the bundle's agents where the VM has them, under `root`; returns their PYTHONPATH."""
    for path, content in files.items():
        if path.startswith(AGENTS_DIR):
            target = root / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
    return root / Path(AGENTS_DIR).parent.relative_to("/")


def agent_command(
    module: str, env: str, fleet: FleetPlan, root: Path, overrides: dict[str, str], *args: str
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of a bundled agent with the fleet's rendered settings plus
    `overrides`, installed under `root` as on the VM."""
    files = boot_files(plan(env), fleet)
    environ = {
        "PATH": os.environ["PATH"],
        **agents_env(files),
        "PYTHONPATH": str(install_agents(root, files)),
        # Never this machine's /run, engine ports or units: a test names what it wants instead.
        "DRAIN_FLAG_FILE": str(root / "run" / "draining"),
        "API_KEYS_FILE": str(root / "run" / "api-keys"),
        "ENGINE_METRICS_URL": "http://127.0.0.1:9/metrics",
        "ENGINE_HEALTH_URL": "http://127.0.0.1:9/health",
        "PROXY_HEALTH_URL": "http://127.0.0.1:9/health",
        "STOP_COMMAND": "true",
        "START_COMMAND": "true",
        **overrides,
    }
    return [sys.executable, "-m", f"llmdeploy_agents.{module}", *args], environ


def run_agent(
    module: str, env: str, fleet: FleetPlan, root: Path, overrides: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    """Run a bundled agent in a subprocess until it exits."""
    command, environ = agent_command(module, env, fleet, root, overrides, *args)
    return subprocess.run(command, env=environ, capture_output=True, text=True, timeout=60, check=False)


@contextmanager
def agent_running(
    module: str, env: str, fleet: FleetPlan, root: Path, overrides: dict[str, str]
) -> Iterator[subprocess.Popen[str]]:
    """A long-running bundled agent (the gate), stopped afterwards."""
    command, environ = agent_command(module, env, fleet, root, overrides)
    process = subprocess.Popen(command, env=environ, stderr=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)
