"""Stand-in timings, taken from one published measurement of one GPU and model.

Source: LambdaLabsML/vllm-benchmark, vLLM serving neuralmagic/Meta-Llama-3.1-8B-FP8 on 1x H100-80GB-SXM,
results/prompt_10/1xH100-80GB-SXM/Meta-Llama-3.1-8B-FP8_tp1_len2048.json (commit a4f9f43,
https://github.com/LambdaLabsML/vllm-benchmark): 10 prompts sent at once, 1,369 input tokens in all,
TTFT median 62.5 ms / p99 64.6 ms (one batched prefill), median TPOT 5.20 ms.

So: a prefill step costs 62.5 ms / 1,369 tokens = 0.0457 ms per uncached token (about 21,900 tokens/s),
and a decode step of the running batch costs 5.2 ms (decode is memory-bound: the step time barely grows
with the batch up to the engine's batch limit). vLLM's default KV block is 16 tokens
(vllm/config/cache.py, block_size). Tokens are approximated by whitespace-separated words.
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCE_URL = (
    "https://github.com/LambdaLabsML/vllm-benchmark/blob/a4f9f4371a1ccac781293837fce2bce0cc6d25cc/"
    "results/prompt_10/1xH100-80GB-SXM/Meta-Llama-3.1-8B-FP8_tp1_len2048.json"
)


@dataclass(frozen=True)
class EngineTimings:
    """What one replica costs, in seconds, before the harness's time scale."""

    prefill_s_per_token: float
    decode_step_s: float
    block_tokens: int
    cache_blocks: int
    max_batch: int

    def scaled(self, factor: float) -> EngineTimings:
        """Every duration multiplied by `factor` (>1 slows the stand-in so Python overhead stays small)."""
        return EngineTimings(
            prefill_s_per_token=self.prefill_s_per_token * factor,
            decode_step_s=self.decode_step_s * factor,
            block_tokens=self.block_tokens,
            cache_blocks=self.cache_blocks,
            max_batch=self.max_batch,
        )


# cache_blocks and max_batch are the stand-in's sizing choices, not measurements: a KV cache small enough
# that eight different long prefixes do not all fit on one replica, and vLLM-like continuous batching.
LLAMA31_8B_H100 = EngineTimings(
    prefill_s_per_token=0.0625 / 1369,
    decode_step_s=0.0052,
    block_tokens=16,
    cache_blocks=512,
    max_batch=16,
)
