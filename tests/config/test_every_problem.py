"""One `llmdeploy validate` lists every problem of a file, whichever validation layer finds it:
a bad field no longer hides the catalog, capability and cloud checks that run over the whole file."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmdeploy.cli import app
from llmdeploy.config import load_environment
from llmdeploy.errors import ConfigError, Problem
from llmdeploy.plan.build import build_plan
from tests.conftest import WriteEnv

runner = CliRunner()

#: Problems in every layer: fields (limits, health check, a moving revision), the catalog (two
#: misspelt types), a capability (GCP takes no spot max price) and the clouds (GCP has no internal
#: endpoint). Before, only the first three showed; the rest appeared one fix later.
EVERY_LAYER = """\
project: demo
clouds:
  aws: {region: us-east-1, zones: [us-east-1a, us-east-1b]}
  gcp: {project_id: demo-proj, region: us-central1, zones: [us-central1-a]}
models:
  - name: big
    model_id: meta-llama/Llama-3.1-70B-Instruct
    revision: 7ae557604adf67be50417f59c2c2f167def9a775
    params_billion: 70
    instance_types: {aws: [p5.48xlarg], gcp: [a3-highgpu-8gg]}
    capacity: {min: 1, max: 2}
    spot: {max_price_usd_hour: 50}
    health_check: {interval_s: 5, timeout_s: 10}
    limits: {max_input_tokens: 9000, max_total_tokens: 8000}
    slots:
      blue: {weight: 100, revision: main}
"""
PUBLIC = "access: {scheme: internet-facing, allowed_cidrs: [198.51.100.0/24], require_api_key: false}\n"


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        load_environment(path)
    return caught.value.problems


def test_validate_lists_the_problems_of_every_layer_at_once(write_env: WriteEnv) -> None:
    path = write_env(EVERY_LAYER)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    lines = [" ".join(line.split()) for line in result.stderr.splitlines()]
    assert lines[0] == "error: 7 problems found"
    expected = {
        14: "models[0].limits: max_input_tokens (9000) must be less than max_total_tokens (8000)",
        13: "models[0].health_check: timeout_s (10) must be less than interval_s (5)",
        16: "models[0].slots.blue.revision: revision 'main' moves",
        10: "models[0].instance_types.gcp[0]: 'a3-highgpu-8gg' is not a GPU instance type",
        12: "models[0].spot.max_price_usd_hour: gcp cannot do spot maximum price",
    }
    for line, text in expected.items():
        assert any(shown.startswith(f"{path}:{line}: {text}") for shown in lines), (line, lines)
    assert any("models[0].instance_types.aws[0]: 'p5.48xlarg'" in shown for shown in lines)
    assert any("access.scheme: gcp cannot do internal endpoint" in shown for shown in lines)


def test_a_key_set_aside_is_reported_once_not_echoed_by_a_later_layer(write_env: WriteEnv) -> None:
    # A type without its list: the later check "no aws entry, but clouds.aws is set" would be its echo.
    text = EVERY_LAYER.replace("{aws: [p5.48xlarg], gcp: [a3-highgpu-8gg]}", "{aws: p5.48xlarge, gcp: [x]}")
    paths = [problem.path for problem in problems_of(write_env(text))]
    assert "models[0].instance_types.aws" in paths
    assert "models[0].instance_types" not in paths
    assert "models[0].instance_types.gcp[0]" in paths  # the later layer still reports the rest
    assert len(paths) == len(set(paths))


SPOT = """\
project: demo
{public}clouds:
  aws: {{region: us-east-1, zones: [us-east-1a, us-east-1b]}}
  gcp: {{project_id: demo-proj, region: us-central1, zones: [us-central1-a]}}
tier: {tier}
models:
  - name: big
    model_id: meta-llama/Llama-3.1-70B-Instruct
    revision: 7ae557604adf67be50417f59c2c2f167def9a775
    params_billion: 70
    instance_types: {{aws: [p4d.24xlarge], gcp: [a2-highgpu-8g]}}
    capacity: {{min: 1, max: 4}}
    load_balancing: {{request_timeout_s: 240}}
    spot:
{spot}
"""


def spot_env(spot: str, tier: str = "dev") -> str:
    return SPOT.format(public=PUBLIC, tier=tier, spot=spot)


def test_a_spot_max_price_for_aws_only_is_accepted_beside_gcp(write_env: WriteEnv) -> None:
    text = spot_env(
        "      on_demand_base: 1\n"
        "      overrides:\n"
        "        aws: {max_price_usd_hour: 30, allocation_strategy: capacity-optimized}\n"
        "        gcp: {on_demand_base: 2}\n"
    )
    plan = build_plan(load_environment(write_env(text)))
    spots = {fleet.cloud: fleet.spot for fleet in plan.models[0].fleets}
    assert (spots["aws"].max_price_usd_hour, spots["aws"].allocation_strategy) == (30, "capacity-optimized")
    assert (spots["aws"].on_demand_base, spots["gcp"].on_demand_base) == (1, 2)
    assert spots["gcp"].max_price_usd_hour is None


def test_a_max_price_for_every_cloud_names_the_per_cloud_way_out(write_env: WriteEnv) -> None:
    found = {p.path: p.message for p in problems_of(write_env(spot_env("      max_price_usd_hour: 30\n")))}
    assert list(found) == ["models[0].spot.max_price_usd_hour"]
    assert "gcp cannot do spot maximum price" in found["models[0].spot.max_price_usd_hour"]
    assert "spot.overrides.aws.max_price_usd_hour" in found["models[0].spot.max_price_usd_hour"]
    # The same price with GCP's taken out is accepted.
    unset = "      max_price_usd_hour: 30\n      overrides: {gcp: {max_price_usd_hour: null}}\n"
    load_environment(write_env(spot_env(unset)))


def test_per_cloud_spot_settings_are_checked_per_cloud(write_env: WriteEnv) -> None:
    text = spot_env(
        "      on_demand_base: 1\n      overrides: {gcp: {on_demand_base: 0}, azure: {on_demand_base: 1}}\n",
        tier="prod",
    )
    found = {p.path: p.message for p in problems_of(write_env(text))}
    assert "prod tier" in found["models[0].spot.overrides.gcp.on_demand_base"]
    assert "no azure entry" in found["models[0].spot.overrides.azure"]
    assert "models[0].spot.on_demand_base" not in found  # aws keeps the model's base of 1
