"""Shared fixtures: example environments, a scratch environment folder, env vars the examples need."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from llmdeploy.config.loader import load
from llmdeploy.plan.build import build_plan
from llmdeploy.plan.model import DeploymentPlan

pytest_plugins = ["tests.fixtures_aws", "tests.fixtures_synth", "tests.fixtures_clouds"]

#: The session fixtures that synthesize stacks (Node.js and CDK Terrain): every test that uses one,
#: directly or through another fixture, is a `synth` test, so `-m "not synth"` leaves it out.
SYNTH_FIXTURES = frozenset({"aws_stacks", "gcp_stacks", "azure_stacks"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SYNTH_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.synth)


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
