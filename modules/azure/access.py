"""Who may reach what: clients to Front Door (its WAF policy), Front Door to the engines (an NSG).

The instances' subnet admits only Azure Front Door's back end (service tag AzureFrontDoor.Backend)
and the load balancers' probes on the engine ports; everything else inbound is denied. The WAF
policy, attached to every Front Door domain, blocks clients outside the configured CIDRs (for an
internal endpoint without any, the VNet's NAT address: Front Door is always public, so "internal"
means "only from our VNet") and, with an API key, every request whose `Authorization` header is not
`Bearer <key>`, with 403, except `GET /<model>/health` when global DNS checks the endpoint (Route 53
cannot send a key). The key is read from Key Vault at plan time: its value reaches Terraform's
state, never the synthesized JSON. Front Door Standard runs custom rules only (managed rule sets
need Premium).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from cdktn_provider_azurerm.cdn_frontdoor_firewall_policy import (
    CdnFrontdoorFirewallPolicy,
    CdnFrontdoorFirewallPolicyCustomRule,
    CdnFrontdoorFirewallPolicyCustomRuleMatchCondition,
)
from cdktn_provider_azurerm.data_azurerm_key_vault_secret import DataAzurermKeyVaultSecret
from cdktn_provider_azurerm.network_security_group import NetworkSecurityGroup
from cdktn_provider_azurerm.network_security_rule import NetworkSecurityRule
from cdktn_provider_azurerm.subnet_network_security_group_association import (
    SubnetNetworkSecurityGroupAssociation,
)
from constructs import Construct

from llmdeploy.config.environment import Access as AccessConfig
from modules.azure.network import Network

FRONT_DOOR_SKU = "Standard_AzureFrontDoor"
#: Service tags of Front Door's back end (what reaches the origins) and of Azure's probes.
FRONT_DOOR_TAG = "AzureFrontDoor.Backend"
PROBE_TAG = "AzureLoadBalancer"
_FIRST_PRIORITY = 100
_DENY_PRIORITY = 4096
_WAF_NAME = re.compile(r"[^A-Za-z0-9]")
_FORBIDDEN = 403


class Access(Construct):
    """The subnet's network security group, the Front Door WAF policy and the API key.

    Attributes:
        firewall_policy_id: the WAF policy Front Door's security policy attaches.
        api_key: the key clients must send (a Terraform reference to the secret's value), or None.
    """

    _NSG_ID = "InstanceSecurityGroup"
    _NSG_LINK_ID = "InstanceSubnetSecurityGroup"
    _DENY_ID = "DenyOtherInbound"
    _WAF_ID = "ClientPolicy"
    _API_KEY_ID = "ApiKey"

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        location: str,
        resource_group: str,
        config: AccessConfig,
        network: Network,
        engine_ports: Sequence[int],
        key_vault_id: str | None,
        tags: dict[str, str],
        keyless_paths: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, id)
        group = NetworkSecurityGroup(
            self,
            self._NSG_ID,
            name=f"{name}-instances",
            location=location,
            resource_group_name=resource_group,
            tags=tags,
        )
        ports = [str(port) for port in engine_ports]
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
            self, self._NSG_LINK_ID, subnet_id=network.subnet_id, network_security_group_id=group.id
        )
        self.api_key: str | None = None
        if config.api_key is not None:
            assert key_vault_id is not None  # the stack requires a Key Vault for named secrets
            secret = DataAzurermKeyVaultSecret(
                self, self._API_KEY_ID, name=config.api_key.secret, key_vault_id=key_vault_id
            )
            self.api_key = secret.value
        clients = [str(cidr) for cidr in config.allowed_cidrs] or list(network.nat_addresses)
        rules = [
            _block_unless(1, "AllowedClients", "RemoteAddr", "IPMatch", clients),
        ]
        if keyless_paths:
            rules.append(_keyless_health(2, keyless_paths))
        if self.api_key is not None:
            rules.append(
                _block_unless(
                    3, "ApiKey", "RequestHeader", "Equal", [f"Bearer {self.api_key}"], "Authorization"
                )
            )
        policy = CdnFrontdoorFirewallPolicy(
            self,
            self._WAF_ID,
            name=_WAF_NAME.sub("", name),
            resource_group_name=resource_group,
            sku_name=FRONT_DOOR_SKU,
            mode="Prevention",
            enabled=True,
            custom_block_response_status_code=_FORBIDDEN,
            custom_rule=rules,
            tags=tags,
        )
        self.firewall_policy_id: str = policy.id


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


def _keyless_health(priority: int, paths: Sequence[str]) -> CdnFrontdoorFirewallPolicyCustomRule:
    """Lets `GET <path>` through before the key is checked: Route 53's health checks send no key.

    EndsWith, because RequestUri may hold the whole URL; the health checks send no query string.
    """
    return CdnFrontdoorFirewallPolicyCustomRule(
        name="KeylessHealth",
        priority=priority,
        type="MatchRule",
        action="Allow",
        enabled=True,
        match_condition=[
            CdnFrontdoorFirewallPolicyCustomRuleMatchCondition(
                match_variable="RequestMethod", operator="Equal", match_values=["GET"]
            ),
            CdnFrontdoorFirewallPolicyCustomRuleMatchCondition(
                match_variable="RequestUri", operator="EndsWith", match_values=list(paths)
            ),
        ],
    )


def _block_unless(
    priority: int, name: str, variable: str, operator: str, values: list[str], selector: str | None = None
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
                selector=selector,
                negation_condition=True,
                match_values=values,
            )
        ],
    )
