"""Credentials the clouds' registry caches use to pull from Docker Hub and GitHub Container Registry.

Anonymous Docker Hub pulls are limited to 10 per hour per IPv4 address or IPv6 /64 (authenticated
free accounts: 100 per hour; paid plans: no pull limit, fair use), docs.docker.com/docker-hub/usage/
(docker/docs#22134). Each cloud keeps the credential in its own secret store and its registry service
reads it there: llmdeploy names the secret, never reads its value, and grants the registry service
read access to exactly that secret where the cloud needs a grant.

- AWS: one Secrets Manager secret per upstream, named `ecr-pullthroughcache/...` and holding
  `{"username": ..., "accessToken": ...}`; ECR reads it with its service-linked role (no grant).
- GCP: the user name, and a Secret Manager secret version holding the token; the Artifact Registry
  service agent gets `roles/secretmanager.secretAccessor` on that secret.
- Azure: two Key Vault secrets (user name and token) in `clouds.azure.key_vault`; the registry's
  credential set gets `Key Vault Secrets User` on each.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Annotated, Literal

from pydantic import Field

from llmdeploy.config.common import EnvExpanded, Strict
from llmdeploy.config.grammars import grammar

#: The upstream registries whose caches take a credential (engine images come from these two).
Upstream = Literal["docker.io", "ghcr.io"]
DOCKER_HUB: Upstream = "docker.io"
#: ECR refuses a pull-through cache credential whose secret name lacks this prefix
#: (CreatePullThroughCacheRule API reference, credentialArn; ECR user guide, "Storing your upstream
#: repository credentials in an AWS Secrets Manager secret").
ECR_CREDENTIAL_PREFIX = "ecr-pullthroughcache/"

#: A Secrets Manager name (1-512 of A-Z a-z 0-9 / _ + = . @ -) that starts with ECR's prefix.
EcrCredentialSecret = Annotated[
    str,
    grammar(
        rf"^{ECR_CREDENTIAL_PREFIX}[A-Za-z0-9/_+=.@-]{{1,{512 - len(ECR_CREDENTIAL_PREFIX)}}}$",
        f"a Secrets Manager secret name starting with {ECR_CREDENTIAL_PREFIX} (ECR reads only those), "
        "then letters, digits and / _ + = . @ -",
        max_length=512,
        echo=False,
    ),
]
#: Secret Manager secret ids: `[a-zA-Z_0-9-]{1,255}` (REST reference, projects.secrets.create).
GcpSecretId = Annotated[
    str,
    grammar(
        r"^[A-Za-z0-9_-]{1,255}$",
        "a Secret Manager secret id: 1-255 letters, digits, _ and -",
        max_length=255,
        echo=False,
    ),
]
#: Key Vault object names: 1-127 letters, digits and dashes (Key Vault "Object names").
KeyVaultSecretName = Annotated[
    str,
    grammar(
        r"^[0-9A-Za-z-]{1,127}$",
        "a Key Vault secret name: 1-127 letters, digits and -",
        max_length=127,
        echo=False,
    ),
]
#: Docker Hub user names are 4-30 lower-case letters and digits, GitHub's 1-39 letters, digits and
#: single dashes: the union of both, with nothing that could open a template.
RegistryUser = Annotated[
    str,
    grammar(
        r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?$",
        "a Docker Hub or GitHub user name: 1-39 letters, digits and -",
        max_length=39,
    ),
]


class AwsRegistryCredential(Strict):
    """The Secrets Manager secret ECR's pull-through cache signs in to an upstream with."""

    secret: Annotated[EcrCredentialSecret, EnvExpanded] = Field(
        description="Secrets Manager secret in the stack's account and region, named "
        'ecr-pullthroughcache/..., holding {"username": ..., "accessToken": ...}. May be ${NAME}.'
    )


class GcpRegistryCredential(Strict):
    """The user name and Secret Manager secret version a remote repository signs in to its upstream with."""

    username: RegistryUser = Field(description="The Docker Hub or GitHub user name.")
    secret: Annotated[GcpSecretId, EnvExpanded] = Field(
        description="Secret Manager secret (in the environment's project) holding the access token. "
        "May be ${NAME}."
    )
    version: int = Field(
        ge=1,
        description="The secret's version holding the current token (Artifact Registry takes "
        "projects/<p>/secrets/<s>/versions/<n>): add a version and raise this to rotate.",
    )


class AzureRegistryCredential(Strict):
    """The Key Vault secrets an ACR credential set signs in to an upstream with."""

    username_secret: KeyVaultSecretName = Field(
        description="Secret in clouds.azure.key_vault holding the user name."
    )
    secret: Annotated[KeyVaultSecretName, EnvExpanded] = Field(
        description="Secret in clouds.azure.key_vault holding the access token. May be ${NAME}."
    )


#: What every cloud's `registry_credentials` key says of itself.
CREDENTIALS_HELP = (
    "Per upstream registry (docker.io, ghcr.io): the {kind} its registry cache signs in with. Without "
    "one, Docker Hub pulls are anonymous (10 per hour per address). Default: none."
)


def anonymous_pull_warnings(
    credentials: Mapping[str, Collection[str]], images: Mapping[str, Iterable[str]]
) -> list[str]:
    """One warning per cloud and model whose engine image comes from Docker Hub with no credential.

    `credentials`: per configured cloud, the upstreams it has a credential for; `images`: per config
    key of a model (`models[0]`), the engine images its slots run.
    """
    # Imported here: the boot layer imports the config models.
    from llmdeploy.boot.registry import split_image

    return [
        f"clouds.{cloud}.registry_credentials: {key} runs {image} from Docker Hub, which {cloud} then "
        f"pulls {_ANONYMOUS[cloud]}, and Docker Hub allows 10 anonymous pulls per hour per address; "
        f"add a {DOCKER_HUB} credential ({_WHAT[cloud]})"
        for cloud, upstreams in credentials.items()
        if DOCKER_HUB not in upstreams
        for key, used in images.items()
        for image in sorted(set(used))
        if split_image(image)[0] == DOCKER_HUB
    ]


_ANONYMOUS = {
    "aws": "on every VM through its zone's NAT address (ECR has no pull-through rule for Docker Hub "
    "without a credential)",
    "gcp": "anonymously into its Artifact Registry remote repository",
    "azure": "anonymously into its registry's artifact cache",
}
_WHAT = {
    "aws": "a Secrets Manager secret named ecr-pullthroughcache/...",
    "gcp": "a user name and a Secret Manager secret version",
    "azure": "two Key Vault secrets: user name and access token",
}
