"""What the routing modules share, free of the rest of llmdeploy: a router VM runs them alone.

The boot bundle ships `llmdeploy/routing/*.py` (not the harness) with an empty `llmdeploy/__init__.py`,
so these modules import only the standard library, the packages the router VM's bootstrap installs
(aiohttp, pydantic, the cloud's SDK) and each other.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

#: A blue/green slot: the values of `llmdeploy.config.model.Slot`, which the VM does not have.
Slot = Literal["blue", "green"]
SLOTS: tuple[Slot, ...] = ("blue", "green")
#: The request header that names one slot: that slot alone answers, whatever its weight (the
#: operators' per-slot address: `llmdeploy smoke --slot`, promotion's smoke check). Every load
#: balancer routes on it, and the router tier's gate honours it too.
SLOT_HEADER = "X-LLMDeploy-Slot"
#: The gate's own health page: the router VM's nginx answers the load balancers' probes from it.
HEALTH_PATH = "/llmdeploy/router/health"


class Strict(BaseModel):
    """A spec read from JSON: unknown keys are errors and types are exact, as in the config files."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, strict=True, allow_inf_nan=False
    )
