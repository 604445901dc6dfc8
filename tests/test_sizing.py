"""GPU memory sizing and shard counts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from llmdeploy.catalog import CLOUDS, instance_types
from llmdeploy.sizing import fits, fitting_types, memory_need, shards, usable_gib


def test_7b_bf16_needs_about_16_gib() -> None:
    need = memory_need(7.0, "bfloat16", None)
    assert 13.0 < need.weights_gib < 13.1
    assert 16.2 < need.total_gib < 16.4


def test_small_model_keeps_a_minimum_kv_cache() -> None:
    assert memory_need(0.5, "bfloat16", None).kv_cache_gib == 2.0


def test_7b_fits_one_a10g_but_70b_needs_eight_big_gpus() -> None:
    aws = instance_types("aws")
    assert fits(memory_need(7, "bfloat16", None), aws["g5.xlarge"])
    seventy = memory_need(70, "bfloat16", None)
    assert not fits(seventy, aws["g5.12xlarge"])
    assert fits(seventy, aws["p4d.24xlarge"])
    assert shards(aws["p4d.24xlarge"]) == 8


@given(
    params=st.floats(min_value=0.1, max_value=500),
    dtype=st.sampled_from(["bfloat16", "float16", "float32"]),
)
def test_quantization_never_needs_more_memory(params: float, dtype: str) -> None:
    full = memory_need(params, dtype, None)  # type: ignore[arg-type]
    for quantize in ("fp8", "awq"):
        assert memory_need(params, dtype, quantize).total_gib <= full.total_gib  # type: ignore[arg-type]


@given(params=st.floats(min_value=0.1, max_value=500), cloud=st.sampled_from(CLOUDS))
def test_suggested_types_really_fit_and_are_cheapest_first(params: float, cloud: str) -> None:
    need = memory_need(params, "bfloat16", None)
    catalog = instance_types(cloud)  # type: ignore[arg-type]
    suggested = fitting_types(cloud, need)  # type: ignore[arg-type]
    assert all(fits(need, catalog[name]) for name in suggested)
    prices = [catalog[name].on_demand_usd_hour for name in suggested]
    assert prices == sorted(prices)
    cheaper_unsuggested = [
        entry
        for entry in catalog.values()
        if fits(need, entry)
        and entry.unusable is None
        and entry.name not in suggested
        and prices
        and entry.on_demand_usd_hour < prices[-1]
    ]
    assert not cheaper_unsuggested


@given(params=st.floats(min_value=0.1, max_value=2000))
def test_need_grows_with_parameters(params: float) -> None:
    assert (
        memory_need(params * 2, "bfloat16", None).total_gib > memory_need(params, "bfloat16", None).total_gib
    )


def test_catalog_entries_are_plausible() -> None:
    for cloud in CLOUDS:
        for entry in instance_types(cloud).values():
            assert entry.gpu_count >= 1 and entry.gpu_memory_gib >= 16
            assert 0 < entry.spot_discount < 1
            assert entry.on_demand_usd_hour > 0
            assert entry.source.startswith("https://") and entry.as_of
            assert usable_gib(entry) < entry.total_gpu_memory_gib
