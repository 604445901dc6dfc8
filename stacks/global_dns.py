"""The global DNS stack of one environment (`<env>-global`): one name over every cloud's endpoint.

Each cloud's endpoint host is read from that cloud stack's state (its `endpoints` output, model
name -> URL; every model of a stack shares the host), so this stack is applied after them.

Outputs:
    fqdn: the global name.
    health_check_ids: cloud -> Route 53 health check id.
    failover_s: worst-case seconds from an endpoint failing to clients resolving another one.
"""

from __future__ import annotations

from pathlib import Path

from cdktn import Fn, TerraformOutput, TerraformStack, Token
from constructs import Construct

from llmdeploy.plan.global_dns import DNS_PROVIDER
from llmdeploy.plan.model import DeploymentPlan
from modules.aws.global_dns import GlobalDns
from stacks.aws import configure_aws_provider
from stacks.backend import remote_state

#: Route 53 is a global service; the provider still needs a region when no AWS cloud names one.
DEFAULT_REGION = "us-east-1"
#: `<scheme>://<host>/<path>` split on "/": the host is the third part.
_HOST_PART = 2


class GlobalDnsStack(TerraformStack):
    """Route 53 health checks and records for one environment's global name."""

    _DNS_ID = "GlobalDns"

    def __init__(self, scope: Construct, plan: DeploymentPlan, *, project_dir: Path, stack_dir: Path) -> None:
        dns = plan.global_dns
        assert dns is not None
        super().__init__(scope, dns.stack)
        aws = plan.settings("aws") if DNS_PROVIDER in (entry.cloud for entry in plan.clouds) else None
        configure_aws_provider(
            self,
            plan,
            region=aws.region if aws else DEFAULT_REGION,
            account_id=aws.account_id if aws else None,
        )
        hosts = {
            endpoint.cloud: _host(
                remote_state(
                    self,
                    f"{endpoint.cloud}-state",
                    endpoint.stack,
                    plan.state,
                    project_dir=project_dir,
                    stack_dir=stack_dir,
                ).get("endpoints")
            )
            for endpoint in dns.endpoints
        }
        records = GlobalDns(self, self._DNS_ID, plan=dns, hosts=hosts)
        TerraformOutput(self, "fqdn", value=dns.fqdn, description="The environment's global name.")
        TerraformOutput(self, "health_check_ids", value=records.health_check_ids)
        TerraformOutput(
            self,
            "failover_s",
            value=dns.failover_s,
            description="Worst case from an endpoint failing to clients resolving another (check interval "
            "x failure threshold + TTL).",
        )


def _host(endpoints: object) -> str:
    """The host of the first endpoint URL of a cloud stack's `endpoints` output."""
    return Token.as_string(Fn.element(Fn.split("/", Fn.element(Fn.values(endpoints), 0)), _HOST_PART))
