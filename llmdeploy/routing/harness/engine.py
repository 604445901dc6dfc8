"""The engine model behind a stand-in: a continuous-batching scheduler over a prefix cache.

One asyncio task plays the GPU. Each iteration admits waiting requests up to the batch limit and
prefills them together (time proportional to their uncached tokens, the first token comes out of the
prefill as in vLLM), then runs one decode step for the whole running batch. Requests beyond the batch
limit wait, which is what inflates TTFT on an overloaded replica.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from llmdeploy.routing.harness.prefix_cache import PrefixCache
from llmdeploy.routing.harness.timings import EngineTimings

_WORDS = ("the", "model", "answers", "with", "some", "plain", "words", "here")


@dataclass
class _Sequence:
    prompt: list[str]
    max_tokens: int
    out: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    generated: int = 0
    cached_tokens: int = 0
    cancelled: bool = False

    def emit(self) -> bool:
        """Hand out one more token; True once the sequence is finished."""
        self.out.put_nowait(_WORDS[self.generated % len(_WORDS)])
        self.generated += 1
        if self.generated >= self.max_tokens:
            self.out.put_nowait(None)
            return True
        return False


@dataclass
class EngineCounters:
    """Cumulative counters, exported under each engine's metric names."""

    prompt_tokens: int = 0
    cached_tokens: int = 0
    generation_tokens: int = 0
    requests_finished: int = 0


class Engine:
    """A model replica: submit a tokenized prompt, read its output tokens as they are decoded."""

    def __init__(self, timings: EngineTimings) -> None:
        self.timings = timings
        self.cache = PrefixCache(timings.cache_blocks, timings.block_tokens)
        self.counters = EngineCounters()
        self._waiting: deque[_Sequence] = deque()
        self._running: list[_Sequence] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def num_running(self) -> int:
        return len(self._running)

    @property
    def num_waiting(self) -> int:
        return len(self._waiting)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def generate(self, prompt: list[str], max_tokens: int) -> AsyncIterator[tuple[str, int]]:
        """Yield (token, cached prompt tokens) pairs; the first arrives after queueing and prefill."""
        seq = _Sequence(prompt=prompt, max_tokens=max(1, max_tokens))
        self._waiting.append(seq)
        self._wake.set()
        try:
            while (token := await seq.out.get()) is not None:
                yield token, seq.cached_tokens
        finally:
            # A client that went away frees its batch slot at the next step, as in a real engine.
            seq.cancelled = True

    async def _loop(self) -> None:
        while True:
            if not self._waiting and not self._running:
                self._wake.clear()
                await self._wake.wait()
            await self._prefill(self._admit())
            if self._running:
                await asyncio.sleep(self.timings.decode_step_s)
                self._decode_step()

    def _admit(self) -> list[_Sequence]:
        admitted: list[_Sequence] = []
        while self._waiting and len(self._running) + len(admitted) < self.timings.max_batch:
            seq = self._waiting.popleft()
            if not seq.cancelled:
                admitted.append(seq)
        return admitted

    async def _prefill(self, admitted: list[_Sequence]) -> None:
        if not admitted:
            return
        uncached = 0
        for seq in admitted:
            seq.cached_tokens = self.cache.cached_tokens(seq.prompt)
            uncached += len(seq.prompt) - seq.cached_tokens
            self.counters.prompt_tokens += len(seq.prompt)
            self.counters.cached_tokens += seq.cached_tokens
        await asyncio.sleep(uncached * self.timings.prefill_s_per_token)
        for seq in admitted:
            self.cache.insert(seq.prompt)
            self._count_token()
            if not seq.emit():
                self._running.append(seq)
            else:
                self.counters.requests_finished += 1

    def _decode_step(self) -> None:
        still: list[_Sequence] = []
        for seq in self._running:
            if seq.cancelled:
                continue
            self._count_token()
            if seq.emit():
                self.counters.requests_finished += 1
            else:
                still.append(seq)
        self._running = still

    def _count_token(self) -> None:
        self.counters.generation_tokens += 1
