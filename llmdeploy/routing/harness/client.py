"""A plain HTTP client (urllib) for one-off requests: the tests, the paired overhead measurement."""

from __future__ import annotations

import json
import time
import urllib.request
import zlib
from typing import Any


def complete(base_url: str, prompt: str | list[int], max_tokens: int = 1) -> tuple[dict[str, Any], float]:
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


def token_ids(text: str) -> list[int]:
    """Stable token ids for words, within Llama 3's 128,256-token vocabulary (the router rejects larger)."""
    return [zlib.crc32(word.encode()) % 128_256 for word in text.split()]
