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


def read_record(path: Path, env: str, model: str) -> PromotionRecord | None:
    """The record at `path` for `env` and `model`, or None when there is none.

    The file is checked, not trusted: it decides which slot gets traffic, so a record of another
    environment or model, a slot promoted onto itself or an impossible step is refused.
    """
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        record = _parsed(raw)
        _check(record, env, model)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise OperationError(
            f"The promotion record {path} is unreadable ({error}). The environment file holds the "
            "weights; delete the record and run the command again to start from them."
        ) from None
    return record


def _parsed(raw: object) -> PromotionRecord:
    if not isinstance(raw, dict):
        raise ValueError("it is not a JSON object")
    reason = raw.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise ValueError("reason is not text")
    return PromotionRecord(
        env=_text(raw["env"], "env"),
        model=_text(raw["model"], "model"),
        source=_slot(raw["source"]),
        target=_slot(raw["target"]),
        state=_state(raw["state"]),
        steps_done=tuple(_step(step) for step in raw["steps_done"]),
        reason=reason,
    )


def _check(record: PromotionRecord, env: str, model: str) -> None:
    if (record.env, record.model) != (env, model):
        raise ValueError(f"it is the record of {record.env}/{record.model}, not of {env}/{model}")
    if record.source == record.target:
        raise ValueError(f"its source and target are both {record.source}")
    if list(record.steps_done) != sorted(set(record.steps_done)):
        raise ValueError(f"its steps {list(record.steps_done)} do not rise")


def _text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} is not text")
    return value


def _step(value: object) -> int:
    """A traffic share that passed its gate: a whole percentage from 1 to 100 (JSON gives 1e999 as inf)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
        raise ValueError(f"step {value!r} is not a percentage from 1 to 100")
    return value


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
