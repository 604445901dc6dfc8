"""Every command that changes capacity checks the file's budget, as `llmdeploy cost` computes it,
and refuses (exit 2) before it edits the file or runs Terraform."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmdeploy.cli import app

runner = CliRunner()
SHA = "0123456789abcdef0123456789abcdef01234567"

#: A 70B model on AWS and GCP: one slot fits the budget, two slots (after a release) do not.
BIG = """\
project: demo
access: {scheme: internet-facing, allowed_cidrs: [198.51.100.0/24], require_api_key: false}
clouds:
  aws: {region: us-east-1, zones: [us-east-1a, us-east-1b]}
  gcp: {project_id: demo-proj, region: us-central1, zones: [us-central1-a]}
budget: {monthly_usd: BUDGET, basis: max}
models:
  - name: llama70
    model_id: meta-llama/Llama-3.1-70B-Instruct
    revision: 7ae557604adf67be50417f59c2c2f167def9a775
    params_billion: 70
    instance_types: {aws: [p4d.24xlarge], gcp: [a2-highgpu-8g]}
    capacity: {min: 1, max: 2}
    load_balancing: {request_timeout_s: 240}
"""
RELEASED = "    slots:\n      blue: {weight: 100}\n      green: {weight: 0, revision: " + SHA + "}\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "environments").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(project: Path, budget: float, slots: str = "") -> Path:
    path = project / "environments" / "big.yaml"
    path.write_text(BIG.replace("BUDGET", str(budget)) + slots, encoding="utf-8")
    return path


def monthly_max(project: Path) -> float:
    """What `llmdeploy cost big --json` says the environment costs per month at max capacity."""
    result = runner.invoke(app, ["cost", "big", "--json"])
    total: float = json.loads(result.stdout)["total_usd_month"]["max"]
    return total


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, " ".join(result.stderr.split())


def untouched(project: Path, path: Path, text: str) -> bool:
    """The file as it was; no promotion record, no synthesized stack (so no Terraform ran)."""
    written = path.read_text(encoding="utf-8") == text
    return written and not (project / ".llmdeploy").exists() and not (project / "cdktf.out").exists()


def test_a_release_that_doubles_cost_over_the_budget_is_refused_before_terraform(project: Path) -> None:
    path = write(project, 1e9)
    one_slot = monthly_max(project)
    budget = round(one_slot * 1.5)  # room for one slot, not for the released second one
    path = write(project, budget)
    text = path.read_text(encoding="utf-8")

    code, stderr = invoke("release", "big", "--model", "llama70", "--revision", SHA)

    assert code == 2
    assert (
        f"release of llama70 into green refused before anything changed: estimated "
        f"{2 * one_slot:,.0f} USD/month at max capacity exceeds the budget of {budget:,.0f} USD/month"
    ) in stderr
    assert "llmdeploy retire" in stderr and "--allow-over-budget" in stderr
    assert untouched(project, path, text)


def test_apply_and_promote_over_the_budget_are_refused_before_terraform(project: Path) -> None:
    path = write(project, 1000, RELEASED)
    text = path.read_text(encoding="utf-8")

    for command in (["apply", "big", "--auto-approve"], ["promote", "big", "--model", "llama70"]):
        code, stderr = invoke(*command)
        assert code == 2, stderr
        assert "refused before anything changed" in stderr
        assert "exceeds the budget of 1,000 USD/month" in stderr
        assert untouched(project, path, text)


def test_cost_names_a_slot_at_zero_percent_and_how_to_retire_it(project: Path) -> None:
    write(project, 1e9, RELEASED)
    result = runner.invoke(app, ["cost", "big"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "note: llama70 green has 0% of the traffic" in text
    assert "`llmdeploy retire big --model llama70` removes it" in text
