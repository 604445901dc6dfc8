"""The Azure network: a VNet with one subnet for the GPU instances, behind a NAT gateway.

The instances have no public addresses: they reach the model hub and registries through the NAT
gateway, whose address is reserved so an internal endpoint can admit the VNet by it. The subnet's
network security group lives in `Access`, which knows the ports.
"""

from __future__ import annotations

from cdktn import Fn
from cdktn_provider_azurerm.nat_gateway import NatGateway
from cdktn_provider_azurerm.nat_gateway_public_ip_association import NatGatewayPublicIpAssociation
from cdktn_provider_azurerm.public_ip import PublicIp
from cdktn_provider_azurerm.subnet import Subnet
from cdktn_provider_azurerm.subnet_nat_gateway_association import SubnetNatGatewayAssociation
from cdktn_provider_azurerm.virtual_network import VirtualNetwork
from constructs import Construct

from llmdeploy.clouds.azure.resolve import AzurePlan


class Network(Construct):
    """The VNet and subnet the fleets are placed in.

    Attributes:
        subnet_id: the instances' subnet.
        nat_addresses: the addresses the instances' outbound traffic comes from.
    """

    _VNET_ID = "VirtualNetwork"
    _SUBNET_ID = "InstanceSubnet"
    _NAT_ADDRESS_ID = "NatAddress"
    _NAT_ID = "NatGateway"
    _NAT_ADDRESS_LINK_ID = "NatGatewayAddress"
    _NAT_SUBNET_LINK_ID = "NatGatewaySubnet"

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        plan: AzurePlan,
        resource_group: str,
    ) -> None:
        super().__init__(scope, id)
        name, location, tags = plan.name, plan.location, dict(plan.tags)
        vnet = VirtualNetwork(
            self,
            self._VNET_ID,
            name=name,
            location=location,
            resource_group_name=resource_group,
            address_space=[plan.vnet_cidr],
            tags=tags,
        )
        subnet = Subnet(
            self,
            self._SUBNET_ID,
            name="instances",
            resource_group_name=resource_group,
            virtual_network_name=vnet.name,
            address_prefixes=[Fn.cidrsubnet(plan.vnet_cidr, plan.subnet_newbits, 0)],
            # Outbound only through the NAT gateway, never through Azure's implicit default access.
            default_outbound_access_enabled=False,
        )
        address = public_address(
            self,
            self._NAT_ADDRESS_ID,
            plan.nat_address,
            location=location,
            resource_group=resource_group,
            tags=tags,
        )
        nat = NatGateway(
            self,
            self._NAT_ID,
            name=name,
            location=location,
            resource_group_name=resource_group,
            sku_name="Standard",
            tags=tags,
        )
        NatGatewayPublicIpAssociation(
            self, self._NAT_ADDRESS_LINK_ID, nat_gateway_id=nat.id, public_ip_address_id=address.id
        )
        SubnetNatGatewayAssociation(
            self, self._NAT_SUBNET_LINK_ID, subnet_id=subnet.id, nat_gateway_id=nat.id
        )
        self.subnet_id: str = subnet.id
        self.nat_addresses: list[str] = [address.ip_address]


def public_address(
    scope: Construct,
    construct_id: str,
    name: str,
    *,
    location: str,
    resource_group: str,
    tags: dict[str, str],
    zones: list[str] | None = None,
) -> PublicIp:
    """A static Standard public IP address (zone-redundant over `zones` when given)."""
    return PublicIp(
        scope,
        construct_id,
        name=name,
        allocation_method="Static",
        sku="Standard",
        zones=zones,
        location=location,
        resource_group_name=resource_group,
        tags=tags,
    )
