"""AWS preflight: instance types per zone, GPU vCPU quotas, Elastic IPs and secrets, read with boto3.

Instance types: each fleet's types must be offered in the configured zones
(`DescribeInstanceTypeOfferings`, location type availability-zone); a type missing from a zone is
only noted (the group launches the others there), a fleet with no type in any zone fails.

Quotas (Service Quotas `GetServiceQuota`, service `ec2`, values in vCPUs): G and VT instances
count against L-DB2E81BA (on-demand) and L-3819A6DF (spot); P instances against L-417A185B
(on-demand) and L-7212CCBC (P2/P3/P4 spot) or L-C4BD4855 (P5 spot). What already runs counts
against them too: running and pending instances (`DescribeInstances`) outside this environment
(its own carry the default tags `project` and `environment`) are subtracted from the limit.
Elastic IPs: the stack allocates one per zone for its NAT gateways (modules/aws/network.py) unless
it deploys into an existing VPC; the limit is the account attribute `vpc-max-elastic-ips`
(default 5 per region), addresses of other environments (`DescribeAddresses`) use it up.
The local emulator (moto) serves Service Quotas for VPC only, so GPU quotas read `unknown` there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from llmdeploy.aws_session import aws_client
from llmdeploy.catalog import InstanceType, instance_types
from llmdeploy.config.clouds import AwsCloud
from llmdeploy.doctor.model import Check, compare
from llmdeploy.doctor.needs import capacity_needs, secrets_on, vcpus
from llmdeploy.doctor.secrets import SecretMissing, SecretUnreadable, judge
from llmdeploy.errors import OperationError
from llmdeploy.plan.model import DeploymentPlan

#: Quota bucket -> (on-demand quota, spot quota), each (code, name as Service Quotas shows it).
QUOTAS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "G": (
        ("L-DB2E81BA", "Running On-Demand G and VT instances"),
        ("L-3819A6DF", "All G and VT Spot Instance Requests"),
    ),
    "P": (
        ("L-417A185B", "Running On-Demand P instances"),
        ("L-7212CCBC", "All P4, P3 and P2 Spot Instance Requests"),
    ),
    "P5": (
        ("L-417A185B", "Running On-Demand P instances"),
        ("L-C4BD4855", "All P5 Spot Instance Requests"),
    ),
}
_LIVE_STATES = ["pending", "running"]


def bucket(instance_type: str) -> str | None:
    """The quota bucket of an instance type name (g6.xlarge -> G), None for the others."""
    family = instance_type.split(".")[0]
    if family.startswith(("g", "vt")):
        return "G"
    if family.startswith("p"):
        return "P5" if family.startswith("p5") else "P"
    return None


def _bucket_of(kind: InstanceType) -> str | None:
    return bucket(kind.name)


@dataclass(frozen=True)
class AwsAccount:
    """The boto3 clients the AWS checks need, in the environment's region."""

    region: str
    quotas: Any
    ec2: Any
    secrets: Any

    @classmethod
    def connect(cls, region: str, environ: Mapping[str, str]) -> AwsAccount:
        """Clients configured from `environ` alone.

        Raises:
            OperationError: the configuration is unusable (e.g. a profile that does not exist).
        """
        services = ("service-quotas", "ec2", "secretsmanager")
        try:
            return cls(region, *(aws_client(service, region, environ) for service in services))
        except BotoCoreError as error:
            raise OperationError(f"Cannot use the AWS credentials: {error}. Check AWS_PROFILE.") from None


def checks(plan: DeploymentPlan, account: AwsAccount) -> list[Check]:
    """Every AWS check of the environment, in a fixed order."""
    settings = plan.settings("aws")
    try:
        account.ec2.describe_account_attributes(AttributeNames=["vpc-max-elastic-ips"])
    except BotoCoreError as error:  # no credentials or no endpoint: no other call would answer either
        return [Check("aws", "sign-in", "unknown", _reason(error, "read access"))]
    except ClientError:
        pass  # refused for this call alone: the checks that need it say so
    found = [*_offering_checks(plan, settings, account), *_quota_checks(plan, account)]
    found.append(_addresses(plan, settings, account))
    return found + [
        judge("aws", use, partial(read_secret, account.secrets, use.name, account.region))
        for use in secrets_on(plan, "aws")
    ]


def _offering_checks(plan: DeploymentPlan, settings: AwsCloud, account: AwsAccount) -> list[Check]:
    """Per list of instance types: offered in the configured zones (`DescribeInstanceTypeOfferings`)."""
    lists = list(
        dict.fromkeys(tuple(kind.name for kind in fleet.instance_types) for fleet in plan.fleets_on("aws"))
    )
    title = "instance types {} in " + ", ".join(settings.zones)
    try:
        pages = account.ec2.get_paginator("describe_instance_type_offerings").paginate(
            LocationType="availability-zone",
            Filters=[
                {"Name": "instance-type", "Values": sorted({name for names in lists for name in names})},
                {"Name": "location", "Values": settings.zones},
            ],
        )
        offered = {
            (entry["InstanceType"], entry["Location"])
            for page in pages
            for entry in page["InstanceTypeOfferings"]
        }
    except (BotoCoreError, ClientError) as error:
        return [_unknown(title.format(", ".join(names)), error) for names in lists]
    return [_offered(title.format(", ".join(names)), names, settings.zones, offered) for names in lists]


def _offered(title: str, names: tuple[str, ...], zones: list[str], offered: set[tuple[str, str]]) -> Check:
    """A fleet launches where any of its types is offered; a zone none of them has stays empty."""
    missing = [f"{name} in {zone}" for name in names for zone in zones if (name, zone) not in offered]
    usable = [zone for zone in zones if any((name, zone) in offered for name in names)]
    if not usable:
        return Check("aws", title, "fail", "none of these types is offered in any of the zones: pick others")
    if not missing:
        return Check("aws", title, "ok", "each type is offered in each zone")
    idle = [zone for zone in zones if zone not in usable]
    detail = f"not offered: {', '.join(missing)}"
    return Check("aws", title, "ok", detail + (f"; no replica can run in {', '.join(idle)}" if idle else ""))


def _quota_checks(plan: DeploymentPlan, account: AwsAccount) -> list[Check]:
    needs = capacity_needs(plan.fleets_on("aws"), _bucket_of, vcpus)
    by_quota: dict[tuple[str, str], int] = {}
    for name, need in needs.items():
        on_demand, spot = QUOTAS[name]
        by_quota[on_demand] = by_quota.get(on_demand, 0) + need.on_demand
        by_quota[spot] = by_quota.get(spot, 0) + need.spot
    try:
        used = _used_vcpus(plan, account.ec2)
    except (BotoCoreError, ClientError) as error:
        return [_unknown(f"quota {code} ({name})", error) for code, name in by_quota]
    return [
        _quota(account, code, name, need, used.get(code, 0))
        for (code, name), need in by_quota.items()
        if need > 0
    ]


def _quota(account: AwsAccount, code: str, name: str, need: int, used: int) -> Check:
    title = f"quota {code} ({name})"
    try:
        answer = account.quotas.get_service_quota(ServiceCode="ec2", QuotaCode=code)
    except ClientError as error:
        if _code(error) == "NoSuchResourceException":
            return Check(
                "aws",
                title,
                "unknown",
                f"Service Quotas does not serve this quota in {account.region} (the local emulator "
                "serves VPC quotas only)",
            )
        return _unknown(title, error)
    except BotoCoreError as error:
        return _unknown(title, error)
    return compare("aws", title, need, float(answer["Quota"]["Value"]), used, "vCPUs")


def _used_vcpus(plan: DeploymentPlan, ec2: Any) -> dict[str, int]:
    """vCPUs of live instances outside this environment, by the quota code they count against."""
    used: dict[str, int] = {}
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "instance-state-name", "Values": _LIVE_STATES}]
    )
    catalog = instance_types("aws")
    for page in pages:
        for reservation in page["Reservations"]:
            for instance in reservation["Instances"]:
                name = bucket(instance["InstanceType"])
                if name is None or _ours(plan, instance.get("Tags", [])):
                    continue
                spot = instance.get("InstanceLifecycle") == "spot"
                code = QUOTAS[name][1 if spot else 0][0]
                used[code] = used.get(code, 0) + _instance_vcpus(instance, catalog)
    return used


def _instance_vcpus(instance: Mapping[str, Any], catalog: Mapping[str, InstanceType]) -> int:
    options = instance.get("CpuOptions")
    if options:
        return int(options["CoreCount"]) * int(options.get("ThreadsPerCore", 1))
    known = catalog.get(instance["InstanceType"])
    return known.vcpu if known else 0


def _ours(plan: DeploymentPlan, tags: list[Mapping[str, str]]) -> bool:
    """Created by this environment's stack (the provider's default tags)."""
    found = {tag["Key"]: tag["Value"] for tag in tags}
    return found.get("project") == plan.project and found.get("environment") == plan.env


def _addresses(plan: DeploymentPlan, settings: AwsCloud, account: AwsAccount) -> Check:
    title = "Elastic IPs (one per zone for the NAT gateways)"
    if settings.network.existing is not None:
        return Check("aws", title, "ok", "deploys into an existing VPC: allocates no address")
    try:
        attributes = account.ec2.describe_account_attributes(AttributeNames=["vpc-max-elastic-ips"])
        addresses = account.ec2.describe_addresses()["Addresses"]
    except (BotoCoreError, ClientError) as error:
        return _unknown(title, error)
    limit = float(attributes["AccountAttributes"][0]["AttributeValues"][0]["AttributeValue"])
    used = sum(not _ours(plan, address.get("Tags", [])) for address in addresses)
    return compare("aws", title, len(settings.zones), limit, used, "addresses", when="")


def read_secret(client: Any, name: str, region: str) -> str:
    """A Secrets Manager secret's string value.

    Raises:
        SecretMissing: no such secret, or no string value.
        SecretUnreadable: access refused, or no answer.
    """
    try:
        answer = client.get_secret_value(SecretId=name)
    except ClientError as error:
        if _code(error) == "ResourceNotFoundException":
            raise SecretMissing(f"Secrets Manager in {region} has no secret {name}") from None
        raise SecretUnreadable(_reason(error, "secretsmanager:GetSecretValue")) from None
    except BotoCoreError as error:
        raise SecretUnreadable(_reason(error, "secretsmanager:GetSecretValue")) from None
    if "SecretString" not in answer:
        raise SecretMissing(f"secret {name} holds binary data (SecretBinary), not a string")
    return str(answer["SecretString"])


def _unknown(title: str, error: Exception) -> Check:
    return Check("aws", title, "unknown", _reason(error, "read access"))


def _reason(error: Exception, permission: str) -> str:
    if isinstance(error, ClientError):
        detail = error.response.get("Error", {})
        text = f"AWS answered {detail.get('Code')}: {detail.get('Message')}"
        if "AccessDenied" in str(detail.get("Code")):
            text += f" (grant {permission} to these credentials)"
        return text
    return f"could not ask AWS: {error} (check the credentials, the region and AWS_ENDPOINT_URL)"


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code"))
