"""The global external Application Load Balancer (EXTERNAL_MANAGED): one backend service per fleet.

Each model gets a route (path prefix `/<model>/` or host `<model>.<domain>`, per `access.routing`)
that splits its requests over its slots' backend services by the slots' weights (URL map
`weighted_backend_services`; weights apply to new requests, and no session affinity is set, which
would override them). A slot at weight 0 is left out of the split (the provider drops a zero weight
from the request). The split is static: a slot without healthy VMs keeps its share, which then
fails; its healthy-replicas and 5xx alerts fire and `llmdeploy release rollback` moves the weight.
Each slot also has its own address: a request carrying the slot header (`X-LLMDeploy-Slot: <slot>`,
llmdeploy.plan.routes.SLOT_HEADER, an exact match) goes to that slot's backend service alone, at any
weight (0 included), by a route rule evaluated before the model's weighted route. A path matcher
holds either path rules or route rules, not both (Compute API `PathMatcher.routeRules`: "Use this
list instead of pathRules"), so path routing is written as route rules: per model, its slots' rules
and then its weighted prefix rule, priorities unique within the matcher. The API key is still
checked by the replica's proxy; a client pinning a slot pins only its own requests. Behind a
router group the slot's backend service sends to the routers, whose gate honours the header too.
Unknown routes get 404 from a fault-injection abort on a backend service without backends (a URL map
has no fixed response), so they count in no fleet's metrics or promotion gate.

HTTPS with a Google-managed certificate when a domain is configured (HTTP then only redirects),
otherwise HTTP. The certificate's name ends in a hash of its domains and it is created before its
predecessor is destroyed: its domains are ForceNew, and a target proxy still using the old one
refuses its deletion. It becomes ACTIVE once the domains resolve to the address: the stack outputs
the DNS records to create (`dns_records`).

Backend services wait the request timeout (streams included), drain a leaving VM for at least that
long, and pick replicas by the configured algorithm (LEAST_REQUEST or ROUND_ROBIN). A VM that
answers 502/503/504 several times in a row (a draining proxy answers 503) is ejected for a while
(outlier detection), and a request that failed before any response byte reached the client (no
connection, a refused stream, a 502/503/504 from a VM) is retried on another VM by the route's
retry policy. They log a sample of requests: every request of an LLM service bills more than it tells.

With `routing.enabled`, every backend service also holds the router group (modules/gcp/router_group.py)
as a PREFERRED backend and its GPU groups as DEFAULT ones: requests go to the routers while they pass
the health check, and straight to the replicas when they do not. The routers re-split each model's
requests over its slots by the same weights, so the URL map's split matters only on that direct path
(and the slot header reaches its slot alone only once the routers honour it too: see
llmdeploy.smoke.targets.slot_address).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cdktn_provider_google.compute_backend_service import (
    ComputeBackendService,
    ComputeBackendServiceBackend,
    ComputeBackendServiceLogConfig,
    ComputeBackendServiceOutlierDetection,
    ComputeBackendServiceOutlierDetectionBaseEjectionTime,
    ComputeBackendServiceOutlierDetectionInterval,
)
from cdktn_provider_google.compute_global_address import ComputeGlobalAddress
from cdktn_provider_google.compute_global_forwarding_rule import ComputeGlobalForwardingRule
from cdktn_provider_google.compute_managed_ssl_certificate import (
    ComputeManagedSslCertificate,
    ComputeManagedSslCertificateManaged,
)
from cdktn_provider_google.compute_ssl_policy import ComputeSslPolicy
from cdktn_provider_google.compute_target_http_proxy import ComputeTargetHttpProxy
from cdktn_provider_google.compute_target_https_proxy import ComputeTargetHttpsProxy
from cdktn_provider_google.compute_url_map import (
    ComputeUrlMap,
    ComputeUrlMapDefaultRouteAction,
    ComputeUrlMapDefaultRouteActionFaultInjectionPolicy,
    ComputeUrlMapDefaultRouteActionFaultInjectionPolicyAbort,
    ComputeUrlMapDefaultRouteActionWeightedBackendServices,
    ComputeUrlMapDefaultUrlRedirect,
    ComputeUrlMapHostRule,
    ComputeUrlMapPathMatcher,
    ComputeUrlMapPathMatcherDefaultRouteAction,
    ComputeUrlMapPathMatcherDefaultRouteActionFaultInjectionPolicy,
    ComputeUrlMapPathMatcherDefaultRouteActionFaultInjectionPolicyAbort,
    ComputeUrlMapPathMatcherDefaultRouteActionRetryPolicy,
    ComputeUrlMapPathMatcherDefaultRouteActionWeightedBackendServices,
    ComputeUrlMapPathMatcherRouteRules,
    ComputeUrlMapPathMatcherRouteRulesMatchRules,
    ComputeUrlMapPathMatcherRouteRulesMatchRulesHeaderMatches,
    ComputeUrlMapPathMatcherRouteRulesRouteAction,
    ComputeUrlMapPathMatcherRouteRulesRouteActionRetryPolicy,
    ComputeUrlMapPathMatcherRouteRulesRouteActionWeightedBackendServices,
)
from constructs import Construct

from llmdeploy.clouds.gcp.resolve import GcpFleet, GcpPlan, GcpRoute
from llmdeploy.plan.routes import SLOT_HEADER, SLOT_ORDER
from modules.gcp.access import Access
from modules.gcp.gpu_fleet import PORT_NAME, REPLACE_SAFELY, GpuFleet
from modules.gcp.router_group import RouterGroup

HTTP_PORT = 80
HTTPS_PORT = 443
SCHEME = "EXTERNAL_MANAGED"
_NOT_FOUND = 404
_PATH_MATCHER = "models"
_DNS_TTL_S = 300
#: Retried only when nothing reached the client yet (the global external ALB runs Envoy, which
#: retries before it forwards a response; retries are one of its traffic-management features,
#: https://cloud.google.com/load-balancing/docs/https/traffic-management-global): no connection,
#: a refused stream, or 502/503/504 from the VM's proxy (503: draining; 502: its engine is down).
#: Conditions: the provider's `retry_conditions` (Compute API HttpRetryPolicy).
RETRY_CONDITIONS = ["connect-failure", "refused-stream", "gateway-error"]
RETRIES = 2
#: Outlier detection: 3 gateway failures in a row eject a VM for 30 s (ejection only on gateway
#: failures: the provider defaults enforcing_consecutive_gateway_failure to 0 and
#: enforcing_consecutive_errors to 100, which would eject a VM for a client's bad request answered 500).
OUTLIER_GATEWAY_FAILURES = 3
OUTLIER_INTERVAL_S = 10
OUTLIER_EJECTION_S = 30
OUTLIER_MAX_EJECTED_PERCENT = 50
#: Share of requests the backend services log.
REQUEST_LOG_SAMPLE_RATE = 0.1
#: Route rule priorities per model (path routing): its slots' rules, then its weighted rule.
PRIORITY_STEP = 10


class LoadBalancer(Construct):
    """The load balancer in front of every model's fleets.

    Attributes:
        backend_services: the backend service name of each fleet, by fleet name.
        url_map_id: the URL map carrying the weighted routes.
        address: the load balancer's IP address.
        endpoints: the URL of each model, by model name.
    """

    _ADDRESS_ID = "Address"
    _URL_MAP_ID = "UrlMap"
    _CERTIFICATE_ID = "Certificate"
    _TLS_POLICY_ID = "TlsPolicy"
    _PROXY_ID = "Proxy"
    _RULE_ID = "ForwardingRule"
    _REDIRECT_MAP_ID = "HttpRedirect"
    _REDIRECT_PROXY_ID = "HttpRedirectProxy"
    _REDIRECT_RULE_ID = "HttpRedirectRule"
    _NOT_FOUND_ID = "NotFound"

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        gcp: GcpPlan,
        fleets: Mapping[str, GpuFleet],
        access: Access,
        routers: RouterGroup | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.gcp = gcp
        name = gcp.name
        ids = {
            fleet.name: _backend_service(
                self, fleet, fleets[fleet.name], access.security_policy_id, routers
            ).id
            for fleet in gcp.fleets
        }
        self.backend_services = {fleet.name: fleet.service for fleet in gcp.fleets}
        self.not_found = ComputeBackendService(
            self,
            self._NOT_FOUND_ID,
            name=f"{name}-not-found",
            description=f"llmdeploy {name}: unknown routes (aborted with 404, never reaches a backend)",
            load_balancing_scheme=SCHEME,
            protocol="HTTP",
            security_policy=access.security_policy_id,
            log_config=ComputeBackendServiceLogConfig(enable=True, sample_rate=REQUEST_LOG_SAMPLE_RATE),
        ).id
        url_map = ComputeUrlMap(
            self,
            self._URL_MAP_ID,
            name=name,
            description=f"llmdeploy {name}: weighted routes per model",
            default_route_action=_not_found(self.not_found),
            **self._routes(ids),
        )
        address = ComputeGlobalAddress(
            self, self._ADDRESS_ID, name=name, ip_version="IPV4", address_type="EXTERNAL", labels=gcp.labels
        )
        self._frontend(url_map, address)
        self.url_map_id: str = url_map.id
        self.address: str = address.address
        self.endpoints = {route.model: route.endpoint(address.address) for route in gcp.routes}
        self.dns_records = [
            {"name": f"{host}.", "type": "A", "ttl": _DNS_TTL_S, "rrdatas": [address.address]}
            for host in gcp.hosts
        ]

    def _routes(self, ids: Mapping[str, str]) -> dict[str, Any]:
        """Host rules and path matchers: one matcher per model host, or one with route rules per model."""
        routes = self.gcp.routes
        if self.gcp.routing == "host":
            return {
                "host_rule": [
                    ComputeUrlMapHostRule(hosts=[str(route.host)], path_matcher=route.model)
                    for route in routes
                ],
                "path_matcher": [
                    ComputeUrlMapPathMatcher(
                        name=route.model,
                        default_route_action=ComputeUrlMapPathMatcherDefaultRouteAction(
                            weighted_backend_services=[
                                ComputeUrlMapPathMatcherDefaultRouteActionWeightedBackendServices(
                                    backend_service=ids[fleet], weight=weight
                                )
                                for fleet, weight in route.split
                            ],
                            retry_policy=ComputeUrlMapPathMatcherDefaultRouteActionRetryPolicy(
                                num_retries=RETRIES, retry_conditions=RETRY_CONDITIONS
                            ),
                        ),
                        route_rules=self._slot_rules(route, ids, "/", first_priority=1),
                    )
                    for route in routes
                ],
            }
        return {
            "host_rule": [ComputeUrlMapHostRule(hosts=["*"], path_matcher=_PATH_MATCHER)],
            "path_matcher": [
                ComputeUrlMapPathMatcher(
                    name=_PATH_MATCHER,
                    default_route_action=_matcher_not_found(self.not_found),
                    route_rules=[
                        rule
                        for index, route in enumerate(routes)
                        for rule in self._model_rules(route, ids, index * PRIORITY_STEP + 1)
                    ],
                )
            ],
        }

    def _model_rules(
        self, route: GcpRoute, ids: Mapping[str, str], first_priority: int
    ) -> list[ComputeUrlMapPathMatcherRouteRules]:
        """Path routing: the model's slot rules, then its weighted rule on its prefix."""
        prefix = route.path_prefix
        return [
            *self._slot_rules(route, ids, prefix, first_priority),
            ComputeUrlMapPathMatcherRouteRules(
                priority=first_priority + len(SLOT_ORDER),
                match_rules=[ComputeUrlMapPathMatcherRouteRulesMatchRules(prefix_match=prefix)],
                route_action=_weighted_action([(ids[fleet], weight) for fleet, weight in route.split]),
            ),
        ]

    def _slot_rules(
        self, route: GcpRoute, ids: Mapping[str, str], prefix: str, first_priority: int
    ) -> list[ComputeUrlMapPathMatcherRouteRules]:
        """One rule per slot of the model: the slot header naming it sends to its backend service alone."""
        return [
            ComputeUrlMapPathMatcherRouteRules(
                priority=first_priority + SLOT_ORDER[fleet.slot],
                match_rules=[
                    ComputeUrlMapPathMatcherRouteRulesMatchRules(
                        prefix_match=prefix,
                        header_matches=[
                            ComputeUrlMapPathMatcherRouteRulesMatchRulesHeaderMatches(
                                header_name=SLOT_HEADER, exact_match=fleet.slot
                            )
                        ],
                    )
                ],
                route_action=_weighted_action([(ids[fleet.name], 100)]),
            )
            for fleet in self.gcp.fleets
            if fleet.model == route.model
        ]

    def _frontend(self, url_map: ComputeUrlMap, address: ComputeGlobalAddress) -> None:
        name, labels = self.gcp.name, self.gcp.labels
        if self.gcp.certificate is None:
            http = ComputeTargetHttpProxy(self, self._PROXY_ID, name=name, url_map=url_map.id)
            self._forwarding_rule(self._RULE_ID, name, http.id, address, HTTP_PORT, labels)
            return
        certificate = ComputeManagedSslCertificate(
            self,
            self._CERTIFICATE_ID,
            name=self.gcp.certificate,
            type="MANAGED",
            managed=ComputeManagedSslCertificateManaged(domains=list(self.gcp.hosts)),
            lifecycle=REPLACE_SAFELY,
        )
        tls_policy = ComputeSslPolicy(
            self, self._TLS_POLICY_ID, name=name, profile="MODERN", min_tls_version="TLS_1_2"
        )
        proxy = ComputeTargetHttpsProxy(
            self,
            self._PROXY_ID,
            name=name,
            url_map=url_map.id,
            ssl_certificates=[certificate.id],
            ssl_policy=tls_policy.id,
        )
        self._forwarding_rule(self._RULE_ID, name, proxy.id, address, HTTPS_PORT, labels)
        redirect = ComputeUrlMap(
            self,
            self._REDIRECT_MAP_ID,
            name=f"{name}-redirect",
            description=f"llmdeploy {name}: HTTP to HTTPS",
            default_url_redirect=ComputeUrlMapDefaultUrlRedirect(
                https_redirect=True, strip_query=False, redirect_response_code="MOVED_PERMANENTLY_DEFAULT"
            ),
        )
        redirect_proxy = ComputeTargetHttpProxy(
            self, self._REDIRECT_PROXY_ID, name=f"{name}-redirect", url_map=redirect.id
        )
        self._forwarding_rule(
            self._REDIRECT_RULE_ID, f"{name}-redirect", redirect_proxy.id, address, HTTP_PORT, labels
        )

    def _forwarding_rule(
        self,
        construct_id: str,
        name: str,
        target: str,
        address: ComputeGlobalAddress,
        port: int,
        labels: dict[str, str],
    ) -> None:
        ComputeGlobalForwardingRule(
            self,
            construct_id,
            name=name,
            target=target,
            ip_address=address.id,
            ip_protocol="TCP",
            port_range=str(port),
            load_balancing_scheme=SCHEME,
            labels=labels,
        )


class _Slot(Construct):
    """Scope of one fleet's backend service, so its address carries the fleet's name."""

    BACKEND_SERVICE_ID = "BackendService"


def _backend_service(
    scope: Construct, fleet: GcpFleet, group: GpuFleet, security_policy_id: str, routers: RouterGroup | None
) -> ComputeBackendService:
    backend = fleet.backend
    return ComputeBackendService(
        _Slot(scope, fleet.name),
        _Slot.BACKEND_SERVICE_ID,
        name=fleet.service,
        description=backend.description,
        load_balancing_scheme=SCHEME,
        protocol="HTTP",
        port_name=PORT_NAME,
        timeout_sec=backend.timeout_s,
        connection_draining_timeout_sec=backend.draining_timeout_s,
        locality_lb_policy=backend.locality_policy,
        health_checks=[group.health_check_id],
        security_policy=security_policy_id,
        log_config=ComputeBackendServiceLogConfig(enable=True, sample_rate=REQUEST_LOG_SAMPLE_RATE),
        outlier_detection=ComputeBackendServiceOutlierDetection(
            consecutive_gateway_failure=OUTLIER_GATEWAY_FAILURES,
            enforcing_consecutive_gateway_failure=100,
            enforcing_consecutive_errors=0,
            enforcing_success_rate=0,
            interval=ComputeBackendServiceOutlierDetectionInterval(seconds=OUTLIER_INTERVAL_S),
            base_ejection_time=ComputeBackendServiceOutlierDetectionBaseEjectionTime(
                seconds=OUTLIER_EJECTION_S
            ),
            max_ejection_percent=OUTLIER_MAX_EJECTED_PERCENT,
        ),
        lifecycle=REPLACE_SAFELY,
        backend=[
            *(
                ComputeBackendServiceBackend(
                    group=instance_group,
                    balancing_mode=backend.balancing_mode,
                    max_rate_per_instance=backend.max_rate_per_instance,
                    capacity_scaler=1.0,
                    preference=backend.preference,
                )
                for instance_group in group.instance_groups
            ),
            *([] if routers is None else [_router_backend(routers)]),
        ],
    )


def _router_backend(routers: RouterGroup) -> ComputeBackendServiceBackend:
    """The router group as a PREFERRED backend: "filled up to their capacity limits first", the GPU
    groups (DEFAULT) only take what exceeds it or what the routers cannot serve (compute API
    `Backend.preference`; the provider refuses it only with the EXTERNAL scheme, ours is
    EXTERNAL_MANAGED). No service LB policy is attached: the provider's acceptance test
    TestAccComputeBackendService_withBackendAndPreferenceExternalManaged sets `preference` on an
    EXTERNAL_MANAGED backend service without one, and `google_network_services_service_lb_policies`
    exists only in the google-beta provider ("This resource is in beta"), which this stack does not use.

    RATE with a capacity far above the routers' load (resolve.ROUTER_MAX_RATE_PER_INSTANCE): RATE is
    an HTTP balancing mode for instance groups (the provider's `balancing_mode`: "RATE (for HTTP(S))",
    which needs `max_rate_per_instance`), and one mode in every backend service the group joins, since
    backends sharing an instance group must use compatible balancing modes.
    """
    return ComputeBackendServiceBackend(
        group=routers.instance_group,
        balancing_mode="RATE",
        max_rate_per_instance=routers.router.max_rate_per_instance,
        capacity_scaler=1.0,
        preference="PREFERRED",
    )


def _weighted_action(split: list[tuple[str, int]]) -> ComputeUrlMapPathMatcherRouteRulesRouteAction:
    """To the backend services by weight, retried as every model route is."""
    return ComputeUrlMapPathMatcherRouteRulesRouteAction(
        weighted_backend_services=[
            ComputeUrlMapPathMatcherRouteRulesRouteActionWeightedBackendServices(
                backend_service=service, weight=weight
            )
            for service, weight in split
        ],
        retry_policy=ComputeUrlMapPathMatcherRouteRulesRouteActionRetryPolicy(
            num_retries=RETRIES, retry_conditions=RETRY_CONDITIONS
        ),
    )


def _not_found(service_id: str) -> ComputeUrlMapDefaultRouteAction:
    """A route that answers 404 (a URL map route needs a backend, which the abort never reaches)."""
    return ComputeUrlMapDefaultRouteAction(
        weighted_backend_services=[
            ComputeUrlMapDefaultRouteActionWeightedBackendServices(backend_service=service_id, weight=100)
        ],
        fault_injection_policy=ComputeUrlMapDefaultRouteActionFaultInjectionPolicy(
            abort=ComputeUrlMapDefaultRouteActionFaultInjectionPolicyAbort(
                http_status=_NOT_FOUND, percentage=100
            )
        ),
    )


def _matcher_not_found(service_id: str) -> ComputeUrlMapPathMatcherDefaultRouteAction:
    return ComputeUrlMapPathMatcherDefaultRouteAction(
        weighted_backend_services=[
            ComputeUrlMapPathMatcherDefaultRouteActionWeightedBackendServices(
                backend_service=service_id, weight=100
            )
        ],
        fault_injection_policy=ComputeUrlMapPathMatcherDefaultRouteActionFaultInjectionPolicy(
            abort=ComputeUrlMapPathMatcherDefaultRouteActionFaultInjectionPolicyAbort(
                http_status=_NOT_FOUND, percentage=100
            )
        ),
    )
