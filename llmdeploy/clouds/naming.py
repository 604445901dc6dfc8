"""The shared `short_name` rule: names cut to a cloud's limit end in a hash of the full name (each
cloud's own names live in llmdeploy/clouds/<cloud>/names.py).

Project, environment and model names are slugs of at most 20 characters; longer combinations are
cut and end in a hash.
"""

from __future__ import annotations

import hashlib

HASH_CHARS = 6


def short_name(*parts: str, limit: int) -> str:
    """`parts` joined by dashes; over `limit`, cut and suffixed with a hash of the full name.

    Stable for the same parts (a changed name replaces the resource) and distinct for different
    parts even when they share a long prefix.
    """
    name = "-".join(part for part in parts if part)
    if len(name) <= limit:
        return name
    head = name[: limit - HASH_CHARS - 1].rstrip("-")
    return f"{head}-{digest(name)}"


def digest(text: str) -> str:
    """A short, stable hash of `text` (the suffix of a cut name)."""
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_CHARS]
