"""Run the terraform (or tofu) binary in one synthesized stack folder.

Every command runs with `-json` so results and errors come from Terraform's documented
machine-readable stream rather than from scraping its human output. The runner never
writes state files itself: Terraform alone does, so a failed or interrupted run leaves the
state exactly as Terraform left it.

State and saved plans hold secrets in clear (Terraform documents both as sensitive), so
Terraform runs with umask 077 and an existing local state file is narrowed to 0600.
Terraform runs in a session of its own: a Ctrl-C in the terminal reaches only llmdeploy,
which forwards one SIGINT (Terraform's graceful stop, which saves state; a second one would
make it exit at once, state unsaved) and then waits for it.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import IO, Any

from llmdeploy.errors import OperationError
from llmdeploy.terraform.backends import configured_backend
from llmdeploy.terraform.cli_config import find_provider_mirror, write_cli_config
from llmdeploy.terraform.diagnose import Failure, Recovery, binary_missing, explain, interrupted
from llmdeploy.terraform.messages import (
    PlanSummary,
    StreamState,
    parse_line,
    record,
    resources_from_plan_json,
)

BINARY_ENV = "LLMDEPLOY_TERRAFORM_BINARY"
DEFAULT_BINARY = "terraform"
#: The plan `llmdeploy plan` leaves for CI to show; apply and destroy use one file per run.
PLAN_FILE = "llmdeploy.tfplan"
#: Files Terraform creates (state, its backup, plans) are readable by their owner only.
PRIVATE_UMASK = 0o077

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
        recovery: Recovery | None = None,
    ) -> None:
        # Absolute: Terraform runs inside the folder, so a relative saved-plan path would not resolve.
        self.stack_dir = stack_dir.resolve()
        self.stack = stack
        self.binary = binary
        self.lock_timeout = lock_timeout
        self.on_message = on_message
        #: The llmdeploy commands that continue or unlock this stack, for failure messages.
        self.recovery = recovery
        self._base_env = dict(os.environ if env is None else env)
        self._cache_dir = cache_dir
        self._env: dict[str, str] | None = None
        self._mirror: Path | None = None

    # -- commands ----------------------------------------------------------------

    def init(self, reconfigure: bool = False) -> None:
        """Install providers and set up the backend (safe to repeat).

        `reconfigure`: ignore the backend settings the data folder remembers; only for a backend
        known to hold this stack's state (the same file named from another folder, say).
        """
        self._stream(["init", "-input=false", *(["-reconfigure"] if reconfigure else [])], "init")

    def init_migrating(self) -> None:
        """init that copies the state from the backend the data folder remembers to the configured one."""
        self._capture(["init", "-input=false", "-migrate-state", "-force-copy"], "init -migrate-state")

    def force_unlock(self, lock_id: str) -> None:
        """Release the state lock `lock_id` that a stopped run left behind."""
        self._capture(["force-unlock", "-force", lock_id], "force-unlock")

    def pull_state(self) -> str:
        """The stack's state document, as its backend holds it."""
        return self._capture(["state", "pull"], "state pull")

    def push_state(self, state_file: Path) -> None:
        """Write a state document into the (empty) backend; Terraform refuses another lineage."""
        self._capture(["state", "push", str(state_file)], "state push")

    def elsewhere(self, stack_dir: Path) -> TerraformRunner:
        """A runner for another folder, with this one's environment and a data folder of its own."""
        env = {**self._base_env, "TF_DATA_DIR": str(stack_dir.resolve() / ".terraform")}
        return TerraformRunner(
            stack_dir, stack=self.stack, binary=self.binary, env=env, cache_dir=self._cache_dir
        )

    def plan(
        self,
        detailed: bool = False,
        destroy: bool = False,
        replacing: Sequence[str] = (),
        plan_name: str | None = None,
    ) -> PlanSummary:
        """Plan into a saved plan file; `detailed` adds the `show -json` document.

        `replacing`: resource addresses to destroy and create again although unchanged.
        `plan_name`: the file's name in the stack folder; by default one of this run's own, so
        another run planning meanwhile never replaces the plan that gets applied.
        """
        plan_file = self.stack_dir / (plan_name or f"llmdeploy-{secrets.token_hex(8)}.tfplan")
        args = ["plan", "-input=false", self._lock_arg(), f"-out={plan_file.name}"]
        args += ["-destroy"] if destroy else []
        args += [f"-replace={address}" for address in replacing]
        summary = replace(self._stream(args, "plan").summary(plan_file), plan_sha256=_sha256(plan_file))
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
        """Apply a plan saved by plan(), exactly that one, then delete it.

        The file must still be the one plan() wrote (same SHA-256): one replaced since it was
        shown is refused. Terraform itself refuses a plan whose state moved on.
        """
        if plan.plan_file is None or plan.plan_sha256 is None:
            raise ValueError("this PlanSummary has no saved plan file")
        try:
            if _sha256(plan.plan_file) != plan.plan_sha256:
                raise OperationError(
                    f"Did not {command} stack '{self.stack}': its saved plan {plan.plan_file} is not the "
                    "plan that was shown (it was replaced or changed since). Nothing was changed. Run "
                    f"{self._rerun(command)} again to see a fresh plan."
                )
            args = ["apply", "-input=false", self._lock_arg(), plan.plan_file.name]
            return self._stream(args, command).summary()
        finally:
            self.discard(plan)

    def discard(self, plan: PlanSummary) -> None:
        """Delete a saved plan (it holds the stack's values, secrets included, in clear)."""
        if plan.plan_file is not None:
            plan.plan_file.unlink(missing_ok=True)

    def output(self) -> dict[str, object]:
        """The stack's outputs as name -> value (sensitive values included)."""
        raw = json.loads(self._capture(["output", "-json"], "output") or "{}")
        return {name: entry.get("value") for name, entry in raw.items()}

    def state_document(self) -> dict[str, Any]:
        """The stack's current state as Terraform's JSON document (`show -json`)."""
        document = json.loads(self._capture(["show", "-json"], "show") or "{}")
        return document if isinstance(document, dict) else {}

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

    def _rerun(self, command: str) -> str:
        return f"`{self.recovery.rerun}`" if self.recovery is not None else command

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
        _narrow_local_state(self.stack_dir)
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
            umask=PRIVATE_UMASK,
            start_new_session=True,  # a terminal's Ctrl-C reaches llmdeploy only (see _forwarding)
        )

    def _stream(self, args: list[str], command: str) -> StreamState:
        """Run with `-json`, folding the stream as it arrives; raise on failure or interrupt."""
        # Flags go before any positional argument (a saved plan file).
        process = self._spawn([args[0], "-json", "-no-color", *args[1:]], command)
        stderr = _collect(process.stderr)
        state = StreamState()
        with _forwarding(process) as stopped:
            self._consume(process, state)
            returncode = process.wait()
        if stopped:
            raise interrupted(self._details(command, returncode, state, stderr.text()))
        if returncode != 0:
            raise explain(self._details(command, returncode, state, stderr.text()))
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
            process.communicate()  # Terraform (in its own session) did not see it: let it finish
            raise
        if process.returncode != 0:
            raise self._failure(command, process.returncode, StreamState(), stderr)
        return stdout

    def _failure(self, command: str, returncode: int, state: StreamState, stderr: str) -> OperationError:
        return explain(self._details(command, returncode, state, stderr))

    def _details(self, command: str, returncode: int, state: StreamState, stderr: str) -> Failure:
        return Failure(
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
            recovery=self.recovery,
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


@contextmanager
def _forwarding(process: subprocess.Popen[str]) -> Iterator[list[int]]:
    """While Terraform runs, pass the first SIGINT or SIGTERM on to it as one SIGINT.

    Yields a list that holds the signals received once any arrived. Only the main thread may
    set signal handlers; elsewhere (tests driving the runner from a thread) nothing is forwarded.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def forward(signum: int, frame: FrameType | None) -> None:
        if not received and process.poll() is None:
            process.send_signal(signal.SIGINT)
        received.append(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _narrow_local_state(stack_dir: Path) -> None:
    """Make an existing local state file (and Terraform's backup of it) readable by its owner only.

    Terraform rewrites an existing state file in place, keeping its mode, so a file created
    before llmdeploy set the umask (or by another tool) stays world-readable otherwise.
    """
    backend = configured_backend(stack_dir) or {}
    if "local" not in backend:
        return  # not synthesized yet, or state kept elsewhere
    state = Path(backend["local"]["path"])
    for file in (state, state.with_name(state.name + ".backup")):
        if file.is_file() and file.stat().st_mode & 0o077:
            file.chmod(0o600)
