"""What one replica serves, derived from its GPUs and the model's size: a roofline model, stated here.

Decode is memory-bandwidth bound: each step yields one token per running sequence and reads every
weight once plus each sequence's KV cache; a step takes the longer of its bytes over the bandwidth and
its FLOPs (2 per parameter per token) over the compute, the roofline of Pope et al., "Efficiently
Scaling Transformer Inference" (MLSys 2023), and of Databricks' "LLM Inference Performance
Engineering: Best Practices" (2023-10, which names the bandwidth share reached MBU). Prefill is
compute bound: 2 FLOPs per parameter per prompt token (Kaplan et al., "Scaling Laws for Neural
Language Models", 2020: C_forward ~ 2N). Tensor parallelism over an instance's GPUs adds their
bandwidth and FLOPs (communication left out).

Batch slots: the KV-cache memory left after the weights (`sizing.usable_gib` less the weights) over
the KV bytes a request holds at its end (prompt plus output), at most the engine's
`max_concurrent_requests`. A request holds one slot for its prompt's share of the replica's prefill
time (with every slot busy, prefill is shared among them) plus its output at the full batch's step
rate: slots / service time is then the replica's request rate at full load.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from llmdeploy.plan.model import FleetPlan
from llmdeploy.simulate.model import ThroughputModel
from llmdeploy.sizing import GIB, MemoryNeed, bytes_per_param, usable_gib

#: Shares of the datasheet peak a serving engine reaches, fitted to TensorRT-LLM v0.6.1's published
#: LLaMA-7B FP16 figures on one A100 (docs/source/performance.md, NVIDIA/TensorRT-LLM, 2023-12): batch
#: 60, 128 prompt and 2,048 output tokens, 1,928 output tokens/s, decode-bound, gives 0.79 of the
#: bandwidth; the first token of a 2,048-token prompt in 133 ms gives 0.67-0.71 of the FLOPs. The
#: engines llmdeploy runs (TGI, vLLM, SGLang) reach at most this: the figures are an upper bound.
#: tests/simulate/test_throughput.py checks the model against the table's other rows.
MEMORY_BANDWIDTH_UTILIZATION = 0.8
MODEL_FLOPS_UTILIZATION = 0.65
#: KV-cache bytes per token of an 8B model with grouped-query attention in 16 bits: Llama 3 8B holds
#: 2 (K, V) x 32 layers x 8 KV heads x 128 dims x 2 bytes = 128 KiB (its config.json on Hugging Face).
#: Since 2023 most open models use 8 KV heads of 128 dims (Llama 3, Mistral, Qwen2.5: 4); depth grows
#: about as the cube root of size (Llama 3: 32 layers at 8B, 80 at 70B, 126 at 405B), and so does
#: this. An older model with full multi-head attention (Llama 2 7B: 512 KiB) holds 4x more.
KV_BYTES_PER_TOKEN_8B = 2 * 32 * 8 * 128 * 2
#: Used, with a warning naming the missing catalog field, where a GPU lacks bandwidth or FLOPs: the
#: figures of a 7-8B 16-bit model on an L4 or A10G, which llmdeploy stated before deriving them.
FALLBACK_DECODE_TOKENS_PER_S = 25.0
FALLBACK_PREFILL_TOKENS_PER_S = 2000.0


@dataclass(frozen=True)
class Replica:
    """One replica's hardware (all its GPUs together) and model, in SI units."""

    bandwidth_bytes_s: float
    flops: float
    weight_bytes: float
    params: float
    kv_bytes_per_token: float
    kv_memory_bytes: float

    def decode_step_s(self, batch: int, context_tokens: float) -> float:
        """Seconds per decode step with `batch` sequences of `context_tokens` each in the KV cache."""
        read = self.weight_bytes + batch * context_tokens * self.kv_bytes_per_token
        memory_s = read / (self.bandwidth_bytes_s * MEMORY_BANDWIDTH_UTILIZATION)
        compute_s = 2 * self.params * batch / (self.flops * MODEL_FLOPS_UTILIZATION) if self.flops else 0.0
        return max(memory_s, compute_s)

    def prefill_tokens_per_s(self) -> float:
        """Prompt tokens per second the whole replica prefills."""
        return self.flops * MODEL_FLOPS_UTILIZATION / (2 * self.params)

    def slots(self, tokens_per_request: float, cap: int) -> int:
        """Requests whose KV cache fits at once, at least 1 and at most `cap`."""
        fitting = math.floor(self.kv_memory_bytes / (tokens_per_request * self.kv_bytes_per_token))
        return max(1, min(cap, fitting))


@dataclass(frozen=True)
class Derived:
    """The throughput model of one fleet's replica, with the figures it came from."""

    model: ThroughputModel
    gpu: str
    gpus: int
    #: Output tokens per second of the whole replica with every slot busy.
    decode_tokens_per_s_total: float
    #: Prompt tokens per second of the whole replica.
    prefill_tokens_per_s_total: float
    #: Missing catalog figures that made a fallback constant stand in.
    warnings: tuple[str, ...] = ()


def kv_bytes_per_token(params_billion: float) -> float:
    """KV-cache bytes per token of a grouped-query-attention model of this size (see the constant)."""
    return KV_BYTES_PER_TOKEN_8B * math.cbrt(params_billion / 8)


def derive(fleet: FleetPlan, memory: MemoryNeed, prompt_tokens: float, output_tokens: float) -> Derived:
    """The fleet's first instance type serving its model, for requests of these mean sizes."""
    instance = fleet.instance_types[0]
    weight_bytes = memory.weights_gib * GIB
    params = weight_bytes / bytes_per_param(fleet.dtype, fleet.quantize)
    bandwidth, tflops = instance.memory_bandwidth_gb_s, instance.dense_16bit_tflops
    replica = Replica(
        bandwidth_bytes_s=(bandwidth or 0.0) * 1e9 * instance.gpu_count,
        flops=(tflops or 0.0) * 1e12 * instance.gpu_count,
        weight_bytes=weight_bytes,
        params=params,
        kv_bytes_per_token=kv_bytes_per_token(params / 1e9),
        kv_memory_bytes=(usable_gib(instance) - memory.weights_gib) * GIB,
    )
    slots = replica.slots(prompt_tokens + output_tokens, fleet.limits.max_concurrent_requests)
    warnings = tuple(
        f"the catalog has no {field} for {instance.gpu} ({instance.name}): {what} assumed "
        f"{value:g} tokens/s per sequence instead of deriving it"
        for field, figure, what, value in (
            ("memory_bandwidth_gb_s", bandwidth, "decode", FALLBACK_DECODE_TOKENS_PER_S),
            ("dense_16bit_tflops", tflops, "prefill", FALLBACK_PREFILL_TOKENS_PER_S),
        )
        if not figure
    )
    context = prompt_tokens + output_tokens / 2  # a request's mean context while it decodes
    decode = 1 / replica.decode_step_s(slots, context) if bandwidth else FALLBACK_DECODE_TOKENS_PER_S
    prefill_total = replica.prefill_tokens_per_s() if tflops else FALLBACK_PREFILL_TOKENS_PER_S * slots
    return Derived(
        model=ThroughputModel(
            concurrency=slots, decode_tokens_per_s=decode, prefill_tokens_per_s=prefill_total / slots
        ),
        gpu=instance.gpu,
        gpus=instance.gpu_count,
        decode_tokens_per_s_total=decode * slots,
        prefill_tokens_per_s_total=prefill_total,
        warnings=warnings,
    )
