"""The environment file: the root of the config, and the checks that span models and clouds."""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Annotated, Literal, Self

from pydantic import Field, field_validator, model_validator

from llmdeploy.capabilities import Feature, support
from llmdeploy.catalog import Cloud
from llmdeploy.config.clouds import Clouds
from llmdeploy.config.common import SecretField, Slug, Strict, join_problems
from llmdeploy.config.global_dns import GlobalDns
from llmdeploy.config.model import ModelConfig

Tier = Literal["dev", "staging", "prod"]


#: The placeholder a local state path names each stack with.
STACK_PLACEHOLDER = "{stack}"


class LocalState(Strict):
    """Terraform state in a local file (one machine only: fine for trying things out).

    Every stack of an environment needs a state of its own: two stacks sharing one file plan to
    destroy each other's resources. So `path` is a folder (ending in /) or names `{stack}`.
    """

    backend: Literal["local"] = "local"
    path: str | None = Field(
        default=None,
        description="A folder ending in / (holding terraform.<stack>.tfstate) or a file name "
        "containing {stack}. Default: terraform.<stack>.tfstate in the project folder.",
    )

    @field_validator("path")
    @classmethod
    def _per_stack(cls, path: str | None) -> str | None:
        if path is None or path.endswith("/") or STACK_PLACEHOLDER in path:
            return path
        raise ValueError(
            f"{path!r} would hold the state of every stack of the environment in one file, so applying "
            "one stack would destroy the others' resources: name a folder ending in / (e.g. state/) or "
            "a file containing {stack} (e.g. state/{stack}.tfstate)"
        )

    def file_for(self, stack: str) -> str:
        """The state file of `stack`, relative to the project folder unless absolute."""
        if self.path is None:
            return f"terraform.{stack}.tfstate"
        if self.path.endswith("/"):
            return f"{self.path}terraform.{stack}.tfstate"
        return self.path.replace(STACK_PLACEHOLDER, stack)


class S3State(Strict):
    """Terraform state in S3 with Terraform's native lock file (no DynamoDB table needed)."""

    backend: Literal["s3"]
    bucket: str = Field(min_length=3)
    region: str
    key_prefix: str = Field(default="llmdeploy", description="State key is <key_prefix>/<stack>.tfstate.")


class GcsState(Strict):
    """Terraform state in a Cloud Storage bucket."""

    backend: Literal["gcs"]
    bucket: str = Field(min_length=3)
    prefix: str = "llmdeploy"


class AzurermState(Strict):
    """Terraform state in an Azure storage account container."""

    backend: Literal["azurerm"]
    resource_group: str
    storage_account: str = Field(pattern=r"^[a-z0-9]{3,24}$")
    container: str
    key_prefix: str = "llmdeploy"


State = Annotated[LocalState | S3State | GcsState | AzurermState, Field(discriminator="backend")]


class Tls(Strict):
    """HTTPS for the endpoint. Default: plain HTTP (fine only for internal endpoints)."""

    domain: str | None = Field(
        default=None, description="Public name; GCP issues a managed certificate for it."
    )
    aws_certificate_arn: str | None = Field(default=None, pattern=r"^arn:aws[a-z-]*:acm:")
    insecure_plain_http_demo_only: bool = Field(
        default=False,
        description="Serve an internet-facing endpoint with an API key over plain HTTP, so the key "
        "crosses the internet in clear text. For throwaway demos only.",
    )


class Access(Strict):
    """Who may reach the endpoints."""

    scheme: Literal["internal", "internet-facing"] = "internal"
    allowed_cidrs: list[IPv4Network] = Field(
        default_factory=list, description="Client networks admitted. Default (internal): the VPC only."
    )
    api_key: SecretField | None = Field(default=None, description="Secret holding the API key clients send.")
    next_api_key: SecretField | None = Field(
        default=None,
        description="A second secret whose key is accepted alongside api_key, to rotate keys without "
        "downtime: add it, move the clients, then make it api_key.",
    )
    require_api_key: bool = Field(default=True, description="Internet-facing endpoints need an API key.")
    routing: Literal["path", "host"] = Field(
        default="path",
        description="Route several models by path prefix (/<model>/) or host (<model>.<domain>).",
    )
    tls: Tls = Field(default_factory=Tls)

    @model_validator(mode="after")
    def _host_routing_needs_domain(self) -> Self:
        if self.routing == "host" and self.tls.domain is None:
            raise ValueError(
                "routing: host routing (<model>.<domain>) needs tls.domain: set it, or route by path"
            )
        return self

    @model_validator(mode="after")
    def _public_needs_guard(self) -> Self:
        if self.scheme != "internet-facing":
            return self
        if not self.allowed_cidrs:
            raise ValueError(
                "allowed_cidrs: an internet-facing endpoint needs client networks "
                "(write 0.0.0.0/0 to mean everyone)"
            )
        if self.require_api_key and self.api_key is None:
            raise ValueError(
                "api_key: an internet-facing endpoint needs an API key: "
                "write api_key: {secret: <name>}, or require_api_key: false"
            )
        return self


class Alarms(Strict):
    """Alarm thresholds, per model and slot."""

    error_rate_percent: float = Field(default=5.0, gt=0, le=100)
    p99_latency_s: float = Field(default=60.0, gt=0)
    min_healthy_replicas: int = Field(default=1, ge=0)
    evaluation_minutes: int = Field(default=5, ge=1, le=60)


class Notify(Strict):
    """Where alarms go."""

    emails: list[str] = Field(default_factory=list)
    aws_sns_topic_arn: str | None = Field(default=None, pattern=r"^arn:aws[a-z-]*:sns:")


class Monitoring(Strict):
    """Dashboards and alarms."""

    dashboard: bool = True
    alarms: Alarms = Field(default_factory=Alarms)
    notify: Notify = Field(default_factory=Notify)


class Budget(Strict):
    """A monthly budget; `llmdeploy cost` fails when the estimate exceeds it."""

    monthly_usd: float = Field(gt=0)
    basis: Literal["min", "max"] = Field(
        default="max", description="Compare with the cost at min or at max capacity."
    )


class EnvironmentConfig(Strict):
    """One environment (dev, staging, prod, ...): everything llmdeploy deploys for it."""

    extends: str | None = Field(
        default=None, description="Base file this one overrides (merged by the loader)."
    )
    name: Slug = Field(description="Environment name. Default: the file name.")
    project: Slug = Field(description="Project name; prefixes resources and tags.")
    tier: Tier = Field(
        default="dev", description="prod forbids scale-to-zero and needs on-demand base capacity."
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Tags/labels on every resource.")
    state: State = Field(default_factory=LocalState)
    clouds: Clouds
    access: Access = Field(default_factory=Access)
    monitoring: Monitoring = Field(default_factory=Monitoring)
    budget: Budget | None = None
    models: list[ModelConfig] = Field(min_length=1)
    global_dns: GlobalDns | None = Field(
        default=None, description="One health-checked DNS name over every cloud's endpoint. Default: none."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems = self._name_problems() + self._cloud_problems() + self._tier_problems()
        if problems:
            raise ValueError(join_problems(problems))
        return self

    def _name_problems(self) -> list[str]:
        names = [model.name for model in self.models]
        return [
            f"models: model name {name!r} is used twice"
            for name in sorted(set(names))
            if names.count(name) > 1
        ]

    def _cloud_problems(self) -> list[str]:
        problems = []
        for index, model in enumerate(self.models):
            where = f"models[{index}]"
            for cloud in self.clouds.names():
                if cloud not in model.instance_types:
                    problems.append(f"{where}.instance_types: no {cloud} entry, but clouds.{cloud} is set")
                problems += [f"{where}.{key}: {cloud} {reason}" for key, reason in unsupported(model, cloud)]
            problems += [
                f"{where}.instance_types.{cloud}: set, but clouds.{cloud} is not configured"
                for cloud in model.instance_types
                if cloud not in self.clouds.names()
            ]
        if self.access.scheme == "internal":
            problems += [
                f"access.scheme: {cloud} cannot do {Feature.PRIVATE_ENDPOINT.value}: "
                f"{support(cloud, Feature.PRIVATE_ENDPOINT).how}"
                for cloud in self.clouds.names()
                if not support(cloud, Feature.PRIVATE_ENDPOINT).supported
            ]
        if self.global_dns is not None:
            problems += self.global_dns.problems(
                self.clouds.names(),
                scheme=self.access.scheme,
                routing=self.access.routing,
                allowed_cidrs=self.access.allowed_cidrs,
            )
        return problems + self._key_vault_problems()

    def _key_vault_problems(self) -> list[str]:
        """Azure reads named secrets from a Key Vault, which only the config can name."""
        azure = self.clouds.azure
        named = self.access.api_key is not None or any(
            model.hf_token is not None and "azure" in model.instance_types for model in self.models
        )
        if azure is None or azure.key_vault is not None or not named:
            return []
        return [
            "clouds.azure.key_vault: the file names secrets (hf_token or api_key), but Azure has no "
            "Key Vault "
            "to read them from: add key_vault: {name: <vault>, resource_group: <its resource group>}"
        ]

    def _tier_problems(self) -> list[str]:
        if self.tier != "prod":
            return []
        problems = []
        for index, model in enumerate(self.models):
            if model.autoscaling.scale_to_zero:
                problems.append(f"models[{index}].autoscaling.scale_to_zero: not allowed in the prod tier")
            if model.spot.on_demand_base < 1:
                problems.append(
                    f"models[{index}].spot.on_demand_base: must be at least 1 in the prod tier, "
                    "so a spot reclaim never takes the whole fleet"
                )
        return problems


#: Requests longer than this need Feature.LONG_REQUESTS (Azure Front Door's origin limit).
LONG_REQUEST_S = 240


def requested_features(model: ModelConfig, cloud: Cloud) -> list[tuple[Feature, str]]:
    """The features a model asks of a cloud, each with the config key that asks for it."""
    asked = [(_ALGORITHM_FEATURE[model.load_balancing.algorithm_for(cloud)], "load_balancing.algorithm")]
    if len(model.slots) > 1:
        asked.append((Feature.WEIGHTED_BLUE_GREEN, "slots"))
    if model.spot.max_price_usd_hour is not None:
        asked.append((Feature.SPOT_MAX_PRICE, "spot.max_price_usd_hour"))
    if len(model.instance_types.get(cloud, [])) > 1:
        asked.append((Feature.SEVERAL_INSTANCE_TYPES, f"instance_types.{cloud}"))
    if model.autoscaling.target_queue_size is not None:
        asked.append((Feature.QUEUE_SIZE_AUTOSCALING, "autoscaling.target_queue_size"))
    if model.autoscaling.scale_to_zero:
        asked.append((Feature.SCALE_TO_ZERO, "autoscaling.scale_to_zero"))
    if model.load_balancing.request_timeout_s > LONG_REQUEST_S:
        asked.append((Feature.LONG_REQUESTS, "load_balancing.request_timeout_s"))
    return asked


def unsupported(model: ModelConfig, cloud: Cloud) -> list[tuple[str, str]]:
    """The config keys `cloud` cannot honour for `model`, each with the reason; empty when it can."""
    return [
        (key, f"cannot do {feature.value}: {support(cloud, feature).how}")
        for feature, key in requested_features(model, cloud)
        if not support(cloud, feature).supported
    ]


_ALGORITHM_FEATURE = {
    "least_outstanding_requests": Feature.LEAST_OUTSTANDING_REQUESTS,
    "round_robin": Feature.ROUND_ROBIN,
}
