"""Read the two kinds of input trace: LLM request arrivals (CSV) and spot availability per zone (JSON).

Traffic: the Azure LLM inference trace format (Azure/AzurePublicDataset, AzureLLMInferenceDataset2023,
CC-BY 4.0): columns TIMESTAMP, ContextTokens, GeneratedTokens, one request a row. Spot: the SkyPilot
spot-traces format (skypilot-org/spot-traces, NSDI 2024 "Can't Be Late"): one JSON file per zone,
`{"metadata": {"gap_seconds": N}, "data": [...]}`, a point per N seconds, > 0 while spot can be launched;
the zone is the file name up to its first `_` (e.g. `us-east-1a_v100_1.json`).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

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

    @property
    def duration_s(self) -> int:
        return self.gap_s * len(self.available)

    def open_at(self, t_s: int) -> bool:
        """Whether the zone has spot capacity at `t_s` seconds (the trace repeats past its end)."""
        return self.available[(t_s // self.gap_s) % len(self.available)]


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


def _read_zone(path: Path) -> ZoneTrace:
    hint = 'give SkyPilot spot-traces files: {"metadata": {"gap_seconds": N}, "data": [counts]}'
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        gap = int(document["metadata"]["gap_seconds"])
        data = [float(point) > 0 for point in document["data"]]
    except (OSError, ValueError, KeyError, TypeError):
        raise _bad(path, "not a spot availability trace", hint) from None
    if gap <= 0 or not data:
        raise _bad(path, "spot trace has no data points or a gap_seconds below 1", hint)
    return ZoneTrace(path.name.split("_")[0], gap, tuple(data))


def read_spot(path: Path) -> tuple[ZoneTrace, ...]:
    """Read one zone's trace, or every `*.json` in a folder (sorted by zone)."""
    if path.is_dir():
        files = sorted(path.glob("*.json"))
    elif path.is_file():
        files = [path]
    else:
        files = []
    if not files:
        raise _bad(path, "no spot trace here", "give a SkyPilot spot-traces JSON file or a folder of them")
    return tuple(sorted((_read_zone(file) for file in files), key=lambda trace: trace.zone))
