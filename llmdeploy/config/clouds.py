"""Where an environment runs: one optional section per cloud, with region, zones and network."""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Annotated, Any, Self

from pydantic import Field, model_validator

from llmdeploy.catalog import Cloud, closest, regions
from llmdeploy.config.common import Cidr, EnvExpanded, Strict
from llmdeploy.config.grammars import (
    AwsAccountId,
    AwsSsmParameter,
    AwsSubnetId,
    AwsVpcId,
    AzureKeyVaultName,
    AzureResourceGroup,
    AzureSubscriptionId,
    DomainName,
    GcpDnsZone,
    GcpImageFamily,
    GcpProjectId,
)
from llmdeploy.config.registry_credentials import (
    CREDENTIALS_HELP,
    AwsRegistryCredential,
    AzureRegistryCredential,
    GcpRegistryCredential,
    Upstream,
)

#: Subnets are a VPC/VNet CIDR split in 2**SUBNET_NEWBITS parts: room for 8 zones of public and 8 of
#: private subnets (modules/aws/network.py; Azure uses the first part).
SUBNET_NEWBITS = 4
#: An ALB needs subnets of at least /27 with 8 free addresses (ELB user guide, "Subnets for your load
#: balancer"); other subnets may be as small as /29 (Azure, GCP). AWS and Azure keep 5 addresses of
#: every subnet for themselves (GCP 4: 5 is the safe bound for all three).
ALB_SUBNET_PREFIX = 27
SMALLEST_SUBNET_PREFIX = 29
_RESERVED_PER_SUBNET = 5

DLAMI_PARAMETER = "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id"


def check_region(cloud: Cloud, region: str, zones: list[str], region_key: str = "region") -> None:
    """Refuse a region or zone the cloud does not have, suggesting the closest known one."""
    known = regions(cloud)
    if region not in known:
        guess = closest(region, list(known))
        hint = f"did you mean {guess!r}? " if guess else ""
        raise ValueError(
            f"{region_key}: {cloud} has no region {region!r}; {hint}known regions: {', '.join(known)}"
        )
    unknown = [zone for zone in zones if zone not in known[region]]
    if unknown:
        raise ValueError(
            f"zones: {cloud} region {region} has no zone {', '.join(map(repr, unknown))}; "
            f"its zones are {', '.join(known[region])}"
        )
    if len(set(zones)) != len(zones):
        raise ValueError("zones: a zone is listed more than once")


class AwsExistingNetwork(Strict):
    """An existing VPC to deploy into instead of creating one."""

    vpc_id: AwsVpcId = Field(description="The VPC, e.g. vpc-0abc12345def67890.")
    public_subnet_ids: list[AwsSubnetId] = Field(
        min_length=2, description="Subnets for the load balancer, one per zone (subnet-...)."
    )
    private_subnet_ids: list[AwsSubnetId] = Field(
        min_length=2, description="Subnets for the GPU instances, one per zone (subnet-...)."
    )


class AwsNetwork(Strict):
    """The AWS network: a new VPC (default) or an existing one."""

    vpc_cidr: Cidr = Field(
        default=IPv4Network("10.40.0.0/16"),
        description=f"CIDR of the VPC llmdeploy creates; split in {2**SUBNET_NEWBITS} subnets, so /23 "
        "or larger.",
    )
    existing: AwsExistingNetwork | None = Field(
        default=None, description="Deploy into this VPC instead of creating one. Default: a new VPC."
    )


class AwsCloud(Strict):
    """AWS settings of an environment."""

    region: str = Field(description="AWS region, e.g. us-east-1 (one of the catalog's regions).")
    zones: list[str] = Field(
        min_length=2, description="Availability zones to spread over (an ALB needs at least two)."
    )
    account_id: Annotated[AwsAccountId, EnvExpanded] | None = Field(
        default=None,
        description="Expected 12-digit account id; a plan against another account is refused. "
        "May be ${AWS_ACCOUNT_ID}.",
    )
    network: AwsNetwork = Field(
        default_factory=AwsNetwork, description="The VPC: a new one (default) or an existing one."
    )
    ami_parameter: AwsSsmParameter = Field(
        default=DLAMI_PARAMETER,
        description="SSM parameter naming the GPU AMI (the Deep Learning Base OSS NVIDIA driver AMI).",
    )
    dns_zone: DomainName | None = Field(
        default=None,
        description="Existing Route 53 public hosted zone (its domain name, e.g. example.com) to create "
        "the endpoint's alias records in: access.tls.domain (path routing) or each <model>.<domain> "
        "(host routing), which must lie in the zone. With routing.enabled the records fail over from "
        "the routers' load balancer to the fleets' one. Default: none; clients use the load balancer's "
        "name.",
    )
    registry_credentials: dict[Upstream, AwsRegistryCredential] = Field(
        default_factory=dict, description=CREDENTIALS_HELP.format(kind="Secrets Manager secret")
    )

    @model_validator(mode="after")
    def _known_region(self) -> Self:
        check_region("aws", self.region, self.zones)
        return self


class GcpCloud(Strict):
    """GCP settings of an environment."""

    project_id: Annotated[GcpProjectId, EnvExpanded] = Field(
        description="GCP project id; may be ${GCP_PROJECT}."
    )
    region: str = Field(description="GCP region, e.g. us-central1 (one of the catalog's regions).")
    zones: list[str] = Field(min_length=1, description="Zones the regional instance groups spread over.")
    subnet_cidr: Cidr = Field(
        default=IPv4Network("10.50.0.0/20"), description="CIDR of the subnet llmdeploy creates."
    )
    image_family: GcpImageFamily = Field(
        default="common-cu128-ubuntu-2204-nvidia-570",
        description="Deep Learning VM image family (project deeplearning-platform-release), driver included.",
    )
    dns_zone: GcpDnsZone | None = Field(
        default=None,
        description="Cloud DNS managed zone (its name, in project_id) to create the endpoint's A records "
        "in (access.tls.domain and its model hosts). Default: none; the records are in the dns_records "
        "output.",
    )
    registry_credentials: dict[Upstream, GcpRegistryCredential] = Field(
        default_factory=dict, description=CREDENTIALS_HELP.format(kind="user name and Secret Manager secret")
    )

    @model_validator(mode="after")
    def _known_region(self) -> Self:
        check_region("gcp", self.region, self.zones)
        return self


class AzureKeyVault(Strict):
    """An existing Key Vault (Azure RBAC authorization): where Azure reads the secrets a file names."""

    name: AzureKeyVaultName = Field(description="The vault's name.")
    resource_group: AzureResourceGroup = Field(description="The resource group the vault is in.")


class AzureDnsZone(Strict):
    """An existing Azure DNS zone the custom domains' records are created in."""

    name: DomainName = Field(description="The zone, i.e. its domain name, e.g. example.com.")
    resource_group: AzureResourceGroup = Field(description="The resource group the zone is in.")


class AzureCloud(Strict):
    """Azure settings of an environment."""

    subscription_id: Annotated[AzureSubscriptionId, EnvExpanded] = Field(
        description="The subscription to deploy to (a GUID); usually ${ARM_SUBSCRIPTION_ID}, the "
        "variable azurerm reads. Names the provider's subscription, the registry's and the routers' "
        "role names (unique across subscriptions) and where status, doctor and smoke read."
    )
    location: str = Field(description="Azure region, e.g. eastus (one of the catalog's regions).")
    zones: list[str] = Field(min_length=1, description="Availability zones, e.g. ['1', '2'].")
    vnet_cidr: Cidr = Field(
        default=IPv4Network("10.60.0.0/16"),
        description=f"CIDR of the virtual network llmdeploy creates; its first 1/{2**SUBNET_NEWBITS} "
        "is the fleets' subnet.",
    )
    key_vault: AzureKeyVault | None = Field(
        default=None,
        description="Key Vault holding the secrets this file names (hf_token, api_key); "
        "required when one is named. Default: none.",
    )
    dns_zone: AzureDnsZone | None = Field(
        default=None,
        description="Azure DNS zone to create the custom domains' validation TXT and CNAME records in "
        "(access.tls.domain must lie inside it, below its apex). Default: none; the records are in the "
        "dns_records output.",
    )
    registry_credentials: dict[Upstream, AzureRegistryCredential] = Field(
        default_factory=dict, description=CREDENTIALS_HELP.format(kind="pair of Key Vault secrets")
    )

    @model_validator(mode="after")
    def _known_region(self) -> Self:
        check_region("azure", self.location, self.zones, region_key="location")
        return self

    @model_validator(mode="before")
    @classmethod
    def _subscription_named(cls, data: Any) -> Any:
        # azurerm takes the subscription from ARM_SUBSCRIPTION_ID or the az CLI's default when the
        # provider block has none (provider.go providerConfigure), but the stack's global names and
        # the routers' agents need it when the stack is synthesized: the file must say which.
        if isinstance(data, dict) and "subscription_id" not in data:
            raise ValueError(
                "subscription_id: missing: the Azure stack names its subscription in the provider and in "
                "names that must be unique across subscriptions (the registry, the routers' roles); add "
                "subscription_id: ${ARM_SUBSCRIPTION_ID} (the variable azurerm reads) or the subscription's "
                "GUID (az account show --query id)"
            )
        return data

    @model_validator(mode="after")
    def _credentials_in_a_vault(self) -> Self:
        if self.registry_credentials and self.key_vault is None:
            raise ValueError(
                "registry_credentials: the registry reads these secrets from a Key Vault, and none is "
                "named: add key_vault: {name: <vault>, resource_group: <its resource group>}"
            )
        return self


class Clouds(Strict):
    """The clouds an environment deploys to; each is optional, at least one is required."""

    aws: AwsCloud | None = Field(default=None, description="Deploy to AWS. Default: not.")
    gcp: GcpCloud | None = Field(default=None, description="Deploy to GCP. Default: not.")
    azure: AzureCloud | None = Field(default=None, description="Deploy to Azure. Default: not.")

    @model_validator(mode="after")
    def _at_least_one(self) -> Self:
        if not self.names():
            raise ValueError("no cloud configured: add at least one of aws, gcp, azure")
        return self

    def names(self) -> list[Cloud]:
        """The configured clouds, in a fixed order."""
        return [cloud for cloud in ("aws", "gcp", "azure") if getattr(self, cloud) is not None]


def subnet_problems(key: str, network: IPv4Network, replicas: int, *, split: bool, largest: int) -> list[str]:
    """Why `network` is too small for the subnets llmdeploy cuts from it and `replicas` instances.

    `split`: the network is cut in 2**SUBNET_NEWBITS subnets (else used whole); `largest`: the longest
    prefix a subnet may have (/27 where an ALB lives in it, /29 elsewhere). Every instance of every
    fleet may land in one zone (spot capacity moves), so one subnet must hold them all.
    """
    prefix = network.prefixlen + (SUBNET_NEWBITS if split else 0)
    addresses = max(2 ** (32 - prefix) - _RESERVED_PER_SUBNET, 0) if prefix <= 32 else 0
    if prefix <= largest and addresses >= replicas:
        return []
    wanted = min(largest, 32 - (replicas + _RESERVED_PER_SUBNET - 1).bit_length())
    needed = wanted - (SUBNET_NEWBITS if split else 0)
    cut = f"its /{prefix} subnets hold" if split else "it holds"
    return [
        f"{key}: {network} is too small: {cut} {addresses} usable addresses (the smallest subnet allowed "
        f"here is /{largest}), and the fleets may need {replicas} in one zone: use a /{needed} or larger"
    ]
