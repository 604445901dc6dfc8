"""A repository of environments covering every state backend, tier and cloud, and the CLI run in it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from llmdeploy.cli import app
from tests.conftest import MINIMAL

ALL_TYPES = "{aws: [g6.xlarge], gcp: [g2-standard-8], azure: [Standard_NC24ads_A100_v4]}"


def _models(instance_types: str) -> str:
    """The minimal model, on these instance types (lists replace whole, so each file restates it)."""
    return MINIMAL[MINIMAL.index("models:") :].replace("{aws: [g6.xlarge]}", instance_types)


#: name -> file text. `sandbox` keeps local state: CI must validate it, never plan or deploy it.
ENVIRONMENTS = {
    "base": "project: shop\n"
    + "access: {scheme: internet-facing, allowed_cidrs: [198.51.100.0/24], require_api_key: false}\n"
    + _models(ALL_TYPES)
    + "    spot: {on_demand_base: 1}\n"
    + "    load_balancing: {algorithm_overrides: {azure: round_robin}, request_timeout_s: 240}\n",
    "dev": """\
extends: base.yaml
tier: dev
state: {backend: s3, bucket: shop-tfstate, region: eu-west-1}
clouds:
  aws: {region: eu-west-1, zones: [eu-west-1a, eu-west-1b]}
"""
    + _models("{aws: [g6.xlarge]}"),
    "staging": """\
extends: base.yaml
tier: staging
state: {backend: gcs, bucket: shop-tfstate}
clouds:
  aws: {region: us-east-1, zones: [us-east-1a, us-east-1b]}
  gcp: {project_id: "${SHOP_GCP_PROJECT}", region: us-central1, zones: [us-central1-a]}
"""
    + _models("{aws: [g6.xlarge], gcp: [g2-standard-8]}"),
    "prod": """\
extends: base.yaml
tier: prod
state: {backend: azurerm, resource_group: shop-state, storage_account: shoptfstate, container: tfstate}
clouds:
  aws: {region: us-east-1, zones: [us-east-1a, us-east-1b], account_id: "${SHOP_AWS_ACCOUNT}"}
  gcp: {project_id: "${SHOP_GCP_PROJECT}", region: us-central1, zones: [us-central1-a]}
  azure: {subscription_id: "${SHOP_AZURE_SUBSCRIPTION}", location: eastus, zones: ["1"]}
""",
    "sandbox": """\
extends: base.yaml
tier: dev
clouds:
  aws: {region: us-east-1, zones: [us-east-1a, us-east-1b]}
"""
    + _models("{aws: [g6.xlarge]}"),
}
VARIABLES = {
    "SHOP_GCP_PROJECT": "shop-123",
    "SHOP_AWS_ACCOUNT": "123456789012",
    "SHOP_AZURE_SUBSCRIPTION": "00000000-0000-0000-0000-000000000000",
}

Invoke = Callable[..., Result]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository root (the current folder) holding environments/."""
    folder = tmp_path / "environments"
    folder.mkdir()
    for name, text in ENVIRONMENTS.items():
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LLMDEPLOY_ENV_DIR", raising=False)
    return tmp_path


@pytest.fixture
def invoke(repo: Path) -> Invoke:
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(app, list(args))

    return run


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))
