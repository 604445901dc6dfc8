"""The promotion step planner: which weights each remaining step applies, and where a resume starts."""

from __future__ import annotations

import pytest

from llmdeploy.errors import ConfigError
from llmdeploy.plan.traffic import (
    parse_duration,
    parse_steps,
    promotion_weights,
    resume_point,
    rollback_slot,
)


def test_a_fresh_promotion_applies_every_step_with_weights_summing_to_100() -> None:
    steps = promotion_weights("green", parse_steps("10,50,100"), done_percent=0)
    assert steps == [{"green": 10, "blue": 90}, {"green": 50, "blue": 50}, {"green": 100, "blue": 0}]


def test_a_promotion_of_blue_shifts_traffic_away_from_green() -> None:
    assert promotion_weights("blue", [25, 100], done_percent=0) == [
        {"blue": 25, "green": 75},
        {"blue": 100, "green": 0},
    ]


def test_a_resumed_promotion_skips_the_steps_that_passed_their_gate() -> None:
    assert promotion_weights("green", [10, 50, 100], done_percent=10) == [
        {"green": 50, "blue": 50},
        {"green": 100, "blue": 0},
    ]
    assert promotion_weights("green", [10, 50, 100], done_percent=100) == []


@pytest.mark.parametrize(
    ("gated", "in_file", "start"),
    [
        (None, 0, 0),  # no record: start from what the file says
        (None, 5, 5),  # a canary written by hand
        (10, 10, 10),  # stopped between steps
        (10, 50, 10),  # stopped after the edit of 50%, before its gate passed: 50% is done again
        (50, 10, 10),  # the file was turned back by hand: never jump past what it says
    ],
)
def test_resume_point_never_passes_the_last_gated_step_or_the_file(
    gated: int | None, in_file: int, start: int
) -> None:
    assert resume_point(gated, in_file) == start


def test_rollback_slot_is_known_from_weights_only_in_the_middle_of_a_promotion() -> None:
    assert rollback_slot({"blue": 90, "green": 10}) == "blue"
    assert rollback_slot({"blue": 20, "green": 80}) == "green"
    assert rollback_slot({"blue": 100, "green": 0}) is None  # released or finished: ambiguous
    assert rollback_slot({"blue": 50, "green": 50}) is None


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("30s", 30), ("5m", 300), ("1h30m", 5400), ("1m5s", 65), (" 2M ", 120)]
)
def test_durations_parse_to_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text, "--pause") == seconds


@pytest.mark.parametrize("text", ["", "5 minutes", "1.5m", "-5s", "m"])
def test_bad_durations_are_config_errors_naming_the_option(text: str) -> None:
    with pytest.raises(ConfigError, match="--pause"):
        parse_duration(text, "--pause")
