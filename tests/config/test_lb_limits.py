"""Load balancer limits refused (or, for an adjustable quota, warned about) at validation.

Each limit: an environment exactly at it passes, one just over it fails with a located message.
The counts are bound to what the stacks emit through the golden address snapshots, which the
snapshot tests keep equal to the synthesized stacks.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from llmdeploy.config.lb_limits import (
    ALB_RULES,
    ALB_TARGET_GROUPS,
    FRONT_DOOR_ORIGIN_GROUPS,
    FRONT_DOOR_WAF_RANGES,
    counts,
)
from llmdeploy.config.loader import load, load_environment
from llmdeploy.config.model import SLOTS
from llmdeploy.errors import ConfigError
from llmdeploy.plan.build import build_plan
from tests.conftest import EXAMPLES, REPO, WriteEnv

_CLOUDS = {
    "aws": ("aws: {region: us-east-1, zones: [us-east-1a, us-east-1b]}", "g6.xlarge", ""),
    "azure": (
        "azure: {subscription_id: 00000000-0000-0000-0000-000000000000, location: eastus, zones: ['1']}",
        "Standard_NC24ads_A100_v4",
        # Front Door has no least-outstanding policy and waits 240 s at most.
        ", load_balancing: {algorithm: round_robin, request_timeout_s: 240}",
    ),
}
_TWO_SLOTS = "{blue: {weight: 90}, green: {weight: 10}}"
_ONE_SLOT = "{blue: {weight: 100}}"


def _env(cloud: str, models: int, slots: str = _ONE_SLOT, clients: int = 1) -> str:
    """`models` small models on `cloud`, each with `slots`, admitting `clients` public /24 networks."""
    settings, instance_type, extra = _CLOUDS[cloud]
    networks = ", ".join(f"8.{index // 256}.{index % 256}.0/24" for index in range(clients))
    lines = [
        "project: demo",
        "clouds:",
        f"  {settings}",
        "access:",
        "  scheme: internet-facing",
        "  require_api_key: false",
        f"  allowed_cidrs: [{networks}]",
        "models:",
    ]
    lines += [
        f"  - {{name: m{index}, model_id: Qwen/Qwen2.5-0.5B-Instruct, "
        "revision: 7ae557604adf67be50417f59c2c2f167def9a775, params_billion: 0.5, "
        f"instance_types: {{{cloud}: [{instance_type}]}}, capacity: {{min: 1, max: 1}}, "
        f"slots: {slots}{extra}}}"
        for index in range(models)
    ]
    return "\n".join(lines) + "\n"


def _refusal(path: Path) -> str:
    with pytest.raises(ConfigError) as raised:
        load_environment(path)
    (problem,) = raised.value.problems
    return problem.render()


# Where `_env`'s files hold the model list (its first item) and the client networks.
_MODELS_LINE = 9
_CIDRS_LINE = 7


def test_aws_rules_quota_warns_just_over_its_default(write_env: WriteEnv) -> None:
    """One weighted rule per model plus one per slot: 50 one-slot models make exactly 100 rules."""
    at = load_environment(write_env(_env("aws", 50), "at.yaml"))
    assert not any(ALB_RULES.name in line for line in at.warnings())
    over = load_environment(write_env(_env("aws", 34, _TWO_SLOTS), "over.yaml"))
    (warning,) = [line for line in over.warnings() if ALB_RULES.name in line]
    assert warning.startswith("models: aws would get 102 Rules per Application Load Balancer")
    assert "(34) plus a rule per slot (68)" in warning
    assert "quota is at least 102" in warning and "Service Quotas" in warning


def test_aws_target_groups_refused_just_over_the_fixed_limit(write_env: WriteEnv) -> None:
    at = load_environment(write_env(_env("aws", ALB_TARGET_GROUPS.maximum), "at.yaml"))
    assert [line for line in at.warnings() if ALB_RULES.name in line]  # 200 rules: the quota warns
    rendered = _refusal(write_env(_env("aws", ALB_TARGET_GROUPS.maximum + 1), "over.yaml"))
    assert f"over.yaml:{_MODELS_LINE}: models: aws would get 101 Target Groups" in rendered
    assert "at most 100 (a fixed limit, not a quota" in rendered
    assert "serve fewer models or slots on aws" in rendered


def test_front_door_origin_groups_refused_just_over_the_tier_limit(write_env: WriteEnv) -> None:
    """A weighted group per model plus one per slot: 50 one-slot models make exactly 100 groups."""
    load_environment(write_env(_env("azure", 50), "at.yaml"))
    load_environment(write_env(_env("azure", 33, _TWO_SLOTS), "under.yaml"))
    rendered = _refusal(write_env(_env("azure", 34, _TWO_SLOTS), "over.yaml"))
    assert f"over.yaml:{_MODELS_LINE}: models: azure would get 102 origin groups" in rendered
    assert "per model (34) plus one per slot (68)" in rendered
    assert FRONT_DOOR_ORIGIN_GROUPS.source in rendered


def test_front_door_waf_refuses_more_client_networks_than_one_rule_matches(write_env: WriteEnv) -> None:
    limit = FRONT_DOOR_WAF_RANGES.maximum
    load_environment(write_env(_env("azure", 1, clients=limit), "at.yaml"))
    rendered = _refusal(write_env(_env("azure", 1, clients=limit + 1), "over.yaml"))
    assert f"over.yaml:{_CIDRS_LINE}: access.allowed_cidrs: azure would get 601 IP address ranges" in rendered
    assert "merge the networks into fewer, wider CIDRs" in rendered


@pytest.mark.process
def test_the_cli_exits_2_with_the_located_message_and_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(_env("azure", 34, _TWO_SLOTS), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "llmdeploy", "validate", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    assert f"big.yaml:{_MODELS_LINE}: models: azure would get 102 origin groups" in " ".join(output.split())


_AWS_KINDS = {ALB_RULES.name: "aws_lb_listener_rule", ALB_TARGET_GROUPS.name: "aws_lb_target_group"}


@pytest.mark.parametrize(
    ("env", "cloud", "kinds"),
    [
        ("dev", "aws", _AWS_KINDS),
        ("prod", "aws", _AWS_KINDS),
        ("prod", "azure", {FRONT_DOOR_ORIGIN_GROUPS.name: "azurerm_cdn_frontdoor_origin_group"}),
    ],
)
def test_counts_match_the_resources_the_stacks_emit(
    env: str, cloud: str, kinds: dict[str, str], example_vars: dict[str, str]
) -> None:
    """The golden snapshots list the synthesized stacks' addresses (tests/stacks keeps them current)."""
    snapshot = json.loads((REPO / "tests" / "golden" / "stacks" / f"{env}-{cloud}.json").read_text())
    emitted = Counter(address.split(".")[0] for address in snapshot["addresses"])
    counted = {count.limit.name: count.count for count in counts(build_plan(load(env, EXAMPLES)))}
    assert {name: counted[name] for name in kinds} == {name: emitted[kind] for name, kind in kinds.items()}


def test_examples_stay_within_every_limit(example_vars: dict[str, str]) -> None:
    for env in ("dev", "staging", "prod"):
        over = [count for count in counts(build_plan(load(env, EXAMPLES))) if count.over]
        assert over == [], env


#: Limits the stacks cannot reach, with the most each one emits (see the module docstring of
#: llmdeploy.config.lb_limits). ALB: "Target Groups per Action per Application Load Balancer" 5 (ELB
#: quotas page; "Condition Values per Rule" 5 is unreachable too: a slot rule has two values, its
#: route's and the slot header's, whatever the config). Front Door Standard: "Maximum rules per rule
#: set" 100 and "Maximum origin per origin group" 50 (Azure subscription service limits, Front Door
#: Standard and Premium); a model's group holds its slots' origins and the routers'.
def test_per_rule_limits_hold_for_any_number_of_slots() -> None:
    most_slots = len(SLOTS)
    assert most_slots <= 5  # ALB target groups per forward action
    assert most_slots <= 100  # Front Door rules per rule set: one per slot
    assert most_slots + 1 <= 50  # Front Door origins per origin group: slots and the routers
