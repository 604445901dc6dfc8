"""Where a model is served on a shared endpoint, for the load balancers and the DNS health checks alike."""

from __future__ import annotations

from llmdeploy.config.model import SLOTS
from llmdeploy.routing.common import SLOT_HEADER as ROUTER_SLOT_HEADER


def route_prefix(model: str) -> str:
    """The path prefix a model is served under when models are routed by path."""
    return f"/{model}/"


#: The request header that pins a request to one blue/green slot (its value: `blue` or `green`):
#: each cloud's load balancer sends such a request to that slot alone, whatever its weight, so
#: `llmdeploy smoke --slot` and promotion can prove a slot at 0% before it gets traffic. It opens
#: no other door: the replica's proxy still checks the API key, and the health paths stay exact.
#: ALB header names: up to 40 characters of letters, digits and `-` among others (ELB API
#: `HttpHeaderConditionConfig`); a header name every cloud matches case-insensitively. Defined with
#: the router VM's code, whose gate honours it behind the routers.
SLOT_HEADER = ROUTER_SLOT_HEADER


#: Each slot's place among a model's per-slot rules (ALB priorities, URL map priorities, Front Door
#: rule order): blue first. Keyed by the slot's name, so the constructs need no config type.
SLOT_ORDER: dict[str, int] = {slot: index for index, slot in enumerate(SLOTS)}
