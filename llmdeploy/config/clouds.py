"""Where an environment runs: one optional section per cloud, with region, zones and network."""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Self

from pydantic import Field, model_validator

from llmdeploy.catalog import Cloud, closest, regions
from llmdeploy.config.common import EnvStr, Strict

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

    vpc_id: str = Field(pattern=r"^vpc-[0-9a-f]+$")
    public_subnet_ids: list[str] = Field(min_length=2, description="Subnets for the load balancer.")
    private_subnet_ids: list[str] = Field(min_length=2, description="Subnets for the GPU instances.")


class AwsNetwork(Strict):
    """The AWS network: a new VPC (default) or an existing one."""

    vpc_cidr: IPv4Network = Field(
        default=IPv4Network("10.40.0.0/16"), description="CIDR of the VPC llmdeploy creates."
    )
    existing: AwsExistingNetwork | None = Field(
        default=None, description="Deploy into this VPC instead of creating one. Default: a new VPC."
    )


class AwsCloud(Strict):
    """AWS settings of an environment."""

    region: str = Field(description="AWS region, e.g. us-east-1.")
    zones: list[str] = Field(
        min_length=2, description="Availability zones to spread over (an ALB needs at least two)."
    )
    account_id: EnvStr | None = Field(
        default=None, description="Expected account id; a plan against another account is refused."
    )
    network: AwsNetwork = Field(default_factory=AwsNetwork)
    ami_parameter: str = Field(
        default=DLAMI_PARAMETER,
        description="SSM parameter naming the GPU AMI (the Deep Learning Base OSS NVIDIA driver AMI).",
    )

    @model_validator(mode="after")
    def _known_region(self) -> Self:
        check_region("aws", self.region, self.zones)
        return self


class GcpCloud(Strict):
    """GCP settings of an environment."""

    project_id: EnvStr = Field(description="GCP project id; may be ${GCP_PROJECT}.")
    region: str = Field(description="GCP region, e.g. us-central1.")
    zones: list[str] = Field(min_length=1, description="Zones the regional instance groups spread over.")
    subnet_cidr: IPv4Network = Field(default=IPv4Network("10.50.0.0/20"))
    image_family: str = Field(
        default="common-cu128-ubuntu-2204-nvidia-570",
        description="Deep Learning VM image family (project deeplearning-platform-release), driver included.",
    )

    @model_validator(mode="after")
    def _known_region(self) -> Self:
        check_region("gcp", self.region, self.zones)
        return self


class AzureKeyVault(Strict):
    """An existing Key Vault (Azure RBAC authorization): where Azure reads the secrets a file names."""

    name: str = Field(pattern=r"^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$", description="The vault's name.")
    resource_group: str = Field(min_length=1, description="The resource group the vault is in.")


class AzureCloud(Strict):
    """Azure settings of an environment."""

    subscription_id: EnvStr | None = Field(default=None, description="May be ${AZURE_SUBSCRIPTION_ID}.")
    location: str = Field(description="Azure region, e.g. eastus.")
    zones: list[str] = Field(min_length=1, description="Availability zones, e.g. ['1', '2'].")
    vnet_cidr: IPv4Network = Field(default=IPv4Network("10.60.0.0/16"))
    key_vault: AzureKeyVault | None = Field(
        default=None,
        description="Key Vault holding the secrets this file names (hf_token, api_key); "
        "required when one is named. Default: none.",
    )

    @model_validator(mode="after")
    def _known_region(self) -> Self:
        check_region("azure", self.location, self.zones, region_key="location")
        return self


class Clouds(Strict):
    """The clouds an environment deploys to; each is optional, at least one is required."""

    aws: AwsCloud | None = None
    gcp: GcpCloud | None = None
    azure: AzureCloud | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> Self:
        if not self.names():
            raise ValueError("no cloud configured: add at least one of aws, gcp, azure")
        return self

    def names(self) -> list[Cloud]:
        """The configured clouds, in a fixed order."""
        return [cloud for cloud in ("aws", "gcp", "azure") if getattr(self, cloud) is not None]
