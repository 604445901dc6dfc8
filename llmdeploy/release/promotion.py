"""release, promote and rollback: every traffic change is an edit of the environment file plus an apply.

Nothing here changes traffic out of band: each step writes the weights into the environment
file, then applies it, so git, the Terraform state and the traffic agree after every step. The
promotion record (llmdeploy/release/record.py) remembers which slot is being promoted and which
steps passed their gate, so an interrupted promotion continues where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from llmdeploy.config.environment import EnvironmentConfig
from llmdeploy.config.loader import load_environment
from llmdeploy.config.model import SLOTS, ModelConfig, Slot
from llmdeploy.errors import ConfigError, OperationError, Problem
from llmdeploy.plan.cost import check_config_budget
from llmdeploy.plan.traffic import (
    Weights,
    idle_slot,
    other,
    promotion_weights,
    resume_point,
    rollback_slot,
    split,
)
from llmdeploy.release.config_edit import edit_slots, remove_slot
from llmdeploy.release.gates import Clock, CloudSample, GatePolicy, Verdict, describe, watch
from llmdeploy.release.observer import DeployedStack, HealthObserver, observer_for
from llmdeploy.release.record import PromotionRecord, read_record, record_path, write_record
from llmdeploy.smoke.check import SmokeResult


class Deploy(Protocol):
    """Applies every stack of the environment as its file now reads; returns the stacks applied.

    `new_images`: fleets (`<model>-<slot>`) to roll onto the newest GPU image as well.
    """

    def __call__(self, new_images: Sequence[str] = ()) -> Sequence[DeployedStack]: ...


Say = Callable[[str], None]
#: Proves one slot of the model alone (`llmdeploy smoke --slot`): one result per endpoint proven.
SmokeSlot = Callable[[Slot], Sequence[SmokeResult]]
#: `(verb, *args) -> "llmdeploy <verb> <env> <args> <the user's options>"`: commands to suggest.
Suggest = Callable[..., str]


@dataclass(frozen=True)
class ReleaseContext:
    """One model of one environment file, and how to deploy it and talk about it."""

    env_path: Path
    model: str
    deploy: Deploy
    records_dir: Path
    say: Say
    suggest: Suggest
    #: Go ahead when the environment's estimate exceeds its budget (`--allow-over-budget`).
    allow_over_budget: bool = False
    #: Run before the first traffic shift of a promotion; None skips it (`--no-smoke`).
    smoke: SmokeSlot | None = None


def release(
    ctx: ReleaseContext, revision: str | None, engine_image: str | None, new_image: bool = False
) -> Slot:
    """Write the new version into the idle slot at weight 0 and deploy it; return that slot.

    With `new_image`, the slot is also rolled onto the newest GPU image (see release/images.py),
    which is a release by itself when no version changes.
    """
    config, model = load_model(ctx)
    weights = _weights(model)
    target = idle_slot(weights)
    source = other(target)
    if weights[target] > 0:
        raise ConfigError([_busy(ctx, model, weights)])
    versions = _new_versions(model, source, revision, engine_image, new_image)
    if not new_image and _same_version(model, source, versions):
        raise ConfigError(
            [Problem(f"{source} of {model.name} already runs this version", hint="nothing to release")]
        )
    budget = _budget_check(ctx, f"release of {model.name} into {target}")
    edit_slots(ctx.env_path, ctx.model, {source: 100, target: 0}, {target: versions}, budget)
    _write(ctx, PromotionRecord(config.name, ctx.model, source, target, "released"))
    shown = ", ".join(f"{key} {value}" for key, value in versions.items() if value)
    image = " on the newest GPU image" if new_image else ""
    ctx.say(
        f"{model.name}: {shown or 'the model version'}{image} written into {target} at 0% ({ctx.env_path})"
    )
    ctx.deploy(new_images=(f"{model.name}-{target}",) if new_image else ())
    ctx.say(f"{model.name}: {target} deployed; next: {ctx.suggest('promote', '--model', model.name)}")
    return target


def promote(
    ctx: ReleaseContext,
    steps: list[int],
    policy: GatePolicy,
    clock: Clock,
    loaded: tuple[EnvironmentConfig, ModelConfig] | None = None,
    retire_after: bool = False,
) -> None:
    """Shift traffic to the released slot step by step, each step gated; roll back on a failed gate.

    `loaded`: the environment and model as the command already loaded them (`load_model`).
    `retire_after`: retire the previous slot once the new one has all the traffic.
    """
    config, model = loaded or load_model(ctx)
    _budget_check(ctx, f"promotion of {model.name}")(config)
    weights = _weights(model)
    record = _promotion_record(ctx, config, model, weights)
    if record.state == "rolling-back":
        _finish_rollback(ctx, record)
    gated = record.done_percent if record.state in ("released", "promoting", "promoted") else 0
    start = resume_point(gated, weights[record.target])
    remaining = promotion_weights(record.target, steps, start)
    record = record.moved("promoting", steps_done=tuple(s for s in record.steps_done if s <= start))
    if not remaining:
        _write(ctx, record.moved("promoted"))
        ctx.say(f"{model.name}: {record.target} already has 100%; nothing to promote")
        return
    _write(ctx, record)
    ctx.say(f"{model.name}: promoting {record.target} from {start}% through {_percents(remaining, record)}")
    observers = _observers(ctx.deploy())
    _gate(ctx, record, observers, replace(policy, pause_s=0), clock, f"{start}% (before the first step)")
    _smoke(ctx, record)
    for step in remaining:
        percent = step[record.target]
        edit_slots(ctx.env_path, ctx.model, step)
        ctx.say(f"{model.name}: applying {_shown(step)}")
        observers = _observers(ctx.deploy())
        _gate(ctx, record, observers, policy, clock, f"{percent}%")
        record = record.moved("promoting", steps_done=(*record.steps_done, percent))
        _write(ctx, record)
    _write(ctx, record.moved("promoted"))
    ctx.say(f"{model.name}: promoted: {record.target} has 100% of the traffic")
    if retire_after:
        retire(ctx, record.source)
        return
    ctx.say(
        f"{model.name}: {record.source} keeps its full capacity at 0%, so a rollback is instant but both "
        f"slots are paid for; once you no longer need that: "
        f"{ctx.suggest('retire', '--model', model.name)}"
    )


def rollback(ctx: ReleaseContext, to: Slot | None) -> Slot:
    """Return all traffic to the previous slot at once; return that slot."""
    config, model = load_model(ctx)
    weights = _weights(model)
    record = read_record(_record_file(ctx, config), config.name, ctx.model)
    previous = to or (record.source if record is not None else None) or rollback_slot(weights)
    if previous is not None and previous not in model.slots:
        raise ConfigError([_retired(ctx, model, previous)])
    if previous is None:
        raise ConfigError(
            [
                Problem(
                    f"cannot tell which slot of {model.name} to return traffic to ({_shown(weights)})",
                    hint="name it: --to blue or --to green",
                )
            ]
        )
    if record is None or record.source != previous:
        record = PromotionRecord(config.name, ctx.model, previous, other(previous), "rolling-back")
    # Continuing a rollback a failed gate started keeps that gate's verdict in the record.
    unfinished = record.state == "rolling-back" and record.reason
    _roll_back(ctx, record, record.reason if unfinished and record.reason else "requested")
    return previous


def retire(ctx: ReleaseContext, slot: Slot | None = None) -> Slot:
    """Remove the slot at 0% from the file and apply, which destroys its fleet; return that slot.

    Until then a rollback is instant (the old fleet still runs) but both fleets are paid for; after
    it, going back is a release of the old version (a boot, then gated steps). Default: the slot at
    0%, unless it holds a release not yet promoted (that one goes only when named).
    """
    config, model = load_model(ctx)
    weights = _weights(model)
    idle = slot or idle_slot(weights)
    record = read_record(_record_file(ctx, config), config.name, ctx.model)
    problem = _retire_problem(ctx, model, weights, idle, record, named=slot is not None)
    if problem is not None:
        raise ConfigError([problem])
    retired = model.slots[idle]
    version = _effective(model, retired.revision, retired.engine_image)
    remove_slot(ctx.env_path, ctx.model, idle)
    _record_file(ctx, config).unlink(missing_ok=True)
    ctx.say(f"{model.name}: {idle} removed from {ctx.env_path}; applying, which destroys its fleet")
    ctx.deploy()
    again = ["--model", model.name, "--revision", version[0]]
    again += ["--engine-image", version[1]] if version[1] else []
    ctx.say(
        f"{model.name}: {idle} retired; {other(idle)} serves alone. To return to the version {idle} ran: "
        f"{ctx.suggest('release', *again)}"
    )
    return idle


def _retire_problem(
    ctx: ReleaseContext,
    model: ModelConfig,
    weights: Weights,
    slot: Slot,
    record: PromotionRecord | None,
    named: bool,
) -> Problem | None:
    """Why `slot` cannot be retired now; None when it can."""
    file = str(ctx.env_path)
    if slot not in model.slots:
        return Problem(f"{model.name} has no {slot} slot: nothing to retire", path="slots", file=file)
    if weights[slot] > 0:
        return Problem(
            f"{slot} of {model.name} still has {weights[slot]}% of the traffic ({_shown(weights)})",
            file=file,
            hint=f"finish the promotion (`{ctx.suggest('promote', '--model', model.name)}`) or roll "
            "back first: only a slot at 0% can be retired",
        )
    if record is not None and record.state in ("promoting", "rolling-back"):
        return _busy(ctx, model, weights)
    if record is not None and record.state == "released" and record.target == slot and not named:
        return Problem(
            f"{slot} of {model.name} holds a release not yet promoted",
            file=file,
            hint=f"promote it (`{ctx.suggest('promote', '--model', model.name)}`), or discard it: "
            f"`{ctx.suggest('retire', '--model', model.name, '--slot', slot)}`",
        )
    return None


def _retired(ctx: ReleaseContext, model: ModelConfig, slot: Slot) -> Problem:
    return Problem(
        f"{slot} of {model.name} was retired (or never existed): it has no fleet to return traffic to",
        path="slots",
        file=str(ctx.env_path),
        hint="release the version to go back to, then promote it: "
        f"{ctx.suggest('release', '--model', model.name, '--revision', '<sha>')}",
    )


def _budget_check(ctx: ReleaseContext, action: str) -> Callable[[EnvironmentConfig], None]:
    """Refuse `action` on a config whose estimate exceeds its budget, unless overridden."""

    def check(config: EnvironmentConfig) -> None:
        if not ctx.allow_over_budget:
            check_config_budget(config, action)

    return check


def _finish_rollback(ctx: ReleaseContext, record: PromotionRecord) -> None:
    """Complete a rollback that was interrupted, and refuse to promote: its cause still stands.

    A rollback starts only once the record says why (a failed gate, or a request), so resuming
    must never turn it into a promotion of the release whose gate had just failed.
    """
    reason = record.reason or "a rollback was under way"
    ctx.say(f"{ctx.model}: an interrupted rollback to {record.source} is under way; finishing it first")
    _roll_back(ctx, record, reason)
    raise OperationError(
        f"Did not promote {ctx.model} to {record.target}: the last promotion was being rolled back "
        f"({reason}). The rollback is now finished: {record.source} has 100% of the traffic again. "
        f"Fix {record.target} (or release another version), then run "
        f"`{ctx.suggest('promote', '--model', ctx.model)}` to start a new, gated promotion."
    )


def _gate(
    ctx: ReleaseContext,
    record: PromotionRecord,
    observers: Sequence[HealthObserver],
    policy: GatePolicy,
    clock: Clock,
    where: str,
) -> None:
    """Watch the gate; on failure roll back and raise with the reason."""
    try:
        verdict = watch(
            record.target,
            lambda: [observer.sample(ctx.model, record.target) for observer in observers],
            policy,
            clock,
            _progress(ctx, record.target, policy),
        )
    except OperationError as error:
        verdict = Verdict(passed=False, reasons=(str(error),), final=True)
    if verdict.passed:
        ctx.say(f"  gate passed at {where}")
        return
    _stop(ctx, record, f"gate failed at {where}", "; ".join(verdict.reasons))


def _smoke(ctx: ReleaseContext, record: PromotionRecord) -> None:
    """Prove the new slot alone (its model id, a streamed completion) before it gets more traffic.

    The requests carry the slot header, so they reach the new slot at any weight, 0 included.
    """
    if ctx.smoke is None:
        ctx.say(f"  smoke check of {record.target} skipped (--no-smoke)")
        return
    results = ctx.smoke(record.target)
    for result in results:
        ctx.say(f"  smoke {record.target} at {result.url}: {_smoke_outcome(result)}")
    problems = [f"{result.url}: {result.problem}" for result in results if result.problem is not None]
    if problems:
        _stop(ctx, record, "smoke check failed before the first step", "; ".join(problems))


def _smoke_outcome(result: SmokeResult) -> str:
    if result.problem is not None:
        return result.problem
    timing = f", first token after {result.ttft_s:.2f} s" if result.ttft_s is not None else ""
    return f"{result.tokens} tokens from {result.model_id}{timing}"


def _stop(ctx: ReleaseContext, record: PromotionRecord, what: str, reason: str) -> None:
    """Roll back and raise: `what` failed (a gate, the smoke check) for `reason`."""
    _roll_back(ctx, record, f"{what}: {reason}")
    raise OperationError(
        f"Promotion of {ctx.model} to {record.target} stopped: its {what}: {reason}. "
        f"Rolled back: {record.source} has 100% of the traffic again, in {ctx.env_path} and in the "
        f"Terraform state. Fix {record.target} (or release another version), then run "
        f"`{ctx.suggest('promote', '--model', ctx.model)}` again."
    )


def _roll_back(ctx: ReleaseContext, record: PromotionRecord, reason: str) -> None:
    _write(ctx, record.moved("rolling-back", reason=reason))
    ctx.say(f"{ctx.model}: rolling back to {record.source} ({reason})")
    edit_slots(ctx.env_path, ctx.model, split(record.source, 100))
    ctx.deploy()
    _write(ctx, record.moved("rolled-back", steps_done=(), reason=reason))
    ctx.say(f"{ctx.model}: rolled back: {record.source} has 100% of the traffic")


def _progress(
    ctx: ReleaseContext, slot: Slot, policy: GatePolicy
) -> Callable[[Sequence[CloudSample], Verdict], None]:
    """Say each round's samples, and what the gate waits for once per change."""
    last: list[tuple[str, ...]] = [()]

    def show(samples: Sequence[CloudSample], verdict: Verdict) -> None:
        for sample in samples:
            ctx.say("  sample: " + describe(slot, sample, policy))
        if verdict.reasons != last[0]:
            last[0] = verdict.reasons
            ctx.say("  gate: " + ("; ".join(verdict.reasons) if verdict.reasons else "passed"))

    return show


def _promotion_record(
    ctx: ReleaseContext, config: EnvironmentConfig, model: ModelConfig, weights: Weights
) -> PromotionRecord:
    """The record of the release being promoted; without one, the idle slot is the target."""
    record = read_record(_record_file(ctx, config), config.name, ctx.model)
    if record is None:
        target = idle_slot(weights)
        if target not in model.slots:
            raise ConfigError(
                [
                    Problem(
                        f"nothing is released into the idle slot of {model.name}",
                        hint=ctx.suggest("release", "--model", model.name, "--revision", "<sha>"),
                    )
                ]
            )
        record = PromotionRecord(config.name, ctx.model, other(target), target, "released")
    return record


def _observers(stacks: Sequence[DeployedStack]) -> list[HealthObserver]:
    return [observer_for(stack) for stack in stacks]


def _new_versions(
    model: ModelConfig, source: Slot, revision: str | None, engine_image: str | None, new_image: bool
) -> dict[str, str | None]:
    """What the released slot runs: the serving slot's version with the given parts replaced."""
    if revision is None and engine_image is None and not new_image:
        raise ConfigError(
            [Problem("say what to release", hint="--revision <sha>, --engine-image <image>, --new-image")]
        )
    serving = model.slots.get(source)
    return {
        "revision": revision or (serving.revision if serving else None),
        "engine_image": engine_image or (serving.engine_image if serving else None),
    }


def _same_version(model: ModelConfig, source: Slot, versions: dict[str, str | None]) -> bool:
    serving = model.slots.get(source)
    current = (serving.revision, serving.engine_image) if serving else (None, None)
    new = (versions["revision"], versions["engine_image"])
    return _effective(model, *new) == _effective(model, *current)


def _effective(model: ModelConfig, revision: str | None, image: str | None) -> tuple[str, str | None]:
    return revision or model.revision, image or model.engine_image


def _busy(ctx: ReleaseContext, model: ModelConfig, weights: Weights) -> Problem:
    return Problem(
        f"a promotion of {model.name} is under way ({_shown(weights)}): both slots serve traffic",
        file=str(ctx.env_path),
        hint=f"finish it (`{ctx.suggest('promote', '--model', model.name)}`) or undo it "
        f"(`{ctx.suggest('rollback', '--model', model.name)}`) before releasing again",
    )


def load_model(ctx: ReleaseContext) -> tuple[EnvironmentConfig, ModelConfig]:
    """The environment file, validated, and the model the command is about."""
    config = load_environment(ctx.env_path)
    for model in config.models:
        if model.name == ctx.model:
            return config, model
    names = ", ".join(model.name for model in config.models)
    raise ConfigError(
        [Problem(f"no model {ctx.model!r}", path="models", file=str(ctx.env_path), hint=f"models: {names}")]
    )


def _weights(model: ModelConfig) -> Weights:
    return {slot: model.slots[slot].weight if slot in model.slots else 0 for slot in SLOTS}


def _shown(weights: Weights) -> str:
    return ", ".join(f"{slot} {weights[slot]}%" for slot in SLOTS)


def _percents(remaining: list[Weights], record: PromotionRecord) -> str:
    return " -> ".join(f"{step[record.target]}%" for step in remaining)


def _record_file(ctx: ReleaseContext, config: EnvironmentConfig) -> Path:
    return record_path(ctx.records_dir, config.name, ctx.model)


def _write(ctx: ReleaseContext, record: PromotionRecord) -> None:
    write_record(record_path(ctx.records_dir, record.env, record.model), record)
