"""Relay the engine's Prometheus metrics into the cloud's monitoring, once a minute.

Scrapes queue size, batch size, generated tokens and request duration (names from $*_METRIC) and
publishes them under the LLMDeploy namespace with Project/Environment/Model/Slot dimensions through
the cloud module: CloudWatch put-metric-data, Cloud Monitoring timeSeries.create, or Azure Monitor
custom metrics. The engines' token and duration series are counters and histograms, which the stock
agents do not all import.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time

from .metadata import Metadata, cloud_module, log, request

_SAMPLE = re.compile(r"^([^\s{#]+)(?:\{[^}]*\})?\s+(\S+)")


def parse(text: str) -> dict[str, float]:
    """Prometheus text exposition to the sum of each series name over its label sets."""
    totals: dict[str, float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            totals[match[1]] = totals.get(match[1], 0.0) + float(match[2])
    return totals


class Rates:
    """Turns successive scrapes into the published values (rates need two scrapes)."""

    def __init__(self) -> None:
        self.previous: dict[str, float] = {}
        self.at = 0.0

    def values(self, sample: dict[str, float], now: float) -> dict[str, float]:
        env = os.environ
        tokens, duration = env["TOKENS_METRIC"], env["DURATION_METRIC"]
        out = {
            name: sample.get(env[key], 0.0)
            for name, key in (("QueueSize", "QUEUE_METRIC"), ("BatchSize", "BATCH_METRIC"))
        }
        before, elapsed = self.previous, now - self.at
        if before and elapsed > 0 and sample.get(tokens, 0.0) >= before.get(tokens, 0.0):
            out["GeneratedTokensPerSecond"] = (sample.get(tokens, 0.0) - before.get(tokens, 0.0)) / elapsed
            count = sample.get(f"{duration}_count", 0.0) - before.get(f"{duration}_count", 0.0)
            if count > 0:
                out["RequestDurationSeconds"] = (
                    sample.get(f"{duration}_sum", 0.0) - before.get(f"{duration}_sum", 0.0)
                ) / count
        self.previous, self.at = sample, now
        return out


def dimensions() -> dict[str, str]:
    env = os.environ
    return {
        "Project": env["PROJECT"],
        "Environment": env["ENVIRONMENT"],
        "Model": env["MODEL"],
        "Slot": env["SLOT"],
    }


def relay_once(cloud: str, metadata: Metadata, rates: Rates) -> None:
    status, body = request("GET", os.environ["ENGINE_METRICS_URL"], timeout=5)
    if status != 200:
        raise OSError(f"engine metrics answered HTTP {status}")
    values = rates.values(parse(body.decode()), time.time())
    cloud_module(cloud).publish_metrics(values, dimensions(), metadata)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-cycles", type=int, default=0, help="stop after this many cycles (0: never)")
    parser.add_argument("--interval", type=float, default=float(os.environ.get("PUBLISH_SECONDS", "60")))
    args = parser.parse_args(argv)
    cloud = os.environ["CLOUD"]
    metadata, rates, cycles = Metadata(cloud), Rates(), 0
    while not args.max_cycles or cycles < args.max_cycles:
        cycles += 1
        try:
            relay_once(cloud, metadata, rates)
        except Exception as error:  # the engine loads for minutes; monitoring hiccups must not kill us
            log(f"metrics not relayed: {error}")
        time.sleep(args.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
