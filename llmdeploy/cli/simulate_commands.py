"""`llmdeploy simulate`: what a fleet's spot policy costs in availability, on real traces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from llmdeploy.catalog import CLOUDS, Cloud
from llmdeploy.cli.app import DEFAULT_ENV_DIR, EnvDir, app, out, reported
from llmdeploy.config import load
from llmdeploy.errors import ConfigError, Problem
from llmdeploy.plan.build import build_plan
from llmdeploy.simulate.model import Options
from llmdeploy.simulate.plot import write_plot
from llmdeploy.simulate.report import simulation_json, simulation_table
from llmdeploy.simulate.run import pick_fleet, simulate
from llmdeploy.simulate.traces import read_preemptions, read_spot, read_traffic


def _cloud(name: str | None) -> Cloud | None:
    for cloud in CLOUDS:
        if cloud == name:
            return cloud
    if name is None:
        return None
    raise ConfigError(
        [Problem(f"unknown cloud {name!r}", path="--cloud", hint=f"use one of: {', '.join(CLOUDS)}")]
    )


def _check_plot_path(plot: Path | None) -> None:
    if plot is None:
        return
    if plot.suffix.lower() != ".png":
        raise ConfigError(
            [Problem(f"{plot} is not a .png file", path="--plot", hint="give a path ending in .png")]
        )
    if not plot.parent.is_dir():
        raise ConfigError(
            [
                Problem(
                    f"folder {plot.parent} does not exist", path="--plot", hint="create it, or pick another"
                )
            ]
        )


@app.command("simulate")
@reported
def simulate_command(
    env: Annotated[str, typer.Argument(help="Environment name (in --env-dir) or file path.")],
    traffic: Annotated[
        Path, typer.Option("--traffic", help="Request trace CSV (Azure LLM inference trace format).")
    ],
    spot: Annotated[
        Path, typer.Option("--spot", help="Spot availability trace JSON, or a folder of one per zone.")
    ],
    preemptions: Annotated[
        Path | None,
        typer.Option(
            "--preemptions",
            help="Spot preemption trace JSON, or a folder of one per zone: each preemption in it reclaims "
            "a spot replica in that zone at that time.",
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Model to simulate. Default: the first.")
    ] = None,
    cloud: Annotated[
        str | None, typer.Option("--cloud", help="Cloud to simulate. Default: the first.")
    ] = None,
    days: Annotated[
        float, typer.Option("--days", min=0, help="Days to replay. Default (0): the spot trace's length.")
    ] = 0,
    seed: Annotated[
        int,
        typer.Option("--seed", help="Where in the traffic loop the replay starts; same seed, same result."),
    ] = 0,
    latency_budget_s: Annotated[
        float,
        typer.Option(
            "--latency-budget-s", min=0, help="Queueing delay a request may see and count as served."
        ),
    ] = 5.0,
    stretch: Annotated[
        int,
        typer.Option(
            "--stretch",
            min=1,
            help="Slow the trace's trend this many times (24: an hour's trace as a day); "
            "minute bursts stay a minute long.",
        ),
    ] = 1,
    spot_extra: Annotated[
        int,
        typer.Option(
            "--spot-extra",
            min=0,
            help="Spot replicas the fallback policy runs beyond the target (SpotHedge's over-provisioning).",
        ),
    ] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Also write a PNG: replicas wanted vs ready over time, reclaims marked."),
    ] = None,
    env_dir: EnvDir = DEFAULT_ENV_DIR,
) -> None:
    """Replay traffic and spot traces: the plan's policy, on-demand fallback, all on-demand, all spot."""
    _check_plot_path(plot)
    plan = build_plan(load(env, env_dir))
    fleet = pick_fleet(plan, model, _cloud(cloud))
    options = Options(
        days=days, seed=seed, latency_budget_s=latency_budget_s, stretch=stretch, spot_extra=spot_extra
    )
    reclaims = read_preemptions(preemptions) if preemptions is not None else ()
    result = simulate(plan, fleet, read_traffic(traffic), read_spot(spot), options, preemptions=reclaims)
    if plot is not None:
        write_plot(result, plot)
    if as_json:
        out.print_json(json.dumps(simulation_json(result)))
    else:
        out.print(simulation_table(result))
