"""Relay the engine's Prometheus metrics into the cloud's monitoring, once a minute.

Scrapes queue size, batch size, generated tokens and request duration (names from $*_METRIC) and
publishes them under the LLMDeploy namespace with Environment/Model/Slot dimensions: CloudWatch
put-metric-data, Cloud Monitoring timeSeries.create, or Azure Monitor custom metrics. The engines'
token and duration series are counters and histograms, which the stock agents do not all import.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from datetime import datetime, timezone
from typing import Any

from .metadata import Metadata, aws_client, log, request

#: The VM's python3 is 3.10 (Ubuntu 22.04 images), which lacks datetime.UTC.
_UTC = timezone.utc  # noqa: UP017
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
    return {"Environment": env["ENVIRONMENT"], "Model": env["MODEL"], "Slot": env["SLOT"]}


def publish_aws(values: dict[str, float]) -> None:
    dims = [{"Name": name, "Value": value} for name, value in dimensions().items()]
    aws_client("cloudwatch").put_metric_data(
        Namespace=os.environ["METRIC_NAMESPACE"],
        MetricData=[
            {"MetricName": name, "Dimensions": dims, "Value": value} for name, value in values.items()
        ],
    )


def publish_gcp(values: dict[str, float], metadata: Metadata) -> None:
    project, zone = (
        metadata.get("project/project-id"),
        (metadata.get("instance/zone") or "").rsplit("/", 1)[-1],
    )
    resource = {
        "type": "gce_instance",
        "labels": {"project_id": project, "zone": zone, "instance_id": metadata.get("instance/id")},
    }
    labels = {key.lower(): value for key, value in dimensions().items()}
    stamp = datetime.now(_UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    series = [
        {
            "metric": {
                "type": f"custom.googleapis.com/{os.environ['METRIC_NAMESPACE'].lower()}/{name}",
                "labels": labels,
            },
            "resource": resource,
            "points": [{"interval": {"endTime": stamp}, "value": {"doubleValue": value}}],
        }
        for name, value in values.items()
    ]
    base = os.environ.get("MONITORING_URL", "https://monitoring.googleapis.com")
    _post(f"{base}/v3/projects/{project}/timeSeries", {"timeSeries": series}, metadata.access_token())


def publish_azure(values: dict[str, float], metadata: Metadata) -> None:
    compute = metadata.azure_compute()
    scale_set = (
        f"/subscriptions/{compute['subscriptionId']}/resourceGroups/{compute['resourceGroupName']}"
        f"/providers/Microsoft.Compute/virtualMachineScaleSets/{compute['vmScaleSetName']}"
    )
    base = os.environ.get("MONITORING_URL", f"https://{compute['location']}.monitoring.azure.com")
    token = metadata.access_token("https%3A%2F%2Fmonitoring.azure.com%2F")
    dims = dimensions()
    stamp = datetime.now(_UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for name, value in values.items():
        series = {"dimValues": list(dims.values()), "min": value, "max": value, "sum": value, "count": 1}
        base_data = {
            "metric": name,
            "namespace": os.environ["METRIC_NAMESPACE"],
            "dimNames": list(dims),
            "series": [series],
        }
        _post(f"{base}{scale_set}/metrics", {"time": stamp, "data": {"baseData": base_data}}, token)


def _post(url: str, body: Any, token: str) -> None:
    status, answer = request("POST", url, {"Authorization": f"Bearer {token}"}, body)
    if status >= 300:
        raise OSError(f"{url} answered HTTP {status}: {answer[:200]!r}")


def publish(cloud: str, values: dict[str, float], metadata: Metadata) -> None:
    if cloud == "aws":
        publish_aws(values)
    elif cloud == "gcp":
        publish_gcp(values, metadata)
    else:
        publish_azure(values, metadata)


def relay_once(cloud: str, metadata: Metadata, rates: Rates) -> None:
    status, body = request("GET", os.environ["ENGINE_METRICS_URL"], timeout=5)
    if status != 200:
        raise OSError(f"engine metrics answered HTTP {status}")
    publish(cloud, rates.values(parse(body.decode()), time.time()), metadata)


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
