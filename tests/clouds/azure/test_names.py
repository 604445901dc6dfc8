"""How the Azure registry is named and how its artifact cache serves each engine image."""

from __future__ import annotations

import re

import pytest

from llmdeploy.clouds.azure.names import (
    CachedImage,
    cache_rule,
    cached_image,
    custom_domain,
    registry_name,
    scale_set,
    waf_policy,
)
from llmdeploy.engines import ENGINES


@pytest.mark.parametrize(
    ("image", "cached"),
    [
        (
            "ghcr.io/huggingface/text-generation-inference:3.3.7",
            CachedImage(
                "ghcr.io/huggingface/text-generation-inference",
                "huggingface/text-generation-inference",
                "3.3.7",
            ),
        ),
        (
            "vllm/vllm-openai:v0.11.0",
            CachedImage("docker.io/vllm/vllm-openai", "vllm/vllm-openai", "v0.11.0"),
        ),
        ("ubuntu:22.04", CachedImage("docker.io/library/ubuntu", "library/ubuntu", "22.04")),
        # A digest travels with the tag.
        (
            "vllm/vllm-openai:v0.31.0@sha256:" + "0" * 64,
            CachedImage("docker.io/vllm/vllm-openai", "vllm/vllm-openai", "v0.31.0@sha256:" + "0" * 64),
        ),
        # Not an upstream the cache pulls from, or no tag: pulled directly.
        ("registry.example.com/team/engine:1", None),
        ("localhost:5000/engine", None),
        ("vllm/vllm-openai@sha256:" + "0" * 64, None),
    ],
)
def test_cached_images(image: str, cached: CachedImage | None) -> None:
    assert cached_image(image) == cached


def test_every_engine_image_is_cached() -> None:
    for engine in ENGINES.values():
        found = cached_image(engine.image)
        assert found is not None, engine.image
        assert (
            found.pull_name("r.azurecr.io")
            == f"r.azurecr.io/{found.target_repo}:{engine.image.split(':', 1)[1]}"
        )


def test_registry_names_are_alphanumeric_bounded_and_differ_per_subscription() -> None:
    long_prefix = "a-very-long-project-name-that-goes-on-and-on-prod"
    for name in (registry_name("llmdeploy-demo-prod", None), registry_name(long_prefix, "sub")):
        assert re.fullmatch(r"[a-z0-9]{5,50}", name), name
    assert registry_name("llmdeploy-demo-prod", "a") != registry_name("llmdeploy-demo-prod", "b")
    assert registry_name("llmdeploy-demo-prod", "a") == registry_name("llmdeploy-demo-prod", "a")


@pytest.mark.parametrize(
    ("repository", "rule"),
    [
        ("vllm/vllm-openai", "vllm-vllm-openai"),
        ("huggingface/text-generation-inference", "huggingface-text-generation-inference"),
        ("library/nginx", "library-nginx"),
        # Cut to 49 characters without a trailing dash.
        ("team/" + "x" * 43 + "/engine", "team-" + "x" * 43),
        ("a__b/c", "a-b-c"),
    ],
)
def test_cache_rule_names_fit_acr(repository: str, rule: str) -> None:
    # ACR cache rules: 5-49 letters and digits, optionally joined by single dashes.
    assert cache_rule(repository) == rule
    assert re.fullmatch(r"[A-Za-z0-9]+(-[A-Za-z0-9]+)*", rule) and len(rule) <= 49


def test_front_door_names() -> None:
    # WAF policies: 1-128 letters and digits, starting with a letter (Azure/PSRule.Rules.Azure,
    # Azure.FrontDoor.WAF.Name, citing Azure's resource naming rules).
    assert waf_policy("llmdeploy-prod") == "llmdeployprod"
    assert re.fullmatch(r"[a-zA-Z][a-zA-Z0-9]{0,127}", waf_policy("a" * 20 + "-" + "b" * 20))
    # Custom domains: letters, digits and dashes (hosts differ only by model slug, never by a dot).
    assert custom_domain("llm.example.com") == "llm-example-com"
    assert scale_set("chat-blue") == "chat-blue"
