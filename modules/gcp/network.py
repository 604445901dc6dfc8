"""The GCP network: a VPC with one regional subnet for the GPU instances and Cloud NAT.

The instances have no external addresses: they reach the model hub, registries and Google APIs
through Cloud NAT (Google APIs also by Private Google Access). The NAT address is reserved, so an
internal endpoint can admit the VPC by it. Firewall rules live in `Access`, which knows the ports.
Subnet flow logs keep a sample of the flows with their metadata: logging every flow of an LLM
service's streams bills more than it tells.
"""

from __future__ import annotations

from cdktn_provider_google.compute_address import ComputeAddress
from cdktn_provider_google.compute_network import ComputeNetwork
from cdktn_provider_google.compute_router import ComputeRouter
from cdktn_provider_google.compute_router_nat import (
    ComputeRouterNat,
    ComputeRouterNatLogConfig,
    ComputeRouterNatSubnetwork,
)
from cdktn_provider_google.compute_subnetwork import ComputeSubnetwork, ComputeSubnetworkLogConfig
from constructs import Construct

from llmdeploy.clouds.gcp.resolve import GcpPlan

#: Share of the subnet's flows that flow logs keep.
FLOW_LOG_SAMPLING = 0.1


class Network(Construct):
    """The VPC network and subnet the fleets are placed in.

    Attributes:
        network_id: the VPC network.
        subnet_id: the instances' subnet.
        subnet_cidr: its range.
        nat_addresses: the addresses the instances' outbound traffic comes from.
    """

    _NETWORK_ID = "Network"
    _SUBNET_ID = "Subnet"
    _ROUTER_ID = "Router"
    _NAT_ADDRESS_ID = "NatAddress"
    _NAT_ID = "Nat"

    def __init__(self, scope: Construct, id: str, *, gcp: GcpPlan) -> None:
        super().__init__(scope, id)
        name, region = gcp.name, gcp.region
        network = ComputeNetwork(
            self, self._NETWORK_ID, name=name, auto_create_subnetworks=False, routing_mode="REGIONAL"
        )
        subnet = ComputeSubnetwork(
            self,
            self._SUBNET_ID,
            name=name,
            network=network.id,
            region=region,
            ip_cidr_range=gcp.subnet_cidr,
            private_ip_google_access=True,
            log_config=ComputeSubnetworkLogConfig(
                aggregation_interval="INTERVAL_1_MIN",
                flow_sampling=FLOW_LOG_SAMPLING,
                metadata="INCLUDE_ALL_METADATA",
            ),
        )
        router = ComputeRouter(self, self._ROUTER_ID, name=name, network=network.id, region=region)
        address = ComputeAddress(
            self, self._NAT_ADDRESS_ID, name=f"{name}-nat", region=region, labels=gcp.labels
        )
        ComputeRouterNat(
            self,
            self._NAT_ID,
            name=name,
            router=router.name,
            region=region,
            nat_ip_allocate_option="MANUAL_ONLY",
            nat_ips=[address.self_link],
            source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
            subnetwork=[
                ComputeRouterNatSubnetwork(name=subnet.id, source_ip_ranges_to_nat=["ALL_IP_RANGES"])
            ],
            log_config=ComputeRouterNatLogConfig(enable=True, filter="ERRORS_ONLY"),
        )
        self.network_id: str = network.id
        self.subnet_id: str = subnet.id
        self.subnet_cidr = gcp.subnet_cidr
        self.nat_addresses: list[str] = [address.address]
