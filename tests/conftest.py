"""Shared fixtures: example environments, a scratch environment folder, env vars the examples need."""

from __future__ import annotations

import os
import platform
import sys
import textwrap
from collections.abc import Callable, Generator
from pathlib import Path

import pytest

from llmdeploy.config.loader import load
from llmdeploy.plan.build import build_plan
from llmdeploy.plan.model import DeploymentPlan

pytest_plugins = ["tests.fixtures_aws", "tests.fixtures_synth", "tests.fixtures_clouds"]

#: The session fixtures that synthesize stacks (Node.js and CDK Terrain): every test that uses one,
#: directly or through another fixture, is a `synth` test, so `-m "not synth"` leaves it out.
SYNTH_FIXTURES = frozenset({"aws_stacks", "gcp_stacks", "azure_stacks"})

#: Fixtures of tests that start processes (the emulator is a server process; the Terraform binary and
#: provider mirror are asked for by tests that run terraform): a test using one, directly or through
#: another fixture, is a `process` test.
PROCESS_FIXTURES = frozenset({"emulator", "plain_moto", "terraform_binary", "provider_mirror"})

#: Markers of tests that start a process by nature (Node.js, terraform, ruff and mypy).
PROCESS_MARKERS = ("synth", "terraform", "lint")

#: Audit events of a process being started (https://docs.python.org/3/library/audit_events.html).
SPAWN_EVENTS = frozenset(
    {"subprocess.Popen", "os.posix_spawn", "os.spawn", "os.exec", "os.fork", "os.forkpty", "os.system"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if SYNTH_FIXTURES & fixtures:
            item.add_marker(pytest.mark.synth)
        if PROCESS_FIXTURES & fixtures or any(item.get_closest_marker(name) for name in PROCESS_MARKERS):
            item.add_marker(pytest.mark.process)


#: What the running test started: the fast loop (`-m "not process"`) must start no process, so a
#: test that does and is not marked `process` fails (the marking cannot drift from what tests do).
_started: list[str] = []


def _audit(event: str, args: tuple[object, ...]) -> None:
    if event in SPAWN_EVENTS:
        _started.append(f"{event}: {args[0] if args else ''}")


# The platform module runs `uname -p` once, on first use (cloud SDKs put it in their user agents):
# done here, so that no test is charged with it.
platform.processor()
sys.addaudithook(_audit)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if call.when == "teardown" and _started and item.get_closest_marker("process") is None and report.passed:
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} started a process ({'; '.join(sorted(set(_started)))}) but is not marked "
            "`process`, so the fast loop would run it: add @pytest.mark.process to it (or to its module's "
            "pytestmark), or add the fixture that starts it to PROCESS_FIXTURES in tests/conftest.py."
        )
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _started.clear()


REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "environments"
EXAMPLE_NAMES = ("dev", "staging", "prod")

# jsii (CDK Terrain's runtime) prints a Node 20 end-of-life banner on every synth otherwise.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

#: The example files reference these (account and project ids are per team, so they come from the shell).
EXAMPLE_VARIABLES = {
    "GCP_PROJECT": "llmdeploy-demo-123",
    "AWS_ACCOUNT_ID": "123456789012",
    "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
}


@pytest.fixture
def example_vars(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in EXAMPLE_VARIABLES.items():
        monkeypatch.setenv(name, value)
    return EXAMPLE_VARIABLES


@pytest.fixture
def prod_plan(example_vars: dict[str, str]) -> DeploymentPlan:
    """The plan of the prod example: every cloud, several models and slots."""
    return build_plan(load("prod", EXAMPLES))


WriteEnv = Callable[..., Path]


@pytest.fixture
def write_env(tmp_path: Path) -> WriteEnv:
    """Write an environment file into a scratch folder and return its path."""

    def write(text: str, name: str = "test.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


MINIMAL = """\
project: demo
clouds:
  aws: {region: us-east-1, zones: [us-east-1a, us-east-1b]}
models:
  - name: chat
    model_id: Qwen/Qwen2.5-0.5B-Instruct
    revision: 7ae557604adf67be50417f59c2c2f167def9a775
    params_billion: 0.5
    instance_types: {aws: [g6.xlarge]}
"""
