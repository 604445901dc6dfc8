"""Figures from the load generator's per-request results: TTFT percentiles, throughput, prefix hits."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def succeeded(result: dict[str, Any]) -> bool:
    return bool(result["status"] == 200 and result["done"] and not result["error"])


@dataclass(frozen=True)
class Summary:
    requests: int
    failed: int
    ttft_p50_s: float
    ttft_p99_s: float
    ttft_mean_s: float
    output_tokens_per_s: float
    prefix_hit_rate: float

    def row(self, label: str) -> str:
        return (
            f"{label:<28} n={self.requests:<4} failed={self.failed:<3} "
            f"TTFT p50={self.ttft_p50_s * 1000:8.1f} ms p99={self.ttft_p99_s * 1000:8.1f} ms "
            f"mean={self.ttft_mean_s * 1000:8.1f} ms  out={self.output_tokens_per_s:8.1f} tok/s  "
            f"prefix-hit={self.prefix_hit_rate * 100:5.1f}%"
        )


def summarize(results: Sequence[dict[str, Any]]) -> Summary:
    ok = [r for r in results if succeeded(r)]
    ttfts = [float(r["ttft_s"]) for r in ok]
    span = max((r["end_s"] for r in ok), default=0.0) - min((r["sent_s"] for r in ok), default=0.0)
    prompt = sum(int(r["prompt_tokens"]) for r in ok)
    return Summary(
        requests=len(results),
        failed=len(results) - len(ok),
        ttft_p50_s=percentile(ttfts, 50),
        ttft_p99_s=percentile(ttfts, 99),
        ttft_mean_s=sum(ttfts) / len(ttfts) if ttfts else math.nan,
        output_tokens_per_s=sum(int(r["completion_tokens"]) for r in ok) / span if span > 0 else 0.0,
        prefix_hit_rate=sum(int(r["cached_tokens"]) for r in ok) / prompt if prompt else 0.0,
    )
