"""Artifact Registry remote repositories: a pull-through cache per image registry the VMs pull from.

Every VM leaves through the one Cloud NAT address, and Docker Hub allows 10 anonymous pulls per
hour per IPv4 address (docker/docs#22134), so a rolling update or spot churn would hit its limit.
The VMs pull through these remote repositories instead (Private Google Access, no NAT); a cache
miss is fetched from the upstream once and kept. Each fleet's service account reads them.
"""

from __future__ import annotations

from cdktn_provider_google.artifact_registry_repository import (
    ArtifactRegistryRepository,
    ArtifactRegistryRepositoryRemoteRepositoryConfig,
    ArtifactRegistryRepositoryRemoteRepositoryConfigDockerRepository,
    ArtifactRegistryRepositoryRemoteRepositoryConfigDockerRepositoryCustomRepository,
)
from constructs import Construct

from llmdeploy.clouds.gcp.resolve import GcpPlan
from modules.common import skip_checks

_CMEK_REASON = (
    "the cache holds public images only; Google-managed encryption suffices and a customer key "
    "would add a KMS key ring per environment"
)


class RegistryMirrors(Construct):
    """One Docker remote repository per resolved upstream (`GcpPlan.registries`).

    Attributes:
        repositories: upstream registry -> repository id.
        addresses: upstream registry -> the repository's pull address
            (`<region>-docker.pkg.dev/<project>/<repository>`).
    """

    def __init__(self, scope: Construct, id: str, *, gcp: GcpPlan) -> None:
        super().__init__(scope, id)
        self.repositories: dict[str, str] = {}
        self.addresses: dict[str, str] = {}
        for registry in gcp.registries:
            upstream = registry.upstream
            repository = ArtifactRegistryRepository(
                self,
                upstream,
                repository_id=registry.repository_id,
                location=gcp.region,
                format="DOCKER",
                mode="REMOTE_REPOSITORY",
                description=f"llmdeploy {gcp.name}: pull-through cache of {upstream}",
                remote_repository_config=ArtifactRegistryRepositoryRemoteRepositoryConfig(
                    description=upstream,
                    docker_repository=ArtifactRegistryRepositoryRemoteRepositoryConfigDockerRepository(
                        public_repository=registry.public_repository,
                        custom_repository=ArtifactRegistryRepositoryRemoteRepositoryConfigDockerRepositoryCustomRepository(
                            uri=registry.custom_uri
                        )
                        if registry.custom_uri
                        else None,
                    ),
                ),
                labels=gcp.labels,
            )
            skip_checks(repository, {"CKV_GCP_84": _CMEK_REASON})
            self.repositories[upstream] = repository.repository_id
            self.addresses[upstream] = f"{gcp.registry_host}/{repository.repository_id}"
