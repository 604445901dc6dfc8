"""`llmdeploy init`: a commented environment file that validates as written, and never overwrites one."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from llmdeploy.cli import app
from llmdeploy.config import load
from llmdeploy.plan.build import build_plan
from tests.conftest import EXAMPLE_VARIABLES

CLOUD_SETS = [["aws"], ["gcp"], ["azure"], ["aws", "gcp", "azure"]]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "Shop Bot"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.delenv("LLMDEPLOY_ENV_DIR", raising=False)
    for name, value in EXAMPLE_VARIABLES.items():
        monkeypatch.setenv(name, value)
    return folder


def _run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


@pytest.mark.usefixtures("project")
@pytest.mark.parametrize("tier", ["dev", "prod"])
@pytest.mark.parametrize("clouds", CLOUD_SETS, ids="+".join)
def test_every_cloud_and_tier_round_trips_through_validate(clouds: list[str], tier: str) -> None:
    created = _run("init", "edge", "--tier", tier, *(arg for cloud in clouds for arg in ("--cloud", cloud)))
    assert created.exit_code == 0, created.stderr
    checked = _run("validate", "edge")
    assert checked.exit_code == 0, checked.stderr
    assert f"ok edge: 1 model(s) on {', '.join(clouds)}" in checked.stdout
    plan = build_plan(load("edge"))
    assert plan.tier == tier and [entry.cloud for entry in plan.clouds] == clouds


def test_defaults_need_no_questions(project: Path) -> None:
    created = _run("init", "staging")
    assert created.exit_code == 0
    assert "wrote environments/staging.yaml: aws" in created.stdout
    config = load("staging")
    assert (config.project, config.tier, config.clouds.names()) == ("shop-bot", "staging", ["aws"])
    text = (project / "environments" / "staging.yaml").read_text(encoding="utf-8")
    assert text.count("\n#") + text.count("   # ") > 30  # explained line by line
    assert "yaml-language-server" not in text  # no schema file next to it to point at


def test_names_the_variables_to_export(project: Path) -> None:
    created = _run("init", "multi", "--cloud", "gcp", "--cloud", "azure")
    assert "it reads AZURE_SUBSCRIPTION_ID, GCP_PROJECT from the shell" in created.stdout


def test_points_editors_at_the_schema_when_it_is_there(project: Path) -> None:
    (project / "environments").mkdir()
    (project / "environments" / "llmdeploy.schema.json").write_text("{}", encoding="utf-8")
    assert _run("init", "dev").exit_code == 0
    text = (project / "environments" / "dev.yaml").read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=./llmdeploy.schema.json\n")


def test_never_overwrites_an_environment(project: Path) -> None:
    path = project / "environments" / "dev.yaml"
    path.parent.mkdir()
    path.write_text("# mine\n", encoding="utf-8")
    refused = _run("init", "dev")
    assert refused.exit_code == 2
    assert "environments/dev.yaml already exists; not overwriting it" in refused.stderr
    assert path.read_text(encoding="utf-8") == "# mine\n"


@pytest.mark.usefixtures("project")
def test_bad_names_and_clouds_are_refused_before_writing() -> None:
    refused = _run("init", "Dev_1", "--cloud", "ibm", "--project", "x")
    assert refused.exit_code == 2
    assert "3 problems found" in refused.stderr
    assert "environment 'Dev_1' is not a valid name" in refused.stderr
    assert "unknown cloud 'ibm'" in refused.stderr
    assert not Path("environments").exists()
