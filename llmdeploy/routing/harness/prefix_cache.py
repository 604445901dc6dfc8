"""An LRU cache of fixed-size token blocks, each keyed by the hash of the whole prefix up to it.

This is how vLLM's automatic prefix caching names blocks: a block is reusable only when every token
before it matches too, so the key chains the previous block's key.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence


def block_keys(tokens: Sequence[str], block_tokens: int) -> list[str]:
    """The chained keys of the prompt's full blocks (a trailing partial block is never cached)."""
    keys: list[str] = []
    previous = ""
    for start in range(0, len(tokens) - block_tokens + 1, block_tokens):
        block = "\x1f".join(tokens[start : start + block_tokens])
        previous = hashlib.blake2b(f"{previous}\x1e{block}".encode(), digest_size=12).hexdigest()
        keys.append(previous)
    return keys


class PrefixCache:
    """Which prefix blocks one replica holds, evicting the least recently used."""

    def __init__(self, capacity_blocks: int, block_tokens: int) -> None:
        self.capacity_blocks = capacity_blocks
        self.block_tokens = block_tokens
        self._blocks: OrderedDict[str, None] = OrderedDict()

    def cached_tokens(self, tokens: Sequence[str]) -> int:
        """How many leading tokens are already cached; touches the hit blocks."""
        hits = 0
        for key in block_keys(tokens, self.block_tokens):
            if key not in self._blocks:
                break
            self._blocks.move_to_end(key)
            hits += 1
        return hits * self.block_tokens

    def insert(self, tokens: Sequence[str]) -> None:
        """Remember every full block of a prompt that was just prefilled."""
        for key in block_keys(tokens, self.block_tokens):
            self._blocks[key] = None
            self._blocks.move_to_end(key)
        while len(self._blocks) > self.capacity_blocks:
            self._blocks.popitem(last=False)

    @property
    def used_blocks(self) -> int:
        return len(self._blocks)
