"""Request traces: a deterministic shared-prefix multi-turn generator, and the Azure production trace.

A trace is a list of TraceRequest, written as JSON lines for the load generator. Prompt text is words
(the stand-in's tokens are whitespace words), so a prompt of N tokens is N words.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

# The Azure LLM inference trace 2023 (conversation service): arrival time, context and generated tokens.
# Read in place from the shared data folder; never copied into the repository.
AZURE_CONV_TRACE = Path("/work/shared/data/llm-traces/AzureLLMInferenceTrace_conv.csv")


@dataclass(frozen=True)
class TraceRequest:
    at_s: float
    prompt: str
    max_tokens: int
    session: str
    prefix: str


@dataclass(frozen=True)
class SharedPrefixShape:
    """A chat service: a few long system prompts, sessions of several turns, think time between turns."""

    prefixes: int = 8
    prefix_tokens: int = 1500
    sessions: int = 48
    turns: int = 4
    user_tokens: int = 60
    reply_tokens: int = 32
    session_rate_per_s: float = 4.0
    think_s: float = 3.0
    seed: int = 13


def _words(rng: random.Random, tag: str, count: int) -> str:
    return " ".join(f"{tag}{rng.randrange(50_000)}" for _ in range(count))


def shared_prefix(shape: SharedPrefixShape) -> list[TraceRequest]:
    """Sessions arrive as a Poisson process; each turn's prompt is its prefix plus the whole history."""
    rng = random.Random(shape.seed)
    prefixes = [_words(rng, f"p{i}_", shape.prefix_tokens) for i in range(shape.prefixes)]
    requests: list[TraceRequest] = []
    start = 0.0
    for session in range(shape.sessions):
        start += rng.expovariate(shape.session_rate_per_s)
        prefix = rng.randrange(shape.prefixes)
        history = prefixes[prefix]
        at = start
        for _turn in range(shape.turns):
            history = f"{history} {_words(rng, 'u', shape.user_tokens)}"
            requests.append(
                TraceRequest(round(at, 4), history, shape.reply_tokens, f"s{session}", f"p{prefix}")
            )
            history = f"{history} {_words(rng, 'a', shape.reply_tokens)}"
            at += shape.think_s * (0.5 + rng.random())
    return sorted(requests, key=lambda r: r.at_s)


def azure_trace(
    path: Path = AZURE_CONV_TRACE, limit: int = 200, speedup: float = 1.0, max_prompt: int = 4000
) -> list[TraceRequest]:
    """The first `limit` rows of the production trace: real arrival gaps (divided by `speedup`) and token
    counts. The trace has no prompt text, so prompts are distinct words: it measures load, not caching."""
    rng = random.Random(0)
    requests: list[TraceRequest] = []
    first: datetime | None = None
    with path.open(newline="") as handle:
        for index, row in enumerate(csv.DictReader(handle)):
            if index >= limit:
                break
            # Timestamps carry 7 fractional digits; Python parses up to 6.
            at = datetime.fromisoformat(row["TIMESTAMP"][:26])
            first = first or at
            tokens = min(int(row["ContextTokens"]), max_prompt)
            requests.append(
                TraceRequest(
                    round((at - first).total_seconds() / speedup, 4),
                    _words(rng, f"z{index}_", tokens),
                    max(1, int(row["GeneratedTokens"])),
                    f"z{index}",
                    "",
                )
            )
    return requests


def write(requests: Iterable[TraceRequest], path: Path) -> None:
    path.write_text("".join(json.dumps(asdict(r)) + "\n" for r in requests))


def read(path: Path) -> list[TraceRequest]:
    return [TraceRequest(**json.loads(line)) for line in path.read_text().splitlines() if line]
