"""`llmdeploy simulate` on the command line: JSON for scripts, exit 2 on bad traces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from llmdeploy.cli import app
from llmdeploy.plan.model import DeploymentPlan
from tests.simulate.conftest import write_spot, write_traffic

SHARED_TRAFFIC = Path("/work/shared/data/llm-traces/AzureLLMInferenceTrace_conv.csv")
SHARED_SPOT = Path("/work/shared/data/spot-traces/availability/1-node/aws-02-15-2023")
SHARED_PREEMPTIONS = Path("/work/shared/data/spot-traces/preemption/1-node/aws-04-22-2023")


def _run(*args: str) -> Result:
    return CliRunner().invoke(app, ["simulate", "prod", "--cloud", "aws", *args])


@pytest.mark.usefixtures("plan")
def test_json_compares_every_policy(tmp_path: Path) -> None:
    result = _run(
        "--traffic",
        str(write_traffic(tmp_path / "t.csv")),
        "--spot",
        str(write_spot(tmp_path / "spot", "10")),
        "--json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report["policies"]) == {"plan", "fallback", "all-on-demand", "all-spot"}
    assert report["days"] == pytest.approx(2 / 24)
    assert report["policies"]["all-on-demand"]["cost_vs_all_on_demand"] == 1.0
    assert report["policies"]["all-spot"]["preemptions"] > 0
    # The traces are V100 capacity; the fleet runs g6.xlarge (L4): the report says so.
    assert report["warnings"] == [
        "the spot traces are for v100_1, not the fleet's g6.xlarge (1x L4): their capacity stands in "
        "for g6.xlarge's, which may differ"
    ]


@pytest.mark.usefixtures("plan")
@pytest.mark.parametrize(
    ("traffic", "spot", "message"),
    [
        ("missing.csv", "spot", "traffic trace not found"),
        ("columns.csv", "spot", "lacks the column(s) ContextTokens"),
        ("t.csv", "missing", "no spot availability trace here"),
        ("t.csv", "broken.json", 'not a spot availability trace: no "metadata" object'),
    ],
)
def test_bad_traces_exit_2_with_a_clear_message(
    tmp_path: Path, traffic: str, spot: str, message: str
) -> None:
    write_traffic(tmp_path / "t.csv")
    write_spot(tmp_path / "spot", "1")
    (tmp_path / "columns.csv").write_text("TIMESTAMP,Prompt,GeneratedTokens\n2023-11-16 18:00:00,1,2\n")
    (tmp_path / "broken.json").write_text('{"data": [1, 0]}')
    result = _run("--traffic", str(tmp_path / traffic), "--spot", str(tmp_path / spot))
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.usefixtures("plan")
def test_an_unknown_model_exits_2(tmp_path: Path) -> None:
    result = _run(
        "--model",
        "nope",
        "--traffic",
        str(write_traffic(tmp_path / "t.csv")),
        "--spot",
        str(write_spot(tmp_path / "s", "1")),
    )
    assert result.exit_code == 2
    assert "has no model 'nope'" in result.stderr


def test_the_shared_traces_replay_in_seconds(plan: DeploymentPlan) -> None:
    if not SHARED_TRAFFIC.is_file() or not SHARED_SPOT.is_dir():
        pytest.skip("the shared traces are not on this machine")
    result = _run("--traffic", str(SHARED_TRAFFIC), "--spot", str(SHARED_SPOT), "--days", "3", "--json")
    assert result.exit_code == 0, result.output
    policies = json.loads(result.stdout)["policies"]
    # V100 spot in us-east-1 was scarce in Feb 2023: on-demand fallback must serve more than the static mix.
    assert policies["fallback"]["time_available"] > policies["plan"]["time_available"]
    assert policies["plan"]["cost_usd"] < policies["all-on-demand"]["cost_usd"]


@pytest.mark.usefixtures("plan")
def test_the_readme_sample_traces_replay(tmp_path: Path) -> None:
    samples = Path("examples/traces")
    plot = tmp_path / "capacity.png"
    result = _run(
        "--traffic",
        str(samples / "azure-conv-sample.csv"),
        "--spot",
        str(samples / "spot-sample"),
        "--plot",
        str(plot),
        "--json",
    )
    assert result.exit_code == 0, result.output
    policies = json.loads(result.stdout)["policies"]
    # The synthetic zones go dark a few times: spot saves money and costs some availability.
    assert policies["plan"]["preemptions"] > 0
    assert policies["plan"]["cost_vs_all_on_demand"] < 1
    assert policies["plan"]["time_available"] < policies["all-on-demand"]["time_available"]
    assert plot.stat().st_size > 0


@pytest.mark.usefixtures("plan")
@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "no spot preemption trace here"),
        ({"us-east-1a_v100_1.json": "[1, 0]"}, 'not a spot preemption trace: no "metadata" object'),
        (
            {"us-east-1a_v100_1.json": '{"metadata": {"gap_seconds": 0}, "data": [1]}'},
            "metadata.gap_seconds is 0, expected a whole number of seconds >= 1",
        ),
        (
            {"us-east-1a_v100_1.json": '{"metadata": {"gap_seconds": 32}, "data": [0, 1, -1]}'},
            "us-east-1a_v100_1.json: not a spot preemption trace: data[2] is -1, expected a number >= 0",
        ),
        (
            {"us-east-1a_v100_1.json": '{"metadata": {"gap_seconds": 32}, "data": [0, "up"]}'},
            "data[1] is 'up', expected a number >= 0",
        ),
        (
            {
                "us-east-1a_v100_1.json": '{"metadata": {"gap_seconds": 32}, "data": [1]}',
                "us-east-1a_intel_64.json": '{"metadata": {"gap_seconds": 32}, "data": [1]}',
            },
            "2 spot preemption traces for zone us-east-1a: us-east-1a_intel_64.json, us-east-1a_v100_1.json",
        ),
    ],
)
def test_bad_preemption_traces_exit_2_saying_what_and_where(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    folder = tmp_path / "preemption"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    result = _run(
        "--traffic",
        str(write_traffic(tmp_path / "t.csv")),
        "--spot",
        str(write_spot(tmp_path / "spot", "1")),
        "--preemptions",
        str(folder),
    )
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.output


@pytest.mark.usefixtures("plan")
def test_preemption_traces_add_reclaims_to_the_report(tmp_path: Path) -> None:
    # Availability never drops: every preemption comes from the preemption traces (one an hour a zone).
    common = [
        "--traffic",
        str(write_traffic(tmp_path / "t.csv")),
        "--spot",
        str(write_spot(tmp_path / "s", "1")),
    ]
    hourly = write_spot(tmp_path / "p", "1" * 5 + "0", gap_s=600)
    without = json.loads(_run(*common, "--days", "1", "--json").stdout)
    result = _run(*common, "--days", "1", "--preemptions", str(hourly), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["preemption_traces"] == {zone: f"{zone}_v100_1" for zone in report["zones"]}
    spot = report["policies"]["all-spot"]
    assert spot["preemptions"] == spot["trace_preemptions"] > 0
    assert without["policies"]["all-spot"]["preemptions"] == 0
    assert spot["time_available"] < without["policies"]["all-spot"]["time_available"]
    assert report["policies"]["all-on-demand"]["preemptions"] == 0
    table = _run(*common, "--days", "1", "--preemptions", str(hourly))
    assert "of which from preemption traces" in table.stdout
    assert "us-east-1a<-us-east-1a_v100_1" in " ".join(table.stdout.split())


def test_the_shared_preemption_traces_cost_replicas(plan: DeploymentPlan) -> None:
    if not SHARED_TRAFFIC.is_file() or not SHARED_SPOT.is_dir() or not SHARED_PREEMPTIONS.is_dir():
        pytest.skip("the shared traces (../shared/data/spot-traces) are not on this machine")
    common = ["--traffic", str(SHARED_TRAFFIC), "--spot", str(SHARED_SPOT), "--days", "3", "--json"]
    without = json.loads(_run(*common).stdout)["policies"]
    result = _run(*common, "--preemptions", str(SHARED_PREEMPTIONS))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    # us-east-1c has a trace of its own; the other plan zones take the unused traces in order.
    assert report["preemption_traces"]["us-east-1c"] == "us-east-1c_v100_1"
    policies = report["policies"]
    assert policies["plan"]["trace_preemptions"] > 0
    assert policies["plan"]["preemptions"] > without["plan"]["preemptions"]
    assert policies["plan"]["time_available"] <= without["plan"]["time_available"]
    assert policies["all-on-demand"]["preemptions"] == 0


@pytest.mark.usefixtures("plan")
def test_the_readme_sample_preemptions_cost_availability() -> None:
    samples = Path("examples/traces")
    common = ["--traffic", str(samples / "azure-conv-sample.csv"), "--spot", str(samples / "spot-sample")]
    without = json.loads(_run(*common, "--json").stdout)["policies"]["plan"]
    result = _run(*common, "--preemptions", str(samples / "preemption-sample"), "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)["policies"]["plan"]
    assert plan["trace_preemptions"] > 0
    assert plan["preemptions"] > without["preemptions"]
    assert plan["time_available"] < without["time_available"]
