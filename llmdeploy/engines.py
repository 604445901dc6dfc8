"""What llmdeploy knows about each serving engine: image, ports, health path and metric names.

The boot templates and the monitoring constructs read these, so an engine is described once.
Images are pinned to released tags, never `latest` (TGI's `latest` is built from its main branch),
and by digest where the digest could be checked against several independent sources.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

EngineName = Literal["tgi", "vllm", "sglang"]

#: The port every replica serves the load balancer on, whatever the engine: a proxy there strips the
#: model's route prefix (`/<model>/v1/...` reaches the engine as `/v1/...`, where all three serve).
PROXY_PORT = 8080


@dataclass(frozen=True)
class EngineSpec:
    """How to run and observe one serving engine."""

    name: EngineName
    image: str
    #: Where the engine listens; published on 127.0.0.1 only, the proxy forwards to it.
    container_port: int
    health_path: str
    metrics_port: int
    metrics_path: str
    queue_size_metric: str
    batch_size_metric: str
    generated_tokens_metric: str
    request_duration_metric: str
    #: llmdeploy's quantization names (TGI's) to this engine's `--quantization` values; absent = unsupported.
    quantizations: dict[str, str] = field(default_factory=dict)
    #: Whether `--dtype` may be passed together with a quantization (TGI refuses the pair).
    dtype_with_quantization: bool = True
    #: The oldest NVIDIA driver branch the image's CUDA runs on (NVIDIA's CUDA toolkit release notes,
    #: "minimum required driver version": CUDA 12.4 needs 550, CUDA 13.0 needs 580).
    min_driver: int = 550


_TGI_QUANTIZATIONS = (
    "fp8", "eetq", "bitsandbytes", "awq", "gptq", "marlin", "bitsandbytes-nf4", "bitsandbytes-fp4"
)  # fmt: skip

ENGINES: dict[EngineName, EngineSpec] = {
    # TGI is in maintenance mode upstream since December 2025; 3.3.7 is its last release.
    "tgi": EngineSpec(
        name="tgi",
        image="ghcr.io/huggingface/text-generation-inference:3.3.7",
        container_port=80,
        health_path="/health",
        metrics_port=9000,
        metrics_path="/metrics",
        queue_size_metric="tgi_queue_size",
        batch_size_metric="tgi_batch_current_size",
        generated_tokens_metric="tgi_request_generated_tokens_sum",
        request_duration_metric="tgi_request_duration",
        quantizations={name: name for name in _TGI_QUANTIZATIONS},
        dtype_with_quantization=False,
    ),
    "vllm": EngineSpec(
        name="vllm",
        min_driver=580,
        # The newest stable release found (v0.31.0, 2026-10-04), pinned by its manifest-list digest
        # (the same digest in many independent pins). Built on CUDA 13: needs a 580+ driver.
        image="vllm/vllm-openai:v0.31.0@sha256:c1c9f6fd5c109ba7f0546a59f5b2f15fb87f64c77782e90a27b648b42a8e67c3",
        container_port=8000,
        health_path="/health",
        metrics_port=8000,
        metrics_path="/metrics",
        queue_size_metric="vllm:num_requests_waiting",
        batch_size_metric="vllm:num_requests_running",
        generated_tokens_metric="vllm:generation_tokens_total",
        request_duration_metric="vllm:e2e_request_latency_seconds",
        quantizations={"fp8": "fp8", "awq": "awq", "gptq": "gptq", "bitsandbytes-nf4": "bitsandbytes"},
    ),
    "sglang": EngineSpec(
        name="sglang",
        min_driver=580,
        # v0.5.20 (2026-09-18), pinned by its index digest (the same in independent pins); v0.5.21
        # exists but no digest of it could be checked. Built on CUDA 13: needs a 580+ driver.
        image="lmsysorg/sglang:v0.5.20@sha256:06e4f2ed21afde4ff513cda65070124e727ba23ccaeff7712b8c40e1097d611f",
        container_port=30000,
        health_path="/health",
        metrics_port=30000,
        metrics_path="/metrics",
        queue_size_metric="sglang:num_queue_reqs",
        batch_size_metric="sglang:num_running_reqs",
        generated_tokens_metric="sglang:generation_tokens_total",
        request_duration_metric="sglang:e2e_request_latency_seconds",
        quantizations={"fp8": "fp8", "awq": "awq", "gptq": "gptq", "bitsandbytes-nf4": "bitsandbytes"},
    ),
}
