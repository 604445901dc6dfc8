"""`llmdeploy doctor ENV` (what would fail on this account) and `llmdeploy smoke ENV` (what serves)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from llmdeploy.catalog import Cloud
from llmdeploy.cli.app import DEFAULT_ENV_DIR, EnvDir, app, out, reported
from llmdeploy.cli.deploy_commands import DEFAULT_OUTDIR, CloudOption, Env, Local, Outdir, environ_of
from llmdeploy.cli.next_steps import Invocation
from llmdeploy.cli.status_commands import read_slots
from llmdeploy.config import load
from llmdeploy.config.model import Slot
from llmdeploy.deploy import chosen_clouds
from llmdeploy.doctor.model import Check
from llmdeploy.doctor.run import cloud_checks
from llmdeploy.plan.build import build_plan
from llmdeploy.plan.model import DeploymentPlan
from llmdeploy.smoke.check import DEFAULT_TIMEOUT_S, SmokeResult
from llmdeploy.smoke.run import prove
from llmdeploy.smoke.targets import Target, chosen_models, cloud_targets, given_target

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
_SHOWN = {"ok": "[green]ok[/]", "fail": "[bold red]fail[/]", "unknown": "[yellow]unknown[/]"}


@app.command()
@reported
def doctor(
    env: Env,
    env_dir: EnvDir = DEFAULT_ENV_DIR,
    cloud: CloudOption = None,
    local: Local = False,
    as_json: AsJson = False,
) -> None:
    """Before anything is created: GPU quotas, addresses, resource providers and secrets on this account."""
    plan = build_plan(load(env, env_dir))
    clouds = [entry.cloud for entry in chosen_clouds(plan, env, cloud, local)]
    environ = environ_of(local)
    found = [check for entry in clouds for check in cloud_checks(plan, entry, environ)]
    if as_json:
        out.print_json(json.dumps({"env": plan.env, "checks": [asdict(check) for check in found]}))
    else:
        out.print(_doctor_table(plan.env, found))
        counts = {status: sum(check.status == status for check in found) for status in _SHOWN}
        out.print(", ".join(f"{count} {status}" for status, count in counts.items()) + " (unknown: see why)")
    if any(check.status == "fail" for check in found):
        raise typer.Exit(1)


def _doctor_table(env: str, found: list[Check]) -> Table:
    table = Table(title=f"{env}: doctor")
    for column in ("cloud", "check", "result", "detail"):
        table.add_column(column)
    for check in found:
        table.add_row(check.cloud, escape(check.name), _SHOWN[check.status], escape(check.detail))
    return table


@app.command()
@reported
def smoke(
    env: Env,
    env_dir: EnvDir = DEFAULT_ENV_DIR,
    cloud: CloudOption = None,
    model: Annotated[str | None, typer.Option("--model", help="Only this model.")] = None,
    slot: Annotated[Slot | None, typer.Option("--slot", help="Only this slot (see the README).")] = None,
    local: Local = False,
    outdir: Outdir = DEFAULT_OUTDIR,
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", help="Call this URL instead of the stack's (one model).")
    ] = None,
    key_env: Annotated[
        str | None, typer.Option("--api-key-env", help="Send the API key held in this environment variable.")
    ] = None,
    timeout_s: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for any answer.")
    ] = DEFAULT_TIMEOUT_S,
    as_json: AsJson = False,
) -> None:
    """Prove each model serves: its endpoint lists the model id and streams tokens (TTFT, tokens/s).

    With --slot, every request carries the X-LLMDeploy-Slot header, which the load balancer routes
    to that slot alone, whatever its traffic weight.
    """
    plan, key_store, targets = smoke_targets(
        Invocation(env, env_dir, outdir, cloud, local), model, slot, endpoint
    )
    results = prove(plan, targets, key_store, environ_of(local), key_env, timeout_s)
    _show_smoke(env, targets, results, as_json)
    if not all(result.passed for result in results):
        raise typer.Exit(1)


def smoke_targets(
    where: Invocation, model: str | None, slot: Slot | None, endpoint: str | None
) -> tuple[DeploymentPlan, Cloud, list[Target]]:
    """The plan, the cloud whose secret store holds the key of `endpoint`, and the endpoints to
    prove (from the stacks' status, or `endpoint`)."""
    env, local = where.env, where.local
    plan = build_plan(load(env, where.env_dir))
    clouds = [entry.cloud for entry in chosen_clouds(plan, env, where.cloud, local)]
    models = chosen_models(plan, model, slot)
    if endpoint is not None:
        targets = [given_target(endpoint, models, slot)]
    else:
        slots = [
            entry
            for each in clouds
            for entry in read_slots(env, plan, each, where.env_dir, where.outdir, local)
        ]
        targets = cloud_targets(models, slot, slots)
    return plan, clouds[0], targets


def _show_smoke(env: str, targets: list[Target], results: list[SmokeResult], as_json: bool) -> None:
    if as_json:
        rows = [
            asdict(result) | {"model": t.model, "cloud": t.cloud, "slot": t.slot, "passed": result.passed}
            for t, result in zip(targets, results, strict=True)
        ]
        out.print_json(json.dumps({"env": env, "results": rows}))
        return
    table = Table(title=f"{env}: smoke")
    for column in ("model", "cloud", "endpoint", "result", "TTFT s", "tokens/s", "detail"):
        table.add_column(column, justify="right" if column in ("TTFT s", "tokens/s") else "left")
    for target, result in zip(targets, results, strict=True):
        table.add_row(
            target.model + (f" ({target.slot})" if target.slot else ""),
            target.cloud or "-",
            escape(result.url),
            _SHOWN["ok" if result.passed else "fail"],
            f"{result.ttft_s:.2f}" if result.ttft_s is not None else "-",
            f"{result.tokens_per_s:.1f}" if result.tokens_per_s is not None else "-",
            escape(result.problem or f"{result.tokens} tokens from {result.model_id}"),
        )
    out.print(table)
