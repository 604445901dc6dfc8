"""`simulate --plot`: a PNG of replicas wanted vs ready, reclaims marked where the spot trace goes dark."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.lines import Line2D
from typer.testing import CliRunner

from llmdeploy.cli import app
from llmdeploy.plan.model import DeploymentPlan, FleetPlan
from llmdeploy.simulate.model import Options
from llmdeploy.simulate.plot import figure
from llmdeploy.simulate.run import simulate
from llmdeploy.simulate.traces import ZoneTrace
from tests.simulate.conftest import STEADY, ZONES, write_spot, write_traffic

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _lines(fig_axes: object, label: str) -> Line2D:
    from matplotlib.axes import Axes

    assert isinstance(fig_axes, Axes)
    return next(line for line in fig_axes.get_lines() if line.get_label() == label)


def test_each_policy_panel_shows_wanted_ready_and_reclaims(plan: DeploymentPlan, fleet: FleetPlan) -> None:
    # Spot open for two hours, dark for one, open again: every spot replica is reclaimed at hour 2.
    traces = tuple(ZoneTrace(zone, 3600, (True, True, False, True)) for zone in ZONES)
    simulation = simulate(plan, fleet, STEADY, traces, Options(days=4 / 24))
    axes = figure(simulation).get_axes()
    assert len(axes) == len(simulation.results)
    for ax, result in zip(axes, simulation.results, strict=True):
        assert ax.get_title(loc="left").startswith(result.policy)
        assert list(_lines(ax, "wanted").get_ydata()) == list(result.timeline.wanted)
        assert list(_lines(ax, "ready").get_ydata()) == list(result.timeline.ready)
        reclaim_days = list(_lines(ax, "spot reclaim").get_xdata())
        if result.policy == "all-on-demand":
            assert reclaim_days == []
        else:
            assert reclaim_days == [pytest.approx(2 / 24)]


@pytest.mark.usefixtures("plan")
def test_cli_writes_a_png(tmp_path: Path) -> None:
    target = tmp_path / "capacity.png"
    result = CliRunner().invoke(
        app,
        [
            "simulate", "prod", "--cloud", "aws",
            "--traffic", str(write_traffic(tmp_path / "t.csv")),
            "--spot", str(write_spot(tmp_path / "spot", "101")),
            "--plot", str(target),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert target.read_bytes().startswith(PNG_MAGIC)
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".capacity")] == []


@pytest.mark.usefixtures("plan")
@pytest.mark.parametrize(
    ("plot", "message"), [("capacity.svg", "is not a .png file"), ("missing/capacity.png", "does not exist")]
)
def test_bad_plot_path_exits_2_before_replaying(tmp_path: Path, plot: str, message: str) -> None:
    result = CliRunner().invoke(
        app,
        [
            "simulate", "prod",
            "--traffic", str(tmp_path / "never-read.csv"),
            "--spot", str(tmp_path / "never-read"),
            "--plot", str(tmp_path / plot),
        ],
    )  # fmt: skip
    assert result.exit_code == 2
    assert message in result.output
    assert "--plot" in result.output
