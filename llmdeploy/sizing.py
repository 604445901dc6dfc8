"""GPU memory sizing: does a model fit an instance type, and how many tensor-parallel shards.

Estimates, not measurements: weights take parameters x bytes per parameter; the KV cache needs
headroom on top (a quarter of the weights, at least 2 GiB), and only 90% of GPU memory is usable
once the CUDA context, activations and fragmentation are paid for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from llmdeploy.catalog import Cloud, InstanceType, instance_types

Dtype = Literal["bfloat16", "float16", "float32"]
Quantization = Literal[
    "fp8", "eetq", "bitsandbytes", "awq", "gptq", "marlin", "bitsandbytes-nf4", "bitsandbytes-fp4"
]

GIB = 1024**3
USABLE_GPU_MEMORY = 0.9
KV_CACHE_SHARE = 0.25
MIN_KV_CACHE_GIB = 2.0

_DTYPE_BYTES: dict[Dtype, float] = {"bfloat16": 2.0, "float16": 2.0, "float32": 4.0}
_QUANTIZED_BYTES: dict[Quantization, float] = {
    "fp8": 1.0,
    "eetq": 1.0,
    "bitsandbytes": 1.0,
    "awq": 0.5,
    "gptq": 0.5,
    "marlin": 0.5,
    "bitsandbytes-nf4": 0.5,
    "bitsandbytes-fp4": 0.5,
}


@dataclass(frozen=True)
class MemoryNeed:
    """GPU memory one replica of a model needs."""

    weights_gib: float
    kv_cache_gib: float

    @property
    def total_gib(self) -> float:
        return self.weights_gib + self.kv_cache_gib


def bytes_per_param(dtype: Dtype, quantize: Quantization | None) -> float:
    """Bytes one weight takes in GPU memory: the quantization's, else the dtype's."""
    return _QUANTIZED_BYTES[quantize] if quantize else _DTYPE_BYTES[dtype]


def memory_need(params_billion: float, dtype: Dtype, quantize: Quantization | None) -> MemoryNeed:
    """Weights plus KV-cache headroom for a model of `params_billion` parameters."""
    weights = params_billion * 1e9 * bytes_per_param(dtype, quantize) / GIB
    return MemoryNeed(weights_gib=weights, kv_cache_gib=max(MIN_KV_CACHE_GIB, KV_CACHE_SHARE * weights))


def usable_gib(instance: InstanceType) -> float:
    """GPU memory of all the instance's GPUs that a serving engine can use."""
    return instance.total_gpu_memory_gib * USABLE_GPU_MEMORY


def fits(need: MemoryNeed, instance: InstanceType) -> bool:
    """Whether one replica fits on the instance, sharded over all its GPUs."""
    return need.total_gib <= usable_gib(instance)


def fitting_types(cloud: Cloud, need: MemoryNeed, limit: int = 4) -> list[str]:
    """The cheapest catalogued instance types of `cloud` that hold the model and llmdeploy can run."""
    usable = [entry for entry in instance_types(cloud).values() if entry.unusable is None]
    return [entry.name for entry in usable if fits(need, entry)][:limit]


def shards(instance: InstanceType) -> int:
    """Tensor-parallel shard count: one shard per GPU of the instance."""
    return instance.gpu_count
