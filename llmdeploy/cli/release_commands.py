"""`llmdeploy release | promote | rollback`: blue/green releases, every step through the environment file.

Each command edits the environment file (comments and key order kept) and then applies every
stack of the environment (or `--cloud`'s) without asking: the file, once valid, is what runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Annotated

import typer

from llmdeploy.cli.app import DEFAULT_ENV_DIR, EnvDir, app, err, out, reported
from llmdeploy.cli.check_commands import smoke_targets
from llmdeploy.cli.deploy_commands import (
    DEFAULT_OUTDIR,
    CloudOption,
    Env,
    Local,
    Outdir,
    OverBudget,
    environ_of,
    run_stacks,
)
from llmdeploy.cli.next_steps import Invocation
from llmdeploy.config import load, resolve_env_path
from llmdeploy.config.model import Slot
from llmdeploy.deploy import StackTarget, deployed
from llmdeploy.plan.cost import OVER_BUDGET_FLAG
from llmdeploy.plan.traffic import parse_duration, parse_steps
from llmdeploy.release import promotion
from llmdeploy.release.gates import GatePolicy, SystemClock
from llmdeploy.release.images import image_pins
from llmdeploy.release.observer import DeployedStack
from llmdeploy.release.promotion import ReleaseContext, SmokeSlot
from llmdeploy.release.record import RECORDS_DIR, read_record, record_path
from llmdeploy.smoke.check import DEFAULT_TIMEOUT_S, SmokeResult
from llmdeploy.smoke.run import prove
from llmdeploy.synth import STACK_FILE
from llmdeploy.terraform.diagnose import INTERRUPTED_EXIT, Interrupted

ModelOption = Annotated[str, typer.Option("--model", "-m", help="The model (its `name` in the file).")]


@app.command()
@reported
def release(
    env: Env,
    model: ModelOption,
    revision: Annotated[str | None, typer.Option(help="Model revision (commit sha or tag).")] = None,
    engine_image: Annotated[str | None, typer.Option(help="Engine image, pinned to a tag.")] = None,
    new_image: Annotated[
        bool, typer.Option("--new-image", help="Also roll the slot onto the newest GPU machine image.")
    ] = False,
    env_dir: EnvDir = DEFAULT_ENV_DIR,
    cloud: CloudOption = None,
    local: Local = False,
    outdir: Outdir = DEFAULT_OUTDIR,
    allow_over_budget: OverBudget = False,
) -> None:
    """Write a new version into the model's idle slot at 0% traffic and deploy it (budget checked first)."""
    where = Invocation(env, env_dir, outdir, cloud, local)
    versions = [*_option("--revision", revision), *_option("--engine-image", engine_image)]
    flags = [*(["--new-image"] if new_image else []), *_flag(OVER_BUDGET_FLAG, allow_over_budget)]
    rerun = where.command("release", "--model", model, *versions, *flags)
    context = _context(where, model, rerun, allow_over_budget)
    with _interrupts(f"Run `{rerun}` to finish the release (it continues with the file as edited)."):
        promotion.release(context, revision, engine_image, new_image)


@app.command()
@reported
def promote(
    env: Env,
    model: ModelOption,
    steps: Annotated[str, typer.Option(help="The new slot's shares, ending at 100.")] = "10,50,100",
    pause: Annotated[str, typer.Option(help="How long each step must stay healthy (30s, 5m).")] = "5m",
    step_timeout: Annotated[str, typer.Option(help="How long a step may take to get healthy.")] = "15m",
    min_healthy: Annotated[
        int | None,
        typer.Option(help="Healthy targets per cloud. Default: alarms.min_healthy_replicas."),
    ] = None,
    poll: Annotated[str, typer.Option(help="Time between two health samples.")] = "10s",
    retire_after: Annotated[
        bool, typer.Option("--retire", help="Once promoted, retire the previous slot (destroys its fleet).")
    ] = False,
    smoke_endpoint: Annotated[
        str | None,
        typer.Option(help="Smoke-check the new slot at this URL instead of the stack's endpoint."),
    ] = None,
    key_env: Annotated[
        str | None,
        typer.Option("--api-key-env", help="The smoke check sends the API key held in this variable."),
    ] = None,
    no_smoke: Annotated[
        bool, typer.Option("--no-smoke", help="Skip the smoke check of the new slot before the first step.")
    ] = False,
    env_dir: EnvDir = DEFAULT_ENV_DIR,
    cloud: CloudOption = None,
    local: Local = False,
    outdir: Outdir = DEFAULT_OUTDIR,
    allow_over_budget: OverBudget = False,
) -> None:
    """Shift traffic to the released slot step by step; roll back by itself when a gate fails.

    Before the first step, `llmdeploy smoke --slot` proves the new slot alone (its model id and a
    streamed completion): if it fails, the promotion stops and rolls back.
    """
    where = Invocation(env, env_dir, outdir, cloud, local)
    gates = ["--steps", steps, "--pause", pause, "--step-timeout", step_timeout, "--poll", poll]
    gates += _option("--min-healthy", None if min_healthy is None else str(min_healthy))
    gates += [*_flag("--retire", retire_after), *_flag(OVER_BUDGET_FLAG, allow_over_budget)]
    gates += [*_option("--smoke-endpoint", smoke_endpoint), *_option("--api-key-env", key_env)]
    gates += _flag("--no-smoke", no_smoke)
    rerun = where.command("promote", "--model", model, *gates)
    context = _context(where, model, rerun, allow_over_budget)
    if not no_smoke:
        context = replace(context, smoke=_slot_smoke(where, model, smoke_endpoint, key_env))
    loaded = promotion.load_model(context)
    alarms = loaded[0].monitoring.alarms
    policy = GatePolicy(
        min_healthy=alarms.min_healthy_replicas if min_healthy is None else min_healthy,
        max_error_rate_percent=alarms.error_rate_percent,
        timeout_s=parse_duration(step_timeout, "--step-timeout"),
        pause_s=parse_duration(pause, "--pause"),
        poll_s=max(parse_duration(poll, "--poll"), 1.0),
    )
    with _interrupts(lambda: _promotion_next(context, where, rerun)):
        promotion.promote(context, parse_steps(steps), policy, SystemClock(), loaded, retire_after)


@app.command()
@reported
def retire(
    env: Env,
    model: ModelOption,
    slot: Annotated[Slot | None, typer.Option(help="The slot to retire. Default: the one at 0%.")] = None,
    env_dir: EnvDir = DEFAULT_ENV_DIR,
    cloud: CloudOption = None,
    local: Local = False,
    outdir: Outdir = DEFAULT_OUTDIR,
) -> None:
    """Remove the model's slot at 0% from the file and destroy its fleet: cost falls to one slot.

    Until then a rollback is instant; afterwards, going back is a release of the old version.
    """
    where = Invocation(env, env_dir, outdir, cloud, local)
    rerun = where.command("retire", "--model", model, *_option("--slot", slot))
    finish = where.command("apply", "--auto-approve")
    advice = f"Run `{rerun}`; once the file no longer lists the slot, `{finish}` destroys its fleet."
    with _interrupts(advice):
        promotion.retire(_context(where, model, rerun), slot)


@app.command()
@reported
def rollback(
    env: Env,
    model: ModelOption,
    to: Annotated[Slot | None, typer.Option(help="The slot to return to. Default: the previous one.")] = None,
    env_dir: EnvDir = DEFAULT_ENV_DIR,
    cloud: CloudOption = None,
    local: Local = False,
    outdir: Outdir = DEFAULT_OUTDIR,
) -> None:
    """Return all of the model's traffic to the previous slot at once."""
    where = Invocation(env, env_dir, outdir, cloud, local)
    rerun = where.command("rollback", "--model", model, *_option("--to", to))
    with _interrupts(f"Run `{rerun}` to finish the rollback."):
        promotion.rollback(_context(where, model, rerun), to)


def _option(name: str, value: str | None) -> list[str]:
    return [name, value] if value else []


def _flag(name: str, given: bool) -> list[str]:
    return [name] if given else []


@contextmanager
def _interrupts(next_step: str | Callable[[], str]) -> Iterator[None]:
    """Ctrl-C (or SIGTERM): say where things stand and what to run, and exit 130."""
    try:
        yield
    except (KeyboardInterrupt, Interrupted) as stopped:
        what = stopped.what if isinstance(stopped, Interrupted) else "Interrupted."
        advice = next_step if isinstance(next_step, str) else next_step()
        err.print(f"{what} {advice}", markup=False, highlight=False)
        raise typer.Exit(INTERRUPTED_EXIT) from None


def _promotion_next(context: ReleaseContext, where: Invocation, rerun: str) -> str:
    """What to run after an interrupted promote: it depends on whether a rollback had begun."""
    record = read_record(record_path(RECORDS_DIR, where.env, context.model), where.env, context.model)
    rollback = where.command("rollback", "--model", context.model)
    if record is not None and record.state == "rolling-back":
        return (
            f"A rollback to {record.source} was under way ({record.reason}). Run `{rollback}` to finish "
            f"it; `{rerun}` finishes it too and does not promote."
        )
    return (
        f"The promotion record in {RECORDS_DIR} keeps the last step that passed its gate; the environment "
        "file may already hold the next step's weights, which are applied first when you continue. Run "
        f"`{rerun}` to continue from there, or `{rollback}` to return all traffic to the previous slot."
    )


def _context(where: Invocation, model: str, rerun: str, allow_over_budget: bool = False) -> ReleaseContext:
    def deploy(new_images: Sequence[str] = ()) -> list[DeployedStack]:
        def renewed(target: StackTarget) -> list[str]:
            addresses = _image_pins(target, new_images)
            if addresses:
                say(f"{target.stack}: replacing {', '.join(addresses)} to take the newest image")
            return addresses

        # The file as this step edited it, loaded and validated once for the whole step.
        config = load(where.env, where.env_dir)
        targets = run_stacks(where, "apply", yes=True, replacing=renewed, rerun=rerun, config=config)
        return deployed(targets, config)

    def say(text: str) -> None:
        out.print(text, markup=False, highlight=False)

    env_path = resolve_env_path(where.env, where.env_dir)
    return ReleaseContext(env_path, model, deploy, RECORDS_DIR, say, where.command, allow_over_budget)


def _slot_smoke(where: Invocation, model: str, endpoint: str | None, key_env: str | None) -> SmokeSlot:
    """`llmdeploy smoke --slot` of the model: every request names the slot, so it alone answers."""

    def smoke(slot: Slot) -> list[SmokeResult]:
        plan, key_store, targets = smoke_targets(where, model, slot, endpoint)
        return prove(plan, targets, key_store, environ_of(where.local), key_env, DEFAULT_TIMEOUT_S)

    return smoke


def _image_pins(target: StackTarget, fleets: Sequence[str]) -> list[str]:
    if target.cloud is None or not fleets:
        return []
    document = json.loads((target.runner.stack_dir / STACK_FILE).read_text(encoding="utf-8"))
    return [
        address
        for fleet in fleets
        for address in image_pins(document, target.stack, fleet, target.cloud.cloud)
    ]
