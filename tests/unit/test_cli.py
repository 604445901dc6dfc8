"""The CLI as a user runs it: exit codes, readable errors, output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmdeploy.cli import app
from llmdeploy.cli.config_commands import schema_text
from tests.conftest import EXAMPLES, MINIMAL, REPO, WriteEnv

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, [*args, "--env-dir", str(EXAMPLES)] if args[0] != "schema" else list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.usefixtures("example_vars")
def test_validate_all_examples_ok() -> None:
    code, stdout, _ = invoke("validate", "dev", "staging", "prod")
    assert code == 0
    assert "ok prod: 2 model(s) on aws, gcp, azure" in stdout


def test_validate_reports_every_problem_and_exits_2(write_env: WriteEnv) -> None:
    bad = write_env(MINIMAL + "    capacity: {min: 5, max: 1, maxx: 2}\n")
    code, _, stderr = invoke("validate", "dev", str(bad))
    assert code == 2
    assert "2 problems found" in stderr
    assert f"{bad.resolve()}:10: models[0].capacity.maxx: unknown key 'maxx'; did you mean 'max'?" in stderr
    assert "Traceback" not in stderr


def test_unknown_environment_lists_known_ones() -> None:
    code, _, stderr = invoke("validate", "qa")
    assert code == 2
    assert "no environment 'qa'" in stderr
    assert "known environments: " in stderr and "dev" in stderr


def test_explain_shows_shards_spot_share_and_failover() -> None:
    code, stdout, _ = invoke("explain", "dev")
    assert code == 0
    assert "g6.xlarge, g5.xlarge" in stdout
    # Either type may serve, so both GPUs are shown, in the same order.
    assert "1x L4 (24 GiB), 1x A10G (24 GiB)" in " ".join(stdout.split())
    assert "2/2 spot" in stdout
    assert "30 s" in stdout


def test_cost_json_is_machine_readable() -> None:
    code, stdout, _ = invoke("cost", "dev", "--json")
    assert code == 0
    report = json.loads(stdout)
    assert report["fleets"][0]["instance_type"] == "g6.xlarge"
    assert report["total_usd_month"]["min"] == 0


def test_cost_over_budget_exits_2(write_env: WriteEnv) -> None:
    path = write_env(MINIMAL + "budget: {monthly_usd: 10}\n")
    code, stdout, stderr = invoke("cost", str(path))
    assert code == 2
    assert "exceeds the budget of 10 USD/month" in stderr
    assert "total" in stdout


def test_committed_schema_is_current() -> None:
    committed = (EXAMPLES / "llmdeploy.schema.json").read_text()
    assert committed == schema_text(), "run: llmdeploy schema -o environments/llmdeploy.schema.json"


def test_schema_output_is_written_whole(tmp_path: Path) -> None:
    target = tmp_path / "schema.json"
    code, _, _ = invoke("schema", "--output", str(target))
    assert code == 0
    assert json.loads(target.read_text())["title"] == "EnvironmentConfig"
    assert [path.name for path in tmp_path.iterdir()] == ["schema.json"]


@pytest.mark.process
def test_installed_script_never_prints_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("models: [\n")
    result = subprocess.run(
        [sys.executable, "-m", "llmdeploy", "validate", str(tmp_path / "broken.yaml")],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )
    assert result.returncode == 2
    assert "not valid YAML" in result.stderr
    assert "Traceback" not in result.stderr
