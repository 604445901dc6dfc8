"""Commands that read environment files and never touch a cloud: validate, explain, cost, schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from llmdeploy.atomic_write import write_atomically
from llmdeploy.cli.app import DEFAULT_ENV_DIR, EnvDir, app, out, reported
from llmdeploy.config import EnvironmentConfig, load
from llmdeploy.errors import ConfigError, Problem
from llmdeploy.plan.build import build_plan
from llmdeploy.plan.cost import HOURS_PER_MONTH, CostReport, check_budget, cost_report
from llmdeploy.report import cost_json, cost_table, dns_failover_text, explain_table

Envs = Annotated[list[str], typer.Argument(help="Environment names (in --env-dir) or file paths.")]
Env = Annotated[str, typer.Argument(help="Environment name (in --env-dir) or file path.")]


@app.command()
@reported
def validate(envs: Envs, env_dir: EnvDir = DEFAULT_ENV_DIR) -> None:
    """Check environment files; report every problem with its file, line and key."""
    problems: list[Problem] = []
    for env in envs:
        try:
            config = load(env, env_dir)
        except ConfigError as error:
            problems += error.problems
            continue
        out.print(f"[green]ok[/] {env}: {len(config.models)} model(s) on {', '.join(config.clouds.names())}")
        for warning in config.warnings():
            out.print(f"  [yellow]warning:[/] {warning}", highlight=False)
    if problems:
        raise ConfigError(problems)


@app.command()
@reported
def explain(env: Env, env_dir: EnvDir = DEFAULT_ENV_DIR) -> None:
    """Show what will be deployed: instance types, shards, capacity, spot share, failover time, cost."""
    plan = build_plan(load(env, env_dir))
    costs = cost_report(plan)
    out.print(explain_table(plan, costs))
    out.print(
        f"Failover: a replica failing its health check leaves the load balancer after the 'failover' "
        f"seconds shown (interval x unhealthy threshold). Estimated total: "
        f"{costs.min_usd_hour * HOURS_PER_MONTH:,.0f}-{costs.max_usd_hour * HOURS_PER_MONTH:,.0f} USD/month."
    )
    if (dns := dns_failover_text(plan)) is not None:
        out.print(dns)


@app.command()
@reported
def cost(
    env: Env,
    env_dir: EnvDir = DEFAULT_ENV_DIR,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Estimate USD per hour and month at min and max capacity; exit 2 over the configured budget."""
    plan = build_plan(load(env, env_dir))
    costs = cost_report(plan)
    if as_json:
        out.print_json(json.dumps(cost_json(plan, costs)))
    else:
        out.print(cost_table(plan, costs))
        for line in _idle_slot_notes(env, costs):
            out.print(line, markup=False, highlight=False)
    check_budget(plan, costs)


def _idle_slot_notes(env: str, costs: CostReport) -> list[str]:
    """Each slot at 0% of its model's traffic still runs (and costs) its full capacity: say so."""
    idle: dict[tuple[str, str], float] = {}
    for fleet_cost in costs.fleets:
        fleet = fleet_cost.fleet
        if fleet.traffic.weight == 0:
            key = (fleet.model, fleet.slot)
            idle[key] = idle.get(key, 0.0) + fleet_cost.min_usd_hour * HOURS_PER_MONTH
    return [
        f"note: {model} {slot} has 0% of the traffic but costs at least {monthly:,.0f} USD/month "
        f"(counted above); `llmdeploy retire {env} --model {model}` removes it once no rollback needs it"
        for (model, slot), monthly in idle.items()
    ]


def schema_text() -> str:
    """The JSON Schema of environment files, as committed in environments/llmdeploy.schema.json."""
    return json.dumps(EnvironmentConfig.model_json_schema(), indent=2, sort_keys=True) + "\n"


@app.command()
@reported
def schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Print the JSON Schema of environment files (for editor completion)."""
    if output is None:
        typer.echo(schema_text(), nl=False)
        return
    write_atomically(output, schema_text())
    out.print(f"wrote {output}")
