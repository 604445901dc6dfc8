"""`llmdeploy local up|down|status|env|secret`: the embedded AWS emulator, to deploy without an account."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from llmdeploy.aws_session import aws_client
from llmdeploy.cli.app import FlagsTakeNoValue, app, out, reported
from llmdeploy.emulator import (
    EmulatorHandle,
    emulator_env,
    emulator_environ,
    read_emulator,
    start_emulator,
    stop_emulator,
)
from llmdeploy.emulator.process import REGION
from llmdeploy.errors import ConfigError, OperationError, Problem

#: The emulator's pid, port, log and data live here, inside the project folder.
LOCAL_STATE_DIR = Path(".llmdeploy") / "local"
#: Terraform variables the synthesized AWS stacks read to tolerate an emulator (no real STS, no IMDS).
LOCAL_TERRAFORM_VARIABLES = {"TF_VAR_aws_local_emulator": "true"}

local = typer.Typer(
    cls=FlagsTakeNoValue,
    help="A local AWS emulator (moto) to deploy into without a cloud account.",
    no_args_is_help=True,
)
app.add_typer(local, name="local")


def local_environ(state_dir: Path) -> dict[str, str]:
    """The environment that points Terraform and boto3 at the running emulator."""
    return {**emulator_environ(_running(state_dir)), **LOCAL_TERRAFORM_VARIABLES}


def _running(state_dir: Path) -> EmulatorHandle:
    handle = read_emulator(state_dir)
    if handle is None:
        raise OperationError(
            f"No local AWS emulator is running (looked in {state_dir}). Start one with `llmdeploy local up`, "
            "then run the command again."
        )
    return handle


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


@local.command("env")
@reported
def env() -> None:
    """Print `export` lines that point Terraform, the AWS CLI and scripts/cdktn at the emulator.

    Use: eval "$(llmdeploy local env)". Only the variables llmdeploy sets are printed; the ones
    `--local` also clears (AWS_PROFILE, AWS_SESSION_TOKEN, ...) must not be set in that shell.
    """
    exported = {**emulator_env(_running(LOCAL_STATE_DIR)), **LOCAL_TERRAFORM_VARIABLES}
    for name, value in exported.items():
        out.print(f"export {name}={shlex.quote(value)}", highlight=False, markup=False)


@local.command("secret")
@reported
def secret(
    name: Annotated[str, typer.Argument(help="The secret's name, as the environment file writes it.")],
    region: Annotated[str, typer.Option(help="The region the environment deploys to.")] = REGION,
) -> None:
    """Create or replace a secret in the emulator's Secrets Manager, its value read from stdin.

    The value never travels in argv (it would show in `ps` and shell history). Plans of an
    environment that names the secret (hf_token, api_key) then find it.
    """
    value = _secret_value(name)
    client = aws_client("secretsmanager", region, local_environ(LOCAL_STATE_DIR))
    try:
        client.create_secret(Name=name, SecretString=value)
    except client.exceptions.ResourceExistsException:
        client.put_secret_value(SecretId=name, SecretString=value)
    out.print(f"secret {name} is set in the local emulator ({region})")


def _secret_value(name: str) -> str:
    if sys.stdin.isatty():
        value: str = typer.prompt(f"value of {name}", hide_input=True)
    else:
        value = sys.stdin.read().removesuffix("\n")
    if not value:
        raise ConfigError(
            [
                Problem(
                    "the secret value is empty",
                    path=name,
                    hint="pipe the value on stdin, e.g. printf %s KEY |",
                )
            ]
        )
    return value


@local.command("status")
@reported
def status() -> None:
    """Say whether the emulator runs, and where."""
    handle = read_emulator(LOCAL_STATE_DIR)
    if handle is None:
        out.print("no local AWS emulator is running")
        raise typer.Exit(1)
    out.print(f"local AWS emulator on {handle.endpoint_url} (pid {handle.pid})")
