"""Session fixtures: the GCP and Azure stacks of every example environment and of an edge-case
environment, each cloud synthesized once by `python -m stacks` in its own process.

A separate process per cloud keeps the Google and Azure provider bindings (hundreds of megabytes
each) out of the test process, which may already hold the AWS ones, and runs the real entry point.
Both clouds synthesize in parallel; tests only read the JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmdeploy.catalog import Cloud
from llmdeploy.config.loader import load, load_environment
from llmdeploy.plan.build import build_plan
from tests.conftest import EXAMPLE_NAMES, EXAMPLE_VARIABLES, EXAMPLES, REPO
from tests.fixtures_synth import Stack

#: What the examples do not exercise on GCP and Azure: access from listed CIDRs without an API key, HTTPS
#: with host routing, on-demand capacity above a zero base, a slot at 0% weight, several instance
#: types on GCP, vLLM, no secrets at all, no dashboard or e-mail.
EDGE_ENV = """\
project: edge
tier: staging
clouds:
  gcp:
    project_id: edge-project
    region: europe-west4
    zones: [europe-west4-a, europe-west4-b]
    image_family: common-cu129-ubuntu-2204-nvidia-580  # vLLM images need driver 580+
  azure: {subscription_id: 00000000-0000-0000-0000-000000000000, location: westeurope, zones: ["1", "2"]}
access:
  scheme: internet-facing
  require_api_key: false
  allowed_cidrs: [198.51.100.0/24, 203.0.113.0/24]
  routing: host
  tls: {domain: llm.example.com}
monitoring: {dashboard: false, logs: {retention_days: 400}}
models:
  - name: coder
    engine: vllm
    model_id: Qwen/Qwen2.5-0.5B-Instruct
    revision: 7ae557604adf67be50417f59c2c2f167def9a775
    params_billion: 0.5
    dtype: float16                     # the T4 (Turing) cannot run bfloat16
    instance_types:
      gcp: [g2-standard-4, g2-standard-8]
      azure: [Standard_NC4as_T4_v3]
    capacity: {min: 1, max: 3}
    spot: {on_demand_base: 0, on_demand_percent_above_base: 50}
    autoscaling: {target_queue_size: 2}
    load_balancing: {algorithm: round_robin, request_timeout_s: 240}
    slots:
      blue: {weight: 100}
      green:
        weight: 0
        capacity: {min: 1, max: 1}
"""
EDGE_NAME = "edge.yaml"
CLOUDS: tuple[Cloud, ...] = ("gcp", "azure")

_SYNTHESIZED: dict[Cloud, dict[str, Stack]] = {}


@pytest.fixture(scope="session")
def gcp_stacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Stack]:
    """The GCP stack of each example environment naming GCP and of EDGE_ENV, by stack name."""
    return _stacks(tmp_path_factory, "gcp")


@pytest.fixture(scope="session")
def azure_stacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Stack]:
    """The Azure stack of each example environment naming Azure and of EDGE_ENV, by stack name."""
    return _stacks(tmp_path_factory, "azure")


def synth_environment() -> dict[str, str]:
    """os.environ plus the example variables and no inherited LLMDEPLOY_* settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LLMDEPLOY_")}
    return {**env, **EXAMPLE_VARIABLES, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}


def _stacks(factory: pytest.TempPathFactory, cloud: Cloud) -> dict[str, Stack]:
    if not _SYNTHESIZED:
        _SYNTHESIZED.update(_synthesize(factory.mktemp("synth-clouds")))
    return _SYNTHESIZED[cloud]


def _synthesize(root: Path) -> dict[Cloud, dict[str, Stack]]:
    edge = root / EDGE_NAME
    edge.write_text(EDGE_ENV, encoding="utf-8")
    env = synth_environment()
    runs = {
        cloud: subprocess.Popen(
            [sys.executable, "-m", "stacks"],
            cwd=REPO,
            env={
                **env,
                "LLMDEPLOY_ENVS": ",".join([*EXAMPLE_NAMES, str(edge)]),
                "LLMDEPLOY_ENV_DIR": str(EXAMPLES),
                "LLMDEPLOY_CLOUDS": cloud,
                "CDKTF_OUTDIR": str(root / cloud),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for cloud in CLOUDS
    }
    for cloud, run in runs.items():
        _, errors = run.communicate()
        assert run.returncode == 0, f"synthesizing {cloud} failed:\n{errors[-3000:]}"
    with pytest.MonkeyPatch.context() as patch:
        for name, value in EXAMPLE_VARIABLES.items():
            patch.setenv(name, value)
        plans = [build_plan(load(name, EXAMPLES)) for name in EXAMPLE_NAMES] + [
            build_plan(load_environment(edge))
        ]
    found: dict[Cloud, dict[str, Stack]] = {}
    for cloud in CLOUDS:
        found[cloud] = {}
        for plan in plans:
            if cloud not in {entry.cloud for entry in plan.clouds}:
                continue
            name = plan.cloud(cloud).stack
            folder = root / cloud / "stacks" / name
            found[cloud][name] = Stack(
                plan, folder, json.loads((folder / "cdk.tf.json").read_text(encoding="utf-8"))
            )
    return found
