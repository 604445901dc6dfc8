"""The next command to suggest, with the flags the user gave.

A suggestion that drops `--cloud` or `--local` points somewhere else: after
`release dev --cloud aws --local`, a bare `llmdeploy promote dev` would go to the real clouds.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from llmdeploy.catalog import Cloud
from llmdeploy.cli.app import DEFAULT_ENV_DIR
from llmdeploy.terraform.diagnose import Recovery

#: Where synthesized stacks go unless --out says otherwise.
DEFAULT_OUTDIR = Path("cdktf.out")
ENV_DIR_VARIABLE = "LLMDEPLOY_ENV_DIR"
PLACEHOLDER = re.compile(r"<[a-z_]+>")


@dataclass(frozen=True)
class Invocation:
    """Where a command ran: the environment and the options every follow-up command repeats."""

    env: str
    env_dir: Path = DEFAULT_ENV_DIR
    outdir: Path = DEFAULT_OUTDIR
    cloud: Cloud | None = None
    local: bool = False

    def command(self, verb: str, *args: str, cloud: bool = True) -> str:
        """`llmdeploy <verb> <env> <args> <the user's options>`, quoted for a POSIX shell.

        `cloud=False` leaves out --cloud (for commands about one named stack).
        """
        return _join(["llmdeploy", *verb.split(), self.env, *args, *self._options(cloud)])

    def stack_command(self, verb: str, stack: str, *args: str) -> str:
        """`llmdeploy <verb> <stack> <args>` with --local and --out as given (no env, no --cloud)."""
        options = self._options(cloud=False, env_dir=False)
        return _join(["llmdeploy", *verb.split(), stack, *args, *options])

    def recovery(self, rerun: str, stack: str) -> Recovery:
        """What a failure of `stack` during `rerun` suggests."""
        return Recovery(
            rerun=rerun,
            unlock=self.stack_command("state unlock", stack),
            migrate=self.stack_command("state migrate", stack),
        )

    def _options(self, cloud: bool, env_dir: bool = True) -> list[str]:
        options: list[str] = []
        if cloud and self.cloud is not None:
            options += ["--cloud", self.cloud]
        if self.local:
            options.append("--local")
        if env_dir and self._env_dir_given():
            options += ["--env-dir", str(self.env_dir)]
        if self.outdir != DEFAULT_OUTDIR:
            options += ["--out", str(self.outdir)]
        return options

    def _env_dir_given(self) -> bool:
        """Whether --env-dir was needed: neither the default nor $LLMDEPLOY_ENV_DIR's folder."""
        return self.env_dir != DEFAULT_ENV_DIR and os.environ.get(ENV_DIR_VARIABLE) != str(self.env_dir)


def _join(words: list[str]) -> str:
    """A shell command line; a `<placeholder>` stays readable, for the user to replace."""
    return " ".join(word if PLACEHOLDER.fullmatch(word) else shlex.quote(word) for word in words)
