"""The emulator's state folder: one JSON record naming the running launcher."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

STATE_FILE = "emulator.json"
LOG_FILE = "emulator.log"

__all__ = ["LOG_FILE", "STATE_FILE", "EmulatorHandle", "load_record"]


@dataclass(frozen=True)
class EmulatorHandle:
    """Where a running emulator listens and which process it is."""

    pid: int
    host: str
    port: int
    state_dir: Path

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"


def load_record(state_dir: Path) -> EmulatorHandle | None:
    """Read the state file; None when absent or unreadable (e.g. half-cleaned)."""
    try:
        record = json.loads((state_dir / STATE_FILE).read_text(encoding="utf-8"))
        return EmulatorHandle(
            pid=int(record["pid"]),
            host=str(record["host"]),
            port=int(record["port"]),
            state_dir=state_dir,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
