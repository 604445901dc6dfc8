"""Running Locust (headless, a subprocess: it monkey-patches the process with gevent) over a trace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from llmdeploy.routing.harness.trace import TraceRequest, write

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


def run(
    base_url: str,
    requests: list[TraceRequest],
    workdir: Path,
    users: int = 64,
    route: str = "/v1/completions",
    timeout_s: float = 900.0,
) -> list[dict[str, Any]]:
    """Replay `requests` against `base_url`; one result dict per request, in trace order."""
    workdir.mkdir(parents=True, exist_ok=True)
    trace_file, results_file = workdir / "trace.jsonl", workdir / "results.jsonl"
    write(requests, trace_file)
    env = {**os.environ, "LLMDEPLOY_TRACE": str(trace_file), "LLMDEPLOY_RESULTS": str(results_file)}
    env["LLMDEPLOY_ROUTE"] = route
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", base_url]
    command += ["--users", str(users), "--spawn-rate", str(users), "--only-summary", "--loglevel", "ERROR"]
    command += ["--run-time", f"{int(timeout_s)}s", "--stop-timeout", "5", "--exit-code-on-error", "0"]
    subprocess.run(command, env=env, check=True, timeout=timeout_s + 60, capture_output=True)
    results = [json.loads(line) for line in results_file.read_text().splitlines() if line]
    return sorted(results, key=lambda r: r["i"])
