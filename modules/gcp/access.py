"""Who may reach what: clients to the load balancer (Cloud Armor), the load balancer to the engines.

The instances admit only Google's load balancer proxies and health checkers, on the engine ports,
and may send only HTTPS/HTTP out. The Cloud Armor policy on every backend service admits the
configured client CIDRs, by the connection's source address (the global load balancer always has a
public address, so validation refuses an `internal` scheme on GCP and an internet-facing one always
lists its CIDRs); everything else gets 403. The API key is not the load balancer's business: each
VM's proxy checks it against the keys it reads from Secret Manager, so no policy, plan or state
holds it. Only the firewall rule that denies other egress logs its connections: logging every
allowed connection of an LLM service bills more than it tells.
"""

from __future__ import annotations

from typing import Any

from cdktn_provider_google.compute_firewall import (
    ComputeFirewall,
    ComputeFirewallAllow,
    ComputeFirewallDeny,
    ComputeFirewallLogConfig,
)
from cdktn_provider_google.compute_security_policy import (
    ComputeSecurityPolicy,
    ComputeSecurityPolicyRule,
    ComputeSecurityPolicyRuleMatch,
    ComputeSecurityPolicyRuleMatchConfig,
)
from constructs import Construct

from llmdeploy.clouds.gcp.resolve import GcpPlan
from modules.gcp.network import Network

#: Where Google's external Application Load Balancer proxies and health checkers connect from
#: (https://cloud.google.com/load-balancing/docs/health-check-concepts#ip-ranges).
GOOGLE_FRONT_ENDS = ("35.191.0.0/16", "130.211.0.0/22")
ANYWHERE = "0.0.0.0/0"
_OUTBOUND_PORTS = ("443", "80")
_DENY_PRIORITY = 65534
#: Cloud Armor priorities: client rules; the default rule is the last there is.
_FIRST_RULE_PRIORITY = 1000
_DEFAULT_RULE_PRIORITY = 2147483647
_DENY = "deny(403)"


class Access(Construct):
    """The instances' firewall rules and the load balancer's Cloud Armor policy.

    Attributes:
        instance_tag: network tag of every GPU instance, the firewall rules' target.
        security_policy_id: the Cloud Armor policy every backend service uses.
    """

    _FROM_LB_ID = "FromLoadBalancer"
    _OUTBOUND_ID = "Outbound"
    _DENY_OUTBOUND_ID = "DenyOtherOutbound"
    _POLICY_ID = "ClientPolicy"

    def __init__(self, scope: Construct, id: str, *, gcp: GcpPlan, network: Network) -> None:
        super().__init__(scope, id)
        name = gcp.name
        self.instance_tag = gcp.instance_tag
        self._firewall(name, network, gcp.engine_ports)
        policy = ComputeSecurityPolicy(
            self,
            self._POLICY_ID,
            name=name,
            description=f"llmdeploy {name}: admitted clients",
            type="CLOUD_ARMOR",
            rule=[
                *(
                    _rule(_FIRST_RULE_PRIORITY + index, "allow", list(chunk), "admitted clients")
                    for index, chunk in enumerate(gcp.client_ranges)
                ),
                _rule(_DEFAULT_RULE_PRIORITY, _DENY, ["*"], "everyone else"),
            ],
        )
        self.security_policy_id: str = policy.id

    def _firewall(self, name: str, network: Network, engine_ports: tuple[int, ...]) -> None:
        # The direction, ranges and verdict of each rule; the rest is common to all.
        rules: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
            (
                self._FROM_LB_ID,
                "from-lb",
                "Google load balancer proxies and health checks to the engines",
                {
                    "direction": "INGRESS",
                    "source_ranges": list(GOOGLE_FRONT_ENDS),
                    "allow": [
                        ComputeFirewallAllow(protocol="tcp", ports=[str(port) for port in engine_ports])
                    ],
                },
            ),
            (
                self._OUTBOUND_ID,
                "outbound",
                "model hub, registries and Google APIs",
                {
                    "direction": "EGRESS",
                    "destination_ranges": [ANYWHERE],
                    "allow": [ComputeFirewallAllow(protocol="tcp", ports=list(_OUTBOUND_PORTS))],
                },
            ),
            (
                self._DENY_OUTBOUND_ID,
                "deny-outbound",
                "nothing else goes out (the metadata server stays reachable)",
                {
                    "direction": "EGRESS",
                    "destination_ranges": [ANYWHERE],
                    "priority": _DENY_PRIORITY,
                    "deny": [ComputeFirewallDeny(protocol="all")],
                    "log_config": ComputeFirewallLogConfig(metadata="INCLUDE_ALL_METADATA"),
                },
            ),
        )
        for construct_id, suffix, description, traffic in rules:
            ComputeFirewall(
                self,
                construct_id,
                name=f"{name}-{suffix}",
                network=network.network_id,
                description=description,
                target_tags=[self.instance_tag],
                **traffic,
            )


def _rule(priority: int, action: str, ranges: list[str], description: str) -> ComputeSecurityPolicyRule:
    return ComputeSecurityPolicyRule(
        priority=priority,
        action=action,
        description=description,
        match=ComputeSecurityPolicyRuleMatch(
            versioned_expr="SRC_IPS_V1", config=ComputeSecurityPolicyRuleMatchConfig(src_ip_ranges=ranges)
        ),
    )
