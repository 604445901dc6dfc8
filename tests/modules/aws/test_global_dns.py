"""The global DNS stack: Route 53 health checks per cloud endpoint and model, failover or weighted CNAMEs,
each cloud's endpoint read from its own stack's state; checkov-clean; addresses snapshotted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from llmdeploy.config.loader import load_environment
from llmdeploy.plan.build import build_plan
from llmdeploy.plan.model import DeploymentPlan
from tests.fixtures_synth import Doc, Stack
from tests.release.environments import THREE_CLOUDS
from tests.stacks.golden import snapshot_mismatches
from tests.tools import checkov

pytestmark = pytest.mark.synth

S3_STATE = "state: {backend: s3, bucket: demo-tfstate, region: eu-west-1}\n"
FAILOVER = (
    "global_dns: {zone: example.com, name: api, health_check: {interval_s: 10, failure_threshold: 2}}\n"
)
#: A second model on every cloud, appended to THREE_CLOUDS' model list.
SECOND_MODEL = """\
  - name: code
    model_id: Qwen/Qwen2.5-0.5B-Instruct
    revision: 7ae557604adf67be50417f59c2c2f167def9a775
    params_billion: 0.5
    instance_types: {aws: [g6.xlarge], gcp: [g2-standard-8], azure: [Standard_NC24ads_A100_v4]}
    load_balancing: {algorithm: round_robin, request_timeout_s: 240}
"""
WEIGHTED = """\
global_dns:
  zone: example.com
  name: llm
  routing: weighted
  weights: {aws: 3, gcp: 1, azure: 1}
  ttl_s: 30
"""


@pytest.fixture(scope="module")
def global_stacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Stack]:
    """The global stacks of a three-cloud failover environment and a weighted one."""
    from stacks.app import build_app  # imports the provider bindings

    root = tmp_path_factory.mktemp("global")
    (root / "failover.yaml").write_text(S3_STATE + THREE_CLOUDS + SECOND_MODEL + FAILOVER, encoding="utf-8")
    (root / "weighted.yaml").write_text(THREE_CLOUDS + WEIGHTED, encoding="utf-8")
    plans = [build_plan(load_environment(root / f"{name}.yaml")) for name in ("failover", "weighted")]
    outdir = root / "cdktf.out"
    build_app(plans, outdir, clouds=["aws"], project_dir=root).synth()
    return {plan.env: _stack(plan, outdir) for plan in plans}


def _stack(plan: DeploymentPlan, outdir: Path) -> Stack:
    assert plan.global_dns is not None
    folder = outdir / "stacks" / plan.global_dns.stack
    return Stack(plan, folder, json.loads((folder / "cdk.tf.json").read_text(encoding="utf-8")))


def _remote(cloud: str) -> str:
    return f"data.terraform_remote_state.{cloud}-state.outputs.endpoints"


def test_a_cloud_is_healthy_only_while_every_model_answers_on_its_host(
    global_stacks: dict[str, Stack],
) -> None:
    stack = global_stacks["failover"]
    for cloud in ("aws", "gcp", "azure"):
        children = [f"Endpoints/{cloud}/Models/{model}" for model in ("chat", "code")]
        for path, model in zip(children, ("chat", "code"), strict=True):
            check = stack.at("aws_route53_health_check", path)
            assert (check["type"], check["port"], check["resource_path"]) == ("HTTP", 80, f"/{model}/health")
            assert (check["request_interval"], check["failure_threshold"]) == (10, 2)
            if cloud == "gcp":
                assert "fqdn" not in check
                assert _remote("gcp") in check["ip_address"]
            else:
                assert check["fqdn"] == f'${{element(split("/", element(values({_remote(cloud)}), 0)), 2)}}'
        combined = stack.at("aws_route53_health_check", f"Endpoints/{cloud}/HealthCheck")
        assert combined["type"] == "CALCULATED"
        assert combined["child_healthchecks"] == [
            f"${{{stack.address('aws_route53_health_check', path)}.id}}" for path in children
        ]
        assert combined["child_health_threshold"] == 2


def test_cloud_endpoints_come_from_each_cloud_stacks_state_in_the_same_backend(
    global_stacks: dict[str, Stack],
) -> None:
    stack = global_stacks["failover"]
    remote = stack.doc["data"]["terraform_remote_state"]
    assert remote["gcp-state"] == {
        "backend": "s3",
        "config": {"bucket": "demo-tfstate", "key": "llmdeploy/failover-gcp.tfstate", "region": "eu-west-1"},
    }
    assert stack.doc["terraform"]["backend"]["s3"]["key"] == "llmdeploy/failover-global.tfstate"
    local = global_stacks["weighted"].doc["data"]["terraform_remote_state"]["aws-state"]
    assert local == {"backend": "local", "config": {"path": "../../../terraform.weighted-aws.tfstate"}}


def _answer(stack: Stack, key: str) -> Doc:
    return stack.at("aws_route53_record", f"Answers/{key}/Record")


def test_failover_answers_the_primary_then_a_weighted_set_of_the_others(
    global_stacks: dict[str, Stack],
) -> None:
    stack = global_stacks["failover"]
    check = stack.address("aws_route53_health_check", "Endpoints/aws/HealthCheck")
    primary = _answer(stack, "aws")
    assert (primary["name"], primary["type"], primary["set_identifier"]) == (
        "api.example.com",
        "CNAME",
        "aws",
    )
    assert primary["failover_routing_policy"] == {"type": "PRIMARY"}
    assert primary["health_check_id"] == f"${{{check}.id}}"
    secondary = _answer(stack, "secondary")
    assert secondary["failover_routing_policy"] == {"type": "SECONDARY"}
    assert secondary["records"] == ["api-secondary.example.com"]
    assert "health_check_id" not in secondary  # its answers carry their own checks
    nested = _answer(stack, "secondary-gcp")
    assert (nested["name"], nested["weighted_routing_policy"]) == ("api-secondary.example.com", {"weight": 1})
    address = stack.at("aws_route53_record", "Endpoints/gcp/Address")
    assert (address["name"], address["type"]) == ("gcp.api.example.com", "A")
    assert nested["records"] == ["gcp.api.example.com"]


def test_weighted_routing_answers_every_cloud_with_its_weight_and_ttl(
    global_stacks: dict[str, Stack],
) -> None:
    stack = global_stacks["weighted"]
    answers = {key: _answer(stack, key) for key in ("aws", "gcp", "azure")}
    assert {key: a["weighted_routing_policy"]["weight"] for key, a in answers.items()} == {
        "aws": 3,
        "gcp": 1,
        "azure": 1,
    }
    assert {a["ttl"] for a in answers.values()} == {30}
    assert all("failover_routing_policy" not in a for a in answers.values())
    assert stack.doc["output"]["failover_s"]["value"] == 30 * 3 + 30


def test_the_hosted_zone_is_looked_up_not_created(global_stacks: dict[str, Stack]) -> None:
    stack = global_stacks["failover"]
    (zone,) = stack.data("aws_route53_zone").values()
    assert zone["name"] == "example.com"
    assert stack.resources("aws_route53_zone") == {}


def test_resource_addresses_match_the_golden_snapshots(global_stacks: dict[str, Stack]) -> None:
    assert snapshot_mismatches(global_stacks.values()) == []


def test_checkov_finds_no_failed_check(global_stacks: dict[str, Stack], tmp_path: Path) -> None:
    from llmdeploy.ci.checkov import scan

    binary = checkov()
    if binary is None:
        pytest.skip("checkov is not installed (scripts/setup puts it in .venv-checkov)")
    scanned = tmp_path / "stacks"
    for stack in global_stacks.values():  # only these: the cloud stacks have their own scan
        shutil.copytree(stack.folder, scanned / stack.name)
    report = scan(binary, scanned)
    assert report.passed > 0
    assert [f"{f.file}: {f.check} on {f.resource}" for f in report.failed] == []
    assert [f"{f.file}: {f.check} on {f.resource}" for f in report.unused] == []
