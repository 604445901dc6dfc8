"""Real Terraform and hashicorp/aws against the corrected emulator: apply, then re-plan clean.

The stack carries exactly the settings whose drift the corrections remove: an ASG with
`default_instance_warmup` and no `capacity_reservation_specification`, and security
group rules with descriptions that reference another group.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmdeploy.terraform import PlanSummary, TerraformRunner
from tests.terraform.stacks import Doc, fleet_stack, write_stack

pytestmark = [pytest.mark.terraform]

PORT = 80


def _rule(group: str, peer: str, description: str) -> Doc:
    return {
        "security_group_id": f"${{aws_security_group.{group}.id}}",
        "referenced_security_group_id": f"${{aws_security_group.{peer}.id}}",
        "ip_protocol": "tcp",
        "from_port": PORT,
        "to_port": PORT,
        "description": description,
    }


def drift_stack(name: str) -> Doc:
    """fleet_stack plus a warmup on the group and a balancer -> engine rule pair."""
    document = fleet_stack(name, cidr="10.43")
    # The provider writes a referenced group as "owner/sg-..." unless the owner is the
    # caller's account, which it only knows when it asks STS (as the real stacks do).
    del document["provider"]["aws"][0]["skip_requesting_account_id"]
    resources = document["resource"]
    resources["aws_autoscaling_group"]["fleet"]["default_instance_warmup"] = 900
    resources["aws_security_group"] = {
        role: {"name": f"{name}-{role}", "description": role, "vpc_id": "${aws_vpc.main.id}"}
        for role in ("balancer", "engine")
    }
    resources["aws_vpc_security_group_ingress_rule"] = {
        "from_balancer": _rule("engine", "balancer", f"the load balancer on {PORT}")
    }
    resources["aws_vpc_security_group_egress_rule"] = {
        "to_engine": _rule("balancer", "engine", f"to the engines on {PORT}")
    }
    return document


def _drift(plan: PlanSummary) -> dict[str, dict[str, Any]]:
    """Per resource that would change, each attribute as (before, after)."""
    found: dict[str, dict[str, Any]] = {}
    for change in (plan.plan_json or {}).get("resource_changes", []):
        if change["change"]["actions"] == ["no-op"]:
            continue
        before, after = change["change"]["before"] or {}, change["change"]["after"] or {}
        found[change["address"]] = {
            key: (before.get(key), after.get(key))
            for key in sorted(set(before) | set(after))
            if before.get(key) != after.get(key)
        }
    return found


def test_second_plan_is_empty(
    tmp_path: Path, terraform_binary: str, terraform_env: dict[str, str], unique_name: str
) -> None:
    folder = write_stack(tmp_path / "drift-aws", drift_stack(unique_name))
    runner = TerraformRunner(folder, stack=folder.name, binary=terraform_binary, env=terraform_env)
    runner.init()
    try:
        runner.apply()
        again = runner.plan(detailed=True)
        assert not again.has_changes, f"second plan is not empty: {_drift(again)}"
    finally:
        runner.destroy()
