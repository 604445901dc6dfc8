"""Names of the Azure resources that the stacks create and `llmdeploy status` reads back, and the
shared `short_name` rule (GCP's names live in llmdeploy/clouds/gcp/names.py).

Both sides call these functions, so a renamed resource cannot leave the status command looking for
the old name. Every name fits its cloud's limits: project, environment and model
names are slugs of at most 20 characters (Azure resource groups allow 90); longer combinations are
cut and end in a hash. On Azure everything of an environment lives in its own resource group and
needs no prefix.
"""

from __future__ import annotations

import hashlib

from llmdeploy.plan.model import FleetPlan

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


def azure_scale_set(fleet: FleetPlan) -> str:
    """`<model>-<slot>`: the fleet's scale set, load balancer prefix and Front Door origin."""
    return fleet.name
