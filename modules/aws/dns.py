"""The endpoint's names in the user's Route 53 public hosted zone (`clouds.aws.dns_zone`).

One alias A record per name clients call (access.tls.domain, or each `<model>.<domain>` with host
routing). With the router group (`routing.enabled`) each name is a failover pair, so that routers
are no single point of failure (issue 13):
- PRIMARY: the routers' load balancer, `evaluate_target_health` true. Route 53 counts an ALB alias
  target healthy when every target group of the ALB that has targets holds at least one healthy
  target, and a target group without targets as unhealthy (Route 53 API Reference, AliasTarget,
  EvaluateTargetHealth, "Application and Network Load Balancers":
  docs.aws.amazon.com/Route53/latest/APIReference/API_AliasTarget.html). The routers' ALB has one
  target group, the routers': the primary fails when no router passes its health check.
- SECONDARY: the fleets' load balancer (the direct path), `evaluate_target_health` false. The same
  rule would judge the fleets' ALB down whenever one of its target groups has no targets: a fleet
  scaled to zero, an idle green slot. The direct path is the last answer and must stay one; the ALB
  still sends each request only to healthy replicas.
Without routers there is one plain alias record to the fleets' load balancer, `evaluate_target_health`
false for the same reason (with no other record to answer instead, it would change nothing anyway).

aws_route53_record (terraform-provider-aws internal/service/route53/record.go): `alias` is exactly one
of alias/records and conflicts with `ttl` (an alias answers with the target's own TTL); a failover
policy requires `set_identifier`; a change of `set_identifier` (turning routing on or off) is one
transactional DELETE+CREATE. The routers' record depends on the direct one, so turning routing on
updates the plain record into the SECONDARY before the PRIMARY is created (Route 53 refuses a failover
record beside a plain one of the same name and type), and turning it off destroys the PRIMARY first.
A new record is created with CREATE (allow_overwrite unset): an existing record of the same name is
reported, not overwritten.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cdktn_provider_aws.data_aws_route53_zone import DataAwsRoute53Zone
from cdktn_provider_aws.route53_record import (
    Route53Record,
    Route53RecordAlias,
    Route53RecordFailoverRoutingPolicy,
)
from constructs import Construct

from llmdeploy.clouds.aws.resolve import DIRECT_SET_IDENTIFIER, ROUTERS_SET_IDENTIFIER, AwsDns, AwsRoute


@dataclass(frozen=True)
class AliasTarget:
    """A load balancer as Route 53 aliases name it: its DNS name and canonical hosted zone."""

    name: str
    zone_id: str


class Dns(Construct):
    """The zone (looked up by name) and one record, or failover pair, per name.

    Attributes:
        endpoints: the URL of each model on the zone's names, by model name.
    """

    _ZONE_ID = "Zone"

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        plan: AwsDns,
        routes: Sequence[AwsRoute],
        direct: AliasTarget,
        routers: AliasTarget | None,
    ) -> None:
        super().__init__(scope, id)
        zone = DataAwsRoute53Zone(self, self._ZONE_ID, name=plan.zone, private_zone=False)
        for name in plan.names:
            _Name(self, name, zone_id=zone.zone_id, direct=direct, routers=routers)
        self.endpoints = {route.model: route.endpoint.url(plan.domain) for route in routes}


class _Name(Construct):
    """One name: the direct alias, alone or as the SECONDARY behind the routers' PRIMARY.

    The construct ID is the name itself.
    """

    _DIRECT_ID = "Direct"
    _ROUTERS_ID = "Routers"

    def __init__(
        self, scope: Construct, name: str, *, zone_id: str, direct: AliasTarget, routers: AliasTarget | None
    ) -> None:
        super().__init__(scope, name)
        failover = routers is not None
        direct_record = Route53Record(
            self,
            self._DIRECT_ID,
            zone_id=zone_id,
            name=name,
            type="A",
            alias=_alias(direct, evaluate_target_health=False),
            set_identifier=DIRECT_SET_IDENTIFIER if failover else None,
            failover_routing_policy=Route53RecordFailoverRoutingPolicy(type="SECONDARY")
            if failover
            else None,
        )
        if routers is not None:
            Route53Record(
                self,
                self._ROUTERS_ID,
                zone_id=zone_id,
                name=name,
                type="A",
                alias=_alias(routers, evaluate_target_health=True),
                set_identifier=ROUTERS_SET_IDENTIFIER,
                failover_routing_policy=Route53RecordFailoverRoutingPolicy(type="PRIMARY"),
                depends_on=[direct_record],
            )


def _alias(target: AliasTarget, *, evaluate_target_health: bool) -> Route53RecordAlias:
    return Route53RecordAlias(
        name=target.name, zone_id=target.zone_id, evaluate_target_health=evaluate_target_health
    )
