"""The promotion record: which slot a release went into and which steps passed their gate.

One small JSON file per environment and model (`.llmdeploy/promotions/<env>-<model>.json`),
written atomically, so an interrupted promotion knows where to continue. It is bookkeeping only:
the weights themselves live in the environment file (in git) and in the Terraform state.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, get_args

from llmdeploy.atomic_write import write_atomically
from llmdeploy.config.model import SLOTS, Slot
from llmdeploy.errors import OperationError

#: Where promotion records live, inside the project folder.
RECORDS_DIR = Path(".llmdeploy") / "promotions"

State = Literal["released", "promoting", "promoted", "rolling-back", "rolled-back"]
_STATES: tuple[State, ...] = get_args(State)


@dataclass(frozen=True)
class PromotionRecord:
    """Where one model's release stands."""

    env: str
    model: str
    source: Slot
    target: Slot
    state: State
    steps_done: tuple[int, ...] = ()
    reason: str | None = None

    @property
    def done_percent(self) -> int:
        """The target's share after the last step whose gate passed."""
        return max(self.steps_done, default=0)

    def moved(self, state: State, **changes: object) -> PromotionRecord:
        """This record in `state`, with `changes` applied."""
        return replace(self, state=state, **changes)  # type: ignore[arg-type]


def record_path(records_dir: Path, env: str, model: str) -> Path:
    return records_dir / f"{env}-{model}.json"


def read_record(path: Path) -> PromotionRecord | None:
    """The record at `path`, or None when there is none."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        record = PromotionRecord(
            env=str(raw["env"]),
            model=str(raw["model"]),
            source=_slot(raw["source"]),
            target=_slot(raw["target"]),
            state=_state(raw["state"]),
            steps_done=tuple(int(step) for step in raw["steps_done"]),
            reason=raw.get("reason"),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise OperationError(
            f"The promotion record {path} is unreadable ({error}). The environment file holds the "
            "weights; delete the record and run the command again to start from them."
        ) from None
    return record


def write_record(path: Path, record: PromotionRecord) -> None:
    body = {**asdict(record), "updated": datetime.now(UTC).isoformat(timespec="seconds")}
    write_atomically(path, json.dumps(body, indent=2) + "\n")


def _slot(value: object) -> Slot:
    for slot in SLOTS:
        if value == slot:
            return slot
    raise ValueError(f"{value!r} is not a slot")


def _state(value: object) -> State:
    for state in _STATES:
        if value == state:
            return state
    raise ValueError(f"{value!r} is not a promotion state")
