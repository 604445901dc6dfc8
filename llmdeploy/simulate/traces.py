"""Read the input traces: LLM request arrivals (CSV), spot availability and spot preemptions per zone (JSON).

Traffic: the Azure LLM inference trace format (Azure/AzurePublicDataset, AzureLLMInferenceDataset2023,
CC-BY 4.0): columns TIMESTAMP, ContextTokens, GeneratedTokens, one request a row. Spot: the SkyPilot
spot-traces format (skypilot-org/spot-traces, NSDI 2024 "Can't Be Late"): one JSON file per zone and
instance type, `{"metadata": {"gap_seconds": N}, "data": [...]}`, a point per N seconds; the zone is the
file name up to its first `_` (e.g. `us-east-1a_v100_1.json`), the instance type the rest (`v100_1`).

The two spot kinds share that format, so nothing in a file tells them apart (hence two options):
- availability (`availability/`): a point > 0 while spot capacity could be launched in the zone;
- preemption (`preemption/`): the collectors kept one spot instance running in the zone, relaunching it
  when preempted; a point > 0 while it ran, 0 from its preemption until it ran again (and at the first
  tick, while it was still launching). A fall from > 0 to 0 is a real preemption at that tick.
  Polarity: every shared preemption file starts at 0 and 7 of 8 rise at their second tick (launching,
  then running), and the zones rank the same in both kinds (us-west-2 up most, us-east-1c least), which
  holds only if > 0 means "up" in both.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TypeGuard

from llmdeploy.errors import ConfigError, Problem

TRAFFIC_COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")


@dataclass(frozen=True)
class Traffic:
    """Requests per minute over the trace, and every request's prompt and output tokens."""

    per_minute: tuple[int, ...]
    #: (prompt tokens, output tokens) of each request, in arrival order.
    tokens: tuple[tuple[int, int], ...]

    @property
    def mean_prompt_tokens(self) -> float:
        return sum(prompt for prompt, _ in self.tokens) / len(self.tokens)

    @property
    def mean_output_tokens(self) -> float:
        return sum(output for _, output in self.tokens) / len(self.tokens)


@dataclass(frozen=True)
class ZoneTrace:
    """Whether spot capacity could be launched in one zone, every `gap_s` seconds."""

    zone: str
    gap_s: int
    available: tuple[bool, ...]
    #: The instance type part of the file name (e.g. `v100_1`): whose capacity the trace shows.
    instance: str = ""

    @property
    def duration_s(self) -> int:
        return self.gap_s * len(self.available)

    def open_at(self, t_s: int) -> bool:
        """Whether the zone has spot capacity at `t_s` seconds (the trace repeats past its end)."""
        return self.available[(t_s // self.gap_s) % len(self.available)]


@dataclass(frozen=True)
class PreemptionTrace:
    """One spot instance kept running in one zone, every `gap_s` s: up, or preempted and not yet back."""

    zone: str
    #: The instance type part of the file name (e.g. `v100_1`): what was preempted.
    instance: str
    gap_s: int
    up: tuple[bool, ...]

    @property
    def name(self) -> str:
        return f"{self.zone}_{self.instance}" if self.instance else self.zone

    @cached_property
    def _preempted_by(self) -> tuple[int, ...]:
        """Preemptions at ticks 0..i of the trace, for each i: a tick up, the next down.

        Tick 0 is none, also where the trace wraps round on a repeat (no instance was seen going down).
        """
        counts, total = [0], 0
        for before, now in zip(self.up, self.up[1:], strict=False):
            total += before and not now
            counts.append(total)
        return tuple(counts)

    def preemptions_between(self, start_s: int, end_s: int) -> int:
        """Preemptions at ticks in (start_s, end_s] (the trace repeats past its end)."""
        return self._preempted_until(end_s // self.gap_s) - self._preempted_until(start_s // self.gap_s)

    def _preempted_until(self, tick: int) -> int:
        if tick < 0:
            return 0
        rounds, index = divmod(tick, len(self.up))
        return rounds * self._preempted_by[-1] + self._preempted_by[index]


def _bad(path: Path, message: str, hint: str) -> ConfigError:
    return ConfigError([Problem(message, file=str(path), hint=hint)])


def _parse_time(text: str) -> datetime:
    # The Azure trace has 7 decimal places; datetime takes at most 6.
    head, _, fraction = text.strip().partition(".")
    return datetime.fromisoformat(f"{head}.{fraction[:6].ljust(6, '0')}" if fraction else head)


def read_traffic(path: Path) -> Traffic:
    """Read a request trace; a missing file, other columns or a bad row raise ConfigError."""
    hint = f"give a CSV with the columns {', '.join(TRAFFIC_COLUMNS)} (the Azure LLM inference trace format)"
    if not path.is_file():
        raise _bad(path, "traffic trace not found", hint)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [name for name in TRAFFIC_COLUMNS if name not in (reader.fieldnames or [])]
        if missing:
            raise _bad(path, f"traffic trace lacks the column(s) {', '.join(missing)}", hint)
        times: list[datetime] = []
        tokens: list[tuple[int, int]] = []
        for line, row in enumerate(reader, start=2):
            try:
                times.append(_parse_time(row["TIMESTAMP"]))
                tokens.append((int(row["ContextTokens"]), int(row["GeneratedTokens"])))
            except (ValueError, TypeError):
                raise _bad(path, f"line {line}: not a timestamp and two token counts: {row}", hint) from None
    if not times:
        raise _bad(path, "traffic trace has no requests", hint)
    start = min(times)
    # Whole minutes only: the last, partial minute would read as a drop in traffic.
    minutes = [0] * max(1, int((max(times) - start).total_seconds() // 60))
    for when in times:
        minute = int((when - start).total_seconds() // 60)
        if minute < len(minutes):
            minutes[minute] += 1
    return Traffic(tuple(minutes), tuple(tokens))


#: What every spot trace file holds, for error messages.
SPOT_FORMAT = '{"metadata": {"gap_seconds": N}, "data": [numbers >= 0, one per N seconds]}'


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _read_points(path: Path, kind: str) -> tuple[int, tuple[bool, ...]]:
    """A spot trace file's gap in seconds and its points (True: > 0); errors say what and where."""
    hint = f"give SkyPilot spot-traces {kind} files: {SPOT_FORMAT}"
    what = f"not a spot {kind} trace"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise _bad(path, f"{what}: cannot read it as JSON ({error})", hint) from None
    metadata = document.get("metadata") if isinstance(document, dict) else None
    if not isinstance(metadata, dict):
        raise _bad(path, f'{what}: no "metadata" object', hint)
    gap = metadata.get("gap_seconds")
    if not _is_number(gap) or not gap >= 1 or gap != int(gap):
        raise _bad(
            path, f"{what}: metadata.gap_seconds is {gap!r}, expected a whole number of seconds >= 1", hint
        )
    data = document.get("data")
    if not isinstance(data, list) or not data:
        raise _bad(
            path,
            f'{what}: "data" is {type(data).__name__ if data is not None else "missing"}, '
            "expected a non-empty list",
            hint,
        )
    for index, point in enumerate(data):
        if not _is_number(point) or not point >= 0:
            raise _bad(path, f"{what}: data[{index}] is {point!r}, expected a number >= 0", hint)
    return int(gap), tuple(point > 0 for point in data)


def _zone_and_type(path: Path) -> tuple[str, str]:
    zone, _, instance = path.stem.partition("_")
    return zone, instance


def _trace_files(path: Path, kind: str) -> list[Path]:
    """One trace file, or every `*.json` in a folder; exactly one file per zone."""
    files = sorted(path.glob("*.json")) if path.is_dir() else [path] if path.is_file() else []
    if not files:
        raise _bad(
            path, f"no spot {kind} trace here", "give a SkyPilot spot-traces JSON file or a folder of them"
        )
    by_zone: dict[str, list[str]] = {}
    for file in files:
        by_zone.setdefault(_zone_and_type(file)[0], []).append(file.name)
    twice = {zone: names for zone, names in by_zone.items() if len(names) > 1}
    if twice:
        zone, names = next(iter(twice.items()))
        raise _bad(
            path,
            f"{len(names)} spot {kind} traces for zone {zone}: {', '.join(names)}",
            "give one instance type's traces, one file per zone (e.g. a folder per type)",
        )
    return files


def read_spot(path: Path) -> tuple[ZoneTrace, ...]:
    """Read one zone's availability trace, or a folder of them (sorted by zone)."""
    traces = []
    for file in _trace_files(path, "availability"):
        gap, points = _read_points(file, "availability")
        zone, instance = _zone_and_type(file)
        traces.append(ZoneTrace(zone, gap, points, instance))
    return tuple(sorted(traces, key=lambda trace: trace.zone))


def read_preemptions(path: Path) -> tuple[PreemptionTrace, ...]:
    """Read one zone's preemption trace, or a folder of them (sorted by zone)."""
    traces = []
    for file in _trace_files(path, "preemption"):
        gap, points = _read_points(file, "preemption")
        zone, instance = _zone_and_type(file)
        traces.append(PreemptionTrace(zone, instance, gap, points))
    return tuple(sorted(traces, key=lambda trace: trace.zone))
