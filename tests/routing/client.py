"""A plain HTTP client for the routing tests (urllib; the load generator has its own)."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any


def complete(base_url: str, prompt: str, max_tokens: int = 1) -> tuple[dict[str, Any], float]:
    """A non-streamed completion: the answer and the seconds it took."""
    body = json.dumps({"model": "m", "prompt": prompt, "max_tokens": max_tokens}).encode()
    request = urllib.request.Request(
        f"{base_url}/v1/completions", body, {"Content-Type": "application/json"}, method="POST"
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as answer:
        result: dict[str, Any] = json.load(answer)
    return result, time.perf_counter() - started


def words(tag: str, count: int) -> str:
    return " ".join(f"{tag}{i}" for i in range(count))
