"""`doctor` and `smoke` on `dev` applied to the local emulator, run as a user runs them.

The emulator proves the plumbing, not serving: `smoke` finds the endpoint in the applied stack's
outputs, and fails there because no VM runs behind the emulator's load balancer (its DNS name
resolves nowhere). `doctor` after the apply does not count the stack's own NAT addresses (they
carry the environment's default tags) against the Elastic IP limit.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.e2e.project import Project, local_project

pytestmark = pytest.mark.terraform


@pytest.fixture(scope="module")
def applied(
    tmp_path_factory: pytest.TempPathFactory, terraform_binary: str, terraform_cli_env: dict[str, str]
) -> Iterator[Project]:
    root = tmp_path_factory.mktemp("project")
    with local_project(root, "llmdeploy-demo", terraform_cli_env["LLMDEPLOY_CACHE_DIR"]) as project:
        try:
            done = project.run("apply", "dev", "--cloud", "aws", "--local", "--auto-approve")
            assert done.returncode == 0, done.stdout + done.stderr
            yield project
        finally:
            project.run("destroy", "dev", "--cloud", "aws", "--local", "--auto-approve")


def test_smoke_calls_the_endpoint_from_the_stack_outputs_and_fails_there(applied: Project) -> None:
    endpoint = applied.outputs("dev-aws")["endpoints"]["chat"]
    result = applied.run("smoke", "dev", "--local", "--json", "--timeout", "5")
    assert result.returncode == 1, result.stderr
    (row,) = json.loads(result.stdout)["results"]
    assert (row["model"], row["cloud"], row["url"]) == ("chat", "aws", endpoint)
    assert row["problem"].startswith(f"GET {endpoint.rstrip('/')}/v1/models failed:")
    assert "Traceback" not in result.stderr


def test_doctor_after_the_apply_does_not_count_the_stacks_own_addresses(applied: Project) -> None:
    addresses = applied.client("ec2").describe_addresses()["Addresses"]
    assert len(addresses) == 2  # one NAT address per zone
    result = applied.run("doctor", "dev", "--local", "--json")
    checks = {check["name"]: check for check in json.loads(result.stdout)["checks"]}
    eips = checks["Elastic IPs (one per zone for the NAT gateways)"]
    assert eips == {
        "cloud": "aws",
        "name": "Elastic IPs (one per zone for the NAT gateways)",
        "status": "ok",
        "detail": "needs 2 addresses; 5 of 5 left (0 used elsewhere)",
    }
