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

from llmdeploy.config.clouds import GcpCloud
from llmdeploy.plan import endpoints
from llmdeploy.plan.model import DeploymentPlan
from llmdeploy.status import names
from modules.common import skip_checks
from modules.gcp.labels import gcp_labels

#: Docker Hub has a preset upstream; any other registry is a custom upstream URL.
DOCKER_HUB = "docker.io"
_CMEK_REASON = (
    "the cache holds public images only; Google-managed encryption suffices and a customer key "
    "would add a KMS key ring per environment"
)


class RegistryMirrors(Construct):
    """One Docker remote repository per upstream in `names.GCP_REGISTRY_UPSTREAMS`.

    Attributes:
        repositories: upstream registry -> repository id.
        addresses: upstream registry -> the repository's pull address
            (`<region>-docker.pkg.dev/<project>/<repository>`).
    """

    def __init__(self, scope: Construct, id: str, *, plan: DeploymentPlan, settings: GcpCloud) -> None:
        super().__init__(scope, id)
        self.repositories: dict[str, str] = {}
        self.addresses: dict[str, str] = {}
        for upstream in names.GCP_REGISTRY_UPSTREAMS:
            docker = (
                ArtifactRegistryRepositoryRemoteRepositoryConfigDockerRepository(
                    public_repository="DOCKER_HUB"
                )
                if upstream == DOCKER_HUB
                else ArtifactRegistryRepositoryRemoteRepositoryConfigDockerRepository(
                    custom_repository=ArtifactRegistryRepositoryRemoteRepositoryConfigDockerRepositoryCustomRepository(
                        uri=f"https://{upstream}"
                    )
                )
            )
            repository = ArtifactRegistryRepository(
                self,
                upstream,
                repository_id=names.gcp_registry_mirror(plan, upstream),
                location=settings.region,
                format="DOCKER",
                mode="REMOTE_REPOSITORY",
                description=f"llmdeploy {endpoints.stack_prefix(plan)}: pull-through cache of {upstream}",
                remote_repository_config=ArtifactRegistryRepositoryRemoteRepositoryConfig(
                    description=upstream, docker_repository=docker
                ),
                labels=gcp_labels(plan.tags),
            )
            skip_checks(repository, {"CKV_GCP_84": _CMEK_REASON})
            self.repositories[upstream] = repository.repository_id
            self.addresses[upstream] = (
                f"{settings.region}-docker.pkg.dev/{settings.project_id}/{repository.repository_id}"
            )
