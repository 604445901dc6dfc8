"""The global external Application Load Balancer: backend services, weighted routes, front end."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmdeploy.clouds.gcp import names
from llmdeploy.clouds.gcp.resolve import resolve
from llmdeploy.config.loader import load_environment
from llmdeploy.plan.build import build_plan
from llmdeploy.plan.routes import SLOT_HEADER
from modules.gcp.load_balancer import RETRY_CONDITIONS
from tests.fixtures_synth import Stack
from tests.release.environments import THREE_CLOUDS

pytestmark = pytest.mark.synth

NOT_FOUND = {"abort": {"http_status": 404, "percentage": 100}}


def _service_ref(stack: Stack, fleet: str) -> str:
    return (
        f"${{{stack.address('google_compute_backend_service', f'LoadBalancer/{fleet}/BackendService')}.id}}"
    )


def test_backend_service_per_fleet_suits_streaming(gcp_stacks: dict[str, Stack]) -> None:
    for stack in gcp_stacks.values():
        for fleet in stack.plan.fleets_on("gcp"):
            service = stack.at("google_compute_backend_service", f"{fleet.name}/BackendService")
            assert service["name"] == f"{stack.plan.project}-{stack.plan.env}-{fleet.name}"
            assert service["load_balancing_scheme"] == "EXTERNAL_MANAGED"
            assert (service["protocol"], service["port_name"]) == ("HTTP", "http")
            assert service["timeout_sec"] == fleet.traffic.request_timeout_s
            # A leaving VM finishes its longest request (GCP's draining is the only scale-in notice);
            # the API caps draining at 3600 s, as the config caps the request timeout.
            assert service["connection_draining_timeout_sec"] >= fleet.traffic.request_timeout_s
            assert service["connection_draining_timeout_sec"] >= fleet.traffic.deregistration_delay_s
            assert service["connection_draining_timeout_sec"] <= 3600
            # Eject a VM that keeps answering 502/503/504 (a draining proxy answers 503), never for a
            # 500 (the provider enforces consecutive_errors at 100 % and gateway failures at 0 % by default).
            outliers = service["outlier_detection"]
            assert outliers["enforcing_consecutive_gateway_failure"] == 100
            assert outliers["enforcing_consecutive_errors"] == 0
            assert outliers["enforcing_success_rate"] == 0
            assert 0 < outliers["consecutive_gateway_failure"] <= 5
            assert service["log_config"]["sample_rate"] < 1  # every request logged bills more than it tells
            assert service["lifecycle"] == {"create_before_destroy": True}
            assert "session_affinity" not in service  # affinity would override the slot weights
            health = stack.address("google_compute_health_check", f"{fleet.name}/HealthCheck")
            assert service["health_checks"] == [f"${{{health}.id}}"]


def test_locality_policy_follows_the_configured_algorithm(gcp_stacks: dict[str, Stack]) -> None:
    prod = gcp_stacks["prod-gcp"].at("google_compute_backend_service", "translate-fr-blue/BackendService")
    edge = gcp_stacks["edge-gcp"].at("google_compute_backend_service", "coder-blue/BackendService")
    assert (prod["locality_lb_policy"], edge["locality_lb_policy"]) == ("LEAST_REQUEST", "ROUND_ROBIN")


def test_backends_are_the_fleets_groups_with_request_capacity_when_scaling_on_requests(
    gcp_stacks: dict[str, Stack],
) -> None:
    stack = gcp_stacks["prod-gcp"]
    service = stack.at("google_compute_backend_service", "translate-es-blue/BackendService")
    kind = "google_compute_region_instance_group_manager"
    groups = [
        f"${{{stack.address(kind, f'translate-es-blue/{path}')}.instance_group}}"
        for path in ("Group", "OnDemandBase")
    ]
    assert [backend["group"] for backend in service["backend"]] == groups
    for backend in service["backend"]:
        assert (backend["balancing_mode"], backend["max_rate_per_instance"]) == ("RATE", 1)  # 60 per minute
    queue = stack.at("google_compute_backend_service", "translate-fr-blue/BackendService")
    assert {backend["balancing_mode"] for backend in queue["backend"]} == {"UTILIZATION"}


def test_path_routes_split_each_model_by_slot_weight(gcp_stacks: dict[str, Stack]) -> None:
    stack = gcp_stacks["prod-gcp"]
    url_map = stack.at("google_compute_url_map", "LoadBalancer/UrlMap")
    assert url_map["host_rule"] == [{"hosts": ["*"], "path_matcher": "models"}]
    [matcher] = url_map["path_matcher"]
    # Route rules, not path rules: a matcher holds one kind only, and the slot rules need route rules.
    assert "path_rule" not in matcher
    routes = {
        rule["match_rules"][0]["prefix_match"]: rule["route_action"]["weighted_backend_services"]
        for rule in matcher["route_rules"]
        if "header_matches" not in rule["match_rules"][0]
    }
    assert routes == {
        "/translate-fr/": [
            {"backend_service": _service_ref(stack, "translate-fr-blue"), "weight": 95},
            {"backend_service": _service_ref(stack, "translate-fr-green"), "weight": 5},
        ],
        "/translate-es/": [{"backend_service": _service_ref(stack, "translate-es-blue"), "weight": 100}],
    }
    # Unknown routes are answered 404 by a backend service that no fleet's metrics or gates read.
    not_found = stack.at("google_compute_backend_service", "LoadBalancer/NotFound")
    not_found_ref = f"${{{stack.address('google_compute_backend_service', 'LoadBalancer/NotFound')}.id}}"
    assert not_found["name"] == "llmdeploy-demo-prod-not-found"
    assert "backend" not in not_found
    for action in (url_map["default_route_action"], matcher["default_route_action"]):
        assert action["fault_injection_policy"] == NOT_FOUND
        assert action["weighted_backend_services"] == [
            {
                "backend_service": not_found_ref,
                "weight": 100,
            }
        ]
    assert "default_service" not in url_map


def test_routes_retry_only_what_never_reached_the_client(gcp_stacks: dict[str, Stack]) -> None:
    # The ALB retries before forwarding a response: no connection, a refused stream, or a 502/503/504
    # from the VM's proxy (503: draining). Never "5xx" (a 500 may come after the engine worked).
    assert RETRY_CONDITIONS == ["connect-failure", "refused-stream", "gateway-error"]
    prod = gcp_stacks["prod-gcp"].at("google_compute_url_map", "LoadBalancer/UrlMap")
    edge = gcp_stacks["edge-gcp"].at("google_compute_url_map", "LoadBalancer/UrlMap")
    actions = [rule["route_action"] for rule in prod["path_matcher"][0]["route_rules"]] + [
        matcher["default_route_action"] for matcher in edge["path_matcher"]
    ]
    actions += [rule["route_action"] for matcher in edge["path_matcher"] for rule in matcher["route_rules"]]
    # Per model a weighted route, per fleet a slot rule.
    stacks = (gcp_stacks["prod-gcp"], gcp_stacks["edge-gcp"])
    assert len(actions) == sum(len(s.plan.models) + len(s.plan.fleets_on("gcp")) for s in stacks)
    for action in actions:
        assert action["retry_policy"] == {"num_retries": 2, "retry_conditions": RETRY_CONDITIONS}


def test_host_routes_leave_a_zero_weight_slot_out(gcp_stacks: dict[str, Stack]) -> None:
    # The provider drops a zero weight from the request (resource_compute_url_map.go, IsEmptyValue
    # guard), so a 0 % slot is not listed at all.
    stack = gcp_stacks["edge-gcp"]
    url_map = stack.at("google_compute_url_map", "LoadBalancer/UrlMap")
    assert url_map["host_rule"] == [{"hosts": ["coder.llm.example.com"], "path_matcher": "coder"}]
    [matcher] = url_map["path_matcher"]
    assert matcher["default_route_action"]["weighted_backend_services"] == [
        {"backend_service": _service_ref(stack, "coder-blue"), "weight": 100},
    ]
    assert "fault_injection_policy" not in matcher["default_route_action"]


@pytest.fixture(scope="module")
def keyless_gcp(tmp_path_factory: pytest.TempPathFactory) -> Stack:
    """The GCP stack of an internet-facing environment without an API key or a domain: plain HTTP."""
    from stacks.app import build_app  # imports the provider bindings

    root = tmp_path_factory.mktemp("keyless-gcp")
    (root / "open.yaml").write_text(THREE_CLOUDS, encoding="utf-8")
    plan = build_plan(load_environment(root / "open.yaml"))
    build_app([plan], root / "cdktf.out", clouds=["gcp"], project_dir=root).synth()
    folder = root / "cdktf.out" / "stacks" / "open-gcp"
    return Stack(plan, folder, json.loads((folder / "cdk.tf.json").read_text(encoding="utf-8")))


def test_plain_http_front_end_without_a_domain(keyless_gcp: Stack) -> None:
    stack = keyless_gcp
    assert stack.resources("google_compute_target_https_proxy") == {}
    [rule] = stack.resources("google_compute_global_forwarding_rule").values()
    proxy = stack.address("google_compute_target_http_proxy", "LoadBalancer/Proxy")
    address = stack.address("google_compute_global_address", "LoadBalancer/Address")
    assert _rule(rule) == ("80", f"${{{proxy}.id}}", f"${{{address}.id}}")
    assert stack.at("google_compute_target_http_proxy", "LoadBalancer/Proxy")["url_map"] == (
        f"${{{stack.address('google_compute_url_map', 'LoadBalancer/UrlMap')}.id}}"
    )


def test_https_with_a_managed_certificate_and_an_http_redirect(gcp_stacks: dict[str, Stack]) -> None:
    stack = gcp_stacks["edge-gcp"]
    certificate = stack.at("google_compute_managed_ssl_certificate", "LoadBalancer/Certificate")
    assert certificate["managed"] == {"domains": ["coder.llm.example.com"]}
    # Domains are ForceNew and the proxy refuses the old certificate's deletion: a new name per domain
    # list, created first (provider docs, "Managed Ssl Certificate Recreation").
    prefix = resolve(stack.plan).name
    assert certificate["name"] == names.certificate(prefix, ["coder.llm.example.com"])
    assert certificate["name"] != names.certificate(prefix, ["chat.llm.example.com"])
    assert certificate["lifecycle"] == {"create_before_destroy": True}
    proxy = stack.at("google_compute_target_https_proxy", "LoadBalancer/Proxy")
    assert proxy["ssl_certificates"] == [
        f"${{{stack.address('google_compute_managed_ssl_certificate', 'LoadBalancer/Certificate')}.id}}"
    ]
    assert stack.at("google_compute_ssl_policy", "LoadBalancer/TlsPolicy")["min_tls_version"] == "TLS_1_2"
    redirect = stack.at("google_compute_url_map", "LoadBalancer/HttpRedirect")
    assert redirect["default_url_redirect"]["https_redirect"] is True
    ports = sorted(
        _rule(rule)[0] for rule in stack.resources("google_compute_global_forwarding_rule").values()
    )
    assert ports == ["443", "80"]


def test_endpoints_per_model(gcp_stacks: dict[str, Stack]) -> None:
    prod = gcp_stacks["prod-gcp"].doc["output"]["endpoints"]["value"]
    assert prod == {  # on prod's tls.domain
        "translate-fr": "https://llm.example.com/translate-fr/",
        "translate-es": "https://llm.example.com/translate-es/",
    }
    assert gcp_stacks["edge-gcp"].doc["output"]["endpoints"]["value"] == {
        "coder": "https://coder.llm.example.com/"
    }


def test_dns_records_to_create_for_the_domain(gcp_stacks: dict[str, Stack]) -> None:
    # The managed certificate turns ACTIVE only once the domain resolves to the load balancer.
    edge = gcp_stacks["edge-gcp"]
    address = edge.address("google_compute_global_address", "LoadBalancer/Address")
    assert edge.doc["output"]["dns_records"]["value"] == [
        {"name": "coder.llm.example.com.", "type": "A", "ttl": 300, "rrdatas": [f"${{{address}.address}}"]}
    ]
    prod = gcp_stacks["prod-gcp"]
    address = prod.address("google_compute_global_address", "LoadBalancer/Address")
    assert prod.doc["output"]["dns_records"]["value"] == [  # prod serves HTTPS on its tls.domain
        {"name": "llm.example.com.", "type": "A", "ttl": 300, "rrdatas": [f"${{{address}.address}}"]}
    ]


def _rule(rule: dict[str, Any]) -> tuple[str, str, str]:
    assert rule["load_balancing_scheme"] == "EXTERNAL_MANAGED"
    return rule["port_range"], rule["target"], rule["ip_address"]


def _slot_match(prefix: str, slot: str) -> list[dict[str, Any]]:
    return [{"prefix_match": prefix, "header_matches": [{"header_name": SLOT_HEADER, "exact_match": slot}]}]


def test_the_slot_header_reaches_that_slot_alone_before_the_weighted_route(
    gcp_stacks: dict[str, Stack],
) -> None:
    """Path routing: per model, a rule per slot (prefix + exact slot header) to that slot's backend
    service only, at any weight (green has 5 %), at a lower priority number than the weighted rule."""
    stack = gcp_stacks["prod-gcp"]
    [matcher] = stack.at("google_compute_url_map", "LoadBalancer/UrlMap")["path_matcher"]
    rules = matcher["route_rules"]
    priorities = [rule["priority"] for rule in rules]
    assert len(set(priorities)) == len(priorities)  # unique within the path matcher (Compute API)
    by_match = {json.dumps(rule["match_rules"], sort_keys=True): rule for rule in rules}
    for fleet in stack.plan.fleets_on("gcp"):
        prefix = f"/{fleet.model}/"
        pinned = by_match[json.dumps(_slot_match(prefix, fleet.slot), sort_keys=True)]
        weighted = by_match[json.dumps([{"prefix_match": prefix}], sort_keys=True)]
        assert pinned["route_action"]["weighted_backend_services"] == [
            {"backend_service": _service_ref(stack, fleet.name), "weight": 100}
        ]
        assert pinned["route_action"]["retry_policy"] == weighted["route_action"]["retry_policy"]
        assert pinned["priority"] < weighted["priority"]


def test_host_routing_gives_each_slot_a_header_rule_and_keeps_the_weighted_default(
    gcp_stacks: dict[str, Stack],
) -> None:
    stack = gcp_stacks["edge-gcp"]
    [matcher] = stack.at("google_compute_url_map", "LoadBalancer/UrlMap")["path_matcher"]
    assert matcher["default_route_action"]["weighted_backend_services"]
    assert "path_rule" not in matcher
    assert [
        (rule["match_rules"], rule["route_action"]["weighted_backend_services"])
        for rule in matcher["route_rules"]
    ] == [
        (
            _slot_match("/", fleet.slot),
            [{"backend_service": _service_ref(stack, fleet.name), "weight": 100}],
        )
        for fleet in stack.plan.fleets_on("gcp")
    ]
