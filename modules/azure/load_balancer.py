"""Azure Front Door (Standard) in front of one public Standard Load Balancer per fleet.

Why Front Door and not Traffic Manager: blue/green needs a per-request split, and Front Door splits
HTTP requests by origin weight (1-1000) at its edge, health-probing each origin, and routes several
models by path (or host) on one endpoint. Traffic Manager is DNS: it weights name resolutions, not
requests, so resolvers and clients that cache the answer keep hitting one slot for the record's TTL
and beyond, a 5% canary is only approximate, and a failed slot keeps traffic until caches expire.
With Front Door, failover is decided per request at the edge: an origin is taken out once its health
probes (GET on the engine's health path every `health_check.interval_s`; Front Door's default HEAD
would test the wrong thing) fail in the sample window (3 of the last 4 by default), i.e. within a
few probe intervals, with no DNS caching in the way. The probes stay GET: FastAPI answers HEAD on
a GET route with 405 (vLLM, SGLang), so a HEAD probe would mark their origins down.

A slot at 0% has its origin disabled (Front Door weights start at 1). Weights apply to new requests;
session affinity is off, since it would override them. Each load balancer passes TCP from Front
Door to its scale set (probe on the engine's health path, outbound through the NAT gateway, not the
load balancer). Front Door waits at most 240 s for an origin's response (its limit), so longer
request timeouts are cut to that.

Clients reach Front Door over HTTPS only (no plain-HTTP listener, no redirect: a key sent over HTTP
would already be exposed). Front Door reaches the origins over HTTP: an origin needs a certificate
for its own name for HTTPS, and Private Link to a VM scale set behind a Standard Load Balancer needs
Premium plus a Private Link Service. The NSG admits only Front Door's back end and the proxy admits
only this profile's `X-Azure-FDID`. A custom domain serves once its `_dnsauth` TXT record and its
CNAME to the endpoint exist: `dns_records` lists them.

Each slot also has its own address: a request carrying the slot header (`X-LLMDeploy-Slot: <slot>`,
llmdeploy.plan.routes.SLOT_HEADER) goes to that slot's origin alone, at any weight (0 included).
Front Door has no header match on a route, so the model's route carries a rule set whose rule per
slot matches the header (request_header, Equal) and overrides the route's origin group with the
slot's own: one more origin group per slot holding one enabled origin, the slot's load balancer
(an origin belongs to one origin group), probed like the model's group. The override disables
caching (the route caches nothing either). Requests without the header match no rule. The key and
`X-Azure-FDID` are still checked by the replica's proxy; a client naming a slot pins only its own
requests. Front Door Standard limits (per profile): 100 origin groups, 100 rule sets, 100 rules per
rule set (learn.microsoft.com/azure/frontdoor/front-door-routing-limits, "Azure Front Door
Standard and Premium service limits"), so a model with two slots takes three origin groups.

With a router group (`routing.enabled`), each model's origin group gets one more origin, the
routers' own public load balancer, at priority 1, and the fleets' origins move to priority 2:
Front Door sends to the lowest priority whose origins pass its health probes, so the fleets'
direct path serves only while every router fails them (docs/routing.md). The slots' own origin
groups reach the fleets directly, not through the routers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Protocol

from cdktn_provider_azurerm.cdn_frontdoor_custom_domain import (
    CdnFrontdoorCustomDomain,
    CdnFrontdoorCustomDomainTls,
)
from cdktn_provider_azurerm.cdn_frontdoor_endpoint import CdnFrontdoorEndpoint
from cdktn_provider_azurerm.cdn_frontdoor_origin import CdnFrontdoorOrigin
from cdktn_provider_azurerm.cdn_frontdoor_origin_group import (
    CdnFrontdoorOriginGroup,
    CdnFrontdoorOriginGroupHealthProbe,
    CdnFrontdoorOriginGroupLoadBalancing,
)
from cdktn_provider_azurerm.cdn_frontdoor_profile import CdnFrontdoorProfile
from cdktn_provider_azurerm.cdn_frontdoor_route import CdnFrontdoorRoute
from cdktn_provider_azurerm.cdn_frontdoor_rule import (
    CdnFrontdoorRule,
    CdnFrontdoorRuleActions,
    CdnFrontdoorRuleActionsRouteConfigurationOverride,
    CdnFrontdoorRuleActionsRouteConfigurationOverrideCaching,
    CdnFrontdoorRuleActionsRouteConfigurationOverrideOriginGroup,
    CdnFrontdoorRuleConditions,
    CdnFrontdoorRuleConditionsRequestHeader,
)
from cdktn_provider_azurerm.cdn_frontdoor_rule_set import CdnFrontdoorRuleSet
from cdktn_provider_azurerm.cdn_frontdoor_security_policy import (
    CdnFrontdoorSecurityPolicy,
    CdnFrontdoorSecurityPolicySecurityPolicies,
    CdnFrontdoorSecurityPolicySecurityPoliciesFirewall,
    CdnFrontdoorSecurityPolicySecurityPoliciesFirewallAssociation,
    CdnFrontdoorSecurityPolicySecurityPoliciesFirewallAssociationDomain,
)
from cdktn_provider_azurerm.lb import Lb, LbFrontendIpConfiguration
from cdktn_provider_azurerm.lb_backend_address_pool import LbBackendAddressPool
from cdktn_provider_azurerm.lb_probe import LbProbe
from cdktn_provider_azurerm.lb_rule import LbRule
from constructs import Construct

from llmdeploy.clouds.azure.resolve import (
    DIRECT_PRIORITY,
    HTTP_PORT,
    ROUTER_PRIORITY,
    ROUTER_WEIGHT,
    AzurePlan,
    AzureProbe,
    AzureRoute,
)
from llmdeploy.plan.routes import SLOT_HEADER, SLOT_ORDER
from modules.azure.access import FRONT_DOOR_SKU
from modules.azure.network import public_address

#: Where clients reach Front Door: HTTPS only.
CLIENT_PROTOCOLS = ["Https"]
#: Origins within this much latency of the fastest share traffic by weight (Front Door: 0-1000 ms):
#: the whole band, so that the configured weights, not latency, decide between slots.
LATENCY_BAND_MS = 1000
_FRONTEND = "public"
#: The one origin of a slot's own origin group: any weight sends it everything (Front Door: 1-1000).
SLOT_ORIGIN_WEIGHT = 1000
#: Construct ID of the routers' origin in each model's origin group (fleet origins are the slots).
ROUTERS_ORIGIN_ID = "routers"


class OriginTarget(Protocol):
    """What a public load balancer in front of a scale set needs: a fleet's or the routers'."""

    @property
    def name(self) -> str: ...
    @property
    def scale_set(self) -> str: ...
    @property
    def origin_address(self) -> str: ...
    @property
    def location(self) -> str: ...
    @property
    def zones(self) -> tuple[str, ...]: ...
    @property
    def tags(self) -> Mapping[str, str]: ...
    @property
    def health(self) -> AzureProbe: ...
    @property
    def idle_timeout_minutes(self) -> int: ...


class LoadBalancer(Construct):
    """Front Door and the per-fleet load balancers behind it.

    Attributes:
        backend_pools: the load balancer backend pool of each fleet, by fleet name.
        router_pool: the routers' load balancer backend pool (None without a router group).
        origin_hosts: the public address Front Door reaches each fleet at, by fleet name.
        profile_id: the Front Door profile (its metrics drive request-based autoscaling).
        profile_guid: the profile's `resource_guid`, which Front Door sends as `X-Azure-FDID`.
        dns_records: per custom domain, the TXT and CNAME records that validate and serve it.
        endpoint_host: Front Door's host name.
        endpoints: the URL of each model, by model name.
    """

    _PROFILE_ID = "FrontDoor"
    _ENDPOINT_ID = "Endpoint"
    _SECURITY_POLICY_ID = "ClientPolicy"

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        plan: AzurePlan,
        resource_group: str,
        firewall_policy_id: str,
    ) -> None:
        super().__init__(scope, id)
        name, tags = plan.name, dict(plan.tags)
        origins = {fleet.name: _Origin(self, fleet, resource_group=resource_group) for fleet in plan.fleets}
        self.backend_pools = {fleet: origin.pool_id for fleet, origin in origins.items()}
        routers = _Origin(self, plan.routers, resource_group=resource_group) if plan.routers else None
        self.router_pool = routers.pool_id if routers is not None else None
        self.origin_hosts = {fleet: origin.host for fleet, origin in origins.items()}
        profile = CdnFrontdoorProfile(
            self,
            self._PROFILE_ID,
            name=name,
            resource_group_name=resource_group,
            sku_name=FRONT_DOOR_SKU,
            response_timeout_seconds=plan.response_timeout_s,
            tags=tags,
        )
        endpoint = CdnFrontdoorEndpoint(
            self, self._ENDPOINT_ID, name=name, cdn_frontdoor_profile_id=profile.id, tags=tags
        )
        domains = _Domains(self, plan, profile.id)
        for route in plan.routes:
            _Route(
                self,
                route,
                plan=plan,
                profile_id=profile.id,
                endpoint_id=endpoint.id,
                origins=origins,
                routers=routers,
                domain_ids=domains.for_route(route),
            )
        CdnFrontdoorSecurityPolicy(
            self,
            self._SECURITY_POLICY_ID,
            name=plan.security_policy,
            cdn_frontdoor_profile_id=profile.id,
            security_policies=CdnFrontdoorSecurityPolicySecurityPolicies(
                firewall=CdnFrontdoorSecurityPolicySecurityPoliciesFirewall(
                    cdn_frontdoor_firewall_policy_id=firewall_policy_id,
                    association=CdnFrontdoorSecurityPolicySecurityPoliciesFirewallAssociation(
                        patterns_to_match=["/*"],
                        domain=[
                            CdnFrontdoorSecurityPolicySecurityPoliciesFirewallAssociationDomain(
                                cdn_frontdoor_domain_id=domain
                            )
                            for domain in [endpoint.id, *domains.ids]
                        ],
                    ),
                )
            ),
        )
        self.profile_id: str = profile.id
        self.profile_guid: str = profile.resource_guid
        self.dns_records = domains.records(endpoint.host_name)
        self.endpoint_host: str = endpoint.host_name
        self.endpoints = {route.model: route.endpoint_url(endpoint.host_name) for route in plan.routes}


class _Origin(Construct):
    """One fleet's (or the routers') public Standard Load Balancer: Front Door's origin for it."""

    _ADDRESS_ID = "OriginAddress"
    _LB_ID = "LoadBalancer"
    _POOL_ID = "Pool"
    _PROBE_ID = "Probe"
    _RULE_ID = "Rule"

    def __init__(self, scope: Construct, fleet: OriginTarget, *, resource_group: str) -> None:
        super().__init__(scope, fleet.name)
        name, tags = fleet.scale_set, dict(fleet.tags)
        address = public_address(
            self,
            self._ADDRESS_ID,
            fleet.origin_address,
            location=fleet.location,
            resource_group=resource_group,
            tags=tags,
            zones=list(fleet.zones),
        )
        lb = Lb(
            self,
            self._LB_ID,
            name=name,
            sku="Standard",
            tags=tags,
            frontend_ip_configuration=[
                LbFrontendIpConfiguration(name=_FRONTEND, public_ip_address_id=address.id)
            ],
            location=fleet.location,
            resource_group_name=resource_group,
        )
        pool = LbBackendAddressPool(self, self._POOL_ID, name=name, loadbalancer_id=lb.id)
        health = fleet.health
        probe = LbProbe(
            self,
            self._PROBE_ID,
            name="engine",
            loadbalancer_id=lb.id,
            protocol="Http",
            port=health.port,
            request_path=health.path,
            interval_in_seconds=health.interval_s,
            probe_threshold=health.unhealthy_threshold,
        )
        LbRule(
            self,
            self._RULE_ID,
            name="http",
            loadbalancer_id=lb.id,
            protocol="Tcp",
            frontend_port=HTTP_PORT,
            backend_port=health.port,
            frontend_ip_configuration_name=_FRONTEND,
            backend_address_pool_ids=[pool.id],
            probe_id=probe.id,
            idle_timeout_in_minutes=fleet.idle_timeout_minutes,
            tcp_reset_enabled=True,
            # Replicas go out through the subnet's NAT gateway.
            disable_outbound_snat=True,
        )
        self.origin_name = name
        self.pool_id: str = pool.id
        self.host: str = address.ip_address


class _Domains(Construct):
    """Custom domains with Front Door-managed certificates, when `access.tls.domain` is set."""

    def __init__(self, scope: Construct, plan: AzurePlan, profile_id: str) -> None:
        super().__init__(scope, "Domains")
        self.by_host = {
            host: CdnFrontdoorCustomDomain(
                self,
                host,
                name=name,
                cdn_frontdoor_profile_id=profile_id,
                host_name=host,
                tls=CdnFrontdoorCustomDomainTls(
                    certificate_type="ManagedCertificate", minimum_version="TLS12"
                ),
            )
            for host, name in plan.domains
        }

    def records(self, endpoint_host: str) -> dict[str, dict[str, str]]:
        """Per custom domain: the `_dnsauth` TXT record validating it and its CNAME to Front Door."""
        return {
            host: {
                "txt_name": f"_dnsauth.{host}",
                "txt_value": domain.validation_token,
                "cname_name": host,
                "cname_value": endpoint_host,
            }
            for host, domain in self.by_host.items()
        }

    @property
    def ids(self) -> list[str]:
        return [domain.id for domain in self.by_host.values()]

    def for_route(self, route: AzureRoute) -> list[str]:
        return [self.by_host[host].id for host in (route.domain,) if host is not None]


class _Route(Construct):
    """One model's origin group (its slots' weighted origins), its route, and each slot's address."""

    _GROUP_ID = "OriginGroup"
    _ROUTE_ID = "Route"
    RULE_SET_ID = "SlotRules"
    #: Per slot, suffixed `-<slot>`: its own origin group, its origin there, and its rule.
    SLOT_GROUP_ID = "SlotGroup"
    SLOT_ORIGIN_ID = "SlotOrigin"
    SLOT_RULE_ID = "SlotRule"

    def __init__(
        self,
        scope: Construct,
        route: AzureRoute,
        *,
        plan: AzurePlan,
        profile_id: str,
        endpoint_id: str,
        origins: dict[str, _Origin],
        routers: _Origin | None,
        domain_ids: list[str],
    ) -> None:
        super().__init__(scope, route.model)
        group = _origin_group(self, self._GROUP_ID, route.model, route, profile_id)
        origin_ids = [
            CdnFrontdoorOrigin(
                self,
                fleet.slot,
                name=fleet.scale_set,
                cdn_frontdoor_origin_group_id=group.id,
                host_name=origins[fleet.name].host,
                http_port=HTTP_PORT,
                certificate_name_check_enabled=False,
                enabled=fleet.origin_enabled,
                weight=fleet.origin_weight,
                priority=DIRECT_PRIORITY if routers is not None else 1,
            ).id
            for fleet in map(plan.fleet, route.fleets)
        ]
        if routers is not None:
            origin_ids.insert(
                0,
                CdnFrontdoorOrigin(
                    self,
                    ROUTERS_ORIGIN_ID,
                    name=routers.origin_name,
                    cdn_frontdoor_origin_group_id=group.id,
                    host_name=routers.host,
                    http_port=HTTP_PORT,
                    certificate_name_check_enabled=False,
                    enabled=True,
                    weight=ROUTER_WEIGHT,
                    priority=ROUTER_PRIORITY,
                ).id,
            )
        rule_set = CdnFrontdoorRuleSet(
            self, self.RULE_SET_ID, name=slot_rule_set_name(route.model), cdn_frontdoor_profile_id=profile_id
        )
        for fleet in map(plan.fleet, route.fleets):
            self._slot_address(route, fleet.slot, origins[fleet.name], fleet.scale_set, profile_id, rule_set)
        CdnFrontdoorRoute(
            self,
            self._ROUTE_ID,
            name=route.model,
            cdn_frontdoor_rule_set_ids=[rule_set.id],
            cdn_frontdoor_endpoint_id=endpoint_id,
            cdn_frontdoor_origin_group_id=group.id,
            cdn_frontdoor_origin_ids=origin_ids,
            cdn_frontdoor_custom_domain_ids=domain_ids or None,
            link_to_default_domain=not route.host_routing,
            patterns_to_match=list(route.patterns),
            supported_protocols=CLIENT_PROTOCOLS,
            # The provider allows a redirect only with both protocols (cdn_frontdoor_route_resource.go).
            https_redirect_enabled=False,
            # TLS ends at Front Door: the origins have no certificate (see the module docstring).
            forwarding_protocol="HttpOnly",
        )

    def _slot_address(
        self,
        route: AzureRoute,
        slot: str,
        origin: _Origin,
        origin_name: str,
        profile_id: str,
        rule_set: CdnFrontdoorRuleSet,
    ) -> None:
        """The slot's own origin group (its origin alone, always enabled) and the rule sending the
        requests that name the slot there."""
        group = _origin_group(
            self, f"{self.SLOT_GROUP_ID}-{slot}", f"{route.model}--{slot}", route, profile_id
        )
        only = CdnFrontdoorOrigin(
            self,
            f"{self.SLOT_ORIGIN_ID}-{slot}",
            name=origin_name,
            cdn_frontdoor_origin_group_id=group.id,
            host_name=origin.host,
            http_port=HTTP_PORT,
            certificate_name_check_enabled=False,
            enabled=True,
            weight=SLOT_ORIGIN_WEIGHT,
            priority=1,
        )
        CdnFrontdoorRule(
            self,
            f"{self.SLOT_RULE_ID}-{slot}",
            name=slot,
            cdn_frontdoor_rule_set_id=rule_set.id,
            order=1 + SLOT_ORDER[slot],
            behaviour_on_match="Stop",
            conditions=CdnFrontdoorRuleConditions(
                request_header=[
                    CdnFrontdoorRuleConditionsRequestHeader(name=SLOT_HEADER, operator="Equal", values=[slot])
                ]
            ),
            actions=CdnFrontdoorRuleActions(
                route_configuration_override=CdnFrontdoorRuleActionsRouteConfigurationOverride(
                    origin_group=CdnFrontdoorRuleActionsRouteConfigurationOverrideOriginGroup(
                        cdn_frontdoor_origin_group_id=group.id, forwarding_protocol="HttpOnly"
                    ),
                    # "Disabled": no cache configuration (provider's PossibleValuesForRuleCacheBehavior).
                    caching=CdnFrontdoorRuleActionsRouteConfigurationOverrideCaching(behaviour="Disabled"),
                )
            ),
            # As the provider's examples do: the rule names the group, which needs its origin first.
            depends_on=[group, only],
        )


def slot_rule_set_name(model: str) -> str:
    """A rule set name Front Door accepts (a letter, then letters and digits, at most 60), unique per
    model: model names have hyphens, so a digest of the name stands in for it."""
    return "slots" + hashlib.sha256(model.encode()).hexdigest()[:16]


def _origin_group(
    scope: Construct, id: str, name: str, route: AzureRoute, profile_id: str
) -> CdnFrontdoorOriginGroup:
    """A model's origin group: GET probes on the engine's health path, the whole latency band."""
    return CdnFrontdoorOriginGroup(
        scope,
        id,
        name=name,
        cdn_frontdoor_profile_id=profile_id,
        session_affinity_enabled=False,
        load_balancing=CdnFrontdoorOriginGroupLoadBalancing(
            additional_latency_in_milliseconds=LATENCY_BAND_MS
        ),
        health_probe=CdnFrontdoorOriginGroupHealthProbe(
            protocol="Http",
            request_type="GET",
            path=route.probe_path,
            interval_in_seconds=route.probe_interval_s,
        ),
    )
