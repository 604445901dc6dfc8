"""Where a model is served on a shared endpoint, for the load balancers and the DNS health checks alike."""

from __future__ import annotations


def route_prefix(model: str) -> str:
    """The path prefix a model is served under when models are routed by path."""
    return f"/{model}/"
