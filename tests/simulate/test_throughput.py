"""The per-replica throughput model: plausible against published measurements, and derived per fleet."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmdeploy.catalog import instance_types
from llmdeploy.cli import app
from llmdeploy.plan.model import DeploymentPlan, FleetPlan
from llmdeploy.simulate.throughput import (
    FALLBACK_DECODE_TOKENS_PER_S,
    MEMORY_BANDWIDTH_UTILIZATION,
    MODEL_FLOPS_UTILIZATION,
    Replica,
    derive,
)
from tests.simulate.conftest import write_spot, write_traffic

#: LLaMA 7B (Touvron et al., "LLaMA", 2023, table 2: 32 layers, dimension 4,096, multi-head attention):
#: 6.74e9 parameters in FP16; its KV cache holds 2 (K, V) x 32 layers x 4,096 x 2 bytes per token.
LLAMA_7B_PARAMS = 6.74e9
LLAMA_7B_KV_BYTES_PER_TOKEN = 2 * 32 * 4096 * 2
#: Published by NVIDIA for TensorRT-LLM v0.6.1 (v0.5 for first-token latency), one A100, FP16,
#: LLaMA 7B: https://github.com/NVIDIA/TensorRT-LLM/blob/v0.6.1/docs/source/performance.md
#: (batch, prompt tokens, output tokens) -> output tokens/s.
TRT_LLM_A100_THROUGHPUT = {(384, 128, 128): 5586, (60, 128, 2048): 1928, (52, 2048, 128): 591}
#: Prompt tokens -> milliseconds to the first token at batch 1.
TRT_LLM_A100_FIRST_TOKEN_MS = {128: 16, 2048: 133}
#: How far the model may stray from a measurement: the efficiencies are one pair for every engine,
#: batch and length, and the measurements' engine is not the one llmdeploy runs.
TOLERANCE = 0.25


def _a100_llama_7b() -> Replica:
    a100 = instance_types("azure")["Standard_NC24ads_A100_v4"]
    assert a100.gpu == "A100-80GB"
    assert a100.memory_bandwidth_gb_s and a100.dense_16bit_tflops
    return Replica(
        bandwidth_bytes_s=a100.memory_bandwidth_gb_s * 1e9,
        flops=a100.dense_16bit_tflops * 1e12,
        weight_bytes=LLAMA_7B_PARAMS * 2,
        params=LLAMA_7B_PARAMS,
        kv_bytes_per_token=LLAMA_7B_KV_BYTES_PER_TOKEN,
        kv_memory_bytes=60e9,
    )


@pytest.mark.parametrize(("shape", "measured"), TRT_LLM_A100_THROUGHPUT.items())
def test_batch_throughput_is_within_a_quarter_of_the_published_a100_figure(
    shape: tuple[int, int, int], measured: int
) -> None:
    # A static batch, as the benchmark ran it: all prompts prefilled, then `output` decode steps over
    # a KV cache that grows from the prompt to prompt + output (its mean: prompt + output / 2).
    batch, prompt, output = shape
    replica = _a100_llama_7b()
    seconds = batch * prompt / replica.prefill_tokens_per_s() + output * replica.decode_step_s(
        batch, prompt + output / 2
    )
    assert batch * output / seconds == pytest.approx(measured, rel=TOLERANCE)


@pytest.mark.parametrize(("prompt", "measured_ms"), TRT_LLM_A100_FIRST_TOKEN_MS.items())
def test_first_token_latency_is_within_a_quarter_of_the_published_a100_figure(
    prompt: int, measured_ms: int
) -> None:
    replica = _a100_llama_7b()
    seconds = prompt / replica.prefill_tokens_per_s() + replica.decode_step_s(1, prompt)
    assert seconds * 1000 == pytest.approx(measured_ms, rel=TOLERANCE)


def test_the_efficiencies_are_shares_of_the_peak() -> None:
    assert 0 < MODEL_FLOPS_UTILIZATION < MEMORY_BANDWIDTH_UTILIZATION < 1


def test_a_faster_gpu_serves_more_and_more_gpus_add_slots_and_tokens(
    plan: DeploymentPlan, fleet: FleetPlan
) -> None:
    memory = plan.models[0].memory
    on_l4 = derive(fleet, memory, 1000, 250)
    on_a100 = derive(
        replace(fleet, instance_types=(instance_types("gcp")["a2-ultragpu-1g"],)), memory, 1000, 250
    )
    on_4_l4 = derive(
        replace(fleet, instance_types=(instance_types("aws")["g6.12xlarge"],)), memory, 1000, 250
    )
    assert (on_l4.gpu, on_l4.gpus, on_4_l4.gpus) == ("L4", 1, 4)
    assert on_a100.model.decode_tokens_per_s > 3 * on_l4.model.decode_tokens_per_s
    assert on_a100.prefill_tokens_per_s_total > 2 * on_l4.prefill_tokens_per_s_total
    # Four times the KV-cache memory: more slots, up to the engine's max_concurrent_requests (128).
    assert on_l4.model.concurrency < on_4_l4.model.concurrency == fleet.limits.max_concurrent_requests
    assert on_4_l4.decode_tokens_per_s_total > 3 * on_l4.decode_tokens_per_s_total
    assert on_l4.warnings == ()


def test_longer_requests_leave_fewer_slots_and_the_engine_cap_bounds_them(
    plan: DeploymentPlan, fleet: FleetPlan
) -> None:
    memory = plan.models[0].memory
    short, long = derive(fleet, memory, 500, 100), derive(fleet, memory, 4000, 1000)
    assert long.model.concurrency < short.model.concurrency
    # A full KV cache takes about as long to read either way: fewer sequences share each step.
    assert long.decode_tokens_per_s_total < short.decode_tokens_per_s_total / 2
    capped = replace(fleet, limits=fleet.limits.model_copy(update={"max_concurrent_requests": 8}))
    assert derive(capped, memory, 500, 100).model.concurrency == 8


def test_a_gpu_without_bandwidth_falls_back_with_a_warning_naming_the_field(
    plan: DeploymentPlan, fleet: FleetPlan
) -> None:
    unknown = replace(fleet.instance_types[0], memory_bandwidth_gb_s=None)
    derived = derive(replace(fleet, instance_types=(unknown,)), plan.models[0].memory, 1000, 250)
    assert derived.model.decode_tokens_per_s == FALLBACK_DECODE_TOKENS_PER_S
    assert derived.warnings == (
        "the catalog has no memory_bandwidth_gb_s for L4 (g6.xlarge): decode assumed 25 tokens/s per "
        "sequence instead of deriving it",
    )


@pytest.mark.usefixtures("plan")
def test_the_report_states_the_derived_figures(tmp_path: Path) -> None:
    args = ["simulate", "prod", "--cloud", "aws", "--traffic", str(write_traffic(tmp_path / "t.csv"))]
    args += ["--spot", str(write_spot(tmp_path / "spot", "1"))]
    as_json = CliRunner().invoke(app, [*args, "--json"])
    assert as_json.exit_code == 0, as_json.output
    figures = json.loads(as_json.stdout)["throughput"]
    assert (figures["instance_type"], figures["gpu"], figures["gpus"]) == ("g6.xlarge", "L4", 1)
    assert figures["decode_tokens_per_s"] == pytest.approx(
        figures["batch_slots"] * figures["decode_tokens_per_s_per_sequence"]
    )
    table = CliRunner().invoke(app, args, terminal_width=400)
    assert table.exit_code == 0, table.output
    slots, per_sequence = figures["batch_slots"], figures["decode_tokens_per_s_per_sequence"]
    assert (
        f"{slots} batch slots; with all busy {per_sequence:.1f} output tokens/s per sequence" in table.stdout
    )
