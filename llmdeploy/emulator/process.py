"""Start, find and stop the emulator launcher as a background process.

The launcher runs in its own session so it outlives the command that started it
(`llmdeploy local up` returns while the emulator keeps serving) and so a Ctrl-C at
the terminal does not reach it. Everything needed to find it again is in the state
folder; this module never imports moto, so the CLI stays fast.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Collection, Mapping
from pathlib import Path

import llmdeploy
from llmdeploy.emulator.state import LOG_FILE, STATE_FILE, EmulatorHandle, load_record
from llmdeploy.errors import OperationError

REGION = "us-east-1"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0

# Popen objects for launchers this process started: waiting on them reaps the
# child, without which a stopped launcher would linger as a zombie and still look
# alive to a signal-0 probe.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}

# Variables that could send SDKs to real AWS or to a real identity despite the
# endpoint override; emulator_environ() drops them from the inherited environment.
_SCRUBBED_PREFIXES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_",
    "AWS_ENDPOINT_URL_",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
)


def emulator_env(handle: EmulatorHandle) -> dict[str, str]:
    """Variables that point boto3 and Terraform's AWS provider at the emulator.

    Static fake keys and empty config files stop both SDKs from finding a real
    identity (profiles, SSO, credential_process, instance metadata); the generic
    AWS_ENDPOINT_URL reaches every service through the one emulator port.
    """
    return {
        "AWS_ENDPOINT_URL": handle.endpoint_url,
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "false",
        "AWS_ACCESS_KEY_ID": "llmdeploy-local",
        "AWS_SECRET_ACCESS_KEY": "llmdeploy-local",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }


def emulator_environ(handle: EmulatorHandle, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A whole environment for child processes: `base` minus risky AWS_* plus overrides.

    Overrides alone cannot unset an inherited AWS_PROFILE or AWS_SESSION_TOKEN, either
    of which would make the SDKs fail or reach for a real identity.
    """
    inherited = os.environ if base is None else base
    kept = {key: value for key, value in inherited.items() if not key.startswith(_SCRUBBED_PREFIXES)}
    return kept | emulator_env(handle)


def read_emulator(state_dir: Path) -> EmulatorHandle | None:
    """The emulator recorded in `state_dir` if its launcher is still running."""
    handle = load_record(state_dir)
    if handle is None or not _is_running_launcher(handle.pid):
        return None
    return handle


def start_emulator(
    state_dir: Path,
    host: str = "127.0.0.1",
    port: int | None = None,
    *,
    skip_corrections: Collection[str] = (),
    seed: bool = True,
    timeout: float = START_TIMEOUT,
) -> EmulatorHandle:
    """Start the launcher in the background (or return the one already running).

    With `port=None` the launcher binds port 0 and the kernel picks a free port,
    which is then read back from the state file. `skip_corrections` and `seed=False`
    start a plain moto, which tests use to show each correction is still needed.
    """
    state_dir = state_dir.resolve()
    running = read_emulator(state_dir)
    if running is not None:
        return _reuse(running, port)
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / STATE_FILE).unlink(missing_ok=True)  # stale: its launcher is gone
    options = [arg for name in skip_corrections for arg in ("--skip", name)]
    options += [] if seed else ["--no-seed"]
    child = _spawn(state_dir, host, port or 0, options)
    try:
        return _await_ready(child, state_dir, timeout)
    except BaseException:
        _terminate(child.pid, STOP_TIMEOUT)
        raise


def stop_emulator(state_dir: Path, timeout: float = STOP_TIMEOUT) -> bool:
    """Stop the emulator recorded in `state_dir`; True if one was running.

    SIGTERM first so the launcher removes its own state file, SIGKILL if it does not
    exit within `timeout`.
    """
    state_dir = state_dir.resolve()
    handle = read_emulator(state_dir)
    if handle is not None:
        _terminate(handle.pid, timeout)
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    return handle is not None


def _reuse(running: EmulatorHandle, port: int | None) -> EmulatorHandle:
    if port is None or port == running.port:
        return running
    raise OperationError(
        f"An emulator from {running.state_dir} is already running on port "
        f"{running.port} (pid {running.pid}), not on the requested port {port}. "
        "Stop it first (`llmdeploy local down`) or use its port."
    )


def _spawn(state_dir: Path, host: str, port: int, options: list[str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "llmdeploy.emulator", "--host", host]
    command += ["--port", str(port), "--state-dir", str(state_dir), *options]
    with (state_dir / LOG_FILE).open("ab") as log:
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=_launcher_env(),
        )
    _CHILDREN[child.pid] = child
    return child


def _launcher_env() -> dict[str, str]:
    """Let the child import llmdeploy even when it is not installed (a checkout)."""
    env = dict(os.environ)
    root = str(Path(llmdeploy.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return env


def _await_ready(child: subprocess.Popen[bytes], state_dir: Path, timeout: float) -> EmulatorHandle:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise _start_failed(state_dir, f"the launcher exited with code {child.returncode}")
        handle = load_record(state_dir)
        if handle is not None and handle.pid == child.pid and _answers(handle):
            return handle
        time.sleep(0.05)
    raise _start_failed(state_dir, f"it did not answer within {timeout:.0f} s")


def _answers(handle: EmulatorHandle) -> bool:
    """One cheap request to moto's own API proves the HTTP stack is serving."""
    try:
        with urllib.request.urlopen(f"{handle.endpoint_url}/moto-api/", timeout=2) as response:
            return int(response.status) < 500
    except (urllib.error.URLError, OSError):
        return False


def _start_failed(state_dir: Path, cause: str) -> OperationError:
    tail = _log_tail(state_dir / LOG_FILE)
    return OperationError(
        f"The local AWS emulator did not start: {cause}.{tail} "
        f"See {state_dir / LOG_FILE} for the full log; check that moto[server] is "
        "installed in this Python environment and that the port is free."
    )


def _log_tail(path: Path, lines: int = 3) -> str:
    try:
        last = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    text = " ".join(line.strip().rstrip(".") + "." for line in last[-lines:] if line.strip())
    return f" Its last output: {text}" if text else ""


def _terminate(pid: int, timeout: float) -> None:
    """SIGTERM, wait, then SIGKILL and wait again: the process is gone on return."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        if _wait_gone(pid, timeout):
            break
    _CHILDREN.pop(pid, None)


def _wait_gone(pid: int, timeout: float) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        try:
            child.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def _alive(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def _is_running_launcher(pid: int) -> bool:
    """Alive and really our launcher: a recycled pid must never be signalled."""
    if not _alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return not Path("/proc/self").exists()  # no procfs (macOS): trust the record
    return b"llmdeploy.emulator" in cmdline
