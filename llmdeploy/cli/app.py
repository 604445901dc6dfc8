"""The typer application, its consoles, and the one place errors become exit codes.

Exit codes: 0 ok, 1 operational failure (a binary, a cloud, a lock), 2 invalid input.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from typer import _click  # the click typer vendors: its commands and contexts are of these classes
from typer.core import TyperGroup, TyperOption

from llmdeploy.errors import ConfigError, LlmdeployError


class FlagsTakeNoValue(TyperGroup):
    """Help lists a flag without a `<bool>` type after it: a flag takes no value."""

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        command = super().get_command(ctx, cmd_name)
        for param in command.get_params(ctx) if command is not None else []:
            if isinstance(param, TyperOption) and param.is_flag:
                param.metavar = ""  # typer shows the metavar in place of the type
        return command


app = typer.Typer(
    cls=FlagsTakeNoValue,
    name="llmdeploy",
    help="Self-hosted LLM inference fleets on AWS, GCP and Azure from one YAML file per environment.",
    rich_markup_mode="rich",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
# Off a terminal (CI logs, pipes) rich would wrap tables at 80 columns; logs have room.
_LOG_WIDTH = None if sys.stdout.isatty() else 200
out = Console(soft_wrap=True, width=_LOG_WIDTH)
err = Console(stderr=True, soft_wrap=True, width=_LOG_WIDTH)

P = ParamSpec("P")
R = TypeVar("R")

EnvDir = Annotated[
    Path,
    typer.Option("--env-dir", envvar="LLMDEPLOY_ENV_DIR", help="Folder of environment files named by ENV."),
]
DEFAULT_ENV_DIR = Path("environments")


def reported(command: Callable[P, R]) -> Callable[P, R]:
    """Run a command body; an llmdeploy error becomes its message on stderr and its exit code."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except LlmdeployError as error:
            _report(error)
            raise typer.Exit(error.exit_code) from None

    return run


def _report(error: LlmdeployError) -> None:
    if isinstance(error, ConfigError):
        count = len(error.problems)
        err.print(f"[bold red]error:[/] {count} problem{'s' if count != 1 else ''} found", highlight=False)
        for problem in error.problems:
            err.print(f"  {problem.render()}", highlight=False, markup=False)
        return
    err.print("[bold red]error:[/] ", end="", highlight=False)
    err.print(str(error), highlight=False, markup=False)
