"""The optional global DNS name in front of every cloud's endpoint, with health-checked failover.

Route 53 answers one name (`<name>.<zone>`) with the endpoint of a healthy cloud: the primary one
while it is healthy (failover), or every healthy one in proportion to its weight (weighted).
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network
from typing import Literal, Self

from pydantic import Field, model_validator

from llmdeploy.catalog import Cloud
from llmdeploy.config.common import Strict
from llmdeploy.config.grammars import DnsLabel, DomainName, UrlPath

#: Route 53's health checkers come from AWS's published ranges, so only an open endpoint admits them.
ANYWHERE = IPv4Network("0.0.0.0/0")


class DnsHealthCheck(Strict):
    """How Route 53 checks each cloud's endpoint: every model's route, all of which must answer.

    Route 53 needs a 2xx or 3xx answer within 2 s, without credentials: with an API key, the load
    balancers answer `GET /<model><path>` without it (only that path and method), and each cloud's
    check combines its models' checks, so a cloud counts as healthy only when every model answers.
    """

    interval_s: Literal[10, 30] = Field(default=30, description="Seconds between checks (10 costs more).")
    failure_threshold: int = Field(
        default=3, ge=1, le=10, description="Consecutive failures before an endpoint counts as down."
    )
    path: UrlPath = Field(
        default="/health",
        description="Engine path checked under each model's route: /<model><path>, without the API key.",
    )
    protocol: Literal["HTTP", "HTTPS"] | None = Field(
        default=None, description="Default: HTTPS when the endpoints have a certificate, else HTTP."
    )


class GlobalDns(Strict):
    """One DNS name for the whole environment, answered by the healthy clouds (stack `<env>-global`)."""

    zone: DomainName = Field(description="Existing Route 53 public hosted zone, e.g. example.com.")
    name: DnsLabel = Field(description="Name in the zone, e.g. api for api.example.com.")
    routing: Literal["failover", "weighted"] = Field(
        default="failover",
        description="failover: the primary cloud while healthy, then the others; "
        "weighted: every healthy cloud by weight.",
    )
    primary: Cloud | None = Field(
        default=None, description="failover: the cloud answering while healthy. Default: the first cloud."
    )
    weights: dict[Cloud, int] = Field(
        default_factory=dict,
        description="weighted: relative share of answers per cloud (0-255), for every cloud. "
        "Default: equal shares.",
    )
    ttl_s: int = Field(
        default=60, ge=0, le=86400, description="How long resolvers keep an answer: adds to failover time."
    )
    health_check: DnsHealthCheck = Field(
        default_factory=DnsHealthCheck, description="How Route 53 checks each cloud's endpoint."
    )

    @model_validator(mode="after")
    def _routing_fields(self) -> Self:
        if self.routing == "weighted" and self.primary is not None:
            raise ValueError("primary: only failover routing has a primary cloud (use weights)")
        if self.routing == "failover" and self.weights:
            raise ValueError("weights: only weighted routing uses weights (use primary)")
        if any(not 0 <= weight <= 255 for weight in self.weights.values()):
            raise ValueError("weights: Route 53 weights are 0-255")
        return self

    def problems(
        self, clouds: list[Cloud], *, scheme: str, routing: str, allowed_cidrs: Sequence[IPv4Network]
    ) -> list[str]:
        """What the rest of the environment must provide: the named clouds, public endpoints by path."""
        named = [("primary", self.primary)] if self.primary else []
        named += [(f"weights.{cloud}", cloud) for cloud in self.weights]
        found = [
            f"global_dns.{key}: {cloud} is named, but clouds.{cloud} is not configured"
            for key, cloud in named
            if cloud not in clouds
        ]
        if self.weights and set(self.weights) != set(clouds):
            found.append(f"global_dns.weights: give every cloud a weight ({', '.join(clouds)}), or none")
        if scheme != "internet-facing":
            found.append(
                "global_dns: Route 53 health checkers reach only public endpoints: "
                "set access.scheme: internet-facing"
            )
        if routing != "path":
            found.append(
                "global_dns: one name serves every model by path, but access.routing is host: "
                "set access.routing: path"
            )
        if ANYWHERE not in allowed_cidrs:
            found.append(
                "global_dns: Route 53 health checkers connect from AWS's published ranges, which "
                "access.allowed_cidrs does not admit: allow 0.0.0.0/0 and guard the endpoints with "
                "access.api_key"
            )
        return found
