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
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from llmdeploy.routing.harness.procs import free_port, stop, wait_http


@dataclass
class Replica:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    draining: bool = False
    booted: bool = False

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
            for _attempt in range(3):
                if self._answers_as_itself(replica):
                    replica.booted = True
                    break
                # A free port can be taken between picking and binding (other sessions share this
                # machine): the child then exits, and whatever answered was not it. Try a new port.
                stop(replica.process)
                fresh = self._spawn(replica.name)
                replica.port, replica.process = fresh.port, fresh.process
            else:
                raise RuntimeError(f"stand-in {replica.name} did not start")
        return started

    def ready_urls(self) -> list[str]:
        """The replicas a router may choose: booted, alive and not draining."""
        return [url for url, state in self.states() if state == "ready"]

    def states(self) -> list[tuple[str, str]]:
        """Each live replica's URL and state in the membership agent's terms: booting, ready, draining.

        This is the harness's replica-set source: what a cloud's group and target health report.
        """
        return [
            (r.url, "draining" if r.draining else "ready" if r.booted else "booting")
            for r in self.replicas
            if r.alive
        ]

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

    @staticmethod
    def _answers_as_itself(replica: Replica) -> bool:
        try:
            wait_http(f"{replica.url}/health", replica.process)
            with urllib.request.urlopen(f"{replica.url}/health", timeout=5) as answer:
                return bool(answer.headers.get("x-standin-id") == replica.name)
        except (RuntimeError, OSError):
            return False

    def _spawn(self, name: str) -> Replica:
        port = free_port()
        command = [sys.executable, "-m", "llmdeploy.routing.harness.standin", "--port", str(port)]
        command += ["--name", name, "--flavour", self.flavour, "--time-scale", str(self.time_scale)]
        return Replica(name, port, subprocess.Popen(command, env=_env_with_this_checkout()))


def _env_with_this_checkout() -> dict[str, str]:
    """The child imports this checkout's llmdeploy, even where another one is installed in the venv."""
    root = str(Path(__file__).resolve().parents[3])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
