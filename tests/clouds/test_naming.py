"""Names within cloud limits: stable, and distinct even when long names share a prefix."""

from __future__ import annotations

from llmdeploy.clouds.naming import short_name


def test_short_names_are_kept_as_they_are() -> None:
    assert short_name("llmdeploy-demo-dev", "chat", "blue", limit=32) == "llmdeploy-demo-dev-chat-blue"


def test_long_names_are_cut_to_the_limit_and_stay_distinct() -> None:
    blue = short_name("llmdeploy-demo-staging", "translate-fr", "blue", limit=32)
    green = short_name("llmdeploy-demo-staging", "translate-fr", "green", limit=32)
    assert len(blue) <= 32 and len(green) <= 32
    assert blue != green
    assert blue.startswith("llmdeploy-demo-staging-tr")
    assert short_name("llmdeploy-demo-staging", "translate-fr", "blue", limit=32) == blue


def test_a_cut_name_never_ends_its_head_with_a_dash() -> None:
    name = short_name("a" * 24, "-", "b" * 20, limit=32)
    assert "--" not in name and len(name) <= 32
