"""Traces: the shared-prefix generator is deterministic and multi-turn; the Azure trace is read as is."""

from __future__ import annotations

import csv
import itertools

import pytest

from llmdeploy.routing.harness.trace import AZURE_CONV_TRACE, SharedPrefixShape, azure_trace, shared_prefix


def test_shared_prefix_trace_is_deterministic_and_each_turn_extends_the_last() -> None:
    shape = SharedPrefixShape(prefixes=2, sessions=5, turns=3, prefix_tokens=40)
    first, second = shared_prefix(shape), shared_prefix(shape)
    assert first == second
    assert [r.at_s for r in first] == sorted(r.at_s for r in first)
    for session in {r.session for r in first}:
        turns = sorted((r for r in first if r.session == session), key=lambda r: r.at_s)
        assert len(turns) == 3
        for earlier, later in itertools.pairwise(turns):
            assert later.prompt.startswith(earlier.prompt)
    assert len({r.prompt.split()[0] for r in first}) <= 2  # sessions share the two system prompts


@pytest.mark.skipif(not AZURE_CONV_TRACE.exists(), reason="the shared Azure trace is not on this machine")
def test_azure_trace_keeps_the_production_gaps_and_token_counts() -> None:
    requests = azure_trace(limit=50, speedup=2.0, max_prompt=100_000)
    with AZURE_CONV_TRACE.open(newline="") as handle:
        rows = [row for _, row in zip(range(50), csv.DictReader(handle), strict=False)]
    assert [len(r.prompt.split()) for r in requests] == [int(row["ContextTokens"]) for row in rows]
    assert [r.max_tokens for r in requests] == [max(1, int(row["GeneratedTokens"])) for row in rows]
    assert requests[0].at_s == 0.0
    assert requests[1].at_s == pytest.approx(4.3145788 / 2, abs=1e-3)
