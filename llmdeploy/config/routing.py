"""The `routing:` block: an LLM-aware request layer (hold gate + vllm-router) in front of the fleets."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, StringConstraints, model_validator

from llmdeploy.catalog import Cloud
from llmdeploy.config.common import Strict

#: The vllm-router policies we expose. `cache_aware` is approximate (the router's own prefix tree of
#: the request text), so it works for every engine, TGI included; `consistent_hash` pins a session
#: header to a replica; `least_load` is vllm-router's `power_of_two` (two random picks, the less loaded).
Policy = Literal["cache_aware", "consistent_hash", "least_load"]

#: Router VM sizes: CPU only, the router is a Rust process plus nginx and the Python hold gate.
RouterSize = Literal["small", "medium", "large"]

#: A VM type name as the three clouds spell them (c7i.large, c3-standard-4, Standard_D2s_v5): the value
#: lands in Terraform, so nothing else gets through.
RouterType = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$")]

#: The shortest hold worth configuring: a GPU VM takes minutes to boot, so a budget below a minute
#: turns every cold start into 429s.
_MIN_HOLD_S = 30


class Routing(Strict):
    """LLM-aware routing: a CPU router group per cloud that routes by prompt prefix and holds at zero."""

    enabled: bool = Field(default=False, description="Put the router group in front of the fleets.")
    policy: Policy = Field(
        default="cache_aware",
        description=(
            "How a replica is chosen: cache_aware (prompt prefix, load as a guard; approximate, any "
            "engine), consistent_hash (on session_header), least_load (the less loaded of two)."
        ),
    )
    session_header: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9-]{1,64}$",
        description="Request header naming a chat session; its requests go to the same replica.",
    )
    hold_budget_s: int = Field(
        default=300,
        ge=_MIN_HOLD_S,
        le=3600,
        description="How long a request to a fleet at zero is held before it gets 429 with Retry-After.",
    )
    queue_limit: int = Field(
        default=1000,
        gt=0,
        le=100_000,
        description="Requests waiting in one router (at zero or over the cap) at most; beyond: 429.",
    )
    keepalive_s: int = Field(
        default=10, gt=0, le=60, description="Seconds between SSE keep-alive comments on a held stream."
    )
    per_replica_concurrency: int | None = Field(
        default=None,
        gt=0,
        le=100_000,
        description=(
            "Requests in flight per replica; excess waits in the router. Default: the model's "
            "limits.max_concurrent_requests."
        ),
    )
    min_routers: int = Field(
        default=2, ge=2, le=20, description="Router VMs per cloud, spread across zones (at least 2)."
    )
    size: RouterSize = Field(default="small", description="Router VM size when instance_types omits a cloud.")
    instance_types: dict[Cloud, RouterType] = Field(
        default_factory=dict, description="Per cloud, the router VM type (overrides size)."
    )
    scale_on_queue_time_ms: int | None = Field(
        default=None,
        gt=0,
        le=600_000,
        description=(
            "AWS only: scale each GPU fleet out when the mean time its requests wait in the routers "
            "passes this many milliseconds (scale-in stays with the fleet's own target). Default: off."
        ),
    )
    retries: int = Field(
        default=3, ge=0, le=10, description="Retries on another replica before the first byte is sent."
    )

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.policy == "consistent_hash" and self.session_header is None:
            raise ValueError(
                "policy consistent_hash needs session_header (the header naming a chat session, "
                "e.g. X-Session-Id); or choose cache_aware"
            )
        if self.keepalive_s >= self.hold_budget_s:
            raise ValueError(
                f"keepalive_s ({self.keepalive_s}) must be less than hold_budget_s "
                f"({self.hold_budget_s}), or a held stream never gets a keep-alive"
            )
        return self
