"""Drain this replica: the proxy refuses new requests, then wait until the engine has none in flight.

Raising the drain flag ($DRAIN_FLAG_FILE) makes the proxy fail its health check at once and answer new
requests 503 with Retry-After and `Connection: close`, so load balancers stop reusing keep-alive
connections here; streams already in flight go on. The engine is idle when its queue and running batch
($QUEUE_METRIC, $BATCH_METRIC) are both zero, or when it no longer answers.

`python3 -m llmdeploy_agents.drain --seconds N` is the ExecStop of llmdeploy-drain.service, which stops
before the proxy and the engine when the VM shuts down (GCP preemption is an ACPI soft-off).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .metadata import log, request
from .metrics_relay import parse
from .secret_store import RUN_DIR_MODE


def raise_flag() -> None:
    flag = Path(os.environ["DRAIN_FLAG_FILE"])
    flag.parent.mkdir(mode=RUN_DIR_MODE, parents=True, exist_ok=True)
    flag.touch()


def lower_flag() -> None:
    Path(os.environ["DRAIN_FLAG_FILE"]).unlink(missing_ok=True)


def in_flight() -> float:
    """Requests queued or running in the engine; 0 when it does not answer (nothing left to finish)."""
    try:
        status, body = request("GET", os.environ["ENGINE_METRICS_URL"], timeout=2)
    except OSError:
        return 0.0
    if status != 200:
        return 0.0
    sample = parse(body.decode())
    return sample.get(os.environ["QUEUE_METRIC"], 0.0) + sample.get(os.environ["BATCH_METRIC"], 0.0)


def drain(until: float) -> None:
    """Raise the flag, then return once the engine is idle or at `until` (epoch seconds)."""
    raise_flag()
    while (busy := in_flight()) and time.time() < until:
        time.sleep(min(1.0, max(until - time.time(), 0.0)))
    log(f"drained ({busy:.0f} requests still in flight)" if busy else "drained: no request in flight")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, required=True, help="longest wait for in-flight requests")
    args = parser.parse_args(argv)
    drain(time.time() + args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
