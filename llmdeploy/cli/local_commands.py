"""`llmdeploy local up|down|status`: the embedded AWS emulator, so anyone can deploy without an account."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmdeploy.cli.app import app, out, reported
from llmdeploy.emulator import emulator_environ, read_emulator, start_emulator, stop_emulator
from llmdeploy.errors import OperationError

#: The emulator's pid, port, log and data live here, inside the project folder.
LOCAL_STATE_DIR = Path(".llmdeploy") / "local"
#: Terraform variables the synthesized AWS stacks read to tolerate an emulator (no real STS, no IMDS).
LOCAL_TERRAFORM_VARIABLES = {"TF_VAR_aws_local_emulator": "true"}

local = typer.Typer(
    help="A local AWS emulator (moto) to deploy into without a cloud account.", no_args_is_help=True
)
app.add_typer(local, name="local")


def local_environ(state_dir: Path) -> dict[str, str]:
    """The environment that points Terraform and boto3 at the running emulator."""
    handle = read_emulator(state_dir)
    if handle is None:
        raise OperationError(
            f"No local AWS emulator is running (looked in {state_dir}). Start one with `llmdeploy local up`, "
            "then run the command again."
        )
    return {**emulator_environ(handle), **LOCAL_TERRAFORM_VARIABLES}


@local.command("up")
@reported
def up(port: Annotated[int | None, typer.Option(help="Loopback port. Default: a free one.")] = None) -> None:
    """Start the emulator in the background on 127.0.0.1 (or reuse the running one)."""
    handle = start_emulator(LOCAL_STATE_DIR, port=port)
    out.print(
        f"local AWS emulator on {handle.endpoint_url} (pid {handle.pid}); use --local with plan/apply/destroy"
    )


@local.command("down")
@reported
def down() -> None:
    """Stop the emulator (its resources are gone with it)."""
    stopped = stop_emulator(LOCAL_STATE_DIR)
    out.print("local AWS emulator stopped" if stopped else "no local AWS emulator was running")


@local.command("status")
@reported
def status() -> None:
    """Say whether the emulator runs, and where."""
    handle = read_emulator(LOCAL_STATE_DIR)
    if handle is None:
        out.print("no local AWS emulator is running")
        raise typer.Exit(1)
    out.print(f"local AWS emulator on {handle.endpoint_url} (pid {handle.pid})")
