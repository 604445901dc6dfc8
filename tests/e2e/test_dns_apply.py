"""`clouds.aws.dns_zone` with `routing.enabled`, applied on the local AWS emulator with the real AWS
provider: the domain is a Route 53 failover pair, the routers' load balancer as PRIMARY (inheriting
its target health), the fleets' load balancer as SECONDARY, and a second plan is empty.

One apply serves the whole module (each load balancer costs the AWS provider ~60 s on the emulator).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from llmdeploy.clouds.aws import names
from llmdeploy.clouds.aws.resolve import DIRECT_SET_IDENTIFIER, ROUTERS_SET_IDENTIFIER
from tests.e2e.project import Project, local_project

pytestmark = pytest.mark.terraform

ENV = "dnsfailover"
STACK = f"{ENV}-aws"
PROJECT = "llmdeploy-dns"
ZONE = "example.com"
DOMAIN = f"llm.{ZONE}"
DNS_YAML = f"""\
extends: base.yaml
tier: dev
clouds:
  aws:
    region: us-east-1
    zones: [us-east-1a, us-east-1b]
    dns_zone: {ZONE}
access:
  tls: {{domain: {DOMAIN}}}
routing:
  enabled: true
  min_routers: 2
models:
  - name: chat
    engine: tgi
    model_id: Qwen/Qwen2.5-0.5B-Instruct
    revision: 7ae557604adf67be50417f59c2c2f167def9a775
    params_billion: 0.5
    instance_types:
      aws: [g6.xlarge]
    capacity: {{min: 0, max: 2, desired: 1}}
    autoscaling:
      scale_to_zero: true
"""


@dataclass
class Deployment:
    project: Project
    outputs: dict[str, Any]

    def records(self) -> dict[str, dict[str, Any]]:
        """The domain's A records, by set identifier."""
        route53 = self.project.client("route53")
        (zone,) = [z for z in route53.list_hosted_zones()["HostedZones"] if z["Name"] == f"{ZONE}."]
        records = route53.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]
        return {
            record.get("SetIdentifier", ""): record
            for record in records
            if record["Name"] == f"{DOMAIN}." and record["Type"] == "A"
        }

    def load_balancer(self, name: str) -> dict[str, Any]:
        (found,) = self.project.client("elbv2").describe_load_balancers(Names=[name])["LoadBalancers"]
        lb: dict[str, Any] = found
        return lb


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, terraform_cli_env: dict[str, str]
) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("dns-project")
    with local_project(root, PROJECT, terraform_cli_env["LLMDEPLOY_CACHE_DIR"]) as project:
        (project.environments / f"{ENV}.yaml").write_text(DNS_YAML, encoding="utf-8")
        # The hosted zone belongs to the domain's owner: it exists before llmdeploy runs.
        project.client("route53").create_hosted_zone(Name=ZONE, CallerReference="llmdeploy-dns-test")
        try:
            applied = project.run("apply", ENV, "--cloud", "aws", "--local", "--auto-approve")
            assert applied.returncode == 0, applied.stdout + applied.stderr
            yield Deployment(project, project.outputs(STACK))
        finally:
            project.run("destroy", ENV, "--cloud", "aws", "--local", "--auto-approve")


def _alias_of(record: dict[str, Any]) -> tuple[str, str, bool]:
    target = record["AliasTarget"]
    return target["DNSName"].rstrip(".").lower(), target["HostedZoneId"], target["EvaluateTargetHealth"]


def test_the_domain_fails_over_from_the_routers_to_the_fleets_load_balancer(deployment: Deployment) -> None:
    prefix = f"{PROJECT}-{ENV}"
    routers = deployment.load_balancer(names.router_load_balancer(prefix))
    fleets = deployment.load_balancer(names.load_balancer(prefix))
    records = deployment.records()
    assert set(records) == {ROUTERS_SET_IDENTIFIER, DIRECT_SET_IDENTIFIER}
    primary, secondary = records[ROUTERS_SET_IDENTIFIER], records[DIRECT_SET_IDENTIFIER]
    assert (primary["Failover"], secondary["Failover"]) == ("PRIMARY", "SECONDARY")
    assert _alias_of(primary) == (routers["DNSName"].lower(), routers["CanonicalHostedZoneId"], True)
    assert _alias_of(secondary) == (fleets["DNSName"].lower(), fleets["CanonicalHostedZoneId"], False)
    assert "TTL" not in primary and "ResourceRecords" not in primary


def test_clients_are_given_the_domain(deployment: Deployment) -> None:
    assert deployment.outputs["endpoints"] == {"chat": f"http://{DOMAIN}/chat/"}


def test_second_plan_reports_no_changes(deployment: Deployment) -> None:
    result = deployment.project.run("plan", ENV, "--cloud", "aws", "--local", "--detailed-exitcode")
    assert result.returncode == 0, result.stdout + result.stderr
