"""Blue/green traffic maths."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmdeploy.errors import ConfigError
from llmdeploy.plan.traffic import idle_slot, other, parse_steps, remaining_steps, serving_slot, split


def test_idle_slot_is_the_one_without_traffic() -> None:
    assert idle_slot({"blue": 100}) == "green"
    assert idle_slot({"blue": 0, "green": 100}) == "blue"
    assert serving_slot({"blue": 50, "green": 50}) == "blue"


@given(percent=st.integers(0, 100), target=st.sampled_from(["blue", "green"]))
def test_split_always_sums_to_100(percent: int, target: str) -> None:
    weights = split(target, percent)  # type: ignore[arg-type]
    assert sum(weights.values()) == 100
    assert weights[target] == percent  # type: ignore[index]
    assert weights[other(target)] == 100 - percent  # type: ignore[arg-type]


def test_split_refuses_out_of_range() -> None:
    with pytest.raises(ValueError):
        split("green", 101)


def test_steps_parse_and_resume() -> None:
    steps = parse_steps("10,50,100")
    assert steps == [10, 50, 100]
    assert remaining_steps(0, steps) == [10, 50, 100]
    assert remaining_steps(10, steps) == [50, 100]
    assert remaining_steps(100, steps) == []


@pytest.mark.parametrize("text", ["", "50,10,100", "10,50", "0,100", "a,b", "10,10,100"])
def test_bad_steps_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_steps(text)
