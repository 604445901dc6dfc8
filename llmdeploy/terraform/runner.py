"""Run the terraform (or tofu) binary in one synthesized stack folder.

Every command runs with `-json` so results and errors come from Terraform's documented
machine-readable stream rather than from scraping its human output. The runner never
touches state files itself: Terraform alone reads and writes them, so a failed or
interrupted run leaves the state exactly as Terraform left it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from llmdeploy.errors import OperationError
from llmdeploy.terraform.cli_config import find_provider_mirror, write_cli_config
from llmdeploy.terraform.diagnose import Failure, binary_missing, explain
from llmdeploy.terraform.messages import (
    PlanSummary,
    StreamState,
    parse_line,
    record,
    resources_from_plan_json,
)

BINARY_ENV = "LLMDEPLOY_TERRAFORM_BINARY"
DEFAULT_BINARY = "terraform"
PLAN_FILE = "llmdeploy.tfplan"

Message = dict[str, Any]


def binary_from_env(env: Mapping[str, str] | None = None) -> str:
    """The binary callers should pass: $LLMDEPLOY_TERRAFORM_BINARY, else `terraform`."""
    env = os.environ if env is None else env
    return env.get(BINARY_ENV) or DEFAULT_BINARY


class TerraformRunner:
    """init / plan / apply / destroy / output for one stack folder (holding cdk.tf.json).

    `env` replaces the inherited environment when given (pass os.environ plus your
    overrides, e.g. the emulator's AWS_ENDPOINT_URL); it is passed through whole.
    `on_message` sees every `-json` stream message, for progress display.
    """

    def __init__(
        self,
        stack_dir: Path,
        *,
        stack: str,
        binary: str = DEFAULT_BINARY,
        env: Mapping[str, str] | None = None,
        lock_timeout: str = "0s",
        on_message: Callable[[Message], None] | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        # Absolute: Terraform runs inside the folder, so a relative saved-plan path would not resolve.
        self.stack_dir = stack_dir.resolve()
        self.stack = stack
        self.binary = binary
        self.lock_timeout = lock_timeout
        self.on_message = on_message
        self._base_env = dict(os.environ if env is None else env)
        self._cache_dir = cache_dir
        self._env: dict[str, str] | None = None
        self._mirror: Path | None = None

    # -- commands ----------------------------------------------------------------

    def init(self) -> None:
        """Install providers and set up the backend (safe to repeat)."""
        self._stream(["init", "-input=false"], "init")

    def plan(
        self, detailed: bool = False, destroy: bool = False, replacing: Sequence[str] = ()
    ) -> PlanSummary:
        """Plan into a saved plan file; `detailed` adds the `show -json` document.

        `replacing`: resource addresses to destroy and create again although unchanged.
        """
        plan_file = self.stack_dir / PLAN_FILE
        args = ["plan", "-input=false", self._lock_arg(), f"-out={PLAN_FILE}"]
        args += ["-destroy"] if destroy else []
        args += [f"-replace={address}" for address in replacing]
        summary = self._stream(args, "plan").summary(plan_file)
        if not detailed:
            return summary
        document = self.show(plan_file)
        resources = resources_from_plan_json(document)
        return replace(summary, plan_json=document, resources=resources)

    def apply(self) -> PlanSummary:
        """Apply the configuration without asking.

        For a reviewed change, plan() first, ask, then apply_plan(): that applies exactly what was
        shown, which is what the CLI does.
        """
        return self._unattended("apply")

    def destroy(self) -> PlanSummary:
        """Destroy everything in the stack's state without asking (see apply() for the reviewed way)."""
        return self._stream(
            ["destroy", "-input=false", self._lock_arg(), "-auto-approve"], "destroy"
        ).summary()

    def apply_plan(self, plan: PlanSummary, command: str = "apply") -> PlanSummary:
        """Apply a plan saved by plan(); Terraform refuses it if the state moved on."""
        if plan.plan_file is None:
            raise ValueError("this PlanSummary has no saved plan file")
        args = ["apply", "-input=false", self._lock_arg(), str(plan.plan_file)]
        return self._stream(args, command).summary()

    def output(self) -> dict[str, object]:
        """The stack's outputs as name -> value (sensitive values included)."""
        raw = json.loads(self._capture(["output", "-json"], "output") or "{}")
        return {name: entry.get("value") for name, entry in raw.items()}

    def show(self, plan_file: Path) -> dict[str, Any]:
        """A saved plan as Terraform's JSON plan document."""
        document = json.loads(self._capture(["show", "-json", str(plan_file)], "show"))
        return document if isinstance(document, dict) else {}

    def version(self) -> str:
        """The binary's version, e.g. "1.11.4" (OpenTofu answers the same way)."""
        raw = json.loads(self._capture(["version", "-json"], "version"))
        return str(raw.get("terraform_version", ""))

    # -- process handling --------------------------------------------------------

    def _unattended(self, command: str) -> PlanSummary:
        return self._stream([command, "-input=false", self._lock_arg(), "-auto-approve"], command).summary()

    def _lock_arg(self) -> str:
        return f"-lock-timeout={self.lock_timeout}"

    def _environment(self) -> dict[str, str]:
        """The child environment, with the generated CLI config when a mirror exists.

        A TF_CLI_CONFIG_FILE naming an existing file is the user's (or a test
        fixture's) choice and is kept; one naming a missing file is replaced.
        """
        if self._env is not None:
            return self._env
        env = dict(self._base_env)
        env.update(TF_IN_AUTOMATION="1", TF_INPUT="0")
        env.setdefault("CHECKPOINT_DISABLE", "1")  # no version check-in to HashiCorp
        self._mirror = find_provider_mirror(env)
        configured = env.get("TF_CLI_CONFIG_FILE", "")
        if not (configured and Path(configured).is_file()):
            generated = write_cli_config(env, self._cache_dir)
            if generated is not None:
                env["TF_CLI_CONFIG_FILE"] = str(generated)
        self._env = env
        return env

    def _spawn(self, args: list[str], command: str) -> subprocess.Popen[str]:
        env = self._environment()
        executable = shutil.which(self.binary, path=env.get("PATH", os.defpath))
        if executable is None:
            raise binary_missing(self.stack, self.binary, command)
        if not self.stack_dir.is_dir():
            raise OperationError(
                f"Cannot run `{self.binary} {command}` for stack '{self.stack}': its "
                f"folder {self.stack_dir} does not exist. Synthesize the stack first."
            )
        return subprocess.Popen(
            [executable, *args],
            cwd=self.stack_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )

    def _stream(self, args: list[str], command: str) -> StreamState:
        """Run with `-json`, folding the stream as it arrives; raise on failure."""
        # Flags go before any positional argument (a saved plan file).
        process = self._spawn([args[0], "-json", "-no-color", *args[1:]], command)
        stderr = _collect(process.stderr)
        state = StreamState()
        try:
            self._consume(process, state)
        except KeyboardInterrupt:
            # Terraform got the same Ctrl-C and is stopping cleanly, saving state:
            # keep reading so it never blocks on a full pipe, and never kill it.
            _drain_stream(process)
            raise
        returncode = process.wait()
        if returncode != 0:
            raise self._failure(command, returncode, state, stderr.text())
        return state

    def _consume(self, process: subprocess.Popen[str], state: StreamState) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            message = parse_line(line)
            if message is None:
                continue
            record(state, message)
            if self.on_message is not None:
                self.on_message(message)

    def _capture(self, args: list[str], command: str) -> str:
        """Run a short command whose stdout is one JSON document."""
        process = self._spawn(args, command)
        try:
            stdout, stderr = process.communicate()
        except KeyboardInterrupt:
            process.communicate()  # as above: let Terraform finish, never kill it
            raise
        if process.returncode != 0:
            raise self._failure(command, process.returncode, StreamState(), stderr)
        return stdout

    def _failure(self, command: str, returncode: int, state: StreamState, stderr: str) -> OperationError:
        return explain(
            Failure(
                stack=self.stack,
                stack_dir=self.stack_dir,
                command=command,
                binary=self.binary,
                returncode=returncode,
                errors=tuple(state.errors),
                stderr=stderr,
                started=state.started,
                completed=state.completed,
                mirror=self._mirror,
            )
        )


class _Collected:
    """A pipe read to the end on a thread, so the other pipe can be read meanwhile."""

    def __init__(self, pipe: IO[str] | None) -> None:
        self._chunks: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe: IO[str] | None) -> None:
        if pipe is not None:
            self._chunks.append(pipe.read())

    def text(self) -> str:
        self._thread.join()
        return "".join(self._chunks)


def _collect(pipe: IO[str] | None) -> _Collected:
    return _Collected(pipe)


def _drain_stream(process: subprocess.Popen[str]) -> None:
    """Wait for an interrupted Terraform to finish, consuming its stdout.

    stderr is already being read by its own thread.
    """
    if process.stdout is not None:
        for _ in process.stdout:
            pass
    process.wait()
