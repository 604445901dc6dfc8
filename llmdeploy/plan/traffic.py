"""Blue/green traffic maths: which slot is idle, the weights of each promotion step, rollback.

Pure functions over percentages; each cloud's constructs only translate the resulting weights.
"""

from __future__ import annotations

import re

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


def resume_point(gated_percent: int | None, file_percent: int) -> int:
    """The target slot's share a promotion continues from.

    The last step whose gate passed (from the promotion record), but never more than the file
    says: a file one step ahead was interrupted between its edit and its gate (that step is done
    again), and a file behind was edited by hand (the promotion continues from there).
    """
    return file_percent if gated_percent is None else min(gated_percent, file_percent)


def promotion_weights(target: Slot, steps: list[int], done_percent: int) -> list[Weights]:
    """The weights of each step still to take, in order."""
    return [split(target, percent) for percent in remaining_steps(done_percent, steps)]


def rollback_slot(weights: Weights) -> Slot | None:
    """The slot a rollback returns traffic to, when the weights alone tell: None when they don't.

    Mid-promotion (both slots carry traffic, unevenly) it is the slot carrying most. With all
    traffic on one slot, or an even split, only the promotion record (or the user) knows.
    """
    shares = [weights.get(slot, 0) for slot in SLOTS]
    if 0 in shares or shares[0] == shares[1]:
        return None
    return serving_slot(weights)


_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str, option: str) -> float:
    """`"5m"`, `"90s"`, `"1h30m"` or plain seconds (`"30"`) as seconds."""
    cleaned = text.strip().lower()
    if cleaned.isdigit():
        return float(cleaned)
    match = _DURATION.match(cleaned)
    if not cleaned or match is None:
        raise ConfigError(
            [Problem(f"{option} {text!r} is not a duration", hint="for example 30s, 5m, 1h30m or 90")]
        )
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return float(hours * 3600 + minutes * 60 + seconds)
