"""A loopback fleet: N engine stand-ins, and preemption (a notice, then a kill after a delay).

The fleet is the replica-set source the membership agent reads (`ready_urls`) and implements the
scale-up hook the hold gate calls (`scale_up`): both by starting and signalling real processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from llmdeploy.routing.harness.procs import free_port, stop, wait_http


@dataclass
class Replica:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    draining: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


@dataclass
class Fleet:
    """Stand-ins started as separate processes, so that a kill is a real process death."""

    time_scale: float = 1.0
    flavour: str = "vllm"
    replicas: list[Replica] = field(default_factory=list)
    _timers: list[threading.Timer] = field(default_factory=list)

    def scale_up(self, count: int = 1) -> list[Replica]:
        """Start `count` more stand-ins and wait until each serves its health path."""
        started = [self._spawn(f"r{len(self.replicas) + i + 1}") for i in range(count)]
        self.replicas.extend(started)
        for replica in started:
            wait_http(f"{replica.url}/health", replica.process)
        return started

    def ready_urls(self) -> list[str]:
        """The replicas a router may choose: alive and not draining."""
        return [r.url for r in self.replicas if r.alive and not r.draining]

    def notice(self, replica: Replica) -> None:
        """The spot/drain notice: the replica's health turns 503; it keeps serving what it admitted."""
        replica.draining = True
        replica.process.send_signal(signal.SIGUSR1)

    def preempt(self, replica: Replica, notice_s: float) -> threading.Timer:
        """Notice now, kill (SIGKILL, as a reclaimed VM) after `notice_s` seconds."""
        self.notice(replica)
        timer = threading.Timer(notice_s, replica.process.kill)
        timer.start()
        self._timers.append(timer)
        return timer

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        for replica in self.replicas:
            stop(replica.process)

    def _spawn(self, name: str) -> Replica:
        port = free_port()
        command = [sys.executable, "-m", "llmdeploy.routing.harness.standin", "--port", str(port)]
        command += ["--name", name, "--flavour", self.flavour, "--time-scale", str(self.time_scale)]
        return Replica(name, port, subprocess.Popen(command, env=_env_with_this_checkout()))


def _env_with_this_checkout() -> dict[str, str]:
    """The child imports this checkout's llmdeploy, even where another one is installed in the venv."""
    root = str(Path(__file__).resolve().parents[3])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
