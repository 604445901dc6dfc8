"""`simulate --plot`: replicas wanted against replicas ready over time, per policy, reclaims marked.

matplotlib (the `simulate` extra) is imported here only, so the rest of llmdeploy runs without it.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from llmdeploy.atomic_write import write_atomically
from llmdeploy.errors import OperationError
from llmdeploy.simulate.model import Result
from llmdeploy.simulate.run import Simulation

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_DPI = 100
_SECONDS_PER_DAY = 86400


def figure(simulation: Simulation) -> Figure:
    """One panel per policy: wanted and ready replicas by day, a red mark at every spot reclaim."""
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise OperationError(
            "--plot needs matplotlib, which is not installed. Install it with "
            "`pip install 'llmdeploy[simulate]'` (or drop --plot), then run the command again."
        ) from error
    results = simulation.results
    fig = Figure(figsize=(12, 2.4 * len(results)), dpi=_DPI, layout="constrained")
    axes = fig.subplots(len(results), 1, sharex=True, squeeze=False)[:, 0]
    fleet = simulation.fleet
    fig.suptitle(f"{fleet.model} ({fleet.slot}) on {fleet.cloud}: replicas wanted vs ready")
    for ax, result in zip(axes, results, strict=True):
        _panel(ax, result)
    axes[-1].set_xlabel("day")
    return fig


def _panel(ax: object, result: Result) -> None:
    from matplotlib.axes import Axes

    assert isinstance(ax, Axes)
    timeline = result.timeline
    days = [step * timeline.step_s / _SECONDS_PER_DAY for step in range(len(timeline.wanted))]
    ax.step(days, timeline.wanted, where="post", label="wanted", color="tab:blue", linewidth=0.8)
    ax.step(days, timeline.ready, where="post", label="ready", color="tab:green", linewidth=0.8)
    reclaims = [day for day, count in zip(days, timeline.preempted, strict=True) if count]
    ax.plot(reclaims, [0] * len(reclaims), "|", color="tab:red", markersize=10, label="spot reclaim")
    ax.set_title(
        f"{result.policy}: enough replicas {result.time_available:.1%} of the time, "
        f"{result.preemptions} reclaims",
        fontsize=9,
        loc="left",
    )
    ax.set_ylabel("replicas")
    ax.set_ylim(bottom=-0.5)
    ax.legend(loc="upper right", fontsize=7)


def write_plot(simulation: Simulation, path: Path) -> None:
    """Write the figure as a PNG, whole or not at all."""
    buffer = io.BytesIO()
    figure(simulation).savefig(buffer, format="png")
    write_atomically(path, buffer.getvalue())
