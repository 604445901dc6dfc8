"""Leave the fleet gracefully when the cloud reclaims this VM (spot/preemption), scales it in, or
stops it for host maintenance.

Order matters: raise the drain flag first (the proxy fails its health check and refuses new requests
with a retryable 503 and `Connection: close`), let in-flight streams finish within the notice, stop the
engine, then tell the cloud it may proceed. No step may keep the watcher from that last one. What each
cloud notices and acknowledges is its module's Watcher; settings come from /etc/llmdeploy/agents.env.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from .drain import drain, lower_flag, raise_flag
from .metadata import Metadata, cloud_module, log
from .notice import Notice


def _run_setting(name: str, timeout: float) -> None:
    """Run a command from the settings; one that outlasts `timeout` is killed with its children and
    left behind (a `systemctl stop` job goes on in systemd), never waited for."""
    process = subprocess.Popen(os.environ[name], shell=True, start_new_session=True)
    try:
        log(f"{name} exited with {process.wait(timeout=max(timeout, 1))}")
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        log(f"{name} still running after {max(timeout, 1):.0f} s: going on without it")


def leave(cloud: Any, notice: Notice) -> None:
    """Drain, detach, let in-flight streams finish within the notice, stop the engine, then acknowledge."""
    log(f"{notice.reason}: leaving the fleet, {notice.deadline - time.time():.0f} s of notice")
    # A failed step must not keep the engine running past the notice: log it and go on.
    _attempt("raising the drain flag", raise_flag)
    _attempt("leaving the load balancer", lambda: cloud.detach(notice))
    # Streams get most of the notice; stopping the engine keeps a third of it (at most STOP_SECONDS).
    stop_s = min(float(os.environ["STOP_SECONDS"]), max(notice.deadline - time.time(), 0.0) / 3)
    _attempt("waiting for in-flight requests", lambda: drain(notice.deadline - stop_s))
    _run_setting("STOP_COMMAND", notice.deadline - time.time())
    _attempt("acknowledging the notice", lambda: cloud.finish(notice))


def _attempt(step: str, action: Callable[[], object]) -> None:
    try:
        action()
    except Exception as error:
        log(f"{step} failed: {error}")


def _poll(check: Callable[[], Any]) -> Any:
    try:
        return check()
    except (OSError, ValueError) as error:
        log(f"metadata service unreachable ({error}); retrying")
        return None


def watch(cloud: Any, max_polls: int, poll_s: float) -> bool:
    """Poll until a final notice has been handled (True) or `max_polls` polls pass (0: forever)."""
    polls = 0
    waiting: Notice | None = None  # a resumable notice already handled
    while not max_polls or polls < max_polls:
        polls += 1
        if waiting is None:
            notice = _poll(cloud.poll)
            if notice:
                leave(cloud, notice)
                if not notice.resumable:
                    return True
                waiting = notice
        elif _poll(cloud.resumed):
            # Still up after the maintenance event: serve again (after a restart the units start anew).
            log(f"{waiting.reason} is over and this VM is still up: serving again")
            lower_flag()
            _run_setting("START_COMMAND", float(os.environ["STOP_SECONDS"]))
            waiting = None
        time.sleep(poll_s)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-polls", type=int, default=0, help="stop after this many polls (0: never)")
    parser.add_argument("--poll-seconds", type=float, default=float(os.environ.get("POLL_SECONDS", "5")))
    args = parser.parse_args(argv)
    cloud = os.environ["CLOUD"]
    watch(cloud_module(cloud).Watcher(Metadata(cloud)), args.max_polls, args.poll_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
