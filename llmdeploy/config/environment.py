"""The environment file: the root of the config, and the checks that span models and clouds."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Annotated, Any, Literal, Self

from pydantic import Field, field_validator, model_validator

from llmdeploy.capabilities import Feature, support
from llmdeploy.config.access import Access as Access
from llmdeploy.config.clouds import (
    ALB_SUBNET_PREFIX,
    SMALLEST_SUBNET_PREFIX,
    Clouds,
    check_region,
    subnet_problems,
)
from llmdeploy.config.common import SecretRef, Slug, Strict, join_problems
from llmdeploy.config.fleet_checks import model_warnings
from llmdeploy.config.global_dns import GlobalDns
from llmdeploy.config.grammars import (
    AWS_AMBIGUOUS_SUFFIX,
    AWS_SECRET_NAME,
    AZURE_SECRET_NAME,
    GCP_SECRET_NAME,
    AwsSnsTopicArn,
    AzureContainer,
    AzureResourceGroup,
    AzureStorageAccount,
    Email,
    FilePath,
    GcsBucket,
    KeyPrefix,
    S3Bucket,
    StatePath,
    TagKey,
    TagValue,
)
from llmdeploy.config.lb_limits import limit_problems, limit_warnings
from llmdeploy.config.logs import Logs
from llmdeploy.config.model import Autoscaling, ModelConfig
from llmdeploy.config.registry_credentials import anonymous_pull_warnings
from llmdeploy.config.routing import Routing
from llmdeploy.engines import ENGINES

Tier = Literal["dev", "staging", "prod"]
#: Tags llmdeploy sets on every resource itself (llmdeploy/plan/build.py), plus its `llmdeploy-` keys:
#: a file may not override them (status, release and cost tooling find resources by them).
BUILT_IN_TAGS = ("project", "environment", "managed-by")
_BUILT_IN_PREFIX = "llmdeploy"


#: The placeholder a local state path names each stack with.
STACK_PLACEHOLDER = "{stack}"


class LocalState(Strict):
    """Terraform state in a local file (one machine only: fine for trying things out).

    Every stack of an environment needs a state of its own: two stacks sharing one file plan to
    destroy each other's resources. So `path` is a folder (ending in /) or names `{stack}`.
    """

    backend: Literal["local"] = Field(default="local", description="Selects this backend.")
    path: StatePath | None = Field(
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

    backend: Literal["s3"] = Field(description="Selects this backend.")
    bucket: S3Bucket = Field(description="Existing S3 bucket holding the state.")
    region: str = Field(description="The bucket's region (one of the catalog's AWS regions).")
    key_prefix: KeyPrefix = Field(
        default="llmdeploy", description="State key is <key_prefix>/<stack>.tfstate."
    )

    @model_validator(mode="after")
    def _known_region(self) -> Self:
        check_region("aws", self.region, [])
        return self


class GcsState(Strict):
    """Terraform state in a Cloud Storage bucket."""

    backend: Literal["gcs"] = Field(description="Selects this backend.")
    bucket: GcsBucket = Field(description="Existing Cloud Storage bucket holding the state.")
    prefix: KeyPrefix = Field(default="llmdeploy", description="State objects go under this prefix.")


class AzurermState(Strict):
    """Terraform state in an Azure storage account container."""

    backend: Literal["azurerm"] = Field(description="Selects this backend.")
    resource_group: AzureResourceGroup = Field(description="Resource group of the storage account.")
    storage_account: AzureStorageAccount = Field(description="Existing storage account.")
    container: AzureContainer = Field(description="Existing blob container holding the state.")
    key_prefix: KeyPrefix = Field(
        default="llmdeploy", description="State blob is <key_prefix>/<stack>.tfstate."
    )


State = Annotated[LocalState | S3State | GcsState | AzurermState, Field(discriminator="backend")]


class Alarms(Strict):
    """Alarm thresholds, per model and slot."""

    error_rate_percent: float = Field(
        default=5.0, gt=0, le=100, description="5xx answers as a share of requests that raises an alarm."
    )
    p99_latency_s: float = Field(default=60.0, gt=0, le=3600, description="p99 latency that raises an alarm.")
    min_healthy_replicas: int = Field(
        default=1,
        ge=0,
        le=500,
        description="Fewer healthy replicas than this in a serving slot raises an alarm (and holds a "
        "promotion); at most every fleet's capacity.max.",
    )
    evaluation_minutes: int = Field(
        default=5, ge=1, le=60, description="Minutes a condition must hold before the alarm fires."
    )


class Notify(Strict):
    """Where alarms go."""

    emails: list[Email] = Field(default_factory=list, description="Addresses alarms are mailed to.")
    aws_sns_topic_arn: AwsSnsTopicArn | None = Field(
        default=None, description="Existing SNS topic AWS alarms also publish to."
    )


class Monitoring(Strict):
    """Dashboards and alarms."""

    dashboard: bool = Field(default=True, description="Create a dashboard per environment and cloud.")
    alarms: Alarms = Field(default_factory=Alarms, description="Alarm thresholds.")
    notify: Notify = Field(default_factory=Notify, description="Where alarms go.")
    logs: Logs = Field(default_factory=Logs, description="VM logs shipped to the cloud's log service.")


class Budget(Strict):
    """A monthly budget; `llmdeploy cost` fails when the estimate exceeds it."""

    monthly_usd: float = Field(gt=0, le=1e9, description="Budget in USD per month.")
    basis: Literal["min", "max"] = Field(
        default="max", description="Compare with the cost at min or at max capacity."
    )


class EnvironmentConfig(Strict):
    """One environment (dev, staging, prod, ...): everything llmdeploy deploys for it."""

    extends: FilePath | None = Field(
        default=None, description="Base file this one overrides (merged by the loader)."
    )
    name: Slug = Field(description="Environment name. Default: the file name.")
    project: Slug = Field(description="Project name; prefixes resources and tags.")
    tier: Tier = Field(
        default="dev", description="prod forbids scale-to-zero and needs on-demand base capacity."
    )
    tags: dict[TagKey, TagValue] = Field(
        default_factory=dict,
        description="Tags/labels on every resource (GCP lower-cases them). Keys llmdeploy sets "
        f"({', '.join(BUILT_IN_TAGS)}, llmdeploy-*) are its own.",
    )
    state: State = Field(default_factory=LocalState, description="Where Terraform keeps state.")
    clouds: Clouds = Field(description="The clouds to deploy to, at least one.")
    access: Access = Field(default_factory=Access, description="Who may reach the endpoints, and how.")
    monitoring: Monitoring = Field(default_factory=Monitoring, description="Dashboards and alarms.")
    budget: Budget | None = Field(default=None, description="Monthly budget `llmdeploy cost` checks.")
    models: list[ModelConfig] = Field(min_length=1, description="The served models.")
    global_dns: GlobalDns | None = Field(
        default=None, description="One health-checked DNS name over every cloud's endpoint. Default: none."
    )
    routing: Routing = Field(default_factory=Routing, description="LLM-aware routing layer. Default: off.")

    @model_validator(mode="before")
    @classmethod
    def _queue_scaled_behind_routers(cls, data: Any) -> Any:
        """Behind routers a model that names no scaling target scales on its engine queue."""
        if not isinstance(data, dict):
            return data
        routing, models = data.get("routing"), data.get("models")
        if not (isinstance(routing, dict) and routing.get("enabled") is True and isinstance(models, list)):
            return data
        return {
            **data,
            "models": [
                {**model, "autoscaling": Autoscaling.queue_scaled_by_default(model.get("autoscaling"))}
                if isinstance(model, dict)
                else model
                for model in models
            ],
        }

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems = [
            f"models[{index}].{line}" for index, model in enumerate(self.models) for line in model.problems()
        ]
        problems += self._name_problems() + self._cloud_problems() + self._tier_problems()
        problems += self._tag_problems() + self._secret_problems() + self._network_problems()
        problems += self._alarm_problems() + self.access.cloud_problems(self.clouds.names())
        problems += self._routing_problems() + self._dns_zone_problems()
        # Counted on the plan, which only a consistent config builds.
        problems = problems or limit_problems(self)
        if problems:
            raise ValueError(join_problems(problems))
        return self

    def warnings(self) -> list[str]:
        """What validation accepts but the user should know is cut, as `key.path: message` lines."""
        return (
            [
                f"models[{index}].{line}"
                for index, model in enumerate(self.models)
                for line in model_warnings(model)
            ]
            + self._registry_warnings()
            + limit_warnings(self)
        )

    def _dns_zone_problems(self) -> list[str]:
        """A DNS zone holds the TLS hosts' records: without a domain there are none; on Azure the hosts
        are CNAMEs, which cannot sit at the zone's apex, so the domain lies below it."""
        aws, gcp, azure, domain = self.clouds.aws, self.clouds.gcp, self.clouds.azure, self.access.tls.domain
        zones = {"aws": aws and aws.dns_zone, "gcp": gcp and gcp.dns_zone, "azure": azure and azure.dns_zone}
        if domain is None:
            return [
                f"clouds.{cloud}.dns_zone: set, but access.tls.domain is not, so there is no record to "
                "create in it: set the domain the zone serves, or remove dns_zone"
                for cloud, zone in zones.items()
                if zone is not None
            ]
        problems = self._aws_dns_zone_problems(domain)
        zone = azure.dns_zone if azure is not None else None
        if zone is None or domain.endswith(f".{zone.name}"):
            return problems
        problems.append(
            f"clouds.azure.dns_zone.name: access.tls.domain {domain} is not below the zone {zone.name}: "
            "Front Door's hosts are CNAME records, which must lie inside the zone and not at its apex; "
            "name the zone of a parent domain, or remove dns_zone"
        )
        return problems

    def _aws_dns_zone_problems(self, domain: str) -> list[str]:
        """Route 53 alias records may sit at the zone's apex, but not outside the zone; and the global
        DNS stack's names would collide with them (modules/aws/dns.py says why)."""
        aws = self.clouds.aws
        zone = aws.dns_zone if aws is not None else None
        if zone is None:
            return []
        problems = []
        if domain != zone and not domain.endswith(f".{zone}"):
            problems.append(
                f"clouds.aws.dns_zone: access.tls.domain {domain} is not in the hosted zone {zone}, so "
                "Route 53 cannot hold its records: name the zone of the domain or of a parent domain, "
                "or remove dns_zone"
            )
        if self.global_dns is not None:
            problems.append(
                "clouds.aws.dns_zone: global_dns also answers this environment's names in Route 53, "
                "pointing at each cloud's endpoint: with dns_zone the AWS endpoint becomes a name in the "
                "zone as well, and the two stacks' records would shadow or refuse each other. Use "
                "global_dns for failover between clouds, or dns_zone for the AWS endpoint's own records, "
                "not both"
            )
        return problems

    def _registry_warnings(self) -> list[str]:
        """Engine images pulled from Docker Hub without a credential, per cloud."""
        credentials: dict[str, Collection[str]] = {
            cloud: set(getattr(self.clouds, cloud).registry_credentials) for cloud in self.clouds.names()
        }
        images = {
            f"models[{index}]": [
                slot.engine_image or model.engine_image or ENGINES[model.engine].image
                for slot in model.slots.values()
            ]
            for index, model in enumerate(self.models)
        }
        return anonymous_pull_warnings(credentials, images)

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
        return problems + self._key_vault_problems() + self._gcp_driver_problems()

    def _gcp_driver_problems(self) -> list[str]:
        """Deep Learning VM families name their driver branch (`...-nvidia-570`); an engine image built
        on a newer CUDA than that driver runs fails at its first CUDA call."""
        gcp = self.clouds.gcp
        found = re.search(r"nvidia-(\d+)", gcp.image_family) if gcp else None
        if gcp is None or found is None:
            return []
        driver = int(found.group(1))
        problems = []
        for index, model in enumerate(self.models):
            needed = ENGINES[model.engine].min_driver
            if "gcp" in model.instance_types and needed > driver:
                problems.append(
                    f"clouds.gcp.image_family: {gcp.image_family} carries NVIDIA driver {driver}, but "
                    f"models[{index}] runs {model.engine}, whose image needs driver {needed} or newer: "
                    f"choose a Deep Learning VM family ending in -nvidia-{needed} or newer"
                )
        return problems

    def _key_vault_problems(self) -> list[str]:
        """Azure reads named secrets from a Key Vault, which only the config can name."""
        azure = self.clouds.azure
        named = (
            self.access.api_key is not None
            or self.access.next_api_key is not None
            or any(model.hf_token is not None and "azure" in model.instance_types for model in self.models)
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
            problems += [
                f"models[{index}].{model.spot_key(cloud, 'on_demand_base')}: must be at least 1 in the "
                "prod tier, so a spot reclaim never takes the whole fleet"
                for cloud in model.instance_types
                if model.spot_for(cloud).on_demand_base < 1
            ]
        # A setting shared by every cloud is one problem, not one per cloud.
        return list(dict.fromkeys(problems))

    def _tag_problems(self) -> list[str]:
        problems = [
            f"tags.{key}: llmdeploy sets this tag itself (it finds its resources by it): use another key"
            for key in self.tags
            if key.lower() in BUILT_IN_TAGS or key.lower().startswith(_BUILT_IN_PREFIX)
        ]
        return problems + (self._gcp_label_problems() if "gcp" in self.clouds.names() else [])

    def _gcp_label_problems(self) -> list[str]:
        """GCP labels: keys start with a letter, keys and values at most 63 characters, lower case.

        (cloud.google.com/compute/docs/labeling-resources#requirements). Tags become labels lower-cased
        with other characters as `_` (llmdeploy/clouds/gcp/names.py), so two keys must not become one.
        """
        # Imported here: the clouds' records import the config models.
        from llmdeploy.clouds.gcp.names import LABEL_INVALID, LABEL_LIMIT

        problems = []
        seen: dict[str, str] = {}
        for key, value in self.tags.items():
            label = LABEL_INVALID.sub("_", key.lower())
            if not key[0].isalpha() or len(key) > LABEL_LIMIT:
                problems.append(
                    f"tags.{key}: a GCP label key starts with a letter and has at most 63 characters"
                )
            if len(value) > LABEL_LIMIT:
                problems.append(
                    f"tags.{key}: a GCP label value has at most 63 characters ({len(value)} here)"
                )
            if label in seen:
                problems.append(f"tags.{key}: becomes the same GCP label ({label}) as tags.{seen[label]}")
            seen.setdefault(label, key)
        return problems

    def _secret_problems(self) -> list[str]:
        """Each secret name in the grammar of every store the file deploys to (the intersection)."""
        clouds = self.clouds.names()
        problems = []
        for key, ref in self._secret_refs():
            name = ref.secret
            if "gcp" in clouds and not GCP_SECRET_NAME.fullmatch(name):
                problems.append(f"{key}: GCP Secret Manager names are 1-255 letters, digits, _ and - only")
            if "azure" in clouds and not AZURE_SECRET_NAME.fullmatch(name):
                problems.append(f"{key}: Azure Key Vault names are 1-127 letters, digits and - only")
            if "aws" in clouds and not AWS_SECRET_NAME.fullmatch(name):
                problems.append(f"{key}: Secrets Manager names are 1-512 letters, digits and / _ + = . @ -")
            if "aws" in clouds and AWS_AMBIGUOUS_SUFFIX.fullmatch(name):
                problems.append(
                    f"{key}: a Secrets Manager name must not end in a hyphen and six characters: AWS adds "
                    "such a suffix to the ARN, and the instance's read grant (<name>-??????) would be "
                    "ambiguous; rename the secret"
                )
        return problems

    def _secret_refs(self) -> list[tuple[str, SecretRef]]:
        refs = [(f"access.{key}.secret", getattr(self.access, key)) for key in ("api_key", "next_api_key")]
        refs += [(f"models[{i}].hf_token.secret", model.hf_token) for i, model in enumerate(self.models)]
        return [(key, ref) for key, ref in refs if ref is not None]

    def _network_problems(self) -> list[str]:
        """The created networks must hold every replica the fleets may run, in one zone's subnet."""
        replicas = sum(model.slot_capacity(slot).max for model in self.models for slot in model.slots)
        problems = []
        aws, gcp, azure = self.clouds.aws, self.clouds.gcp, self.clouds.azure
        if aws is not None and aws.network.existing is None:
            key = "clouds.aws.network.vpc_cidr"
            problems += subnet_problems(
                key, aws.network.vpc_cidr, replicas, split=True, largest=ALB_SUBNET_PREFIX
            )
        if gcp is not None:
            key = "clouds.gcp.subnet_cidr"
            problems += subnet_problems(
                key, gcp.subnet_cidr, replicas, split=False, largest=SMALLEST_SUBNET_PREFIX
            )
        if azure is not None:
            key = "clouds.azure.vnet_cidr"
            problems += subnet_problems(
                key, azure.vnet_cidr, replicas, split=True, largest=SMALLEST_SUBNET_PREFIX
            )
        return problems

    def _routing_problems(self) -> list[str]:
        """Behind routers no load balancer sees a model's requests (the routers call its replicas
        directly), so a fleet scaling on the load balancer's request rate would never grow."""
        if not self.routing.enabled:
            return []
        return [
            f"models[{index}].autoscaling.target_requests_per_replica: routing.enabled puts routers in "
            "front of this model, which call its replicas directly, so the load balancer's request rate "
            "stays at zero; scale on the engine queue instead (target_queue_size, the default with "
            "routing)"
            for index, model in enumerate(self.models)
            if model.autoscaling.target_queue_size is None
        ] + self._queue_time_problems()

    def _queue_time_problems(self) -> list[str]:
        """Scaling on router queue time is wired on AWS only (a target tracking policy on the
        routers' published queue time): elsewhere the key would silently do nothing."""
        if self.routing.scale_on_queue_time_ms is None:
            return []
        elsewhere = [cloud for cloud in self.clouds.names() if cloud != "aws"]
        if not elsewhere:
            return []
        return [
            f"routing.scale_on_queue_time_ms: scaling on the routers' queue time is built for AWS only, "
            f"and this environment also deploys to {', '.join(elsewhere)}, whose fleets scale on the "
            "engine queue (target_queue_size); remove the key, or deploy this environment to aws alone"
        ]

    def _alarm_problems(self) -> list[str]:
        """An alarm threshold no fleet can reach never fires, and a promotion gate on it never passes."""
        wanted = self.monitoring.alarms.min_healthy_replicas
        return [
            f"monitoring.alarms.min_healthy_replicas: {wanted} is more than models[{index}].{where}.max "
            f"({capacity.max}): the alarm could never clear and a promotion would wait forever; lower it"
            for index, model in enumerate(self.models)
            for where, capacity in model.capacities()
            if wanted > capacity.max
        ]
