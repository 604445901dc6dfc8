"""The global DNS stack (`dev-global`) applied for real after `dev-aws` on the local emulator: Route 53
checks the model's health path on the load balancer and answers the global name with it, as the
primary of a failover pair.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.project import Project, local_project

pytestmark = pytest.mark.terraform

ZONE = "example.com"
PUBLIC_ACCESS = """\
access:
  scheme: internet-facing   # Route 53's checkers reach only public endpoints
  allowed_cidrs: [0.0.0.0/0]
  require_api_key: false    # its HTTP checks cannot send a key
"""
GLOBAL_DNS = f"""
global_dns:
  zone: {ZONE}
  name: api
  routing: failover
  health_check: {{interval_s: 10, failure_threshold: 3}}
"""


@dataclass
class GlobalProject:
    project: Project
    #: `llmdeploy plan dev` before anything was applied.
    first_plan: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def applied(
    tmp_path_factory: pytest.TempPathFactory, terraform_binary: str, terraform_cli_env: dict[str, str]
) -> Iterator[GlobalProject]:
    root = tmp_path_factory.mktemp("global-dns")
    with local_project(root, "globaldns", terraform_cli_env["LLMDEPLOY_CACHE_DIR"]) as project:
        dev = project.environments / "dev.yaml"
        dev.write_text(PUBLIC_ACCESS + dev.read_text(encoding="utf-8") + GLOBAL_DNS, encoding="utf-8")
        # The hosted zone belongs to the domain's owner: it exists before llmdeploy runs.
        project.client("route53").create_hosted_zone(Name=ZONE, CallerReference="llmdeploy-test")
        first_plan = project.run("plan", "dev", "--local")
        applied = project.run("apply", "dev", "--local", "--auto-approve")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        yield GlobalProject(project, first_plan)


@pytest.fixture
def project(applied: GlobalProject) -> Project:
    return applied.project


def test_a_plan_before_the_first_apply_leaves_the_global_stack_for_later(applied: GlobalProject) -> None:
    planned = applied.first_plan
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "dev-global: not planned: it reads the endpoints of dev-aws" in " ".join(planned.stderr.split())
    assert "dev-aws" in planned.stdout


def _load_balancer_host(project: Project) -> str:
    endpoint: str = project.outputs("dev-aws")["endpoints"]["chat"]
    return endpoint.split("/")[2]


def _health_checks(project: Project) -> dict[str, dict[str, Any]]:
    """Route 53's health checks by type: the model's HTTP check and the cloud's CALCULATED one."""
    checks = project.client("route53").list_health_checks()["HealthChecks"]
    found = {check["HealthCheckConfig"]["Type"]: check for check in checks}
    assert len(found) == len(checks) == 2, checks
    return found


def _health_check(project: Project) -> dict[str, Any]:
    """The check the global name's answer is tied to."""
    return _health_checks(project)["CALCULATED"]


def test_route53_checks_the_models_health_path_on_the_load_balancer(project: Project) -> None:
    checks = _health_checks(project)
    config = checks["HTTP"]["HealthCheckConfig"]
    assert config["FullyQualifiedDomainName"] == _load_balancer_host(project)
    assert config["FullyQualifiedDomainName"].endswith(".elb.amazonaws.com")
    assert (config["Type"], config["Port"], config["ResourcePath"]) == ("HTTP", 80, "/chat/health")
    assert (config["RequestInterval"], config["FailureThreshold"]) == (10, 3)
    combined = checks["CALCULATED"]["HealthCheckConfig"]
    assert combined["ChildHealthChecks"] == [checks["HTTP"]["Id"]]
    assert combined["HealthThreshold"] == 1


def test_the_global_name_answers_the_load_balancer_as_primary_tied_to_its_check(project: Project) -> None:
    route53 = project.client("route53")
    (zone,) = [z for z in route53.list_hosted_zones()["HostedZones"] if z["Name"] == f"{ZONE}."]
    records = route53.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]
    (answer,) = [record for record in records if record["Name"] == f"api.{ZONE}."]
    assert (answer["Type"], answer["SetIdentifier"], answer["Failover"]) == ("CNAME", "aws", "PRIMARY")
    assert answer["HealthCheckId"] == _health_check(project)["Id"]
    assert answer["TTL"] == 60
    assert answer["ResourceRecords"] == [{"Value": _load_balancer_host(project)}]


def test_the_stack_reports_its_name_and_failover_time(project: Project) -> None:
    outputs = project.outputs("dev-global")
    assert outputs["fqdn"] == f"api.{ZONE}"
    assert outputs["failover_s"] == 10 * 3 + 60
    assert outputs["health_check_ids"] == {"aws": _health_check(project)["Id"]}


def test_a_second_plan_of_the_global_stack_changes_nothing(project: Project) -> None:
    planned = project.run("plan", "dev", "--local")
    assert planned.returncode == 0, planned.stderr
    assert re.search(r"dev-global\s*│\s*0\s*│\s*0\s*│\s*0\s*│", planned.stdout), planned.stdout


def test_status_shows_what_route53_reports_for_each_cloud(project: Project) -> None:
    check = _health_check(project)["Id"]
    before = project.run("status", "dev", "--local")
    assert before.returncode == 0, before.stdout + before.stderr
    table = " ".join(before.stdout.split())
    assert f"global DNS: api.{ZONE}" in table
    assert f"│ aws │ primary │ {check} │ no data yet │" in table
    # What Route 53 publishes for a calculated check: 0 while a model of the cloud fails its check.
    project.client("cloudwatch").put_metric_data(  # the client is in us-east-1
        Namespace="AWS/Route53",
        MetricData=[
            {
                "MetricName": "HealthCheckStatus",
                "Dimensions": [{"Name": "HealthCheckId", "Value": check}],
                "Value": 0,
            }
        ],
    )
    after = project.run("status", "dev", "--local", "--json")
    assert after.returncode == 0, after.stdout + after.stderr
    assert json.loads(after.stdout)["global_dns"] == {
        "fqdn": f"api.{ZONE}",
        "endpoints": [{"cloud": "aws", "health_check_id": check, "healthy": False, "answers": "primary"}],
    }
