"""`llmdeploy explain` says what each cloud gets from `routing:`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmdeploy.cli import app
from tests.conftest import REPO


@pytest.mark.usefixtures("example_vars")
def test_explain_names_each_clouds_router_group_hold_budget_cap_and_wake_call(tmp_path: Path) -> None:
    for name in ("base.yaml", "prod.yaml"):
        shutil.copy(REPO / "environments" / name, tmp_path / name)
    with (tmp_path / "prod.yaml").open("a") as env:
        env.write("\nrouting: {enabled: true, hold_budget_s: 120, per_replica_concurrency: 16}\n")
    routed = CliRunner().invoke(app, ["explain", "prod", "--env-dir", str(tmp_path)], terminal_width=400)
    assert routed.exit_code == 0, routed.output
    text = " ".join(routed.stdout.split())
    assert (
        "vllm-router --policy cache_aware" in text and "held up to 120 s (then 429 with Retry-After)" in text
    )
    assert "translate-fr 16, translate-es 16" in text
    assert (
        "aws: 2 x c7i.large; a fleet at zero is woken by SetDesiredCapacity on the Auto Scaling group" in text
    )
    assert "gcp: 2 x c3-standard-4; a fleet at zero is woken by a managed instance group resize" in text
    assert "azure: 2 x Standard_D2s_v5; a fleet at zero is woken by a scale set capacity update" in text
    plain = CliRunner().invoke(app, ["explain", "prod", "--env-dir", str(REPO / "environments")])
    assert plain.exit_code == 0 and "Routing:" not in plain.stdout
