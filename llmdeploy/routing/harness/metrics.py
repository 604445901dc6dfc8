"""The stand-in's Prometheus text, under the metric names the real engines export.

vLLM: vllm:num_requests_running, vllm:num_requests_waiting, vllm:prefix_cache_queries_total and
vllm:prefix_cache_hits_total (tokens), vllm:kv_cache_usage_perc, vllm:generation_tokens_total
(vllm/v1/metrics/loggers.py). TGI: tgi_queue_size, tgi_batch_current_size
(text-generation-inference router/src/lib.rs metrics). SGLang: sglang:num_running_reqs,
sglang:num_queue_reqs, sglang:cache_hit_rate (python/sglang/srt/metrics/collector.py).
"""

from __future__ import annotations

from llmdeploy.routing.harness.engine import Engine

FLAVOURS = ("vllm", "tgi", "sglang")


def render(engine: Engine, flavour: str, model: str) -> str:
    c = engine.counters
    usage = engine.cache.used_blocks / engine.cache.capacity_blocks
    rows: list[tuple[str, str, str, float]]
    if flavour == "tgi":
        rows = [
            ("tgi_queue_size", "gauge", "", engine.num_waiting),
            ("tgi_batch_current_size", "gauge", "", engine.num_running),
        ]
    elif flavour == "sglang":
        hit_rate = c.cached_tokens / c.prompt_tokens if c.prompt_tokens else 0.0
        label = f'{{model_name="{model}"}}'
        rows = [
            ("sglang:num_running_reqs", "gauge", label, engine.num_running),
            ("sglang:num_queue_reqs", "gauge", label, engine.num_waiting),
            ("sglang:cache_hit_rate", "gauge", label, hit_rate),
        ]
    else:
        label = f'{{model_name="{model}"}}'
        rows = [
            ("vllm:num_requests_running", "gauge", label, engine.num_running),
            ("vllm:num_requests_waiting", "gauge", label, engine.num_waiting),
            ("vllm:kv_cache_usage_perc", "gauge", label, usage),
            ("vllm:prefix_cache_queries_total", "counter", label, c.prompt_tokens),
            ("vllm:prefix_cache_hits_total", "counter", label, c.cached_tokens),
            ("vllm:generation_tokens_total", "counter", label, c.generation_tokens),
            ("vllm:request_success_total", "counter", label, c.requests_finished),
        ]
    lines: list[str] = []
    for name, kind, labels, value in rows:
        lines += [f"# TYPE {name} {kind}", f"{name}{labels} {value}"]
    return "\n".join(lines) + "\n"
