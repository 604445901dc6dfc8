"""Artifact Registry remote repositories: a pull-through cache per image registry the VMs pull from.

Every VM leaves through the one Cloud NAT address, and Docker Hub allows 10 anonymous pulls per
hour per IPv4 address (docker/docs#22134), so a rolling update or spot churn would hit its limit.
The VMs pull through these remote repositories instead (Private Google Access, no NAT); a cache
miss is fetched from the upstream once and kept. Each fleet's service account reads them.

With `clouds.gcp.registry_credentials`, a repository signs in to its upstream with a user name and a
Secret Manager secret version (`upstream_credentials.username_password_credentials`; the provider
takes `projects/{project}/secrets/{secret}/versions/{version}`). The Artifact Registry service agent,
`service-<project number>@gcp-sa-artifactregistry.iam.gserviceaccount.com`, needs
`roles/secretmanager.secretAccessor` on that secret (Artifact Registry docs, "Configure remote
repository authentication to Docker Hub"): granted on that one secret, before the repository is
created, as Artifact Registry validates the upstream and its credential on creation. The secret's
value is never read here.
"""

from __future__ import annotations

from cdktn_provider_google.artifact_registry_repository import (
    ArtifactRegistryRepository,
    ArtifactRegistryRepositoryRemoteRepositoryConfig,
    ArtifactRegistryRepositoryRemoteRepositoryConfigDockerRepository,
    ArtifactRegistryRepositoryRemoteRepositoryConfigDockerRepositoryCustomRepository,
    ArtifactRegistryRepositoryRemoteRepositoryConfigUpstreamCredentials,
    ArtifactRegistryRepositoryRemoteRepositoryConfigUpstreamCredentialsUsernamePasswordCredentials,
)
from cdktn_provider_google.data_google_project import DataGoogleProject
from cdktn_provider_google.secret_manager_secret_iam_member import SecretManagerSecretIamMember
from constructs import Construct

from llmdeploy.clouds.gcp.resolve import GcpPlan, GcpRegistry
from modules.common import skip_checks

#: What the Artifact Registry service agent may do with a credential's secret: read its versions.
SECRET_ACCESSOR = "roles/secretmanager.secretAccessor"
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

    _PROJECT_ID = "Project"
    #: `<upstream>` + this: the service agent's read grant on the upstream's credential secret.
    _SECRET_ACCESS_SUFFIX = "-SecretAccess"

    def __init__(self, scope: Construct, id: str, *, gcp: GcpPlan) -> None:
        super().__init__(scope, id)
        self.repositories: dict[str, str] = {}
        self.addresses: dict[str, str] = {}
        project = (
            DataGoogleProject(self, self._PROJECT_ID, project_id=gcp.project_id)
            if any(registry.credential for registry in gcp.registries)
            else None
        )
        for registry in gcp.registries:
            upstream = registry.upstream
            grant = None if project is None else self._secret_access(gcp, registry, project)
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
                    upstream_credentials=_sign_in(gcp, registry),
                ),
                labels=gcp.labels,
                depends_on=[grant] if grant is not None else None,
            )
            skip_checks(repository, {"CKV_GCP_84": _CMEK_REASON})
            self.repositories[upstream] = repository.repository_id
            self.addresses[upstream] = f"{gcp.registry_host}/{repository.repository_id}"

    def _secret_access(
        self, gcp: GcpPlan, registry: GcpRegistry, project: DataGoogleProject
    ) -> SecretManagerSecretIamMember | None:
        """The service agent's read grant on exactly the upstream's credential secret."""
        if registry.credential is None:
            return None
        agent = f"service-{project.number}@gcp-sa-artifactregistry.iam.gserviceaccount.com"
        return SecretManagerSecretIamMember(
            self,
            f"{registry.upstream}{self._SECRET_ACCESS_SUFFIX}",
            project=gcp.project_id,
            secret_id=registry.credential.secret,
            role=SECRET_ACCESSOR,
            member=f"serviceAccount:{agent}",
        )


def _sign_in(
    gcp: GcpPlan, registry: GcpRegistry
) -> ArtifactRegistryRepositoryRemoteRepositoryConfigUpstreamCredentials | None:
    """The repository's upstream sign-in, None for anonymous pulls."""
    credential = registry.credential
    if credential is None:
        return None
    version = f"projects/{gcp.project_id}/secrets/{credential.secret}/versions/{credential.version}"
    return ArtifactRegistryRepositoryRemoteRepositoryConfigUpstreamCredentials(
        username_password_credentials=ArtifactRegistryRepositoryRemoteRepositoryConfigUpstreamCredentialsUsernamePasswordCredentials(
            username=credential.username, password_secret_version=version
        )
    )
