"""Who may reach what: clients to Front Door (its WAF policy), Front Door to the engines (an NSG).

The instances' subnet admits only Azure Front Door's back end (service tag AzureFrontDoor.Backend)
and the load balancers' probes on the engine ports; everything else inbound is denied. That tag is
shared by every Front Door customer, so the proxy on each VM also requires this profile's
`X-Azure-FDID` (https://learn.microsoft.com/azure/frontdoor/origin-security), read from the VM's
user data. The WAF policy, attached to every Front Door domain, blocks with 403 clients whose
socket address (`SocketAddr`: the address Front Door sees; `RemoteAddr` may come from a client's
X-Forwarded-For) is outside the configured CIDRs (for an internal endpoint without any, the VNet's
NAT address: Front Door is always public, so "internal" means "only from our VNet"). The API key is
checked by the proxy on each VM, not here: no WAF rule, plan or state holds it. Front Door Standard
runs custom rules only (managed rule sets need Premium).
"""

from __future__ import annotations

from collections.abc import Sequence

from cdktn_provider_azurerm.cdn_frontdoor_firewall_policy import (
    CdnFrontdoorFirewallPolicy,
    CdnFrontdoorFirewallPolicyCustomRule,
    CdnFrontdoorFirewallPolicyCustomRuleMatchCondition,
)
from cdktn_provider_azurerm.network_security_group import NetworkSecurityGroup
from cdktn_provider_azurerm.network_security_rule import NetworkSecurityRule
from cdktn_provider_azurerm.subnet_network_security_group_association import (
    SubnetNetworkSecurityGroupAssociation,
)
from constructs import Construct

from llmdeploy.clouds.azure.resolve import AzurePlan

FRONT_DOOR_SKU = "Standard_AzureFrontDoor"
#: Service tags of Front Door's back end (what reaches the origins) and of Azure's probes.
FRONT_DOOR_TAG = "AzureFrontDoor.Backend"
PROBE_TAG = "AzureLoadBalancer"
_FIRST_PRIORITY = 100
_DENY_PRIORITY = 4096
_FORBIDDEN = 403


class Access(Construct):
    """The subnet's network security group and the Front Door WAF policy.

    Attributes:
        firewall_policy_id: the WAF policy Front Door's security policy attaches.
        security_group: the subnet's network security group's name (the router group adds rules).
    """

    _NSG_ID = "InstanceSecurityGroup"
    _NSG_LINK_ID = "InstanceSubnetSecurityGroup"
    _DENY_ID = "DenyOtherInbound"
    _WAF_ID = "ClientPolicy"

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        plan: AzurePlan,
        resource_group: str,
        subnet_id: str,
        nat_addresses: Sequence[str],
    ) -> None:
        super().__init__(scope, id)
        group = NetworkSecurityGroup(
            self,
            self._NSG_ID,
            name=plan.security_group,
            location=plan.location,
            resource_group_name=resource_group,
            tags=dict(plan.tags),
        )
        ports = [str(port) for port in plan.engine_ports]
        for index, (construct_id, source, description) in enumerate(
            (
                ("FromFrontDoor", FRONT_DOOR_TAG, "Front Door's back end to the engines"),
                ("FromProbes", PROBE_TAG, "load balancer health probes to the engines"),
            )
        ):
            _inbound(
                self,
                construct_id,
                group,
                resource_group,
                _FIRST_PRIORITY + 10 * index,
                "Allow",
                "Tcp",
                source,
                ports,
                description,
            )
        _inbound(
            self,
            self._DENY_ID,
            group,
            resource_group,
            _DENY_PRIORITY,
            "Deny",
            "*",
            "*",
            ["0-65535"],
            "nothing else comes in",
        )
        SubnetNetworkSecurityGroupAssociation(
            self, self._NSG_LINK_ID, subnet_id=subnet_id, network_security_group_id=group.id
        )
        # No client CIDRs: only the VNet's own NAT address, whose value Azure assigns.
        clients = list(plan.allowed_cidrs) or list(nat_addresses)
        policy = CdnFrontdoorFirewallPolicy(
            self,
            self._WAF_ID,
            name=plan.waf_policy,
            resource_group_name=resource_group,
            sku_name=FRONT_DOOR_SKU,
            mode="Prevention",
            enabled=True,
            custom_block_response_status_code=_FORBIDDEN,
            custom_rule=[_block_unless(1, "AllowedClients", "SocketAddr", "IPMatch", clients)],
            tags=dict(plan.tags),
        )
        self.firewall_policy_id: str = policy.id
        self.security_group: str = group.name


def _inbound(
    scope: Construct,
    construct_id: str,
    group: NetworkSecurityGroup,
    resource_group: str,
    priority: int,
    access: str,
    protocol: str,
    source: str,
    ports: list[str],
    description: str,
) -> None:
    NetworkSecurityRule(
        scope,
        construct_id,
        name=construct_id,
        description=description,
        network_security_group_name=group.name,
        resource_group_name=resource_group,
        priority=priority,
        direction="Inbound",
        access=access,
        protocol=protocol,
        source_address_prefix=source,
        source_port_range="*",
        destination_address_prefix="*",
        destination_port_ranges=ports,
    )


def _block_unless(
    priority: int, name: str, variable: str, operator: str, values: list[str]
) -> CdnFrontdoorFirewallPolicyCustomRule:
    """A rule that blocks every request whose `variable` does not match `values` (fails closed)."""
    return CdnFrontdoorFirewallPolicyCustomRule(
        name=name,
        priority=priority,
        type="MatchRule",
        action="Block",
        enabled=True,
        match_condition=[
            CdnFrontdoorFirewallPolicyCustomRuleMatchCondition(
                match_variable=variable,
                operator=operator,
                negation_condition=True,
                match_values=values,
            )
        ],
    )
