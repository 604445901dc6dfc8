"""`llmdeploy state unlock | migrate | orphans`: repair a stack's Terraform state where llmdeploy keeps it.

Terraform's data for a stack lives in `.llmdeploy/terraform/<stack>`, not in the stack folder, so a
bare `terraform force-unlock` or `terraform init -migrate-state` run by hand finds nothing: these run
Terraform the way every other llmdeploy command does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from llmdeploy.aws_session import aws_client
from llmdeploy.cli.app import DEFAULT_ENV_DIR, EnvDir, FlagsTakeNoValue, app, err, out, reported
from llmdeploy.cli.deploy_commands import AutoApprove, CloudOption, Env, Local, Outdir, environ_of
from llmdeploy.cli.next_steps import DEFAULT_OUTDIR, Invocation
from llmdeploy.config import load
from llmdeploy.deploy import StackTarget, init_stack, stack_runner
from llmdeploy.deploy import stack_targets as targets_of
from llmdeploy.errors import ConfigError, OperationError, Problem
from llmdeploy.plan.build import build_plan
from llmdeploy.synth import STACK_FILE
from llmdeploy.terraform import TerraformRunner
from llmdeploy.terraform.aws_imports import Adoption
from llmdeploy.terraform.aws_orphans import Orphan, delete_orphans
from llmdeploy.terraform.azure_orphans import delete_orphans as delete_azure_orphans
from llmdeploy.terraform.backends import (
    BACKENDS_DIR,
    configured_backend,
    describe,
    read_backend,
    write_backend,
)
from llmdeploy.terraform.migrate import copy_state
from llmdeploy.unfinished import aws_adoption, azure_stack_adoption, signed_in_arm, unmark

state = typer.Typer(
    cls=FlagsTakeNoValue,
    help="Repair a stack's Terraform state: release a stale lock, move it to a new backend, "
    "remove what a killed run left outside it.",
)
app.add_typer(state, name="state")

Stack = Annotated[str, typer.Argument(help="The stack, as named in messages: <env>-<cloud> or <env>-global.")]


@state.command("unlock")
@reported
def unlock(
    stack: Stack,
    lock_id: Annotated[str, typer.Argument(help="The lock ID the lock error printed.")],
    local: Local = False,
    outdir: Outdir = DEFAULT_OUTDIR,
    yes: AutoApprove = False,
) -> None:
    """Release a state lock left by a run that was stopped (only when no run is active)."""
    runner = _runner(stack, outdir, local)
    question = f"{stack}: release state lock {lock_id}? Only do this when no other run is active."
    if not (yes or typer.confirm(question, default=False, err=True)):
        err.print(f"Not unlocked: lock {lock_id} of stack '{stack}' is still held.", markup=False)
        return
    runner.force_unlock(lock_id)
    out.print(f"{stack}: lock {lock_id} released", markup=False, highlight=False)


@state.command("migrate")
@reported
def migrate(
    stack: Stack,
    local: Local = False,
    outdir: Outdir = DEFAULT_OUTDIR,
    yes: AutoApprove = False,
) -> None:
    """Copy a stack's state to the backend its environment now names (the old copy is kept)."""
    runner = _runner(stack, outdir, local)
    current = configured_backend(runner.stack_dir)
    if current is None:
        raise OperationError(f"Stack '{stack}' in {runner.stack_dir} names no backend; synthesize it again.")
    known = read_backend(BACKENDS_DIR, stack)
    source = describe(known) if known else "the backend its Terraform data was set up with"
    question = f"{stack}: copy the state from {source} to {describe(current)}?"
    if not (yes or typer.confirm(question, default=False, err=True)):
        err.print(f"Not migrated: the state of '{stack}' stays in {source}.", markup=False)
        return
    if known is None or known == current:
        runner.init_migrating()  # what the data folder remembers is the only record of the old place
    else:
        copy_state(runner, known)
    write_backend(BACKENDS_DIR, stack, current)
    out.print(
        f"{stack}: state now in {describe(current)}; run `llmdeploy plan` for its environment to check that "
        "nothing is planned to be created again.",
        markup=False,
        highlight=False,
    )


@state.command("orphans")
@reported
def orphans(
    env: Env,
    env_dir: EnvDir = DEFAULT_ENV_DIR,
    cloud: CloudOption = None,
    local: Local = False,
    outdir: Outdir = DEFAULT_OUTDIR,
    delete: Annotated[
        bool, typer.Option("--delete", help="Delete those the next apply cannot import (asks first).")
    ] = False,
    everything: Annotated[
        bool, typer.Option("--all", help="With --delete: delete every one, before a destroy.")
    ] = False,
    yes: AutoApprove = False,
) -> None:
    """List AWS and Azure resources with the environment's tags that its state does not hold, and what
    adopts each.

    A run killed mid-apply leaves them: created by the cloud, never recorded by Terraform. The next
    apply imports each one matched to its resource; the others can be deleted here. GCP is not
    looked at (its labels cannot hold a resource's address).
    """
    if everything and not delete:
        raise ConfigError([Problem("--all only goes with --delete", hint="add --delete, or drop --all")])
    where = Invocation(env, env_dir, outdir, "aws" if local else cloud, local)
    config = load(env, env_dir)
    plan = build_plan(config)
    if not any(entry.cloud in _LOOKUPS and where.cloud in (None, entry.cloud) for entry in plan.clouds):
        hint = "only AWS and Azure stacks can be looked at: GCP labels cannot hold a resource's address"
        raise ConfigError([Problem(f"environment {env!r} has no AWS or Azure stack to look at", hint=hint)])
    chosen = [
        target
        for target in targets_of(where, config, environ_of(local))
        if target.cloud is not None and target.cloud.cloud in _LOOKUPS
    ]
    for target in chosen:
        _orphans_of(target, where, delete=delete, everything=everything, yes=yes)


@dataclass(frozen=True)
class _Lookup:
    """What a cloud's orphans come to, and how to delete some of them (returning what failed)."""

    found: Adoption
    delete: Callable[[list[Orphan]], list[str]]


def _aws_lookup(target: StackTarget) -> _Lookup:
    region = target.aws_region
    assert region is not None
    found = aws_adoption(target.runner, target.tags, region, target.environ)
    return _Lookup(
        found,
        lambda doomed: delete_orphans(doomed, lambda service: aws_client(service, region, target.environ)),
    )


def _azure_lookup(target: StackTarget) -> _Lookup:
    arm = signed_in_arm()
    found = azure_stack_adoption(target.runner, arm, target.tags)
    return _Lookup(found, lambda doomed: delete_azure_orphans(arm, doomed))


_LOOKUPS: dict[str, Callable[[StackTarget], _Lookup]] = {
    "aws": _aws_lookup,
    "azure": _azure_lookup,
}


def _orphans_of(target: StackTarget, where: Invocation, *, delete: bool, everything: bool, yes: bool) -> None:
    """List, or delete, the orphans of one cloud stack."""
    assert target.cloud is not None
    name = target.cloud.cloud
    init_stack(target)
    lookup = _LOOKUPS[name](target)
    found = lookup.found
    if not (found.imports or found.unmatched):
        unmark(target.stack)
        out.print(
            f"{target.stack}: no orphans: every resource with {where.env}'s tags is in its state",
            markup=False,
            highlight=False,
        )
        return
    for address, orphan in found.imports:
        shown = f"{target.stack}: orphan {orphan.shown()}: the next apply imports it as {address}"
        out.print(shown, markup=False, highlight=False)
    for orphan in found.unmatched:
        shown = f"{target.stack}: orphan {orphan.shown()}: matches no resource of the stack"
        out.print(shown, markup=False, highlight=False)
    doomed = [*(orphan for _, orphan in found.imports), *found.unmatched] if everything else found.unmatched
    apply_command = where.command("apply", "--cloud", name, cloud=False)
    if not delete:
        out.print(_orphans_summary(found, where, name), markup=False, highlight=False)
        return
    if not doomed:
        out.print(f"Nothing to delete: `{apply_command}` imports them all.", markup=False, highlight=False)
        return
    question = f"{target.stack}: delete these {len(doomed)} resources?"
    if not (yes or typer.confirm(question, default=False, err=True)):
        err.print("Not deleted: the orphans are left as they are.", markup=False)
        return
    failed = lookup.delete(list(doomed))
    delete_command = where.command("state orphans", "--delete", *(["--all"] if everything else []))
    if failed:
        raise OperationError(
            f"Could not delete {len(failed)} of {len(doomed)} orphans ({'; '.join(failed)}). Those that "
            f"depend on others still going (instances terminating) go once they are gone: run "
            f"`{delete_command}` again in a few minutes."
        )
    if everything:
        unmark(target.stack)
    out.print(
        f"{target.stack}: {len(doomed)} orphans deleted; next: `{apply_command}`",
        markup=False,
        highlight=False,
    )


def _orphans_summary(found: Adoption, where: Invocation, cloud: str) -> str:
    apply_command = where.command("apply", "--cloud", cloud, cloud=False)
    delete_command = where.command("state orphans", "--delete")
    everything = where.command("state orphans", "--delete", "--all")
    if not found.unmatched:
        return (
            f"{len(found.imports)} orphans: `{apply_command}` imports them (its plan shows them); "
            f"before a destroy, `{everything}` deletes them instead."
        )
    return (
        f"{len(found.imports) + len(found.unmatched)} orphans: `{delete_command}` deletes the "
        f"{len(found.unmatched)} that match no resource, then `{apply_command}` imports the others; "
        f"before a destroy, `{everything}` deletes them all."
    )


def _runner(stack: str, outdir: Path, local: bool) -> TerraformRunner:
    runner = stack_runner(stack, outdir, environ_of(local))
    if not (runner.stack_dir / STACK_FILE).is_file():
        raise OperationError(
            f"No synthesized stack '{stack}' in {runner.stack_dir.parent}: run the command that failed "
            "again (it synthesizes its stacks), or pass the --out it used."
        )
    return runner
