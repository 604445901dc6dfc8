"""`check_endpoint` through the real nginx proxy (the rendered boot config) in front of a stand-in engine."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from llmdeploy.smoke.check import check_endpoint
from tests.smoke.engine import TOKEN_PAUSE_S, TOKENS, engine, proxy

CONFIGURED = "Qwen/Qwen2.5-0.5B-Instruct"


@pytest.mark.process
def test_the_wrong_model_is_caught_naming_both_ids(tmp_path: Path) -> None:
    with engine("mistralai/Mistral-7B-Instruct-v0.3") as wrong, proxy(wrong.port, tmp_path) as url:
        result = check_endpoint(url, CONFIGURED)
    assert not result.passed
    assert result.problem == (
        "wrong model: the endpoint serves mistralai/Mistral-7B-Instruct-v0.3, not the configured "
        f"{CONFIGURED}"
    )
    # Caught before any completion is asked for.
    assert [path for _, path, _ in wrong.seen] == ["/v1/models"]


@pytest.mark.process
def test_the_right_model_streams_with_ttft_and_tokens_per_second(tmp_path: Path) -> None:
    with engine(CONFIGURED) as right, proxy(right.port, tmp_path) as url:
        result = check_endpoint(url, CONFIGURED, key="k-123")
    assert result.passed, result.problem
    assert result.served == (CONFIGURED,)
    assert result.tokens == len(TOKENS)
    assert result.ttft_s is not None and 0 < result.ttft_s < 5
    # The engine pauses between tokens; a buffering proxy would deliver them all at once (a rate
    # far above this bound, or none at all).
    assert result.tokens_per_s is not None
    assert 0.1 / TOKEN_PAUSE_S < result.tokens_per_s < 1.2 / TOKEN_PAUSE_S
    # The proxy stripped the route prefix; the key went in the header only.
    assert [(method, path) for method, path, _ in right.seen] == [
        ("GET", "/v1/models"),
        ("POST", "/v1/chat/completions"),
    ]
    assert {header for _, _, header in right.seen} == {"Bearer k-123"}
    assert "k-123" not in repr(result)
    # No slot named: no slot header, so the load balancer splits by weight.
    assert right.slots == [None, None]


@pytest.mark.process
def test_a_named_slot_travels_in_the_slot_header_of_every_request(tmp_path: Path) -> None:
    with engine(CONFIGURED) as right, proxy(right.port, tmp_path) as url:
        result = check_endpoint(url, CONFIGURED, key="k-123", slot="green")
    assert result.passed, result.problem
    assert right.slots == ["green", "green"]
    assert {header for _, _, header in right.seen} == {"Bearer k-123"}


@pytest.mark.process
def test_an_http_error_says_what_it_likely_means(tmp_path: Path) -> None:
    with engine(CONFIGURED) as right, proxy(right.port, tmp_path) as url:
        # The stand-in answers 404 outside /v1: as an engine does for a path without the prefix.
        result = check_endpoint(url.replace("/chat/", "/nothing/here/"), CONFIGURED)
    assert result.problem is not None
    assert "answered HTTP 404 (no such route: is this the model's endpoint" in result.problem


def test_nothing_listening_is_a_failure_not_an_exception() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = check_endpoint(f"http://127.0.0.1:{port}/chat/", CONFIGURED, timeout_s=2)
    assert result.problem is not None
    assert result.problem.startswith(f"GET http://127.0.0.1:{port}/chat/v1/models failed:")
