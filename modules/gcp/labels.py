"""GCP labels from the plan's tags: the same pairs, in the character set GCP accepts."""

from __future__ import annotations

import re

#: GCP label keys and values: lower-case letters, digits, `_` and `-`; at most 63 characters.
_INVALID = re.compile(r"[^a-z0-9_-]")
_LIMIT = 63


def gcp_labels(tags: dict[str, str]) -> dict[str, str]:
    """`tags` as GCP labels (lower-cased, other characters replaced by `_`, cut at 63)."""
    return {_clean(key): _clean(value) for key, value in tags.items()}


def _clean(text: str) -> str:
    return _INVALID.sub("_", text.lower())[:_LIMIT]
