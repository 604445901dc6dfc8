"""Locust replays a trace file open-loop: each request leaves at its `at_s`, streamed, and one JSON line
per request (TTFT, end, status, tokens, cached tokens, replica) goes to the results file.

Environment: LLMDEPLOY_TRACE (trace JSON lines), LLMDEPLOY_RESULTS (output), LLMDEPLOY_ROUTE
(/v1/completions by default). Started by loadgen.run, which sizes the user count to the trace's
peak concurrency; a request that finds no free user leaves late, and its lateness is recorded.
"""

from __future__ import annotations

import json
import os
import time
import zlib
from typing import Any

import gevent  # type: ignore[import-untyped]
from locust import FastHttpUser, constant, task
from locust.exception import StopUser

with open(os.environ["LLMDEPLOY_TRACE"]) as _handle:
    _TRACE = [json.loads(line) for line in _handle if line.strip()]
_ROUTE = os.environ.get("LLMDEPLOY_ROUTE", "/v1/completions")
_RESULTS = open(os.environ["LLMDEPLOY_RESULTS"], "w")  # noqa: SIM115 (open for the whole run)
_STATE: dict[str, Any] = {"next": 0, "done": 0, "start": None}


def _body(record: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "m", "max_tokens": record["max_tokens"], "stream": True}
    body["stream_options"] = {"include_usage": True}
    if _ROUTE.endswith("chat/completions"):
        body["messages"] = [{"role": "user", "content": record["prompt"]}]
    else:
        # Token ids, not text: vllm-router 0.1.17's cache_aware policy matches token ids and counts a
        # text-only request as `missing_tokens` (vllm_router_prefix_routing_decisions_total).
        body["prompt"] = [zlib.crc32(word.encode()) % 128_256 for word in record["prompt"].split()]
    return body


def _read_stream(response: Any, sent: float, result: dict[str, Any]) -> None:
    buffer = ""
    for chunk in response.iter_content(chunk_size=1024):
        buffer += chunk if isinstance(chunk, str) else chunk.decode()
        while "\n\n" in buffer:
            event, buffer = buffer.split("\n\n", 1)
            data = event.removeprefix("data: ").strip()
            if data == "[DONE]":
                result["done"] = True
                continue
            if not data.startswith("{"):
                continue
            message = json.loads(data)
            if result["ttft_s"] is None and message.get("choices"):
                result["ttft_s"] = time.perf_counter() - sent
                result["replica"] = message.get("system_fingerprint")
            usage = message.get("usage") or {}
            result["completion_tokens"] = usage.get("completion_tokens", result["completion_tokens"])
            result["cached_tokens"] = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)


class TraceUser(FastHttpUser):
    wait_time = constant(0)
    network_timeout = 900.0
    connection_timeout = 10.0

    @task
    def replay(self) -> None:
        index = _STATE["next"]
        if index >= len(_TRACE):
            raise StopUser()
        _STATE["next"] = index + 1
        record = _TRACE[index]
        _STATE["start"] = _STATE["start"] or time.perf_counter()
        delay = _STATE["start"] + record["at_s"] - time.perf_counter()
        if delay > 0:
            gevent.sleep(delay)
        sent = time.perf_counter()
        result: dict[str, Any] = {
            "i": index,
            "late_s": max(0.0, -delay),
            "status": 0,
            "ttft_s": None,
            "completion_tokens": 0,
            "cached_tokens": 0,
            "replica": None,
            "prompt_tokens": len(record["prompt"].split()),
            "done": False,
            "sent_s": sent - _STATE["start"],
            "error": "",
        }
        try:
            with self.client.request(
                "POST", _ROUTE, json=_body(record), stream=True, catch_response=True, name=_ROUTE
            ) as response:
                result["status"] = response.status_code
                if response.status_code == 200:
                    _read_stream(response, sent, result)
                if not result["done"]:
                    response.failure(f"status {response.status_code}, stream ended early")
        except Exception as error:  # a reset mid-stream is a failed request, recorded, not a crash
            result["error"] = repr(error)[:200]
        result["end_s"] = time.perf_counter() - _STATE["start"]
        _RESULTS.write(json.dumps(result) + "\n")
        _RESULTS.flush()
        _STATE["done"] += 1
        if _STATE["done"] == len(_TRACE):
            gevent.spawn(self.environment.runner.quit)
