"""A scratch project for end-to-end tests: a copy of the example environments, its own local
emulator (`llmdeploy local up`), and the CLI run as a user runs it, in a child process.

Each module gets its own emulator, so resource names never collide with another module's.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from llmdeploy.cli.local_commands import local_environ
from llmdeploy.emulator import EmulatorHandle, read_emulator
from llmdeploy.terraform import TerraformRunner
from tests.conftest import EXAMPLES, REPO

#: Generous: the first apply of a stack with a load balancer takes 60-100 s on the emulator.
CLI_TIMEOUT_S = 900
T = TypeVar("T")


@dataclass
class Project:
    root: Path
    env: dict[str, str]
    emulator: EmulatorHandle

    @property
    def environments(self) -> Path:
        return self.root / "environments"

    def run(self, *args: str, answer: str = "") -> subprocess.CompletedProcess[str]:
        """`llmdeploy <args>` to completion; `answer` is what the user types when asked."""
        return subprocess.run(
            [sys.executable, "-m", "llmdeploy", *args],
            cwd=self.root,
            env=self.env,
            input=answer,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
        )

    def start(self, *args: str) -> Background:
        """`llmdeploy <args>` in the background, in its own process group (see Background.interrupt)."""
        logs = self.root / "logs"
        logs.mkdir(exist_ok=True)
        stdout, stderr = (logs / f"{time.monotonic_ns()}.{name}" for name in ("out", "err"))
        with stdout.open("w") as out, stderr.open("w") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "llmdeploy", *args],
                cwd=self.root,
                env=self.env,
                stdout=out,
                stderr=err,
                text=True,
                start_new_session=True,
                preexec_fn=_as_from_a_terminal,
            )
        return Background(process, stdout, stderr)

    def client(self, service: str) -> Any:
        import boto3  # type: ignore[import-untyped]

        return boto3.client(
            service,
            endpoint_url=self.emulator.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="llmdeploy-local",
            aws_secret_access_key="llmdeploy-local",
        )

    def outputs(self, stack: str) -> dict[str, Any]:
        """`terraform output` of a stack the CLI applied."""
        runner = TerraformRunner(
            self.root / "cdktf.out" / "stacks" / stack,
            stack=stack,
            env={
                **self.env,
                **local_environ(self.root / ".llmdeploy" / "local"),
                "TF_DATA_DIR": str(self.root / ".llmdeploy" / "terraform" / stack),
            },
        )
        return runner.output()

    def record(self, env: str, model: str) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(
            (self.root / ".llmdeploy" / "promotions" / f"{env}-{model}.json").read_text(encoding="utf-8")
        )
        return found


@dataclass
class Background:
    """A command running in the background; its output goes to files (a full pipe would block it)."""

    process: subprocess.Popen[str]
    stdout: Path
    stderr: Path

    def running(self) -> bool:
        return self.process.poll() is None

    def finish(self, timeout_s: float = CLI_TIMEOUT_S) -> tuple[int, str, str]:
        """Wait for the command; its exit code, stdout and stderr."""
        code = self.process.wait(timeout=timeout_s)
        return code, self.stdout.read_text(encoding="utf-8"), self.stderr.read_text(encoding="utf-8")

    def interrupt(self) -> tuple[int, str, str]:
        """Ctrl-C as a terminal sends it: SIGINT to the command's process group (Terraform too)."""
        os.killpg(self.process.pid, signal.SIGINT)
        return self.finish()


def _as_from_a_terminal() -> None:
    """Ctrl-C works as in a terminal, even when the tests run in the background: a shell starts
    background jobs with SIGINT ignored, and a child would inherit that and never see `interrupt`."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for(condition: Callable[[], T | None], timeout_s: float, what: str, interval_s: float = 0.3) -> T:
    """Poll until `condition` returns something; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = condition()
        if found is not None:
            return found
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


@contextmanager
def local_project(root: Path, project_name: str, cache_dir: str) -> Iterator[Project]:
    """A project at `root` whose environments name the project `project_name`, with its emulator up."""
    shutil.copytree(EXAMPLES, root / "environments")
    base = root / "environments" / "base.yaml"
    base.write_text(
        base.read_text(encoding="utf-8").replace("project: llmdeploy-demo", f"project: {project_name}"),
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "LLMDEPLOY_ENV_DIR": str(root / "environments"),
        # The CLI child runs this checkout's llmdeploy, not whichever one the venv installed.
        "PYTHONPATH": str(REPO),
        "LLMDEPLOY_CACHE_DIR": cache_dir,
        "NO_COLOR": "1",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    up = subprocess.run(
        [sys.executable, "-m", "llmdeploy", "local", "up"], cwd=root, env=env, capture_output=True, text=True
    )
    assert up.returncode == 0, up.stderr
    handle = read_emulator(root / ".llmdeploy" / "local")
    assert handle is not None
    try:
        yield Project(root, env, handle)
    finally:
        subprocess.run([sys.executable, "-m", "llmdeploy", "local", "down"], cwd=root, env=env, check=False)
