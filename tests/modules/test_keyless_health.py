"""With an API key and global DNS, every cloud answers `GET /<model>/health` without the key, and nothing
else: Route 53's health checks cannot send one. The key is checked by each replica's proxy, which serves
only the exact health path without it, so the load balancers hold neither the key nor a keyless rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmdeploy.config.loader import load_environment
from llmdeploy.plan.build import build_plan
from tests.fixtures_synth import Doc, Stack
from tests.modules.aws.test_global_dns import SECOND_MODEL
from tests.release.environments import THREE_CLOUDS

pytestmark = pytest.mark.synth

# Plain HTTP keeps this about keyless health paths (the opt-out; real files serve HTTPS with a key).
KEYED = THREE_CLOUDS.replace(
    "require_api_key: false", "api_key: {secret: demo-api-key}, tls: {insecure_plain_http_demo_only: true}"
).replace("location: eastus,", "location: eastus, key_vault: {name: demo-kv, resource_group: demo-secrets},")
DNS = "global_dns: {zone: example.com, name: api}\n"
PATHS = ["/chat/health", "/code/health"]


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Stack]:
    """Every cloud stack of a keyed environment with global DNS (`dns-*`) and of one without (`plain-*`)."""
    from stacks.app import build_app  # imports the provider bindings

    root = tmp_path_factory.mktemp("keyless")
    (root / "dns.yaml").write_text(KEYED + SECOND_MODEL + DNS, encoding="utf-8")
    (root / "plain.yaml").write_text(KEYED + SECOND_MODEL, encoding="utf-8")
    plans = [build_plan(load_environment(root / f"{name}.yaml")) for name in ("dns", "plain")]
    outdir = root / "cdktf.out"
    build_app(plans, outdir, project_dir=root).synth()
    found = {}
    for plan in plans:
        for stack in plan.stacks:
            folder = outdir / "stacks" / stack
            found[stack] = Stack(
                plan, folder, json.loads((folder / "cdk.tf.json").read_text(encoding="utf-8"))
            )
    return found


def _conditions(rule: Doc) -> dict[str, object]:
    return {key: value for condition in rule["condition"] for key, value in condition.items()}


def test_the_aws_listener_forwards_health_gets_to_the_proxy_which_needs_no_key(
    stacks: dict[str, Stack],
) -> None:
    """The key moved off the load balancer (each replica's proxy checks it and serves the health path
    without it), so the model's own rule carries Route 53's GET /<model>/health; no special rule. The
    only other rules are the slots' own addresses, which match the slot header as well."""
    for name in ("dns-aws", "plain-aws"):
        rules = [_conditions(rule) for rule in stacks[name].resources("aws_lb_listener_rule").values()]
        assert [rule for rule in rules if "http_header" not in rule] == [
            {"path_pattern": {"values": [f"/{model}/*"]}} for model in ("chat", "code")
        ]
        assert {rule["http_header"]["http_header_name"] for rule in rules if "http_header" in rule} == {  # type: ignore[index]
            "X-LLMDeploy-Slot"
        }
    for model, path in zip(("chat", "code"), PATHS, strict=True):
        rule = stacks["dns-aws"].at("aws_lb_listener_rule", f"{model}/Rule")
        [pattern] = _conditions(rule)["path_pattern"]["values"]  # type: ignore[index]
        assert path.startswith(pattern.removesuffix("*"))


def _armor_rules(stack: Stack) -> list[Doc]:
    (policy,) = stack.resources("google_compute_security_policy").values()
    rules: list[Doc] = policy["rule"]
    return rules


def test_cloud_armor_holds_no_key_and_no_keyless_rule(stacks: dict[str, Stack]) -> None:
    """Each replica's proxy checks the key and answers the health path without it, so Cloud Armor only
    admits client networks: no rule reads the Authorization header or singles out a health path."""
    for name in ("dns-gcp", "plain-gcp"):
        expressions = [
            rule["match"]["expr"]["expression"]
            for rule in _armor_rules(stacks[name])
            if "expr" in rule["match"]
        ]
        assert not [text for text in expressions if "authorization" in text.lower() or "/health" in text]


def _waf_rules(stack: Stack) -> dict[str, Doc]:
    (policy,) = stack.resources("azurerm_cdn_frontdoor_firewall_policy").values()
    return {rule["name"]: rule for rule in policy["custom_rule"]}


def test_the_front_door_waf_holds_no_key_and_no_keyless_rule(stacks: dict[str, Stack]) -> None:
    for name in ("dns-azure", "plain-azure"):
        rules = _waf_rules(stacks[name])
        assert not {"ApiKey", "KeylessHealth"} & set(rules)
        variables = {c["match_variable"] for rule in rules.values() for c in rule["match_condition"]}
        assert variables <= {"SocketAddr"}


def test_global_dns_checks_the_paths_the_load_balancers_answer_keyless(
    stacks: dict[str, Stack], tmp_path: Path
) -> None:
    plan = stacks["dns-aws"].plan
    assert plan.global_dns is not None
    assert list(plan.keyless_health_paths.values()) == list(plan.global_dns.health.model_paths) == PATHS
