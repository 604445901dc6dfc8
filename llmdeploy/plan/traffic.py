"""Blue/green traffic maths: which slot is idle, the weights of each promotion step, rollback.

Pure functions over percentages; each cloud's constructs only translate the resulting weights.
"""

from __future__ import annotations

from llmdeploy.config.model import SLOTS, Slot
from llmdeploy.errors import ConfigError, Problem

Weights = dict[Slot, int]


def other(slot: Slot) -> Slot:
    """The other release slot."""
    return "green" if slot == "blue" else "blue"


def serving_slot(weights: Weights) -> Slot:
    """The slot carrying most traffic (blue on a tie): the one a release must not touch."""
    return max(SLOTS, key=lambda slot: (weights.get(slot, 0), slot == "blue"))


def idle_slot(weights: Weights) -> Slot:
    """The slot a new release goes into."""
    return other(serving_slot(weights))


def split(target: Slot, percent: int) -> Weights:
    """Weights that send `percent` of traffic to `target` and the rest to the other slot."""
    if not 0 <= percent <= 100:
        raise ValueError(f"a traffic share is 0-100, got {percent}")
    return {target: percent, other(target): 100 - percent}


def parse_steps(text: str) -> list[int]:
    """`"10,50,100"` as `[10, 50, 100]`: strictly increasing percentages ending at 100."""
    try:
        steps = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        steps = []
    if not steps or steps != sorted(set(steps)) or steps[-1] != 100 or steps[0] <= 0:
        raise ConfigError(
            [
                Problem(
                    f"--steps {text!r} is not a list of increasing percentages ending at 100",
                    hint="for example --steps 10,50,100",
                )
            ]
        )
    return steps


def remaining_steps(current_percent: int, steps: list[int]) -> list[int]:
    """The steps still to take when the target slot already has `current_percent`."""
    return [step for step in steps if step > current_percent]
