"""Reading Terraform's machine-readable UI stream (`-json`) and plan documents.

Terraform documents the stream in "Machine-Readable UI" (internals/machine-readable-ui):
one JSON object per line, with a `type` such as `diagnostic`, `planned_change`,
`change_summary`, `apply_complete` or `outputs`. OpenTofu emits the same stream.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Actions that do not change anything; they are left out of a plan's resource list.
_QUIET_ACTIONS = frozenset({"noop", "read"})


@dataclass(frozen=True)
class Diagnostic:
    """One error or warning Terraform reported, in its own words."""

    severity: str
    summary: str
    detail: str = ""
    address: str = ""

    def text(self) -> str:
        where = f"{self.address}: " if self.address else ""
        detail = f": {self.detail}" if self.detail else ""
        return f"{where}{self.summary}{detail}"


@dataclass(frozen=True)
class ResourceChange:
    """A resource a plan would touch and how (create, update, delete, replace...)."""

    address: str
    action: str


@dataclass(frozen=True)
class PlanSummary:
    """What a plan would do, or what an apply or destroy did.

    `plan_json` holds the full `terraform show -json` plan document when a detailed
    plan was asked for (before/after values per resource), else None.
    """

    add: int = 0
    change: int = 0
    destroy: int = 0
    imports: int = 0
    outputs_changed: int = 0
    resources: tuple[ResourceChange, ...] = ()
    plan_file: Path | None = None
    #: The saved plan's SHA-256 when it was written: what apply checks it still is.
    plan_sha256: str | None = None
    plan_json: Mapping[str, Any] | None = None

    @property
    def has_changes(self) -> bool:
        """True when an apply would do anything, outputs included (as Terraform counts)."""
        counts = (self.add, self.change, self.destroy, self.imports, self.outputs_changed)
        return any(counts)


@dataclass
class StreamState:
    """Everything of interest collected from one command's `-json` stream."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    resources: list[ResourceChange] = field(default_factory=list)
    outputs_changed: int = 0
    started: int = 0  # resource operations an apply or destroy began
    completed: int = 0  # ... and finished: what the state now records

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    def summary(self, plan_file: Path | None = None) -> PlanSummary:
        return PlanSummary(
            add=self.counts.get("add", 0),
            change=self.counts.get("change", 0),
            destroy=self.counts.get("remove", 0),
            imports=self.counts.get("import", 0),
            outputs_changed=self.outputs_changed,
            resources=tuple(self.resources),
            plan_file=plan_file,
        )


def parse_line(line: str) -> dict[str, Any] | None:
    """One stream line as a dict; None for anything that is not a JSON object."""
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


def record(state: StreamState, message: Mapping[str, Any]) -> None:
    """Fold one stream message into `state`."""
    kind = message.get("type")
    if kind == "diagnostic":
        state.diagnostics.append(_diagnostic(message.get("diagnostic") or {}))
    elif kind == "change_summary":
        changes = message.get("changes") or {}
        state.counts = {key: int(value) for key, value in changes.items() if key != "operation"}
    elif kind == "planned_change":
        _record_planned(state, message.get("change") or {})
    elif kind == "apply_start":
        state.started += 1
    elif kind == "apply_complete":
        state.completed += 1
    elif kind == "outputs":
        outputs = message.get("outputs") or {}
        state.outputs_changed = sum(1 for out in outputs.values() if out.get("action") not in (None, "noop"))


def _diagnostic(raw: Mapping[str, Any]) -> Diagnostic:
    return Diagnostic(
        severity=str(raw.get("severity", "error")),
        summary=str(raw.get("summary", "")).strip(),
        detail=str(raw.get("detail", "")).strip(),
        address=str(raw.get("address", "")),
    )


def _record_planned(state: StreamState, change: Mapping[str, Any]) -> None:
    action = str(change.get("action", ""))
    address = str((change.get("resource") or {}).get("addr", ""))
    if address and action not in _QUIET_ACTIONS:
        state.resources.append(ResourceChange(address, action))


def parse_stream(lines: Iterable[str]) -> StreamState:
    """Fold a whole captured stream (used for commands read after they finish)."""
    state = StreamState()
    for line in lines:
        message = parse_line(line)
        if message is not None:
            record(state, message)
    return state


def resources_from_plan_json(plan: Mapping[str, Any]) -> tuple[ResourceChange, ...]:
    """Resource changes from a `show -json` plan document, named as in the stream."""
    found = []
    for entry in plan.get("resource_changes") or []:
        action = _stream_action((entry.get("change") or {}).get("actions") or [])
        if action not in _QUIET_ACTIONS:
            found.append(ResourceChange(str(entry.get("address", "")), action))
    return tuple(found)


def _stream_action(actions: list[str]) -> str:
    """The plan document's action list as the single word the stream uses."""
    if sorted(actions) == ["create", "delete"]:
        return "replace"
    if not actions or actions == ["no-op"]:
        return "noop"
    return "+".join(actions)
